"""Deliver: send one webhook delivery row once, and record what the receiver said.

Runs on its own queue (in `make run`, a thread-pool worker), so a slow receiver only holds one
thread and never a submit or poll slot. At least once: the row is claimed with a lease, so a
worker killed mid-delivery leaves a row the sweeper sends again once the lease is over.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from shared.constants import TASK_DELIVER
from shared.db import write_session
from shared.errors import ApiError
from shared.models import Account, WebhookDelivery, WebhookEndpoint
from shared.netguard import post_pinned
from shared.queueing import enqueue_delivery
from shared.settings import get_settings
from shared.timeutil import utcnow
from shared.webhooks import signed_headers, signing_secrets
from worker.app import app
from worker.backoff import backoff_s

log = logging.getLogger(__name__)
# Retries due this soon ride a countdown message; later ones are found by the sweeper.
COUNTDOWN_MAX_S = 60.0


@dataclass(frozen=True)
class Attempt:
    """What one attempt achieved: a status code, or an error before any answer."""

    status_code: int | None = None
    error: str | None = None
    permanent: bool = False  # the URL is refused by the SSRF guard: retrying cannot help

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def claim(session: Session, delivery_id: str) -> WebhookDelivery | None:
    """Take the delivery for one attempt (compare-and-set), or None if it is not ours to send."""
    now = utcnow()
    result = session.execute(
        update(WebhookDelivery)
        .where(
            col(WebhookDelivery.id) == delivery_id,
            col(WebhookDelivery.status) == "pending",
            col(WebhookDelivery.next_attempt_at) <= now,
        )
        .values(
            next_attempt_at=now + timedelta(seconds=get_settings().webhook_claim_s),
            attempts=col(WebhookDelivery.attempts) + 1,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    session.commit()
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return session.get(WebhookDelivery, delivery_id, populate_existing=True)


def endpoint_for(session: Session, account_id: str, url: str) -> WebhookEndpoint:
    query = select(WebhookEndpoint).where(
        col(WebhookEndpoint.account_id) == account_id, col(WebhookEndpoint.url) == url
    )
    endpoint = session.execute(query).scalar_one_or_none()
    if endpoint is None:
        try:
            with session.begin_nested():
                endpoint = WebhookEndpoint(account_id=account_id, url=url)
                session.add(endpoint)
        except IntegrityError:
            # A concurrent first delivery to the same new URL created the row: use that one
            # (otherwise this delivery would wait for its claim lease and the sweeper).
            endpoint = session.execute(query).scalar_one()
    return endpoint


def send(delivery: WebhookDelivery, secrets: list[str]) -> Attempt:
    settings = get_settings()
    headers = signed_headers(secrets, delivery.id, delivery.payload)
    try:
        response = post_pinned(
            delivery.url,
            content=delivery.payload.encode(),
            headers=headers,
            connect_timeout_s=settings.webhook_connect_timeout_s,
            timeout_s=settings.webhook_timeout_s,
            field="webhookUrl",
        )
    except ApiError as exc:  # refused by the SSRF guard
        return Attempt(error=exc.msg, permanent=True)
    except Exception as exc:
        return Attempt(error=f"{type(exc).__name__}: {exc}"[:500])
    return Attempt(
        status_code=response.status_code,
        error=None if response.is_success else f"HTTP {response.status_code}",
    )


def next_attempt_delay_s(attempts: int) -> float | None:
    """Seconds until the next try after `attempts` tries, or None when the schedule is spent."""
    delays = get_settings().webhook_retry_delays_s
    if attempts > len(delays):
        return None
    delay = delays[attempts - 1]
    return backoff_s(0, base_s=delay, factor=1.0, cap_s=delay * 1.2)


def record(
    session: Session, delivery: WebhookDelivery, endpoint: WebhookEndpoint, attempt: Attempt
) -> float | None:
    """Write the attempt's result; returns the delay of the next attempt, if one is due soon."""
    settings = get_settings()
    now = utcnow()
    values: dict[str, object] = {
        "last_status_code": attempt.status_code,
        "last_error": attempt.error,
        "updated_at": now,
    }
    delay: float | None = None
    if attempt.succeeded:
        values.update(status="delivered", delivered_at=now, next_attempt_at=None)
        endpoint.failing_since = None
    else:
        endpoint.failing_since = endpoint.failing_since or now
        gone = attempt.status_code == 410
        if gone or now - endpoint.failing_since > timedelta(
            seconds=settings.webhook_endpoint_disable_after_s
        ):
            disable(endpoint, "answered 410 Gone" if gone else "failing for too long", now)
        delay = (
            None
            if attempt.permanent or endpoint.disabled_at
            else next_attempt_delay_s(delivery.attempts)
        )
        if delay is None:
            values.update(status="failed", next_attempt_at=None)
        else:
            values.update(next_attempt_at=now + timedelta(seconds=delay))
    session.add(endpoint)
    session.execute(
        update(WebhookDelivery)
        .where(col(WebhookDelivery.id) == delivery.id, col(WebhookDelivery.status) == "pending")
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return delay


def disable(endpoint: WebhookEndpoint, reason: str, now: datetime) -> None:
    endpoint.disabled_at = now
    endpoint.disabled_reason = reason
    log.warning("webhook endpoint %s of %s disabled: %s", endpoint.url, endpoint.account_id, reason)


@app.task(name=TASK_DELIVER, soft_time_limit=60, time_limit=90)
def deliver_webhook(delivery_id: str) -> str:
    with write_session() as session:
        delivery = claim(session, delivery_id)
        if delivery is None:
            return "skipped"
        account = session.get(Account, delivery.account_id)
        endpoint = endpoint_for(session, delivery.account_id, delivery.url)
        session.commit()
        if account is None:
            return "skipped"
        if endpoint.disabled_at is not None:
            attempt = Attempt(
                error=f"endpoint disabled: {endpoint.disabled_reason}", permanent=True
            )
        else:
            attempt = send(delivery, signing_secrets(account))
        delay = record(session, delivery, endpoint, attempt)
    if delay is not None and delay <= COUNTDOWN_MAX_S:
        enqueue_delivery(delivery_id, countdown_s=delay)
    return "delivered" if attempt.succeeded else "retrying" if delay is not None else "failed"

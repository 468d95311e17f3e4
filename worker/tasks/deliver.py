"""Deliver: send webhook delivery rows once each, and record what the receivers said.

Runs on its own queue (in `make run`, a thread-pool worker), so a slow receiver only holds one
thread and never a submit or poll slot. A message names one delivery (a retry, a replay, the
sweeper) or several to one endpoint (the events of one poll batch): those are claimed, sent in
order and recorded together, which shares the task's and the database's overhead. A group stops
at its first unsuccessful attempt or after GROUP_BUDGET_S and hands the rest back as single
messages, so a slow receiver costs a group at most one timeout, and no send starts long after
its claim. At least once: rows are claimed with a lease, so a worker killed mid-delivery leaves
rows the sweeper sends again once the lease is over (a receiver dedupes on `webhook-id`).
"""

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from shared.constants import TASK_DELIVER
from shared.db import write_session
from shared.errors import ApiError
from shared.models import DELIVERIES, Account, WebhookDelivery, WebhookEndpoint
from shared.netguard import PinnedPoster
from shared.queueing import enqueue_delivery
from shared.settings import get_settings
from shared.timeutil import utcnow
from shared.webhooks import signed_headers, signing_secrets
from worker.app import app
from worker.backoff import backoff_s

log = logging.getLogger(__name__)
# Retries due this soon ride a countdown message; later ones are found by the sweeper.
COUNTDOWN_MAX_S = 60.0
# A group starts no send after this long: far inside the claim's lease (webhook_claim_s, 60 s)
# and the task's soft time limit, even if the last send then takes its whole timeout.
GROUP_BUDGET_S = 15.0


@dataclass(frozen=True)
class Attempt:
    """What one attempt achieved: a status code, or an error before any answer."""

    status_code: int | None = None
    error: str | None = None
    permanent: bool = False  # the URL is refused by the SSRF guard: retrying cannot help

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def claim(session: Session, delivery_ids: list[str]) -> list[WebhookDelivery]:
    """Take the deliveries for one attempt each (one compare-and-set statement), in the order
    given; those that are not ours to send (done, not due, claimed elsewhere) are left out.

    The caller commits (the leases must be stored before any send). RETURNING hands back the
    claimed rows with the same statement.
    """
    now = utcnow()
    claimed = session.execute(
        update(WebhookDelivery)
        .where(
            col(WebhookDelivery.id).in_(delivery_ids),
            col(WebhookDelivery.status) == "pending",
            col(WebhookDelivery.next_attempt_at) <= now,
        )
        .values(
            next_attempt_at=now + timedelta(seconds=get_settings().webhook_claim_s),
            attempts=col(WebhookDelivery.attempts) + 1,
            updated_at=now,
        )
        .returning(WebhookDelivery)
        .execution_options(synchronize_session=False)
    ).scalars()
    order = {delivery_id: index for index, delivery_id in enumerate(delivery_ids)}
    return sorted(claimed, key=lambda delivery: order[delivery.id])


def release(session: Session, deliveries: list[WebhookDelivery]) -> None:
    """Hand back claimed deliveries that were not sent: due now, their attempt not counted."""
    if deliveries:
        session.execute(
            update(WebhookDelivery)
            .where(
                col(WebhookDelivery.id).in_([d.id for d in deliveries]),
                col(WebhookDelivery.status) == "pending",
            )
            .values(next_attempt_at=utcnow(), attempts=col(WebhookDelivery.attempts) - 1)
            .execution_options(synchronize_session=False)
        )


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


def send(poster: PinnedPoster, delivery: WebhookDelivery, secrets: list[str]) -> Attempt:
    headers = signed_headers(secrets, delivery.id, delivery.payload)
    try:
        response = poster.post(delivery.url, content=delivery.payload.encode(), headers=headers)
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


# One statement for every recorded attempt (built once, run as one executemany per task): the
# columns an attempt decides, for a row still pending.
_RECORD = (
    update(DELIVERIES)
    .where(DELIVERIES.c.id == bindparam("delivery_id"), DELIVERIES.c.status == "pending")
    .values(
        {
            name: bindparam(f"v_{name}", type_=DELIVERIES.c[name].type)
            for name in (
                "status", "last_status_code", "last_error", "delivered_at", "next_attempt_at",
                "updated_at",
            )
        }
    )
)  # fmt: skip


def record(
    delivery: WebhookDelivery, endpoint: WebhookEndpoint, attempt: Attempt
) -> tuple[dict[str, object], float | None]:
    """What the attempt changes: the row's parameters for `_RECORD`, and the delay of the next
    attempt, if there is one. The endpoint's health is updated in place (the caller commits)."""
    settings = get_settings()
    now = utcnow()
    row: dict[str, object] = {
        "delivery_id": delivery.id,
        "v_status": "pending",
        "v_last_status_code": attempt.status_code,
        "v_last_error": attempt.error,
        "v_delivered_at": None,
        "v_next_attempt_at": None,
        "v_updated_at": now,
    }
    delay: float | None = None
    if attempt.succeeded:
        row.update(v_status="delivered", v_delivered_at=now)
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
            row.update(v_status="failed")
        else:
            row.update(v_next_attempt_at=now + timedelta(seconds=delay))
    return row, delay


def disable(endpoint: WebhookEndpoint, reason: str, now: datetime) -> None:
    endpoint.disabled_at = now
    endpoint.disabled_reason = reason
    log.warning("webhook endpoint %s of %s disabled: %s", endpoint.url, endpoint.account_id, reason)


@dataclass(frozen=True)
class ClaimedDelivery:
    """A claimed delivery with what sending it needs: its account (secrets) and endpoint."""

    delivery: WebhookDelivery
    account: Account | None
    endpoint: WebhookEndpoint


def claim_with_context(session: Session, delivery_ids: list[str]) -> list[ClaimedDelivery]:
    """`claim` plus the accounts and endpoints of the claimed rows, one query each at most."""
    deliveries = claim(session, delivery_ids)
    if not deliveries:
        return []
    account_ids = {d.account_id for d in deliveries}
    accounts = {
        account.id: account
        for account in session.execute(
            select(Account).where(col(Account.id).in_(account_ids))
        ).scalars()
    }
    endpoints: dict[tuple[str, str], WebhookEndpoint] = {}
    for d in deliveries:
        if (d.account_id, d.url) not in endpoints:
            endpoints[(d.account_id, d.url)] = endpoint_for(session, d.account_id, d.url)
    return [
        ClaimedDelivery(d, accounts.get(d.account_id), endpoints[(d.account_id, d.url)])
        for d in deliveries
    ]


def attempt_one(poster: PinnedPoster, item: ClaimedDelivery) -> Attempt | None:
    """Send one claimed delivery, unless its endpoint is disabled; None if it has no account."""
    if item.account is None:
        return None
    if item.endpoint.disabled_at is not None:
        return Attempt(error=f"endpoint disabled: {item.endpoint.disabled_reason}", permanent=True)
    return send(poster, item.delivery, signing_secrets(item.account))


def send_in_order(
    items: list[ClaimedDelivery],
) -> tuple[list[tuple[ClaimedDelivery, Attempt]], list[ClaimedDelivery]]:
    """Attempt each in turn; stop after an unsuccessful attempt or GROUP_BUDGET_S.
    Returns the attempts made and the claimed items not tried (to hand back)."""
    settings = get_settings()
    done: list[tuple[ClaimedDelivery, Attempt]] = []
    started = time.monotonic()
    poster = PinnedPoster(
        connect_timeout_s=settings.webhook_connect_timeout_s,
        timeout_s=settings.webhook_timeout_s,
        field="webhookUrl",
    )
    with poster:
        for index, item in enumerate(items):
            if done and (not done[-1][1].succeeded or time.monotonic() - started > GROUP_BUDGET_S):
                return done, items[index:]
            attempt = attempt_one(poster, item)
            if attempt is not None:
                done.append((item, attempt))
    return done, []


@app.task(name=TASK_DELIVER, soft_time_limit=60, time_limit=90)
def deliver_webhook(*delivery_ids: str) -> str:
    """Send the named deliveries (one, or several to one endpoint) in order."""
    with write_session() as session:
        items = claim_with_context(session, list(delivery_ids))
        session.commit()  # the leases, before any send
        if not items:
            return "skipped"
        done, rest = send_in_order(items)
        recorded = [record(item.delivery, item.endpoint, attempt) for item, attempt in done]
        if recorded:
            session.connection().execute(_RECORD, [row for row, _ in recorded])
        release(session, [item.delivery for item in rest])
        session.commit()  # the endpoints' health too (loaded in this session)
    delays = [
        (item.delivery.id, delay) for (item, _), (_, delay) in zip(done, recorded, strict=True)
    ]
    for delivery_id, delay in delays:
        if delay is not None and delay <= COUNTDOWN_MAX_S:
            enqueue_delivery(delivery_id, countdown_s=delay)
    for item in rest:
        enqueue_delivery(item.delivery.id)
    return _summary(
        [attempt for _, attempt in done], [delay for _, delay in delays], len(delivery_ids)
    )


def _summary(attempts: list[Attempt], delays: list[float | None], asked: int) -> str:
    """The task's result, as logged: one word for one delivery, counts for a group."""
    if asked > 1:
        return f"{sum(a.succeeded for a in attempts)} of {asked} delivered"
    if not attempts:
        return "skipped"
    if attempts[0].succeeded:
        return "delivered"
    return "retrying" if delays[0] is not None else "failed"

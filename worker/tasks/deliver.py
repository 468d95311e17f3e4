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
from typing import Any, NamedTuple

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from shared.constants import TASK_DELIVER
from shared.db import write_session
from shared.errors import UnsafeUrl, invalid
from shared.logs import log_context
from shared.metrics import webhooks as metrics
from shared.models import Account, WebhookDelivery, WebhookEndpoint
from shared.netguard.post import PinnedPoster
from shared.queueing import enqueue_delivery
from shared.settings import get_settings
from shared.states import DeliveryMove, DeliveryStatus
from shared.timeutil import utcnow
from shared.transitions import transition_deliveries
from shared.webhooks import signed_headers, signing_secrets
from worker.app import app
from worker.tasks.delivery_schedule import Attempt, after_attempt

log = logging.getLogger(__name__)
# Retries due this soon ride a countdown message; later ones are found by the sweeper.
COUNTDOWN_MAX_S = 60.0
# A group starts no send after this long: far inside the claim's lease (webhook_claim_s, 60 s)
# and the task's soft time limit, even if the last send then takes its whole timeout.
GROUP_BUDGET_S = 15.0


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
            col(WebhookDelivery.status) == DeliveryStatus.PENDING,
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
                col(WebhookDelivery.status) == DeliveryStatus.PENDING,
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
    started = time.monotonic()
    try:
        response = poster.post(delivery.url, content=delivery.payload.encode(), headers=headers)
    except UnsafeUrl as exc:  # refused by the SSRF guard: the gateway's words for the field
        metrics.attempt("refused", time.monotonic() - started)
        return Attempt(error=invalid("webhookUrl", exc.reason).msg, permanent=True)
    except Exception as exc:
        metrics.attempt("network_error", time.monotonic() - started)
        return Attempt(error=f"{type(exc).__name__}: {exc}"[:500])
    metrics.attempt("success" if response.is_success else "http_error", time.monotonic() - started)
    return Attempt(
        status_code=response.status_code,
        error=None if response.is_success else f"HTTP {response.status_code}",
    )


class Recorded(NamedTuple):
    """What one attempt changes in its delivery's row, and when the next attempt is due."""

    delivery_id: str
    move: DeliveryMove
    values: dict[str, Any]  # the columns the move sets (transition_deliveries)
    retry_in_s: float | None


def record(delivery: WebhookDelivery, endpoint: WebhookEndpoint, attempt: Attempt) -> Recorded:
    """Decide what the attempt changes (worker.tasks.delivery_schedule). The endpoint's health
    is updated in place (the caller commits)."""
    settings = get_settings()
    now = utcnow()
    outcome = after_attempt(
        attempt,
        attempts=delivery.attempts,
        failing_since=endpoint.failing_since,
        endpoint_disabled=endpoint.disabled_at is not None,
        now=now,
        disable_after_s=settings.webhook_endpoint_disable_after_s,
        delays_s=settings.webhook_retry_delays_s,
    )
    endpoint.failing_since = outcome.failing_since
    if outcome.disable_reason is not None:
        disable(endpoint, outcome.disable_reason, now)
    delay = outcome.retry_in_s
    values = {
        "last_status_code": attempt.status_code,
        "last_error": attempt.error,
        "delivered_at": now if outcome.move is DeliveryMove.DELIVER else None,
        "next_attempt_at": None if delay is None else now + timedelta(seconds=delay),
    }
    return Recorded(delivery.id, outcome.move, values, delay)


def persist(session: Session, recorded: list[Recorded]) -> None:
    """Every attempt's move, one statement per kind of move (one for a group that all went
    through), each a compare-and-set on rows still pending."""
    connection = session.connection()
    for move in DeliveryMove:
        changes = [(r.delivery_id, r.values) for r in recorded if r.move is move]
        transition_deliveries(connection, move, changes)


def disable(endpoint: WebhookEndpoint, reason: str, now: datetime) -> None:
    endpoint.disabled_at = now
    endpoint.disabled_reason = reason
    metrics.endpoint_disabled()
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
        persist(session, recorded)
        release(session, [item.delivery for item in rest])
        session.commit()  # the endpoints' health too (loaded in this session)
    for (item, _), r in zip(done, recorded, strict=True):
        report(item.delivery, r.move)
    for r in recorded:
        if r.retry_in_s is not None and r.retry_in_s <= COUNTDOWN_MAX_S:
            enqueue_delivery(r.delivery_id, countdown_s=r.retry_in_s)
    for item in rest:
        enqueue_delivery(item.delivery.id)
    return _summary(
        [attempt for _, attempt in done], [r.retry_in_s for r in recorded], len(delivery_ids)
    )


OUTCOME_WORDS = {DeliveryMove.DELIVER: "delivered", DeliveryMove.RETRY: "retrying"}


def report(delivery: WebhookDelivery, move: DeliveryMove) -> None:
    """One attempt's outcome: counted, and logged under its job (a `grep <uuid>` finds it)."""
    outcome = OUTCOME_WORDS.get(move, "failed")
    metrics.delivery(outcome)
    with log_context(delivery.job_id, delivery.account_id):
        log.info(
            "webhook %s %s of job %s: %s",
            delivery.id,
            delivery.event_type,
            delivery.job_id,
            outcome,
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

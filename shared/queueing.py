"""Publishing: the messages that tell the workers about committed rows (DESIGN rule 2).

Senders name the task and its queue; the app and its settings are in shared.celery_app.
"""

import logging
from contextlib import nullcontext
from itertools import pairwise

from shared.celery_app import get_celery
from shared.constants import (
    QUEUE_INPUTS,
    QUEUE_POLL,
    QUEUE_SUBMIT,
    QUEUE_WEBHOOKS,
    TASK_DELIVER,
    TASK_DISPATCH,
    TASK_POLL_DUE,
    TASK_SUBMIT,
)
from shared.settings import get_settings

log = logging.getLogger(__name__)


def _publish(
    task: str,
    queue: str,
    messages: list[list[str]],
    countdown_s: float | None,
    expires_s: float | None = None,
) -> bool:
    """Publish one message per argument list, pipelined; False (logged) if Redis is unreachable.

    Every message stands for committed rows, and the sweeper resends what the rows say is
    still due, so a failed publish loses nothing and never fails the caller. Several messages
    share one producer and one Redis round trip instead of one each.
    """
    app = get_celery()
    try:
        with (
            app.producer_or_acquire() as producer,
            producer.batch() if len(messages) > 1 else nullcontext(),
        ):
            for args in messages:
                app.send_task(
                    task,
                    args=args,
                    countdown=countdown_s,
                    expires=expires_s,
                    retry=False,
                    queue=queue,
                    producer=producer,
                    # What Flower shows; Celery's default (saferepr) cost 7 % of a publish.
                    argsrepr=repr(args),
                    kwargsrepr="{}",
                    # Celery sends to a direct queue through Redis's default exchange: the
                    # message is pushed onto the queue's list, which needs no binding, so
                    # kombu's declare-before-publish (a quarter of a publish) is skipped.
                    declare=[],
                )
    except Exception:  # kombu raises several unrelated types for a dead broker
        shown = messages[0][0] if len(messages) == 1 else f"{len(messages)} messages"
        log.warning("could not publish %s for %s; the sweeper will resend it", task, shown)
        return False
    return True


def enqueue_submit(*job_ids: str, countdown_s: float | None = None) -> bool:
    """Publish one submit message for committed jobs (one, or several submitted in order)."""
    return _publish(TASK_SUBMIT, QUEUE_SUBMIT, [list(job_ids)], countdown_s)


def enqueue_submits(job_ids: list[str]) -> bool:
    """Publish the submit messages of admitted jobs (worker/tasks/dispatch.py), pipelined.

    Up to `submit_batch_max` jobs share a message: each message costs the broker, the worker
    and Flower about as much as a submit's own work, while a shared one only delays its later
    jobs by the earlier jobs' upstream calls. Jobs are split evenly, so 9 go as 5 + 4.
    """
    return not job_ids or _publish(
        TASK_SUBMIT, QUEUE_SUBMIT, even_chunks(job_ids, get_settings().submit_batch_max), None
    )


def enqueue_inputs(job_ids: list[str]) -> bool:
    """Publish the messages of admitted image jobs, one each, to the inputs queue: their image
    is fetched there, then they are submitted, so a slow image host never holds a submit slot."""
    return not job_ids or _publish(TASK_SUBMIT, QUEUE_INPUTS, [[i] for i in job_ids], None)


def enqueue_dispatch() -> bool:
    """Ask the dispatcher to admit waiting jobs now (after new ones were committed). A stale
    request is useless, so it expires: beat's next tick admits them anyway."""
    expires_s = max(5.0, get_settings().dispatch_tick_s * 5)
    return _publish(TASK_DISPATCH, QUEUE_POLL, [[]], None, expires_s)


def enqueue_poll() -> bool:
    """Ask a poller to look at the jobs due now (one was just made due by an upstream push),
    instead of at beat's next tick. Expires like the tick it stands in for."""
    expires_s = max(5.0, get_settings().poll_tick_s * 5)
    return _publish(TASK_POLL_DUE, QUEUE_POLL, [[]], None, expires_s)


def even_chunks(items: list[str], most: int) -> list[list[str]]:
    """The fewest runs of at most `most` items, in order, whose sizes differ by at most one."""
    count = -(-len(items) // max(1, most))
    size, longer = divmod(len(items), count)
    bounds = [i * size + min(i, longer) for i in range(count + 1)]
    return [items[a:b] for a, b in pairwise(bounds)]


def enqueue_delivery(delivery_id: str, *, countdown_s: float | None = None) -> bool:
    """Publish one attempt of a committed webhook delivery."""
    return _publish(TASK_DELIVER, QUEUE_WEBHOOKS, [[delivery_id]], countdown_s)


def enqueue_deliveries(groups: list[list[str]]) -> bool:
    """Publish the first attempt of committed deliveries: one message per group of deliveries
    to the same endpoint (the task sends a group in order, so one slow receiver only delays
    its own events)."""
    return not groups or _publish(TASK_DELIVER, QUEUE_WEBHOOKS, groups, None)

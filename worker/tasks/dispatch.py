"""Dispatch: admit the next waiting jobs the upstream quota allows (DESIGN rule 12).

A job the quota cannot take yet waits as a `pending` row; no message exists for it and no task
runs for it. Beat sends `dispatch` every `dispatch_tick_s`, and the gateway sends one after it
commits new jobs (api_gateway/batching/publisher.py), so a job reaches a free quota token at
once. Each run reads how many submits the global quota admits now (one Redis round trip, and
nothing more when that is none), takes that many jobs in fair order (shared.dispatch_order),
reserves a token and an in-flight slot for each, claims each with the compare-and-set
`pending` → `admitted`, commits, and only then publishes their submit messages: text jobs to
the submit queue, image jobs to the inputs queue (their image is fetched there, by the task
that claims the job, so a slow image host never holds a submit slot).

Two dispatchers at once are harmless: each job's claim is a compare-and-set, and on PostgreSQL
the candidates are locked with SKIP LOCKED so they take disjoint jobs (a speed-up only; SQLite's
writer lock serialises them anyway). A run that dies after reserving leaves slots that the
sweeper frees; one that dies after committing leaves `admitted` jobs whose messages the
sweeper sends again (worker/tasks/sweep.py).
"""

import logging

from sqlalchemy import select
from sqlmodel import Session

from shared.constants import TASK_DISPATCH
from shared.db import write_session
from shared.dispatch_order import Candidate, next_candidates
from shared.metrics import pipeline as pipeline_metrics
from shared.metrics import upstream as upstream_metrics
from shared.models import JOBS
from shared.queueing import enqueue_inputs, enqueue_submits
from shared.quotas import (
    available_capacity,
    release_capacity,
    reserve_capacity_for,
    return_submit_tokens,
)
from shared.settings import get_settings
from shared.states import JobStatus
from shared.timeutil import utcnow
from shared.transitions import transition
from worker.app import app

log = logging.getLogger(__name__)
_jobs = JOBS


def _lock(session: Session, candidates: list[Candidate]) -> list[Candidate]:
    """The candidates still pending and not being admitted by another dispatcher, in order."""
    if not candidates:
        return []
    free = set(
        session.execute(
            select(_jobs.c.id)
            .where(
                _jobs.c.id.in_([c.id for c in candidates]),
                _jobs.c.status == JobStatus.PENDING.value,
            )
            .with_for_update(skip_locked=True)
        ).scalars()
    )
    return [c for c in candidates if c.id in free]


def admit(limit: int) -> list[Candidate]:
    """Claim up to `limit` waiting jobs in fair order, each with a token and a slot; committed."""
    settings = get_settings()
    with write_session() as session:
        candidates = _lock(
            session,
            next_candidates(
                session,
                limit=limit,
                now=utcnow(),
                account_max_generating=settings.account_max_generating,
                inputs_per_account=settings.inputs_per_account,
            ),
        )
        reserved = candidates[: reserve_capacity_for([c.id for c in candidates])]
        try:
            admitted = [
                c
                for c in reserved
                if transition(session, c.id, JobStatus.ADMITTED, next_submit_at=None)
            ]
            session.commit()
        except Exception:
            _give_back(reserved)
            raise
    _give_back([c for c in reserved if c not in admitted])
    return admitted


def _give_back(candidates: list[Candidate]) -> None:
    """The tokens and slots reserved for jobs that were not admitted after all."""
    if candidates:
        release_capacity(*(c.id for c in candidates))
        return_submit_tokens(len(candidates))


def publish_admitted(jobs: list[Candidate]) -> None:
    """The submit messages of admitted (committed) jobs, in admission order: text jobs share
    messages on the submit queue, image jobs go one each to the inputs queue."""
    enqueue_submits([job.id for job in jobs if not job.is_image])
    enqueue_inputs([job.id for job in jobs if job.is_image])


@app.task(name=TASK_DISPATCH, soft_time_limit=20, time_limit=30)
def dispatch() -> int:
    """Admit what the quota allows now; returns how many jobs were admitted."""
    most = get_settings().dispatch_batch_max
    capacity = min(available_capacity(), most)
    if capacity <= 0:
        upstream_metrics.quota_wait("submit")
        return 0
    admitted = admit(capacity)
    publish_admitted(admitted)
    pipeline_metrics.admitted(len(admitted))
    if len(admitted) == most:
        dispatch.apply_async()  # more may be admissible: go on rather than wait for a tick
    return len(admitted)

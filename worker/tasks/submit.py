"""Submit: the one paid step. admitted → submitting (attempt recorded) → upstream → processing.

The dispatcher admits a job (worker/tasks/dispatch.py: a quota token and an in-flight slot are
reserved for it) and sends this task; text jobs come through the submit queue, image jobs
through the inputs queue, whose processes fetch the image here. A redelivered or duplicated
message is a no-op: only the process that moves the row from `admitted` to `submitting` fetches
the image and calls the upstream (claim first, then fetch), and the operation name is committed
the moment it returns. The one window a duplicate can slip through is documented in
docs/guarantees.md. A call that may have reached the upstream but got no answer is not sent
again blindly: VEO_UNKNOWN_SUBMIT_POLICY decides (worker/tasks/decisions.py), and each one is
counted for /api/health and logged at WARNING.
"""

import itertools
import logging
import time
from collections import Counter
from datetime import timedelta
from typing import Any

from sqlalchemy import Row, bindparam, select
from sqlalchemy.exc import OperationalError

from shared.cancellation import keep_discarded_operation
from shared.constants import TASK_SUBMIT
from shared.counters import UNKNOWN_SUBMITS, bump
from shared.db import read_connection, statement_connection, write_session
from shared.errors import (
    InputError,
    UpstreamOutcomeUnknown,
    UpstreamPermanentError,
    UpstreamTransientError,
)
from shared.lifecycle import STEP_FIELDS, JobRef, advance_alone, fail_job
from shared.logs import log_context
from shared.models import JOBS
from shared.queueing import enqueue_submit
from shared.quotas import release_capacity
from shared.settings import get_settings
from shared.states import JobStatus
from shared.timeutil import utcnow
from shared.transitions import transition
from worker.app import app
from worker.backoff import backoff_s
from worker.runloop import run
from worker.tasks.decisions import (
    GAVE_UP_REFUSED,
    Accepted,
    RetryLater,
    SubmitAnswer,
    attempts_exhausted,
    decide_submit,
    processing_values,
)
from worker.tasks.inputs import REQUEST_FIELDS, build_request
from worker.upstream import get_upstream
from worker.upstream.base import SubmitRequest

log = logging.getLogger(__name__)
STORE_OPERATION_FOR_S = 30.0  # how long a database outage may delay storing an operation name
_jobs = JOBS
# The columns this step reads (a Core row, not a Job: loading all 28 through the ORM cost
# about as much as the upstream call's own Python).
_READ_JOBS = select(
    *(
        _jobs.c[name]
        for name in (
            *STEP_FIELDS,
            *REQUEST_FIELDS,
            "status",
            "submit_attempts",
            "operation_resubmits",
        )
    )
).where(_jobs.c.id.in_(bindparam("job_ids", expanding=True)))
# A batch starts no further job after this long: one job may take its image fetch, its
# upstream timeout and STORE_OPERATION_FOR_S (90 s by default), which must still end inside the
# soft time limit. (A batch is of text jobs; an image job comes alone.)
BATCH_BUDGET_S = 20.0


@app.task(name=TASK_SUBMIT, soft_time_limit=120, time_limit=150)
def submit_job(*job_ids: str) -> str:
    """Submit the named admitted jobs (one, or several admitted together) one after another.

    One at a time, so this process never holds more than one job between the upstream's accept
    and our commit (rule 4). A batch that has run for BATCH_BUDGET_S hands its remaining jobs on
    in a new message, so no batch nears the time limits, which are sized for one job.
    """
    started = time.monotonic()
    with read_connection() as connection:
        rows = {row.id: row for row in connection.execute(_READ_JOBS, {"job_ids": list(job_ids)})}
    outcomes: list[str] = []
    for index, job_id in enumerate(job_ids):
        if index and time.monotonic() - started > BATCH_BUDGET_S:
            enqueue_submit(*job_ids[index:])  # committed rows, so rule 2 holds
            outcomes += ["handed on"] * (len(job_ids) - index)
            break
        row = rows.get(job_id)
        with log_context(job_id, row.account_id if row is not None else None):
            outcomes.append(_submit(row))
            log.info("submit of job %s: %s", job_id, outcomes[-1])
    return _summary(outcomes)


def _summary(outcomes: list[str]) -> str:
    """The task's result, as logged: one word for one job, counts for a batch."""
    if len(outcomes) == 1:
        return outcomes[0]
    return ", ".join(f"{n} {word}" for word, n in Counter(outcomes).items())


def _submit(job: Row[Any] | None) -> str:
    """One job, from its row as the batch read it: every move below is guarded by the attempt
    count read, so a row another worker has moved since is left alone."""
    if job is None or job.status != JobStatus.ADMITTED:
        return "skipped"  # duplicate message, or another worker owns this step

    if attempts_exhausted(job.submit_attempts, get_settings()):
        with write_session() as session:
            # guarded by the attempts as read: no step since then
            fail_job(session, job, GAVE_UP_REFUSED, submit_attempts=job.submit_attempts)
        release_capacity(job.id)
        return "failed"

    attempt = job.submit_attempts + 1
    with statement_connection() as connection:
        moved = transition(
            connection,
            job.id,
            JobStatus.SUBMITTING,
            guard={"submit_attempts": job.submit_attempts},
            submit_attempts=attempt,
        )
    if not moved:
        return "skipped"  # another message for the same admission claimed it first

    try:
        request = build_request(job)  # claimed first: a second message never fetches
    except InputError as exc:
        with write_session() as session:
            fail_job(session, job, exc.failure, submit_attempts=attempt)
        release_capacity(job.id)
        return "failed"
    return _call_upstream(job, request, attempt)


def _call_upstream(job: JobRef, request: SubmitRequest, attempt: int) -> str:
    """The paid call, then its decision carried out: store the operation, or give the slot
    back and retry later or fail."""
    answer: SubmitAnswer
    try:
        answer = run(get_upstream().submit(request))
    except (UpstreamTransientError, UpstreamOutcomeUnknown, UpstreamPermanentError) as exc:
        answer = exc
    settings = get_settings()
    decision = decide_submit(answer, attempt, settings)
    unknown = isinstance(answer, UpstreamOutcomeUnknown)
    if unknown:
        log.warning(
            "submit of %s (attempt %d) has an unknown outcome: the upstream may have accepted "
            "and billed it; policy %s: %s",
            job.id,
            attempt,
            settings.unknown_submit_policy,
            answer,
        )
    if isinstance(decision, Accepted):
        if not _store_operation(job, attempt, decision.operation):
            if keep_discarded_operation(job.id, decision.operation):
                log.info(
                    "job %s was cancelled during its submit: operation %s runs upstream and its"
                    " result is discarded",
                    job.id,
                    decision.operation,
                )
                return "cancelled"
            log.error(
                "job %s left submitting while operation %s was being created",
                job.id,
                decision.operation,
            )
            return "orphaned"
        return "processing"
    release_capacity(job.id)
    if isinstance(decision, RetryLater):
        # Back to waiting as a row: the dispatcher admits it again once the delay is over.
        retry_at = utcnow() + timedelta(seconds=decision.delay_s)
        with write_session() as session:
            if unknown:
                bump(session, UNKNOWN_SUBMITS)  # with the move: counted once per call
            transition(
                session,
                job.id,
                JobStatus.PENDING,
                guard={"submit_attempts": attempt},
                next_submit_at=retry_at,
            )
            session.commit()
        log.info("submit of %s deferred %.1fs: %s", job.id, decision.delay_s, decision.reason)
        return "retrying"
    with write_session() as session:
        if unknown:
            bump(session, UNKNOWN_SUBMITS)  # committed with the failure
        fail_job(session, job, decision, submit_attempts=attempt)
    log.warning("submit of %s failed permanently: %s", job.id, decision.message)
    return "failed"


def _store_operation(job: JobRef, attempt: int, operation: str) -> bool:
    """Commit `processing` with the operation name; True if this attempt's row now holds it.

    The upstream has accepted (and will charge): losing the name to a database blip would leave
    the job `submitting` for the sweeper to submit AGAIN (found by tests/chaos). So a database
    error here is retried for up to STORE_OPERATION_FOR_S, far inside the task's time limit and
    `submit_stale_s`; the compare-and-set makes a retry after an unseen commit harmless.
    """
    settings = get_settings()
    give_up_at = time.monotonic() + STORE_OPERATION_FOR_S
    for tries in itertools.count():
        now = utcnow()
        try:
            if advance_alone(
                job,
                JobStatus.PROCESSING,
                guard={"submit_attempts": attempt},
                # A job resubmitted after a failed operation announced `processing` already.
                announce=not getattr(job, "operation_resubmits", 0),
                **processing_values(operation, now, settings),
            ):
                return True
            with read_connection() as connection:
                stored = connection.execute(
                    select(_jobs.c.upstream_operation).where(_jobs.c.id == job.id)
                ).scalar()
            return bool(stored == operation)
        except OperationalError:
            delay_s = backoff_s(tries, base_s=0.2, cap_s=2.0)
            if time.monotonic() + delay_s > give_up_at:
                raise
            log.warning("database down; retrying to store operation %s of %s", operation, job.id)
            time.sleep(delay_s)  # bounded (above): the one wait worth a paid submit
    raise AssertionError("unreachable")  # itertools.count() never ends

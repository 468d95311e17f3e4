"""The order in which waiting jobs are admitted upstream (DESIGN rule 12), in one place: the
dispatcher takes the head of it (worker/tasks/dispatch.py), and the status of a waiting job
counts the jobs ahead of it in it (shared/job_view.py).

Round-robin across accounts, FIFO within one. Each account's waiting jobs are ranked by age
(its oldest is rank 1); the dispatcher admits rank 1 of every account before any rank 2, and
within a round the account admitted least recently goes first (an account with nothing admitted,
submitting or generating counts as never). So a burst of one account delays another account's
next job by at most one admission, whatever the burst's size. Two caps hold back an account's
later jobs without blocking anyone else: `account_max_generating` (jobs admitted, submitting or
generating at once; 0: none), and `inputs_per_account` for image jobs, whose image fetches run
in a small pool of their own.

One query each, valid on SQLite (3.25+, window functions) and PostgreSQL.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, case, func, or_, select
from sqlmodel import Session

from shared.models import JOBS
from shared.states import JobStatus

IMAGE = "image_to_video"
# A job counts against its account from admission until it leaves the upstream.
ACTIVE = (JobStatus.ADMITTED.value, JobStatus.SUBMITTING.value, JobStatus.PROCESSING.value)
# Image jobs holding an inputs process (fetching, then submitting).
FETCHING = (JobStatus.ADMITTED.value, JobStatus.SUBMITTING.value)
_jobs = JOBS
_is_image = _jobs.c.generation_type == IMAGE


@dataclass(frozen=True)
class Candidate:
    """A waiting job the dispatcher may admit next."""

    id: str
    account_id: str
    is_image: bool


def _active_by_account() -> Any:
    """Per account with jobs upstream: how many, how many image jobs hold an inputs process,
    and when the latest was admitted (the round-robin's memory)."""
    return (
        select(
            _jobs.c.account_id,
            func.count().label("active"),
            func.sum(case((and_(_is_image, _jobs.c.status.in_(FETCHING)), 1), else_=0)).label(
                "fetching"
            ),
            func.max(_jobs.c.admitted_at).label("last_admitted"),
        )
        .where(_jobs.c.status.in_(ACTIVE))
        .group_by(_jobs.c.account_id)
        .subquery("active")
    )


def next_candidates(
    connection: Connection | Session,
    *,
    limit: int,
    now: datetime,
    account_max_generating: int,
    inputs_per_account: int,
) -> list[Candidate]:
    """The first `limit` waiting jobs in admission order that no cap holds back."""
    by_age = (_jobs.c.created_at, _jobs.c.id)
    waiting = (
        select(
            _jobs.c.id,
            _jobs.c.account_id,
            _is_image.label("is_image"),
            _jobs.c.created_at,
            func.row_number().over(partition_by=_jobs.c.account_id, order_by=by_age).label("rank"),
            func.row_number()
            .over(partition_by=(_jobs.c.account_id, _jobs.c.generation_type), order_by=by_age)
            .label("kind_rank"),
        )
        .where(
            _jobs.c.status == JobStatus.PENDING.value,
            or_(_jobs.c.next_submit_at.is_(None), _jobs.c.next_submit_at <= now),
        )
        .subquery("waiting")
    )
    active = _active_by_account()
    in_use = func.coalesce(active.c.active, 0)
    held_back = [waiting.c.rank > limit]  # a later round than any job this call may return
    if account_max_generating > 0:
        held_back.append(in_use + waiting.c.rank > account_max_generating)
    fetching = func.coalesce(active.c.fetching, 0)
    held_back.append(and_(waiting.c.is_image, fetching + waiting.c.kind_rank > inputs_per_account))
    rows = connection.execute(
        select(waiting.c.id, waiting.c.account_id, waiting.c.is_image)
        .select_from(waiting.outerjoin(active, active.c.account_id == waiting.c.account_id))
        .where(~or_(*held_back))
        .order_by(
            waiting.c.rank,
            active.c.last_admitted.nulls_first(),
            waiting.c.created_at,
            waiting.c.id,
        )
        .limit(limit)
    )
    return [Candidate(row.id, row.account_id, bool(row.is_image)) for row in rows]


def queue_position(connection: Connection | Session, job: Any) -> int:
    """How many waiting jobs the dispatcher will admit before this one, in the order above.

    Exact across rounds. Within the job's own round, of two accounts with nothing upstream the
    one whose oldest waiting job is older counts as ahead (the dispatcher compares the jobs of
    that round, which this does not read). Caps are ignored: they only delay the capped
    account's own jobs. Every waiting job counts, due or backing off.
    """
    return queue_positions(connection, [job])[job.id]


def queue_positions(connection: Connection | Session, jobs: Sequence[Any]) -> dict[str, int]:
    """`queue_position` of each of these waiting jobs, by id: the accounts' counts are read
    once for all of them (a page of GET /api/videos), their ranks one query each."""
    if not jobs:
        return {}
    accounts = _waiting_accounts(connection)
    return {job.id: _ahead(job, _rank(connection, job), accounts) for job in jobs}


def _rank(connection: Connection | Session, job: Any) -> int:
    """The job's place among its account's waiting jobs (its oldest is 1)."""
    ahead_in_account = connection.execute(
        select(func.count()).where(
            _jobs.c.status == JobStatus.PENDING.value,
            _jobs.c.account_id == job.account_id,
            or_(
                _jobs.c.created_at < job.created_at,
                and_(_jobs.c.created_at == job.created_at, _jobs.c.id < job.id),
            ),
        )
    ).scalar_one()
    return int(ahead_in_account) + 1


def _waiting_accounts(connection: Connection | Session) -> list[Any]:
    """Per account with jobs waiting or upstream: how many wait, its oldest waiting job, and
    its latest admission."""
    pending = _jobs.c.status == JobStatus.PENDING.value
    return list(
        connection.execute(
            select(
                _jobs.c.account_id,
                func.sum(case((pending, 1), else_=0)).label("waiting"),
                func.min(case((pending, _jobs.c.created_at))).label("oldest"),
                func.max(case((_jobs.c.status.in_(ACTIVE), _jobs.c.admitted_at))).label("last"),
            )
            .where(_jobs.c.status.in_((JobStatus.PENDING.value, *ACTIVE)))
            .group_by(_jobs.c.account_id)
        ).all()
    )


def _ahead(job: Any, rank: int, rows: list[Any]) -> int:
    mine = next((row for row in rows if row.account_id == job.account_id), None)
    my_turn = _turn(mine.last if mine else None, job.created_at)
    ahead = rank - 1
    for row in rows:
        if row.account_id == job.account_id or not row.waiting:
            continue
        ahead += min(int(row.waiting), rank - 1)
        if row.waiting >= rank and _turn(row.last, row.oldest) < my_turn:
            ahead += 1
    return ahead


def _turn(last_admitted: datetime | None, oldest: datetime) -> tuple[int, datetime]:
    """Where an account stands within a round: never admitted first (older jobs first), then
    the least recently admitted."""
    return (0, oldest) if last_admitted is None else (1, last_admitted)

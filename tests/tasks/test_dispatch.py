"""The dispatcher (worker/tasks/dispatch.py) and its order (shared/dispatch_order.py): waiting
jobs are rows that cost nothing until the quota admits them, one account's backlog never holds
another account's next job back for more than one admission, and the backlog drains at the
quota's rate, exactly."""

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event, update
from sqlmodel import col

from shared.constants import KEY_SUBMIT_BUCKET, QUEUE_INPUTS, QUEUE_POLL, QUEUE_SUBMIT
from shared.db import read_session, write_session
from shared.job_view import status_data
from shared.models import JOBS, Account, Job
from shared.quotas import return_tokens, take_tokens
from shared.redis_client import get_redis, rkey
from shared.settings import Settings
from shared.timeutil import utcnow
from tests.support.broker import queued
from tests.support.fake_upstream import FakeUpstream
from tests.support.jobs import reload_job
from tests.tasks.conftest import admit_waiting
from worker.tasks.dispatch import dispatch
from worker.tasks.submit import submit_job

BACKLOG = 5000


def new_account() -> str:
    account = Account(credits=10**6)
    with write_session() as session:
        session.add(account)
        session.commit()
    return account.id


def waiting_jobs(account_id: str, count: int, *, kind: str = "text_to_video") -> list[str]:
    """`count` pending jobs of the account, oldest first, written in one statement (their
    debits do not matter here)."""
    start = utcnow()
    rows = []
    for i in range(count):
        job = Job(
            account_id=account_id,
            generation_type=kind,
            prompt=f"{account_id} #{i}",
            aspect_ratio="16:9",
            image_url="https://images.example/a.png" if kind == "image_to_video" else None,
            credits_charged=2,
        )
        job.created_at = job.updated_at = start + timedelta(microseconds=i)
        rows.append(job.model_dump())
    with write_session() as session:
        session.execute(JOBS.insert(), rows)
        session.commit()
    return [row["id"] for row in rows]


def drain_bucket() -> None:
    """Spend every submit token there is: from now on only the refill (or a test) adds any."""
    take_tokens(get_redis(), rkey(KEY_SUBMIT_BUCKET), per_second=1.0, burst=1.0, wanted=10**9)


def free_tokens(count: int) -> None:
    return_tokens(get_redis(), rkey(KEY_SUBMIT_BUCKET), count)


def messages() -> dict[str, list[list[Any]]]:
    """Every message waiting, by queue (their arguments)."""
    return {q: [m.args for m in queued(q)] for q in (QUEUE_SUBMIT, QUEUE_INPUTS, QUEUE_POLL)}


def run_submit_messages() -> list[str]:
    """What the workers would do with the submit messages now waiting (each once)."""
    return [submit_job.run(*m.args) for m in queued(QUEUE_SUBMIT)]


@contextmanager
def counting_statements() -> Iterator[list[str]]:
    """The SQL statements any engine of this process runs inside the block."""
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(args[2])

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", record)


def test_a_second_accounts_job_takes_the_next_free_token_behind_a_5000_job_backlog(
    configure: Callable[..., Settings], upstream: FakeUpstream
) -> None:
    """One account has 5,000 jobs waiting behind a small quota; another account's job, accepted
    after all of them, is admitted by the first tick after the next token frees, and submitted.
    No message exists for any job that only waits."""
    configure(upstream_submits_per_minute=6)  # one token every 10 s: the test gives them out
    busy, other = new_account(), new_account()
    backlog = waiting_jobs(busy, BACKLOG)
    drain_bucket()
    assert dispatch.run() == 0
    free_tokens(1)
    assert dispatch.run() == 1  # the backlog is being served: its first job is upstream
    [late] = waiting_jobs(other, 1)
    assert dispatch.run() == 0  # no token: it waits, as a row

    free_tokens(1)
    assert dispatch.run() == 1

    assert reload_job(Job(id=late)).status == "admitted"
    assert messages() == {QUEUE_SUBMIT: [[backlog[0]], [late]], QUEUE_INPUTS: [], QUEUE_POLL: []}
    assert run_submit_messages() == ["processing", "processing"]
    assert [r.prompt for r in upstream.requests] == [f"{busy} #0", f"{other} #0"]


def test_a_waiting_backlog_costs_no_database_statement_and_no_message(
    configure: Callable[..., Settings],
) -> None:
    """While the quota has nothing to give, a tick is one Redis call: no query, no message,
    whatever the backlog."""
    configure(upstream_submits_per_minute=6)
    waiting_jobs(new_account(), BACKLOG)
    drain_bucket()
    started = time.process_time()
    with counting_statements() as statements:
        admitted = [dispatch.run() for _ in range(100)]
    cpu_per_tick_s = (time.process_time() - started) / 100
    assert admitted == [0] * 100
    assert statements == []
    assert messages() == {QUEUE_SUBMIT: [], QUEUE_INPUTS: [], QUEUE_POLL: []}
    assert cpu_per_tick_s < 0.005  # about 0.2 ms here: the idle stack stays idle


def test_the_backlog_drains_at_the_quota_exactly(configure: Callable[..., Settings]) -> None:
    """Ticks every 50 ms for 2 s at 10 submits a second: by its last tick the dispatcher has
    admitted every whole token refilled since the bucket was empty, and not one more."""
    configure(upstream_submits_per_minute=600)
    waiting_jobs(new_account(), BACKLOG)
    drain_started = time.monotonic()
    drain_bucket()
    drained = time.monotonic()  # the bucket emptied somewhere in between
    admitted = 0
    while True:
        tick_started = time.monotonic()
        admitted += dispatch.run()
        tick_ended = time.monotonic()
        if tick_ended - drained > 2.0:
            break
        time.sleep(0.05)  # the tick interval under test, not a wait for a condition
    refilled_before = 10 * (tick_started - drained)  # at least this by the latest tick's start...
    refilled_after = 10 * (tick_ended - drain_started)  # ...and at most this by its end
    assert refilled_before - 1 < admitted <= refilled_after
    assert admitted >= 15
    assert sum(len(m) for m in messages()[QUEUE_SUBMIT]) == admitted


def test_accounts_take_turns_and_each_keeps_its_own_order(settings: Settings) -> None:
    """Round-robin across accounts, FIFO within one: the first job of every account before the
    second of any."""
    a, b, c = new_account(), new_account(), new_account()
    jobs_a, jobs_b, jobs_c = waiting_jobs(a, 5), waiting_jobs(b, 3), waiting_jobs(c, 1)
    admitted = admit_waiting()
    assert admitted == [
        *(jobs_a[0], jobs_b[0], jobs_c[0]),
        *(jobs_a[1], jobs_b[1]),
        *(jobs_a[2], jobs_b[2]),
        *(jobs_a[3],),
        *(jobs_a[4],),
    ]


def test_the_account_admitted_least_recently_goes_first_in_a_round(settings: Settings) -> None:
    """An account with jobs upstream waits behind one with none, even with older jobs."""
    early, late = new_account(), new_account()
    first = waiting_jobs(early, 3)
    assert admit_waiting(limit=1) == [first[0]]
    [newcomer] = waiting_jobs(late, 1)
    assert admit_waiting(limit=1) == [newcomer]
    assert admit_waiting() == first[1:]


def test_an_account_capped_at_two_generating_jobs_waits_for_one_to_end(
    configure: Callable[..., Settings],
) -> None:
    """`account_max_generating` holds back that account's later jobs, nobody else's."""
    configure(account_max_generating=2)
    capped, other = new_account(), new_account()
    jobs = waiting_jobs(capped, 5)
    others = waiting_jobs(other, 2)
    assert admit_waiting() == [jobs[0], others[0], jobs[1], others[1]]
    assert admit_waiting() == []
    with write_session() as session:  # one of them finishes
        session.execute(update(Job).where(col(Job.id) == jobs[0]).values(status="completed"))
        session.commit()
    assert admit_waiting() == [jobs[2]]


def test_image_jobs_go_to_the_inputs_queue_two_per_account(settings: Settings) -> None:
    """An account's image jobs hold at most `inputs_per_account` of the inputs processes at
    once, and never a submit slot: another account's text job goes to the submit queue in the
    same tick."""
    images, text = new_account(), new_account()
    image_jobs = waiting_jobs(images, 8, kind="image_to_video")
    [text_job] = waiting_jobs(text, 1)

    assert dispatch.run() == 3

    assert messages() == {
        QUEUE_SUBMIT: [[text_job]],
        QUEUE_INPUTS: [[image_jobs[0]], [image_jobs[1]]],
        QUEUE_POLL: [],
    }
    assert dispatch.run() == 0  # the other six wait for one of those two to be submitted


@pytest.mark.parametrize("status", ["admitted", "submitting", "processing", "completed"])
def test_a_job_no_longer_waiting_is_never_admitted_again(settings: Settings, status: str) -> None:
    """Only `pending` rows are candidates."""
    [job] = waiting_jobs(new_account(), 1)
    with write_session() as session:
        session.execute(update(Job).where(col(Job.id) == job).values(status=status))
        session.commit()
    assert admit_waiting() == []


def test_a_waiting_jobs_queue_position_is_its_place_in_the_admission_order(
    configure: Callable[..., Settings],
) -> None:
    """What a waiting job's status says (queuePosition, and an estimate that grows with it, a
    quota token per job ahead) is where the dispatcher then takes it: every waiting job, three
    accounts, one of them with a job upstream already."""
    configure(upstream_submits_per_minute=60)  # a token a second; 10 at once
    a, b, c = new_account(), new_account(), new_account()
    jobs = waiting_jobs(a, 5) + waiting_jobs(b, 3) + waiting_jobs(c, 1)
    assert admit_waiting(limit=1) == [jobs[0]]
    waiting = jobs[1:]
    with read_session() as session:
        views = {job_id: status_data(session, session.get(Job, job_id)) for job_id in waiting}

    order = admit_waiting()

    assert sorted(waiting, key=lambda job_id: views[job_id]["queuePosition"]) == order
    assert [views[job_id]["queuePosition"] for job_id in order] == list(range(len(order)))
    estimates = [views[job_id]["estimatedTime"] for job_id in order]
    assert [later - estimates[0] for later in estimates] == list(range(len(order)))

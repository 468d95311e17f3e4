"""The job state machine's table (shared/states.py): every move it allows and every one it
refuses, spelled out, so a change to the table is a change to this file too."""

from itertools import product

import pytest

from shared.states import ALLOWED_FROM, PUBLIC_STATUS, STAMPS, TERMINAL, JobStatus

PENDING, SUBMITTING, PROCESSING, COMPLETED, FAILED = (
    JobStatus.PENDING,
    JobStatus.SUBMITTING,
    JobStatus.PROCESSING,
    JobStatus.COMPLETED,
    JobStatus.FAILED,
)
MOVES = {
    (PENDING, SUBMITTING),  # the paid step begins, its attempt counted
    (PENDING, FAILED),  # out of attempts, or the user's input is unusable
    (SUBMITTING, PENDING),  # refused for now; submit again later (or the sweeper's retry)
    (SUBMITTING, SUBMITTING),  # guarded by the attempt number, so only one claimant wins
    (SUBMITTING, PROCESSING),  # the upstream accepted: its operation name is stored
    (SUBMITTING, FAILED),  # refused for good
    (PROCESSING, COMPLETED),  # the video is in our storage
    (PROCESSING, FAILED),  # the upstream's verdict, a lost operation, or the deadline
}


@pytest.mark.parametrize(
    ("source", "target"),
    list(product(JobStatus, JobStatus)),
    ids=lambda status: status.value,
)
def test_every_move_is_allowed_or_refused_as_the_table_says(
    source: JobStatus, target: JobStatus
) -> None:
    assert (source in ALLOWED_FROM[target]) is ((source, target) in MOVES)


@pytest.mark.parametrize("terminal", sorted(TERMINAL))
def test_terminal_states_are_never_left(terminal: JobStatus) -> None:
    assert not any(terminal in sources for sources in ALLOWED_FROM.values())


def test_every_state_but_pending_stamps_its_own_time_on_entry() -> None:
    assert set(STAMPS) == set(JobStatus) - {PENDING}
    assert len(set(STAMPS.values())) == len(STAMPS)


def test_every_status_has_a_public_name_from_the_seed() -> None:
    assert set(PUBLIC_STATUS) == set(JobStatus)
    assert set(PUBLIC_STATUS.values()) == {"pending", "processing", "completed", "failed"}


def test_completion_only_from_processing() -> None:
    assert ALLOWED_FROM[JobStatus.COMPLETED] == {JobStatus.PROCESSING}

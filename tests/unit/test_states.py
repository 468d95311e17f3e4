"""The two state machines' tables (shared/states.py): every job move allowed and every one
refused, spelled out, so a change to a table is a change to this file too."""

from itertools import product

import pytest

from shared.states import (
    ALLOWED_FROM,
    DELIVERY_MOVES,
    PUBLIC_STATUS,
    STAMPS,
    TERMINAL,
    DeliveryMove,
    DeliveryStatus,
    JobStatus,
)

PENDING, ADMITTED, SUBMITTING, PROCESSING, COMPLETED, FAILED, CANCELLED = (
    JobStatus.PENDING,
    JobStatus.ADMITTED,
    JobStatus.SUBMITTING,
    JobStatus.PROCESSING,
    JobStatus.COMPLETED,
    JobStatus.FAILED,
    JobStatus.CANCELLED,
)
MOVES = {
    (PENDING, ADMITTED),  # the dispatcher's claim: a quota token and a slot are reserved
    (PENDING, FAILED),  # failed while waiting (the account's jobs cancelled, say)
    (ADMITTED, SUBMITTING),  # the paid step begins, its attempt counted
    (ADMITTED, FAILED),  # out of attempts
    (SUBMITTING, PENDING),  # refused for now: waits again (or the sweeper's retry)
    (SUBMITTING, SUBMITTING),  # guarded by the attempt number, so only one claimant wins
    (SUBMITTING, PROCESSING),  # the upstream accepted: its operation name is stored
    (SUBMITTING, FAILED),  # refused for good, or the user's image is unusable
    (PROCESSING, PENDING),  # the operation failed upstream (rpc 8/13/14): submitted anew once
    (PROCESSING, COMPLETED),  # the video is in our storage
    (PROCESSING, FAILED),  # the upstream's verdict, a lost operation, or the deadline
    # Its owner cancels it: refunded unless the upstream was already generating it.
    (PENDING, CANCELLED),
    (ADMITTED, CANCELLED),
    (SUBMITTING, CANCELLED),
    (PROCESSING, CANCELLED),  # its result is discarded
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


def test_every_status_has_a_public_name() -> None:
    """The API shows the seed's four statuses, and `cancelled`."""
    assert set(PUBLIC_STATUS) == set(JobStatus)
    assert set(PUBLIC_STATUS.values()) == {
        "pending",
        "processing",
        "completed",
        "failed",
        "cancelled",
    }


def test_completion_only_from_processing() -> None:
    """Only a job the upstream is working on can complete."""
    assert ALLOWED_FROM[JobStatus.COMPLETED] == {JobStatus.PROCESSING}


def test_every_delivery_move_is_in_the_table_and_every_status_is_reachable() -> None:
    """Each move has its row, and each status is entered by some move."""
    assert set(DELIVERY_MOVES) == set(DeliveryMove)
    assert {move.enters for move in DELIVERY_MOVES.values()} == set(DeliveryStatus)
    assert all(move.leaves for move in DELIVERY_MOVES.values())


@pytest.mark.parametrize(
    ("move", "leaves", "enters"),
    [
        # an attempt's outcome: only a pending (claimed) delivery makes attempts
        (DeliveryMove.DELIVER, {DeliveryStatus.PENDING}, DeliveryStatus.DELIVERED),
        (DeliveryMove.RETRY, {DeliveryStatus.PENDING}, DeliveryStatus.PENDING),
        (DeliveryMove.GIVE_UP, {DeliveryStatus.PENDING}, DeliveryStatus.FAILED),
        # the account's "send it again": from any state, the same webhook-id
        (DeliveryMove.REPLAY, set(DeliveryStatus), DeliveryStatus.PENDING),
    ],
)
def test_delivery_moves(
    move: DeliveryMove, leaves: set[DeliveryStatus], enters: DeliveryStatus
) -> None:
    """Each delivery move leaves exactly these states and enters this one."""
    assert DELIVERY_MOVES[move] == (leaves, enters)


def test_only_a_replay_leaves_a_finished_delivery() -> None:
    """A delivered or failed delivery changes only when the account replays it."""
    finished = {DeliveryStatus.DELIVERED, DeliveryStatus.FAILED}
    leaving = {move for move, row in DELIVERY_MOVES.items() if row.leaves & finished}
    assert leaving == {DeliveryMove.REPLAY}


@pytest.mark.parametrize("enum", [JobStatus, DeliveryStatus])
def test_status_values_are_the_stored_lowercase_names(
    enum: type[JobStatus] | type[DeliveryStatus],
) -> None:
    """The database, the logs and the API all use the member's lowercase name."""
    for member in enum:
        assert member.value == member.name.lower()
        assert len(member.value) <= 16  # the status columns are VARCHAR(16)

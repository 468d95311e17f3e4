"""The two state machines, jobs and webhook deliveries: their statuses and their tables.

Plain data, imported by the table models (shared.models) for their status columns; the one
compare-and-set of each machine, which reads these tables, is in shared.transitions. The values
are what the database stores and the logs show.
"""

from enum import StrEnum
from typing import NamedTuple


class JobStatus(StrEnum):
    """Where a job stands; the public API shows it through PUBLIC_STATUS."""

    #: Paid for and waiting as a row: the dispatcher admits it when the quota allows
    #: (worker/tasks/dispatch.py). No message exists for it.
    PENDING = "pending"
    #: The dispatcher gave it a submit token and an in-flight slot and sent its message; no
    #: task has started on it yet (the one that does moves it to `submitting`).
    ADMITTED = "admitted"
    #: The paid upstream call is under way; its attempt number is recorded.
    SUBMITTING = "submitting"
    #: The upstream accepted it; its operation name is stored.
    PROCESSING = "processing"
    #: Terminal: the MP4 is in our storage.
    COMPLETED = "completed"
    #: Terminal: the error is recorded; refunded unless it was the user's fault.
    FAILED = "failed"
    #: Terminal: its owner cancelled it (POST /api/videos/{uuid}/cancel); refunded if it had not
    #: reached `processing` (shared/cancellation.py). An upstream result is discarded.
    CANCELLED = "cancelled"


TERMINAL = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})

# Which states a job may enter each state from. Terminal states appear on no right-hand side.
ALLOWED_FROM: dict[JobStatus, frozenset[JobStatus]] = {
    # From submitting: the upstream refused for now, retry later. From processing: the
    # operation failed on the upstream's side, submit it anew (once).
    JobStatus.PENDING: frozenset({JobStatus.SUBMITTING, JobStatus.PROCESSING}),
    JobStatus.ADMITTED: frozenset({JobStatus.PENDING}),  # the dispatcher's claim
    # The task's own claim, its attempt counted (guarded by the attempt number, so only one
    # claimant wins, also from SUBMITTING).
    JobStatus.SUBMITTING: frozenset({JobStatus.ADMITTED, JobStatus.SUBMITTING}),
    JobStatus.PROCESSING: frozenset({JobStatus.SUBMITTING}),
    JobStatus.COMPLETED: frozenset({JobStatus.PROCESSING}),
    JobStatus.FAILED: frozenset(
        {JobStatus.PENDING, JobStatus.ADMITTED, JobStatus.SUBMITTING, JobStatus.PROCESSING}
    ),
    JobStatus.CANCELLED: frozenset(
        {JobStatus.PENDING, JobStatus.ADMITTED, JobStatus.SUBMITTING, JobStatus.PROCESSING}
    ),
}

# The timestamp column each state stamps on entry.
STAMPS: dict[JobStatus, str] = {
    JobStatus.ADMITTED: "admitted_at",
    JobStatus.SUBMITTING: "submitted_at",
    JobStatus.PROCESSING: "processing_at",
    JobStatus.COMPLETED: "completed_at",
    JobStatus.FAILED: "failed_at",
    JobStatus.CANCELLED: "cancelled_at",
}

# What the public API shows: the seed's four statuses, and `cancelled`.
PUBLIC_STATUS: dict[JobStatus, str] = {
    JobStatus.PENDING: "pending",
    JobStatus.ADMITTED: "pending",
    JobStatus.SUBMITTING: "pending",
    JobStatus.PROCESSING: "processing",
    JobStatus.COMPLETED: "completed",
    JobStatus.FAILED: "failed",
    JobStatus.CANCELLED: "cancelled",
}


class DeliveryStatus(StrEnum):
    """Where one webhook delivery (one event for one URL) stands; the API shows it as is."""

    #: Waiting for its next attempt at `next_attempt_at`, or claimed for one (the claim's lease
    #: is `next_attempt_at` moved ahead).
    PENDING = "pending"
    #: The receiver answered 2xx.
    DELIVERED = "delivered"
    #: No attempt is left: the retry schedule is spent, or the URL is refused, or the endpoint
    #: is disabled. Kept, and listed, until the account replays it.
    FAILED = "failed"


class DeliveryMove(StrEnum):
    """The moves a delivery makes. A retry and a replay both enter `pending`, from different
    states, so this machine's table is keyed by move, not by target state as the job's is."""

    #: An attempt succeeded.
    DELIVER = "deliver"
    #: An attempt failed and the schedule has another: the next one is due later.
    RETRY = "retry"
    #: An attempt failed and none is left.
    GIVE_UP = "give_up"
    #: The account asked for it again (same webhook-id), whatever its state.
    REPLAY = "replay"


class Move(NamedTuple):
    """One row of DELIVERY_MOVES: the states a move may leave, and the state it enters."""

    leaves: frozenset[DeliveryStatus]
    enters: DeliveryStatus


# Every way a delivery's status may change. Only a replay leaves `delivered` or `failed`;
# the other moves record an attempt, which only a pending (claimed) delivery makes.
DELIVERY_MOVES: dict[DeliveryMove, Move] = {
    DeliveryMove.DELIVER: Move(frozenset({DeliveryStatus.PENDING}), DeliveryStatus.DELIVERED),
    DeliveryMove.RETRY: Move(frozenset({DeliveryStatus.PENDING}), DeliveryStatus.PENDING),
    DeliveryMove.GIVE_UP: Move(frozenset({DeliveryStatus.PENDING}), DeliveryStatus.FAILED),
    DeliveryMove.REPLAY: Move(frozenset(DeliveryStatus), DeliveryStatus.PENDING),
}

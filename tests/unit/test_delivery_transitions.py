"""The delivery compare-and-set (shared.transitions.transition_deliveries) against the table:
run on an in-memory SQLite database, so no server is needed."""

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import Connection, create_engine, insert, select
from sqlmodel import SQLModel

from shared.models import DELIVERIES, WebhookDelivery
from shared.states import DeliveryMove, DeliveryStatus
from shared.timeutil import utcnow
from shared.transitions import transition_deliveries

MakeDelivery = Callable[..., str]


@pytest.fixture
def connection() -> Iterator[Connection]:
    engine = create_engine("sqlite://")
    SQLModel.metadata.create_all(engine, tables=[DELIVERIES])
    with engine.begin() as conn:
        yield conn
    engine.dispose()


@pytest.fixture
def make_delivery(connection: Connection) -> MakeDelivery:
    def make(status: DeliveryStatus = DeliveryStatus.PENDING, account_id: str = "acct_a") -> str:
        row = WebhookDelivery(
            account_id=account_id,
            event_type="video.completed",
            url="https://example.com/hook",
            payload="{}",
            status=status,
            next_attempt_at=utcnow(),
            delivered_at=utcnow() if status is DeliveryStatus.DELIVERED else None,
        )
        connection.execute(insert(DELIVERIES), row.model_dump())
        return row.id

    return make


def status_of(connection: Connection, delivery_id: str) -> Any:
    return connection.execute(
        select(DELIVERIES.c.status).where(DELIVERIES.c.id == delivery_id)
    ).scalar_one()


def attempt_values(move: DeliveryMove) -> dict[str, Any]:
    return {"last_status_code": 200 if move is DeliveryMove.DELIVER else 500, "last_error": None}


@pytest.mark.parametrize("status", list(DeliveryStatus))
def test_a_replay_reopens_a_delivery_in_any_state(
    connection: Connection, make_delivery: MakeDelivery, status: DeliveryStatus
) -> None:
    """Replaying moves it to pending, whatever it was, and forgets its delivery time."""
    delivery_id = make_delivery(status)
    values = {"next_attempt_at": utcnow(), "delivered_at": None}
    moved = transition_deliveries(
        connection, DeliveryMove.REPLAY, [(delivery_id, values)], guard={"account_id": "acct_a"}
    )
    assert moved == 1
    row = connection.execute(select(DELIVERIES).where(DELIVERIES.c.id == delivery_id)).one()
    assert (row.status, row.delivered_at) == (DeliveryStatus.PENDING, None)


def test_a_replay_by_another_account_changes_nothing(
    connection: Connection, make_delivery: MakeDelivery
) -> None:
    """The guard keeps a delivery to its own account: another one moves no row."""
    delivery_id = make_delivery(DeliveryStatus.FAILED)
    values = {"next_attempt_at": utcnow(), "delivered_at": None}
    moved = transition_deliveries(
        connection, DeliveryMove.REPLAY, [(delivery_id, values)], guard={"account_id": "acct_b"}
    )
    assert moved == 0
    assert status_of(connection, delivery_id) == DeliveryStatus.FAILED


@pytest.mark.parametrize("move", [DeliveryMove.DELIVER, DeliveryMove.RETRY, DeliveryMove.GIVE_UP])
@pytest.mark.parametrize("finished", [DeliveryStatus.DELIVERED, DeliveryStatus.FAILED])
def test_a_late_attempt_does_not_touch_a_finished_delivery(
    connection: Connection,
    make_delivery: MakeDelivery,
    move: DeliveryMove,
    finished: DeliveryStatus,
) -> None:
    """An attempt recorded after another worker finished the row (its lease ran out) is a no-op."""
    delivery_id = make_delivery(finished)
    assert transition_deliveries(connection, move, [(delivery_id, attempt_values(move))]) == 0
    assert status_of(connection, delivery_id) == finished


@pytest.mark.parametrize(
    ("move", "enters"),
    [
        (DeliveryMove.DELIVER, DeliveryStatus.DELIVERED),
        (DeliveryMove.RETRY, DeliveryStatus.PENDING),
        (DeliveryMove.GIVE_UP, DeliveryStatus.FAILED),
    ],
)
def test_one_statement_records_a_group_of_attempts(
    connection: Connection, make_delivery: MakeDelivery, move: DeliveryMove, enters: DeliveryStatus
) -> None:
    """Several deliveries move in one call; a row no longer pending is left out of the count."""
    pending = [make_delivery() for _ in range(3)]
    done = make_delivery(DeliveryStatus.DELIVERED)
    changes = [(delivery_id, attempt_values(move)) for delivery_id in [*pending, done]]
    assert transition_deliveries(connection, move, changes) == 3
    assert [status_of(connection, d) for d in pending] == [enters] * 3
    assert status_of(connection, done) == DeliveryStatus.DELIVERED


def test_statuses_are_stored_as_their_values_and_read_back_as_members(
    connection: Connection, make_delivery: MakeDelivery
) -> None:
    """The column holds the plain string; the model's type hands back the enum member."""
    delivery_id = make_delivery(DeliveryStatus.FAILED)
    stored = connection.exec_driver_sql(
        "SELECT status FROM webhook_deliveries WHERE id = ?", (delivery_id,)
    ).scalar_one()
    assert type(stored) is str
    assert stored == "failed"
    assert status_of(connection, delivery_id) is DeliveryStatus.FAILED

"""What a client asks for when it waits (`Prefer: wait=N`), and the event stream's ids."""

import asyncio

import pytest

from api_gateway.waiting import preferred_wait
from api_gateway.waiting_events import event_id, last_event_id, render
from api_gateway.waiting_hub import RESYNC, Listener


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ([(b"prefer", b"wait=10")], 10),
        ([(b"prefer", b"WAIT = 7")], 7),
        ([(b"prefer", b'wait="5"')], 5),
        ([(b"prefer", b"respond-async, wait=3; x=y")], 3),
        ([(b"prefer", b"return=minimal"), (b"prefer", b"wait=4")], 4),
        ([(b"prefer", b"wait=4, wait=9")], 4),  # only the first instance counts
        ([(b"prefer", b"wait=0")], 0),
        ([(b"prefer", b"wait=3600")], 3600),  # cut to the maximum by the caller
        ([(b"prefer", b"wait=soon")], None),
        ([(b"prefer", b"wait")], None),
        ([(b"prefer", b"wait=-1")], None),
        ([(b"prefer", b"wait=1.5")], None),
        ([(b"prefer", b"wait=\xd9\xa3")], None),  # a non-ASCII digit
        ([(b"prefer", b"respond-async")], None),
        ([(b"x-prefer", b"wait=3")], None),
        ([], None),
    ],
)
def test_the_first_well_formed_wait_preference_counts(
    headers: list[tuple[bytes, bytes]], expected: int | None
) -> None:
    assert preferred_wait(headers) == expected


def test_event_ids_grow_along_a_jobs_life() -> None:
    stages = [
        {"status": "pending", "progress": 0},
        {"status": "processing", "progress": 5},
        {"status": "processing", "progress": 99},
        {"status": "failed", "progress": 0},
    ]
    ids = [event_id(data) for data in stages]
    assert ids == sorted(ids) == [0, 1005, 1099, 2000]
    assert event_id({"status": "completed", "progress": 100}) == 2100


@pytest.mark.parametrize(
    ("header", "expected"), [(None, -1), ("", -1), ("1037", 1037), (" 12 ", 12), ("abc", -1)]
)
def test_last_event_id_is_ours_or_ignored(header: str | None, expected: int) -> None:
    assert last_event_id(header) == expected


def test_an_event_is_id_type_and_the_status_answer() -> None:
    text = render({"uuid": "u", "status": "processing", "progress": 40}).decode()
    assert text == (
        'id: 1040\nevent: status\ndata: {"uuid":"u","status":"processing","progress":40}\n\n'
    )


def test_a_listener_hands_over_what_arrived_and_times_out_when_nothing_does() -> None:
    async def scenario() -> list[object]:
        listener = Listener()
        listener.push(RESYNC)
        first = await listener.next(5)
        empty = await listener.next(0.01)
        later = asyncio.get_running_loop().call_soon(listener.push, RESYNC)
        woken = await listener.next(5)
        later.cancel()
        return [first, empty, woken]

    assert asyncio.run(scenario()) == [RESYNC, None, RESYNC]

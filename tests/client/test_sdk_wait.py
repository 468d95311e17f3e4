"""wait(): the event stream, its resumption, and polling where there is no stream."""

import asyncio

import httpx
import pytest
from veo_client import AsyncVeoClient, RetryPolicy, VeoClient, Video, WaitTimeout
from veo_client._sse import SSEDecoder

from tests.client.fake_api import BASE, KEY, FakeApi, fail, job, ok, sse

EVENTS = "/api/videos/j1/events"
STATUS = "/api/video-status/j1"


def stream(body: bytes) -> httpx.Response:
    return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})


def test_the_event_stream_is_followed_to_the_terminal_event(sdk: VeoClient, api: FakeApi) -> None:
    events = sse(
        (1, job("j1", "pending")),
        (2, job("j1", "processing", progress=40)),
        (3, job("j1", "completed")),
    )
    api.on("GET", EVENTS, stream(events))
    seen: list[Video] = []
    final = sdk.wait("j1", on_update=seen.append)
    assert final.status == "completed"
    assert final.video_url
    assert [(v.status, v.progress) for v in seen] == [
        ("pending", 0),
        ("processing", 40),
        ("completed", 100),
    ]
    assert api.seen("GET", STATUS) == []


def test_a_dropped_stream_resumes_from_the_last_event_id(sdk: VeoClient, api: FakeApi) -> None:
    api.on(
        "GET",
        EVENTS,
        stream(sse((4, job("j1", "processing", progress=10)))),  # ends without a terminal event
        stream(sse((5, job("j1", "cancelled")))),
    )
    assert sdk.wait("j1").status == "cancelled"
    first, second = api.seen("GET", EVENTS)
    assert "last-event-id" not in first.headers
    assert second.headers["last-event-id"] == "4"


def test_without_an_event_stream_it_polls_with_prefer_wait(
    sdk: VeoClient, api: FakeApi, slept: list[float]
) -> None:
    held = {"Preference-Applied": "wait=5"}
    api.on(
        "GET",
        STATUS,
        ok(job("j1", "processing", progress=50), held),
        ok(job("j1", "completed"), held),
    )
    assert sdk.wait("j1").status == "completed"
    polls = api.seen("GET", STATUS)
    assert [p.headers["prefer"] for p in polls] == ["wait=5", "wait=5"]
    assert slept == []  # the gateway held each answer: no pause of our own


def test_a_gateway_that_ignores_prefer_is_polled_every_interval(
    sdk: VeoClient, api: FakeApi, slept: list[float]
) -> None:
    api.on(
        "GET", STATUS, ok(job("j1", "pending")), ok(job("j1", "pending")), ok(job("j1", "failed"))
    )
    assert sdk.wait("j1", poll_interval=7).status == "failed"
    assert slept == [7, 7]


def test_an_unknown_uuid_is_reported_not_waited_for(sdk: VeoClient, api: FakeApi) -> None:
    from veo_client import NotFound

    api.on("GET", EVENTS, fail(1000, "uuid: not found", 404))
    api.on("GET", STATUS, fail(1000, "uuid: not found", 404))
    with pytest.raises(NotFound, match="uuid"):
        sdk.wait("j1")


class Clock:
    """A monotonic clock that moves one second each time it is read."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        self.now += 1
        return self.now


def test_wait_gives_up_after_its_timeout_with_the_last_status(
    api: FakeApi, slept: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("veo_client._wait.time", Clock())
    api.on("GET", STATUS, ok(job("j1", "processing", progress=30)))
    client = VeoClient(KEY, BASE, transport=api.transport(), retry=RetryPolicy(max_retries=0))
    with pytest.raises(WaitTimeout) as raised:
        client.wait("j1", timeout=20, poll_interval=5)
    assert raised.value.last is not None
    assert raised.value.last.progress == 30
    assert api.seen("GET", STATUS)


def test_sse_decoder_follows_the_standard() -> None:
    decoder = SSEDecoder()
    lines = [": ping", "id: 9", "event: status", 'data: {"a":', "data:  1}", "", "", "retry: 5"]
    events = [e for e in map(decoder.feed, lines) if e is not None]
    assert len(events) == 1
    assert (events[0].event, events[0].data, events[0].id) == ("status", '{"a":\n 1}', "9")
    assert decoder.last_event_id == "9"


def test_the_async_client_waits_on_the_same_stream(api: FakeApi, slept: list[float]) -> None:
    api.on("GET", EVENTS, stream(sse((1, job("j1", "processing")), (2, job("j1", "completed")))))
    api.on("POST", "/api/generate-video", ok(job("j1")))
    api.on("GET", "/api/videos", ok({"items": [job("j1")], "nextCursor": None}))
    updates: list[str] = []

    async def on_update(video: Video) -> None:
        updates.append(video.status)

    async def scenario() -> tuple[str, str, list[str]]:
        transport = httpx.MockTransport(api)
        async with AsyncVeoClient(KEY, BASE, transport=transport) as client:
            created = await client.generate("a fox")
            final = await client.wait(created.uuid, on_update=on_update)
            listed = [v.uuid async for v in client.list()]
            return created.status, final.status, listed

    assert asyncio.run(scenario()) == ("pending", "completed", ["j1"])
    assert updates == ["processing", "completed"]

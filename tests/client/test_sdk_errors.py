"""Each error code as its exception, and which failures are tried again, after how long."""

import httpx
import pytest
from veo_client import (
    AuthenticationError,
    ConnectionFailed,
    InsufficientCredits,
    InvalidRequest,
    NotFound,
    RateLimited,
    RetryPolicy,
    ServerError,
    VeoClient,
    VeoError,
)

from tests.client.fake_api import BASE, KEY, FakeApi, fail, job, ok


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (fail(1000, "prompt: must not be empty", 400), InvalidRequest),
        (fail(1000, "uuid: not found", 404), NotFound),
        (fail(1002, "Authentication failed", 401), AuthenticationError),
        (fail(5000, "Server error", 500), ServerError),
        (httpx.Response(502, text="<html>Bad gateway</html>"), ServerError),
    ],
)
def test_each_code_is_its_exception(
    api: FakeApi, answer: httpx.Response, error: type[VeoError]
) -> None:
    api.on("GET", "/api/video-status/j1", answer)
    client = VeoClient(KEY, BASE, transport=api.transport(), retry=RetryPolicy(max_retries=0))
    with pytest.raises(error) as raised:
        client.status("j1")
    assert raised.value.code == error.code


def test_insufficient_credits_says_how_many(sdk: VeoClient, api: FakeApi) -> None:
    api.on(
        "POST",
        "/api/generate-video",
        fail(1001, "Insufficient credits", 402, {"required": 2, "current": 0}),
    )
    with pytest.raises(InsufficientCredits) as raised:
        sdk.generate("a fox")
    assert (raised.value.required, raised.value.current) == (2, 0)
    assert len(api.seen("POST", "/api/generate-video")) == 1


def test_rate_limited_waits_as_long_as_retry_after_says(
    sdk: VeoClient, api: FakeApi, slept: list[float]
) -> None:
    limited = fail(1003, "Rate limit exceeded", 429, **{"Retry-After": "7"})
    api.on("GET", "/api/video-status/j2", limited, limited, ok(job("j2")))
    assert sdk.status("j2").uuid == "j2"
    assert slept == [7.0, 7.0]


def test_a_retry_after_longer_than_the_policy_allows_is_raised_at_once(
    sdk: VeoClient, api: FakeApi, slept: list[float]
) -> None:
    api.on("GET", "/api/account", fail(1003, "Rate limit exceeded", 429, **{"Retry-After": "3600"}))
    with pytest.raises(RateLimited) as raised:
        sdk.account()
    assert raised.value.retry_after == 3600.0
    assert slept == []


def test_server_errors_on_reads_back_off_and_then_give_up(
    sdk: VeoClient, api: FakeApi, slept: list[float]
) -> None:
    api.on("GET", "/api/video-status/j3", fail(5000, "Server error", 500))
    with pytest.raises(ServerError):
        sdk.status("j3")
    assert len(api.seen("GET", "/api/video-status/j3")) == 4  # the first try and 3 retries
    assert len(slept) == 3
    assert slept == sorted(slept)
    assert slept[-1] <= 8


def test_a_submit_is_repeated_only_with_the_same_idempotency_key(
    sdk: VeoClient, api: FakeApi
) -> None:
    api.on("POST", "/api/generate-video", fail(5000, "Server error", 500), ok(job("j4")))
    assert sdk.generate("a fox").uuid == "j4"
    first, second = api.seen("POST", "/api/generate-video")
    assert first.headers["idempotency-key"] == second.headers["idempotency-key"]


def test_an_upload_is_not_repeated_after_a_server_error(sdk: VeoClient, api: FakeApi) -> None:
    api.on("POST", "/api/upload-video-image", fail(5000, "Server error", 500))
    with pytest.raises(ServerError):
        sdk.upload(b"\xff\xd8\xff\xe0 jpeg")
    assert len(api.seen("POST", "/api/upload-video-image")) == 1


def test_a_cancel_is_repeated_after_a_rate_limit_only(sdk: VeoClient, api: FakeApi) -> None:
    limited = fail(1003, "Rate limit exceeded", 429, **{"Retry-After": "1"})
    api.on("POST", "/api/videos/j5/cancel", limited, fail(5000, "Server error", 500))
    with pytest.raises(ServerError):
        sdk.cancel("j5")
    assert len(api.seen("POST", "/api/videos/j5/cancel")) == 2


def test_a_dropped_connection_is_retried_on_a_read(
    sdk: VeoClient, api: FakeApi, slept: list[float]
) -> None:
    def drop(request: httpx.Request) -> httpx.Response:
        raise httpx.RemoteProtocolError("peer closed connection", request=request)

    api.on("GET", "/api/video-status/j6", drop, ok(job("j6")))
    assert sdk.status("j6").uuid == "j6"
    assert len(slept) == 1


def test_no_answer_at_all_is_a_connection_error(sdk: VeoClient, api: FakeApi) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    api.on("POST", "/api/upload-video-image", refuse)
    with pytest.raises(ConnectionFailed, match=r"no answer from http://veo\.test"):
        sdk.upload(b"\x89PNG\r\n\x1a\n")
    assert len(api.seen("POST", "/api/upload-video-image")) == 4  # never sent: safe to repeat


def test_the_async_client_retries_and_maps_errors_the_same_way(
    api: FakeApi, slept: list[float]
) -> None:
    import asyncio

    from veo_client import AsyncVeoClient

    limited = fail(1003, "Rate limit exceeded", 429, **{"Retry-After": "2"})
    api.on("GET", "/api/video-status/j7", limited, ok(job("j7")))
    api.on("POST", "/api/generate-video", fail(1001, "Insufficient credits", 402, {"current": 1}))

    async def scenario() -> tuple[str, int | None]:
        async with AsyncVeoClient(KEY, BASE, transport=httpx.MockTransport(api)) as client:
            status = await client.status("j7")
            with pytest.raises(InsufficientCredits) as raised:
                await client.generate("a fox")
            return status.uuid, raised.value.current

    assert asyncio.run(scenario()) == ("j7", 1)
    assert slept == [2.0]

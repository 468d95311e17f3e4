"""A paid submit travels on a connection of its own, closed after the answer: it never rides a
pooled connection that the server may have closed while idle, a drop that would leave the
submit's outcome unknown (and fail the job) for nothing. Polls keep their pooled connections."""

from tests.upstream.conftest import run
from tests.upstream.fake_server import FakeServer
from worker.upstream.base import SubmitRequest, VideoSettings
from worker.upstream.gemini import GeminiUpstream

MODEL = "veo-3.1-generate-preview"
OPERATION = f"models/{MODEL}/operations/op1"


def test_submits_close_their_connection_and_polls_keep_theirs(fake: FakeServer) -> None:
    fake.routes[f"/v1beta/models/{MODEL}:predictLongRunning"] = lambda h: h.send_json(
        200, {"name": OPERATION}
    )
    fake.routes[f"/v1beta/{OPERATION}"] = lambda h: h.send_json(200, {"name": OPERATION})
    adapter = GeminiUpstream(base_url=fake.url, api_key="key", video=VideoSettings(model=MODEL))

    async def scenario(a: GeminiUpstream) -> None:
        await a.poll(OPERATION)  # leaves a pooled connection behind
        await a.submit(SubmitRequest("a fox", "16:9"))
        await a.submit(SubmitRequest("a hare", "16:9"))
        await a.poll(OPERATION)

    run(adapter, scenario)

    assert [(seen.method, seen.headers["connection"]) for seen in fake.seen] == [
        ("GET", "keep-alive"),
        ("POST", "close"),
        ("POST", "close"),
        ("GET", "keep-alive"),
    ]

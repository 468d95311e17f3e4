"""Small wire-level helpers shared by the simulator tests (plain httpx, no mocks)."""

import base64
import io
import time
import uuid
from typing import Any

import av
import httpx
from PIL import Image

API_KEY = "test-key"
GEMINI_MODEL = "veo-3.1-generate-preview"
VERTEX_MODEL = "veo-3.1-generate-001"
KEY = {"x-goog-api-key": API_KEY}
# What a client sees when the simulator closes the connection without answering (`drop`).
DROPPED = (httpx.RemoteProtocolError, httpx.ReadError)


def unique(prompt: str) -> str:
    """Directive counters are per exact prompt text: a unique suffix keeps tests independent."""
    return f"{prompt} #{uuid.uuid4().hex[:8]}"


def gemini_body(prompt: str, **parameters: Any) -> dict[str, Any]:
    return {"instances": [{"prompt": prompt}], "parameters": {"aspectRatio": "16:9", **parameters}}


def gemini_submit(
    client: httpx.Client, body: dict[str, Any], model: str = GEMINI_MODEL
) -> httpx.Response:
    return client.post(f"/v1beta/models/{model}:predictLongRunning", json=body, headers=KEY)


def gemini_poll(client: httpx.Client, name: str) -> httpx.Response:
    return client.get(f"/v1beta/{name}", headers=KEY)


def wait_done(poll: Any, timeout: float = 5.0) -> dict[str, Any]:
    """Call `poll()` (returns a Response) until the operation reports done; returns the body."""
    deadline = time.monotonic() + timeout
    while True:
        response = poll()
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if body.get("done"):
            return body
        assert "done" not in body, "a running operation must leave `done` out"
        assert time.monotonic() < deadline, "operation did not finish in time"
        time.sleep(0.05)


def png_bytes(
    size: tuple[int, int] = (64, 48), color: tuple[int, int, int] = (200, 40, 40)
) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def probe_mp4(data: bytes) -> tuple[int, int, int]:
    """(width, height, decoded frames) of an MP4, proving it is a real playable video."""
    assert data[4:8] == b"ftyp", "not an MP4"
    with av.open(io.BytesIO(data), mode="r") as container:
        assert container.streams.video, "no video stream"
        stream = container.streams.video[0]
        frames = len(list(container.decode(stream)))
        return stream.width, stream.height, frames


def error_of(response: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert error["code"] == response.status_code
    return error

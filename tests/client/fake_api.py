"""A gateway answering as the API contract says (docs/api.md), behind httpx.MockTransport: for the
SDK's and the CLI's handling of the endpoints a running stack of this branch may not serve yet."""

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

BASE = "http://veo.test"
KEY = "veo_test_key"

Handler = Callable[[httpx.Request], httpx.Response]
Answer = Handler | httpx.Response


def handler(answer: Answer) -> Handler:
    """A fixed answer becomes a handler that gives a fresh copy of it each time."""
    if isinstance(answer, httpx.Response):
        fixed = answer
        return lambda _: httpx.Response(
            fixed.status_code, headers=fixed.headers, content=fixed.content
        )
    return answer


def ok(data: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(200, json={"code": 0, "msg": "Success", "data": data}, headers=headers)


def fail(code: int, msg: str, status: int, data: Any = None, **headers: str) -> httpx.Response:
    return httpx.Response(status, json={"code": code, "msg": msg, "data": data}, headers=headers)


def job(uuid: str, status: str = "pending", **fields: Any) -> dict[str, Any]:
    """A status answer with every field the contract lists."""
    done = status == "completed"
    answer = {
        "uuid": uuid,
        "status": status,
        "progress": 100 if done else 0,
        "estimatedTime": 0 if done else 60,
        "queuePosition": 2 if status == "pending" else None,
        "videoUrl": f"/api/files/videos/{uuid}.mp4?expires=1999999999&signature=ab"
        if done
        else None,
        "videoUrls": [f"/api/files/videos/{uuid}.mp4?expires=1999999999&signature=ab"]
        if done
        else None,
        "error": None,
        "errorCode": None,
        "generationType": "text_to_video",
        "prompt": "a red fox",
        "aspectRatio": "16:9",
        "model": "veo-3.1",
        "durationSeconds": 8,
        "resolution": "720p",
        "negativePrompt": None,
        "seed": None,
        "generateAudio": True,
        "sampleCount": 1,
        "credits": 2,
        "createdAt": "2026-12-07T10:00:00Z",
        "startedAt": "2026-12-07T10:00:01Z" if status != "pending" else None,
        "completedAt": "2026-12-07T10:01:00Z" if done else None,
        "expiresAt": "2027-01-06T10:01:00Z" if done else None,
    }
    answer.update(fields)
    return answer


def sse(*events: tuple[int, dict[str, Any]], ping: bool = True) -> bytes:
    """An event stream as the contract writes it: `id`, `event: status`, `data` per event."""
    lines = [": ping\n\n"] if ping else []
    for number, data in events:
        lines.append(f"id: {number}\nevent: status\ndata: {json.dumps(data)}\n\n")
    return "".join(lines).encode()


@dataclass
class FakeApi:
    """Routes `(method, path)` to handlers; remembers every request it saw."""

    routes: dict[tuple[str, str], list[Handler]] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)

    def on(self, method: str, path: str, *answers: Answer) -> None:
        """One answer every time; several answer in turn (the last one repeats)."""
        self.routes[(method, path)] = [handler(a) for a in answers]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if (
            (
                request.headers.get("authorization") != f"Bearer {KEY}"
                and request.url.host == "veo.test"
            )
            and request.url.path.startswith("/api/")
            and "/api/files/" not in request.url.path
        ):
            return fail(1002, "Authentication failed", 401)
        route = self.routes.get((request.method, request.url.path))
        if route is None:
            return fail(1000, "Not found: no such endpoint", 404)
        return (route.pop(0) if len(route) > 1 else route[0])(request)

    def seen(self, method: str, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == method and r.url.path == path]

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)

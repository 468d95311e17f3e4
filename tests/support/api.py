"""Small helpers for driving the public API the way a client would."""

from typing import Any

import httpx

from tests.support.processes import wait_for

TERMINAL = {"completed", "failed"}


def create_video(client: httpx.Client, headers: dict[str, str], prompt: str, **fields: Any) -> str:
    body = {"generationType": "text_to_video", "prompt": prompt, "aspectRatio": "16:9", **fields}
    answer = client.post("/api/generate-video", json=body, headers=headers).json()
    assert answer["code"] == 0, answer
    return str(answer["data"]["uuid"])


def status(client: httpx.Client, headers: dict[str, str], uuid: str) -> dict[str, Any]:
    answer = client.get(f"/api/video-status/{uuid}", headers=headers).json()
    assert answer["code"] == 0, answer
    return dict(answer["data"])


def wait_terminal(
    client: httpx.Client, headers: dict[str, str], uuid: str, timeout_s: float = 60
) -> dict[str, Any]:
    def finished() -> dict[str, Any] | None:
        data = status(client, headers, uuid)
        return data if data["status"] in TERMINAL else None

    result = wait_for(finished, timeout_s=timeout_s, interval_s=0.2, what=f"job {uuid} to finish")
    assert isinstance(result, dict)
    return result


def submissions(simulator_url: str, prompt: str) -> int:
    stats = httpx.get(f"{simulator_url}/_sim/submissions", params={"prompt": prompt}).json()
    return int(stats["count"])

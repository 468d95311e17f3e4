"""Small helpers for driving the public API the way a client would."""

import time
from typing import Any

import httpx

from devtools.processes import wait_for
from shared.settings import get_settings
from simulator.control import control_headers

TERMINAL = {"completed", "failed", "cancelled"}


def create_video(client: httpx.Client, headers: dict[str, str], prompt: str, **fields: Any) -> str:
    body = {"generationType": "text_to_video", "prompt": prompt, "aspectRatio": "16:9", **fields}
    answer = client.post("/api/generate-video", json=body, headers=headers).json()
    assert answer["code"] == 0, answer
    return str(answer["data"]["uuid"])


def upload_image(client: httpx.Client, headers: dict[str, str]) -> dict[str, Any]:
    """A small PNG uploaded for image_to_video: its `imageKey` and `imageUrl`."""
    from tests.uploads.images import image_bytes

    files = {"file": ("a.png", image_bytes("PNG"), "image/png")}
    answer = client.post("/api/upload-video-image", headers=headers, files=files).json()
    assert answer["code"] == 0, answer
    return dict(answer["data"])


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


def simulator_headers() -> dict[str, str]:
    """What the test session's simulator's control endpoints require (its settings' token)."""
    return control_headers(get_settings().simulator_control_token.get_secret_value())


def submissions(simulator_url: str, prompt: str) -> int:
    stats = httpx.get(
        f"{simulator_url}/_sim/submissions", params={"prompt": prompt}, headers=simulator_headers()
    ).json()
    return int(stats["count"])


def fresh_rate_window(needed_s: float = 5.0) -> None:
    """Wait out the current rate-limit window if fewer than `needed_s` seconds are left in it
    (windows are fixed, by Redis's clock): a test counting its requests against a limit must not
    have the count reset halfway."""
    from shared.key_cache import RATE_WINDOW_S
    from shared.redis_client import get_redis

    seconds, micros = get_redis().time()
    left = RATE_WINDOW_S - (seconds % RATE_WINDOW_S) - micros / 1e6
    if left < needed_s:
        time.sleep(left + 0.05)


def signed_file_path(key: str, *, now: float | None = None) -> str:
    """`/api/files/<key>?expires=...&signature=...` as the stack's storage signs it."""
    from shared.storage.local import FILES_ROUTE
    from shared.storage.signing import UrlSigner

    settings = get_settings()
    signer = UrlSigner(
        settings.url_signing_key.get_secret_value(),
        settings.local_storage_dir,
        settings.file_url_expiry_s,
    )
    path = f"{FILES_ROUTE}{key}"
    return f"{path}?{signer.query(path, now)}"

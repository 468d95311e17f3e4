"""The SDK and the `veo` command against the running stack: gateway, workers and simulator."""

import asyncio
import io
import json
import os
import secrets
import subprocess
from collections.abc import Callable
from pathlib import Path

import av
import pytest
from veo_client import AsyncVeoClient, InsufficientCredits, NotFound, VeoClient, Video
from veo_client.cli import exit_codes

from tests.conftest import VENV_BIN, AccountInfo, Workers
from tests.uploads.images import image_bytes

pytestmark = [pytest.mark.e2e, pytest.mark.one_database]


def unique(prompt: str) -> str:
    return f"{prompt} #{secrets.token_hex(4)}"


def frames(path: Path) -> int:
    with av.open(io.BytesIO(path.read_bytes())) as container:
        return sum(1 for _ in container.decode(container.streams.video[0]))


@pytest.fixture
def user(account: Callable[..., AccountInfo], workers: Workers) -> AccountInfo:
    return account(credits=100)


def veo(gateway_url: str, key: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The installed `veo` command, as a user runs it."""
    env = {**os.environ, "VEO_API_KEY": key, "VEO_BASE_URL": gateway_url}
    argv = [str(VENV_BIN / "veo"), *args]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=90, check=False)


def test_sdk_generates_waits_and_downloads_a_playable_mp4(
    gateway_url: str, user: AccountInfo, tmp_path: Path
) -> None:
    seen: list[Video] = []
    with VeoClient(user.api_key, gateway_url) as client:
        created = client.generate(unique("A lighthouse at dusk"), aspect_ratio="16:9")
        assert created.status == "pending"
        final = client.wait(created.uuid, timeout=60, on_update=seen.append, poll_interval=1)
        assert final.status == "completed"
        assert final.progress == 100
        assert seen[-1] == final
        saved = client.download(created.uuid, tmp_path)
    assert saved == tmp_path / Path(final.urls[0].split("?")[0]).name
    assert frames(saved) > 1


def test_sdk_uploads_a_local_image_for_image_to_video(
    gateway_url: str, user: AccountInfo, tmp_path: Path
) -> None:
    image = tmp_path / "first.png"
    image.write_bytes(image_bytes("PNG"))
    with VeoClient(user.api_key, gateway_url) as client:
        created = client.generate(unique("The picture comes alive"), image=image)
        final = client.wait(created.uuid, timeout=60, poll_interval=1)
    assert created.generation_type == "image_to_video"
    assert final.status == "completed"


def test_async_client_does_the_same(gateway_url: str, user: AccountInfo, tmp_path: Path) -> None:
    async def scenario() -> Path:
        async with AsyncVeoClient(user.api_key, gateway_url) as client:
            created = await client.generate(unique("Rain on a window"))
            final = await client.wait(created.uuid, timeout=60, poll_interval=1)
            assert final.status == "completed"
            return await client.download(created.uuid, tmp_path / "rain.mp4")

    assert frames(asyncio.run(scenario())) > 1


def test_sdk_raises_the_seed_s_errors(
    gateway_url: str, account: Callable[..., AccountInfo], workers: Workers
) -> None:
    broke = account(credits=0)
    with VeoClient(broke.api_key, gateway_url) as client:
        with pytest.raises(InsufficientCredits) as raised:
            client.generate(unique("no credits"))
        assert raised.value.current == 0
        assert raised.value.required
        with pytest.raises(NotFound):
            client.status("00000000-0000-4000-8000-000000000000")


def test_cli_generate_waits_and_writes_a_playable_mp4(
    gateway_url: str, user: AccountInfo, tmp_path: Path
) -> None:
    image, out = tmp_path / "first.png", tmp_path / "video.mp4"
    image.write_bytes(image_bytes("PNG"))
    args = ["generate", unique("A paper boat"), "--image", str(image), "--aspect", "16:9"]
    result = veo(gateway_url, user.api_key, *args, "--wait", "--out", str(out), "--json")
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert (printed["status"], printed["savedTo"]) == ("completed", str(out))
    assert frames(out) > 1

    status = veo(gateway_url, user.api_key, "status", printed["uuid"], "--json")
    assert json.loads(status.stdout)["uuid"] == printed["uuid"]
    again = tmp_path / "again.mp4"
    downloaded = veo(gateway_url, user.api_key, "download", printed["uuid"], "--out", str(again))
    assert downloaded.returncode == 0, downloaded.stderr
    assert again.read_bytes() == out.read_bytes()


def test_cli_exit_codes_tell_the_errors_apart(
    gateway_url: str, account: Callable[..., AccountInfo], workers: Workers
) -> None:
    broke = account(credits=0)
    assert (
        veo(gateway_url, broke.api_key, "generate", "x").returncode
        == exit_codes.INSUFFICIENT_CREDITS
    )
    assert veo(gateway_url, "wrong-key", "status", "x").returncode == exit_codes.AUTHENTICATION
    unknown = veo(
        gateway_url, broke.api_key, "status", "00000000-0000-4000-8000-000000000000", "--json"
    )
    assert unknown.returncode == exit_codes.INVALID_REQUEST
    assert json.loads(unknown.stdout)["error"]["code"] == 1000

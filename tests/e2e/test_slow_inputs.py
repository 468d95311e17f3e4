"""One account's slow image host delays nobody else, and no image is fetched twice: the whole
stack (gateway, dispatcher, workers with the inputs worker, simulator), over HTTP."""

import io
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator

import httpx
import pytest
from PIL import Image

from tests.conftest import AccountInfo, Workers
from tests.support.api import create_video, submissions, wait_terminal
from tests.support.http_server import QuietHandler, base_url, start_server, stop_server

pytestmark = pytest.mark.e2e

SLOW_IMAGE_S = 6.0  # the host answers each image this late (the report saw 25-28 s)
IMAGES = 4  # twice the per-account cap (inputs_per_account): two of them wait their turn


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (320, 180), (30, 90, 160)).save(buffer, format="PNG")
    return buffer.getvalue()


class SlowImageHost(QuietHandler):
    """Answers every image SLOW_IMAGE_S late, and counts the GETs of each path."""

    body = _png()
    gets: Counter[str] = Counter()
    lock = threading.Lock()

    def do_GET(self) -> None:
        with self.lock:
            self.gets[self.path] += 1
        time.sleep(SLOW_IMAGE_S)  # deliberate: the slow host under test
        self.send(200, self.body, {"Content-Type": "image/png"})


@pytest.fixture
def slow_host() -> Iterator[str]:
    SlowImageHost.gets.clear()
    server = start_server(SlowImageHost)
    yield base_url(server)
    stop_server(server)


@pytest.mark.timeout(150)
def test_a_slow_image_host_delays_no_other_account_and_is_asked_once_per_image(
    client: httpx.Client,
    account: Callable[..., AccountInfo],
    workers: Workers,
    simulator_url: str,
    slow_host: str,
) -> None:
    """4 image jobs whose host answers after 6 s, then another account's text job: the text
    job completes before the first image has even arrived, and each image is fetched once
    (the sweeper's resends find the jobs claimed)."""
    slow, other = account(credits=100), account(credits=100)
    tag = secrets.token_hex(3)
    warm_up = create_video(client, other.headers, f"warm-up {tag} [sim latency=0.1]")
    assert wait_terminal(client, other.headers, warm_up, timeout_s=60)["status"] == "completed"
    images = [
        create_video(
            client,
            slow.headers,
            f"slow image {i} {tag}",
            generationType="image_to_video",
            imageUrl=f"{slow_host}/image-{i}.png",
        )
        for i in range(IMAGES)
    ]
    accepted = time.monotonic()
    prompt = f"a quick one {tag} [sim latency=0.5]"
    quick = create_video(client, other.headers, prompt)

    result = wait_terminal(client, other.headers, quick, timeout_s=SLOW_IMAGE_S * 4)
    took_s = time.monotonic() - accepted

    assert result["status"] == "completed", result
    assert took_s < SLOW_IMAGE_S, f"the text job took {took_s:.1f} s"
    finished = [wait_terminal(client, slow.headers, u, timeout_s=90) for u in images]
    assert [f["status"] for f in finished] == ["completed"] * IMAGES
    assert SlowImageHost.gets == Counter({f"/image-{i}.png": 1 for i in range(IMAGES)})
    assert [submissions(simulator_url, f"slow image {i} {tag}") for i in range(IMAGES)] == [
        1
    ] * IMAGES
    assert submissions(simulator_url, prompt) == 1

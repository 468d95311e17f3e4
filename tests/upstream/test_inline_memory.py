"""Bounded memory with inline videos: a worker process handles the largest inline video the
settings allow (VEO_VIDEO_MAX_BYTES), sent as base64 inside a Vertex poll answer, and its
resident memory stays flat: the answer is decoded to disk as it streams in, never held whole.

The process is a real one (tests/support/inline_poller.py runs the poll step's `check_once`,
download and storage included); its peak RSS is read from /proc before and after the look.
"""

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.upstream.conftest import Sim
from tests.upstream.fake_server import FakeServer, Handler

MIB = 1024 * 1024
VIDEO_MAX_BYTES = 64 * MIB  # the setting under test; the default (512 MiB) behaves alike
# What the look may add to the process's peak RSS: a small fraction of the video (the old
# parse held the answer, the string and the bytes at once: several times the video).
RSS_GROWTH_MAX = 16 * MIB
MODEL = "veo-3.1-generate-001"
PARENT = f"projects/proj-x/locations/us-central1/publishers/google/models/{MODEL}"
BLOCK = bytes(range(256)) * 3 * 256  # 196,608 bytes: a multiple of 3, so each encodes alone

pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")


def _stream_answer(handler: Handler, size: int) -> None:
    """A done operation carrying a `size`-byte video inline, generated as it is sent."""
    head = b'{"name":"op","done":true,"response":{"videos":[{"bytesBase64Encoded":"'
    tail = b'","mimeType":"video/mp4"}]}}'
    length = len(head) + 4 * -(-size // 3) + len(tail)
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(length))
    handler.end_headers()
    handler.wfile.write(head)
    left = size
    while left > 0:
        part = BLOCK[: min(left, len(BLOCK))]
        handler.wfile.write(base64.b64encode(part))
        left -= len(part)
    handler.wfile.write(tail)


def _peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc status")


@pytest.fixture
def worker_env(sim: Sim, fake: FakeServer, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VEO_")}
    env.update(
        {
            "VEO_DATA_DIR": str(tmp_path),
            "VEO_UPSTREAM_BACKEND": "vertex",
            "VEO_VERTEX_BASE_URL": fake.url,
            "VEO_VERTEX_PROJECT": "proj-x",
            "VEO_VERTEX_CREDENTIALS_FILE": str(sim.service_account(tmp_path / "sa.json")),
            "VEO_VIDEO_MAX_BYTES": str(VIDEO_MAX_BYTES),
            "TMPDIR": str(tmp_path),
        }
    )
    return env


def test_a_worker_handles_the_largest_inline_video_with_flat_memory(
    fake: FakeServer, worker_env: dict[str, str], tmp_path: Path
) -> None:
    small, large = f"{PARENT}/operations/small", f"{PARENT}/operations/large"
    fake.routes[f"/v1/{PARENT}:fetchPredictOperation"] = lambda handler: _stream_answer(
        handler, 200_000 if b"small" in handler.server.owner.seen[-1].body else VIDEO_MAX_BYTES
    )
    with subprocess.Popen(
        [sys.executable, "-m", "tests.support.inline_poller"],
        env=worker_env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as worker:
        assert worker.stdin is not None
        assert worker.stdout is not None
        growth = _measure(worker, small, large)
    stored = tmp_path / "storage" / "videos" / "job-1.mp4"
    assert stored.stat().st_size == VIDEO_MAX_BYTES
    assert growth < RSS_GROWTH_MAX, f"peak RSS grew by {growth / MIB:.1f} MiB"
    assert not list(tmp_path.glob("veo-inline-*"))  # nothing left behind


def _measure(worker: "subprocess.Popen[str]", small: str, large: str) -> int:
    """The worker's peak RSS growth over the large look, after a small one warmed it up."""
    assert worker.stdin is not None
    assert worker.stdout is not None
    assert worker.stdout.readline().strip() == "ready"
    # A first, small video: imports, the connection pool and the token are paid for now.
    worker.stdin.write(small + "\n")
    worker.stdin.flush()
    assert worker.stdout.readline().split() == ["Stored", "200000"]
    before = _peak_rss(worker.pid)
    worker.stdin.write(large + "\n")
    worker.stdin.flush()
    assert worker.stdout.readline().split() == ["Stored", str(VIDEO_MAX_BYTES)]
    growth = _peak_rss(worker.pid) - before
    worker.stdin.close()
    worker.wait(timeout=60)
    return growth

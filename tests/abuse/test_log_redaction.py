"""No API key, secret or signed URL in any log line, whatever the client sends: the gateway's
access log (at INFO, as `make run` starts it) and the workers' logs."""

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from devtools.processes import VENV_BIN, Proc, free_port, http_ok
from tests.conftest import AccountInfo, Stack

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def logged_gateway(stack: Stack) -> Iterator[tuple[str, Proc]]:
    """A gateway that writes its access log, as the Procfile's does (uvicorn's INFO level)."""
    port = str(free_port())
    argv = [str(VENV_BIN / "uvicorn"), "api_gateway.app:app", "--host", "127.0.0.1"]
    proc = Proc("gateway-logged", [*argv, "--port", port, "--log-level", "info"], stack.env,
                stack.log_dir).start()  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    proc.wait_ready(lambda: http_ok(f"{url}/api/health"), timeout_s=30)
    yield url, proc
    proc.stop()


def test_a_key_sent_anywhere_never_reaches_the_gateways_log(
    logged_gateway: tuple[str, Proc], account: Callable[..., AccountInfo]
) -> None:
    """Keys in the query string, the path (even percent-encoded) and every header variant."""
    url, proc = logged_gateway
    key = account(credits=10).api_key
    secret_part = key.removeprefix("veo_")
    requests: list[tuple[str, str, dict[str, str]]] = [
        ("GET", f"/api/video-status/x?api_key={key}", {}),
        ("GET", f"/api/webhooks/deliveries?limit=5&api_key={key}", {}),
        ("POST", f"/api/generate-video?api_key={key}", {}),
        ("GET", f"/api/video-status/x?token={secret_part}&X-Amz-Signature={secret_part}", {}),
        ("GET", f"/api/health?{key}", {}),
        ("GET", f"/api/video-status/{key}", {}),
        ("GET", f"/api/video-status/{quote(key, safe='')}".replace("_", "%5F"), {}),
        ("GET", f"/api/files/videos/{key}.mp4", {}),
        ("GET", "/api/video-status/x", {"Authorization": f"Bearer {key}"}),
        ("GET", "/api/video-status/x", {"Authorization": f"bearer {key}x"}),
        ("GET", "/api/video-status/x", {"Authorization": key}),
        ("GET", "/api/video-status/x", {"Authorization": f"Basic {key}"}),
        ("GET", "/api/video-status/x", {"X-Api-Key": key}),
    ]
    with httpx.Client(base_url=url, timeout=10) as client:
        for method, path, headers in requests:
            client.request(method, path, headers=headers)
    proc.stop()  # every line written
    log = proc.log_path.read_text(errors="replace")

    assert '"GET /api/health?' in log  # the access log is on
    assert key not in log
    assert secret_part not in log
    assert secret_part[:16] not in log
    assert '"GET /api/video-status/x?[redacted] HTTP/1.1" 401' in log


def test_worker_processes_redact_their_log_lines(stack: Stack, tmp_path: Path) -> None:
    """A worker-side line with a signed URL, a bearer key or a traceback holding them is cleaned."""
    key = "veo_" + "k" * 43
    script = f"""
import logging, sys
import worker.app  # what every worker, beat and Flower process loads
logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(name)s %(message)s")
log = logging.getLogger("worker.tasks.poll")
log.info("downloaded %s", "https://b.s3.amazonaws.com/v.mp4?X-Amz-Credential=AKIAX&X-Amz-Signature=f00d")
log.warning("upstream said %r", {{"headers": {{"Authorization": "Bearer {key}"}}}})
try:
    raise RuntimeError("GET https://gen.example/v1?key={key} failed")
except RuntimeError:
    log.exception("poll failed")
"""
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=stack.env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    out = done.stdout + done.stderr
    assert "downloaded https://b.s3.amazonaws.com/v.mp4?" in out, out
    assert "poll failed" in out, out
    assert "RuntimeError" in out, out
    for leaked in ("f00d", "AKIAX", key, "k" * 20):
        assert leaked not in out, out

"""The simulator with its start-up defaults (preview ids retired), Google's SDK and our adapter
pointed at it, and the simulator's record of what each of them sent."""

import io
import json
import os
import secrets
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import httpx
import pytest
from google import genai
from google.genai import types
from google.oauth2 import service_account
from PIL import Image

from devtools.processes import Proc, free_port, http_ok
from simulator.control import control_headers
from worker.upstream.base import ImageInput, VideoSettings
from worker.upstream.vertex import VertexUpstream
from worker.upstream.vertex_auth import SCOPES

PROJECT = "simulator-project"
LOCATION = "us-central1"
MODEL = "veo-3.1-generate-001"
FAST_MODEL = "veo-3.1-fast-generate-001"


@dataclass
class Oracle:
    """One simulator, one service account, and both clients of it."""

    url: str
    control_token: str
    credentials_file: Path

    def control(self, path: str, **params: str) -> Any:
        headers = control_headers(self.control_token)
        answer = httpx.get(f"{self.url}{path}", params=params, headers=headers, timeout=10)
        answer.raise_for_status()
        return answer.json()

    def sent_for(self, operation: str) -> dict[str, Any]:
        """The path and body (images as digests) of the submit that started `operation`."""
        request: dict[str, Any] = self.control(f"/_sim/operations/{operation}")["request"]
        return request

    def refused_for(self, prompt: str) -> list[dict[str, Any]]:
        """The refused submits of `prompt`, oldest first: path, body and Google's answer."""
        refused: list[dict[str, Any]] = self.control("/_sim/refused", prompt=prompt)["refused"]
        return refused

    @cached_property
    def sdk(self) -> genai.Client:
        """Google's client in Vertex AI mode, with its defaults (API version v1beta1); one for
        the session (a client closes its connections when it is garbage-collected)."""
        credentials = service_account.Credentials.from_service_account_file(
            str(self.credentials_file), scopes=SCOPES
        )
        return genai.Client(
            vertexai=True,
            project=PROJECT,
            location=LOCATION,
            credentials=credentials,
            http_options=types.HttpOptions(base_url=self.url),
        )

    def ours(self, *, model: str = MODEL, output_gcs_uri: str = "") -> VertexUpstream:
        return VertexUpstream(
            project=PROJECT,
            location=LOCATION,
            video=VideoSettings(model=model),
            base_url=self.url,
            gcs_base_url=self.url,
            credentials_file=str(self.credentials_file),
            output_gcs_uri=output_gcs_uri,
            max_inline_bytes=64 * 1024 * 1024,
        )


@pytest.fixture(scope="session")
def oracle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Oracle]:
    """The simulator as `veo-simulator` starts by default, but with fast clips and 0.2 s jobs."""
    port = free_port()
    data_dir = tmp_path_factory.mktemp("conformance-sim")
    argv = [
        sys.executable, "-m", "simulator", "--host", "127.0.0.1", "--port", str(port),
        "--data-dir", str(data_dir), "--latency", "0.2", "--jitter", "0", "--render", "fast",
    ]  # fmt: skip
    token = secrets.token_urlsafe(16)
    env = {k: v for k, v in os.environ.items() if not k.startswith("VEO_")}
    env["VEO_SIMULATOR_CONTROL_TOKEN"] = token
    proc = Proc("simulator", argv, env, tmp_path_factory.mktemp("conformance-logs")).start()
    url = f"http://127.0.0.1:{port}"
    proc.wait_ready(lambda: http_ok(f"{url}/_sim/health"), timeout_s=30)
    info = httpx.post(
        f"{url}/_sim/service-account", json={}, headers=control_headers(token), timeout=30
    ).json()
    credentials_file = data_dir / "service-account.json"
    credentials_file.write_text(json.dumps(info))
    yield Oracle(url, token, credentials_file)
    proc.stop()


def png(color: str, size: tuple[int, int] = (160, 90)) -> ImageInput:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "PNG")
    return ImageInput(out.getvalue(), "image/png")


def sdk_image(image: ImageInput) -> types.Image:
    return types.Image(image_bytes=image.data, mime_type=image.mime_type)

"""The upstream plug (DESIGN rule 10): one adapter per process, chosen from settings.

`simulator` is not a third implementation: it is the vertex (by default) or gemini adapter
pointed at the bundled simulator, so the tests run the production code path over real HTTP.
"""

import json
from functools import cache
from pathlib import Path

from shared.settings import Settings, get_settings
from simulator.oauth import write_service_account
from worker.upstream import gemini, vertex
from worker.upstream.base import Upstream, VideoSettings
from worker.upstream.metered import MeteredUpstream

SIMULATOR_API_KEY = "simulator"  # the simulator's gemini surface accepts this key
SIMULATOR_PROJECT = "simulator-project"


@cache
def get_upstream() -> Upstream:
    """The process's adapter, its calls counted; its pooled httpx client is created lazily."""
    return MeteredUpstream(build_upstream(get_settings()))


def build_upstream(settings: Settings) -> Upstream:
    backend = settings.upstream_backend
    protocol = settings.simulator_protocol if backend == "simulator" else backend
    if protocol == "vertex":
        return _vertex(settings, simulated=backend == "simulator")
    return _gemini(settings, simulated=backend == "simulator")


def _video(settings: Settings, default_model: str) -> VideoSettings:
    return VideoSettings(
        model=settings.model or default_model,
        resolution=settings.resolution,
        duration_s=settings.duration_s,
        negative_prompt=settings.negative_prompt,
        generate_audio=settings.generate_audio,
    )


def _gemini(settings: Settings, *, simulated: bool) -> gemini.GeminiUpstream:
    return gemini.GeminiUpstream(
        base_url=settings.simulator_url if simulated else settings.gemini_base_url,
        api_key=SIMULATOR_API_KEY if simulated else settings.gemini_api_key.get_secret_value(),
        video=_video(settings, gemini.DEFAULT_MODEL),
        timeout_s=settings.upstream_timeout_s,
        connect_timeout_s=settings.upstream_connect_timeout_s,
        max_inline_bytes=settings.video_max_bytes,
        name="simulator" if simulated else "gemini",
    )


def _vertex(settings: Settings, *, simulated: bool) -> vertex.VertexUpstream:
    credentials_file = settings.vertex_credentials_file
    if simulated and not credentials_file:
        # A service account the simulator accepts (its public key is read from the shared
        # data dir), written once; its token_uri points at the simulator.
        path = settings.data_dir / "simulator" / "service-account.json"
        if _token_uri(path) != f"{settings.simulator_url}/token":
            write_service_account(
                path, simulator_url=settings.simulator_url, data_dir=settings.data_dir
            )
        credentials_file = str(path)
    return vertex.VertexUpstream(
        project=SIMULATOR_PROJECT if simulated else settings.vertex_project,
        location=settings.vertex_location,
        video=_video(settings, vertex.DEFAULT_MODEL),
        base_url=settings.simulator_url if simulated else settings.vertex_base_url,
        credentials_file=credentials_file,
        token_url=settings.vertex_token_url,
        output_gcs_uri=settings.vertex_output_gcs_uri,
        pubsub_topic=settings.pubsub_topic,
        gcs_base_url=settings.simulator_url if simulated else settings.gcs_base_url,
        timeout_s=settings.upstream_timeout_s,
        connect_timeout_s=settings.upstream_connect_timeout_s,
        max_inline_bytes=settings.video_max_bytes,
        name="simulator" if simulated else "vertex",
    )


def _token_uri(path: Path) -> str | None:
    """Where an existing service-account file sends its token requests (None: no usable file)."""
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return info.get("token_uri") if isinstance(info, dict) else None

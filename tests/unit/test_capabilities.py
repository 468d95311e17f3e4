"""What Veo 3.1 can generate, checked before a request is paid for (VideoSettings.check in
worker/upstream/base.py) and, for values it never accepts, when settings are read."""

from itertools import product
from typing import Any

import pytest
from pydantic import ValidationError

from shared.errors import UpstreamConfigError
from tests.support.settings import ExplicitSettings
from worker.upstream.base import VideoSettings

MODEL = "veo-3.1-generate-001"
# Veo 3.1 renders 720p at 4, 6 or 8 s; 1080p and 4k only at 8 s.
SUPPORTED = {
    ("720p", 4),
    ("720p", 6),
    ("720p", 8),
    ("1080p", 8),
    ("4k", 8),
}


@pytest.mark.parametrize(
    ("resolution", "duration_s"),
    list(product(("720p", "1080p", "4k"), (4, 6, 8))),
    ids=str,
)
def test_each_resolution_and_duration_is_allowed_only_where_veo_renders_it(
    resolution: str, duration_s: int
) -> None:
    video = VideoSettings(MODEL, resolution=resolution, duration_s=duration_s)
    if (resolution, duration_s) in SUPPORTED:
        video.check()
        return
    with pytest.raises(UpstreamConfigError) as refused:
        video.check()
    assert refused.value.code == "upstream_config"  # our configuration: the job is refunded
    assert refused.value.refund
    assert f"{resolution} needs an 8 s duration" in refused.value.message


@pytest.mark.parametrize(
    "values",
    [
        pytest.param({"resolution": "8k"}, id="resolution"),
        pytest.param({"duration_s": 5}, id="duration"),
        pytest.param({"upstream_backend": "sora"}, id="backend"),
    ],
)
def test_settings_refuse_what_no_model_offers(values: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ExplicitSettings(**values)

"""The simulator's run-time knobs: set from settings/CLI at start, changeable via POST /_sim/config.

Kept apart from `shared.settings` on purpose: tests and benchmarks flip latency and fault rate on
a running simulator, and `POST /_sim/reset` restores the values it was started with.
"""

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

RENDER_MODES: frozenset[str] = frozenset({"full", "fast"})
LATENCY_MODELS: frozenset[str] = frozenset({"fixed", "veo"})
VIDEO_SIZES: frozenset[str] = frozenset({"small", "real"})


@dataclass
class SimConfig:
    latency_s: float = 4.0
    jitter_s: float = 1.0
    fault_rate: float = 0.0  # share of protocol calls answered with a random fault
    render: str = "full"  # "fast": one pre-rendered clip per aspect ratio
    retired_models: frozenset[str] = field(default_factory=frozenset)
    seed: int | None = None  # makes latency jitter and random faults reproducible
    slow_s: float = 2.0  # how long a random "slow answer" fault waits
    retry_after_s: int = 1  # Retry-After on 429s (a directive can override it per prompt)
    latency_model: str = "fixed"  # "veo": drawn from Veo's distribution (simulator/latency.py)
    video_size: str = "small"  # "real": MP4s padded to Veo's sizes (simulator/sizes.py)
    push_url: str = ""  # where Pub/Sub-style pushes go for submits naming a pubsubTopic
    push_audience: str = ""  # the pushes' OIDC token audience (empty: push_url)
    data_dir: Path = Path("var")

    def copy(self) -> "SimConfig":
        return replace(self)

    def public(self) -> dict[str, Any]:
        data = asdict(self)
        data["retired_models"] = sorted(self.retired_models)
        data["data_dir"] = str(self.data_dir)
        return data

    def update(self, changes: dict[str, Any]) -> None:
        """Apply a JSON patch from POST /_sim/config; raises ValueError on a bad field or value."""
        for key, value in changes.items():
            if key not in _FIELDS:
                raise ValueError(f"unknown config field {key!r}")
            name, parse = _FIELDS[key]
            setattr(self, name, parse(key, value))


def parse_model_list(value: str | list[str] | tuple[str, ...] | frozenset[str]) -> frozenset[str]:
    items = value.split(",") if isinstance(value, str) else value
    return frozenset(item.strip().removeprefix("models/") for item in items if item.strip())


def _non_negative(key: str, value: Any) -> float:
    number = float(value)
    if number < 0:
        raise ValueError(f"{key} must not be negative")
    return number


def _fraction(key: str, value: Any) -> float:
    number = float(value)
    if not 0.0 <= number <= 1.0:
        raise ValueError(f"{key} must be between 0 and 1")
    return number


def _render_mode(key: str, value: Any) -> str:
    if value not in RENDER_MODES:
        raise ValueError(f"{key} must be 'full' or 'fast'")
    return str(value)


def _one_of(choices: frozenset[str]) -> Callable[[str, Any], str]:
    def parse(key: str, value: Any) -> str:
        if value not in choices:
            raise ValueError(f"{key} must be one of {', '.join(sorted(choices))}")
        return str(value)

    return parse


# What POST /_sim/config may change: each key (with its short alias) names the field it sets and
# the parser that checks the value.
_FIELDS: dict[str, tuple[str, Callable[[str, Any], Any]]] = {
    "latency_s": ("latency_s", _non_negative),
    "latency": ("latency_s", _non_negative),
    "jitter_s": ("jitter_s", _non_negative),
    "jitter": ("jitter_s", _non_negative),
    "fault_rate": ("fault_rate", _fraction),
    "render": ("render", _render_mode),
    "retired_models": ("retired_models", lambda _, value: parse_model_list(value)),
    "seed": ("seed", lambda _, value: None if value is None else int(value)),
    "slow_s": ("slow_s", _non_negative),
    "retry_after_s": ("retry_after_s", lambda key, value: int(_non_negative(key, value))),
    "latency_model": ("latency_model", _one_of(LATENCY_MODELS)),
    "video_size": ("video_size", _one_of(VIDEO_SIZES)),
    "push_url": ("push_url", lambda _, value: str(value or "")),
    "push_audience": ("push_audience", lambda _, value: str(value or "")),
}

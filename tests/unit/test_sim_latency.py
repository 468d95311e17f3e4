"""The simulator's latency models: Veo's documented distribution, and the fixed one tests use."""

import random
import statistics

import pytest

from simulator.directives import parse
from simulator.latency import draw_veo, pick_latency, veo_median_s
from simulator.sizes import padded, padding_for, target_bytes


def draws(
    model: str = "veo-3.1-generate-001", resolution: str = "720p", duration: int = 8
) -> list[float]:
    rng = random.Random(1)
    return sorted(draw_veo(rng, model, resolution, duration) for _ in range(4000))


def quantile(values: list[float], p: float) -> float:
    return values[int(p * (len(values) - 1))]


def test_veo_distribution_matches_the_documented_figures() -> None:
    values = draws()
    assert 70 <= statistics.median(values) <= 80
    assert 38 <= quantile(values, 0.1) <= 46
    assert 128 <= quantile(values, 0.9) <= 146


def test_fast_models_shorter_clips_are_quicker_higher_resolutions_slower() -> None:
    standard = veo_median_s("veo-3.1-generate-001", "720p", 8)
    assert veo_median_s("veo-3.1-fast-generate-001", "720p", 8) < standard
    assert veo_median_s("veo-3.1-generate-001", "720p", 4) < standard
    assert veo_median_s("veo-3.1-generate-001", "1080p", 8) > standard
    assert veo_median_s("veo-3.1-generate-001", "4k", 8) > veo_median_s(
        "veo-3.1-generate-001", "1080p", 8
    )
    assert statistics.median(draws("veo-3.1-fast-generate-001")) < statistics.median(draws())


@pytest.mark.parametrize("model_name", ["fixed", "veo"])
def test_a_latency_directive_wins_over_either_model(model_name: str) -> None:
    chosen = pick_latency(
        parse("a fox [sim latency=2.5]"),
        model_name=model_name,
        base_s=4,
        jitter_s=1,
        rng=random.Random(0),
    )
    assert chosen == 2.5


def test_fixed_model_is_base_plus_jitter() -> None:
    rng = random.Random(3)
    values = [
        pick_latency(parse("a fox"), model_name="fixed", base_s=4, jitter_s=1, rng=rng)
        for _ in range(200)
    ]
    assert all(3 <= v <= 5 for v in values)


def test_real_sizes_grow_with_resolution_and_duration() -> None:
    assert 4_000_000 <= target_bytes("720p", 8) <= 6_000_000
    assert target_bytes("1080p", 8) > target_bytes("720p", 8)
    assert target_bytes("4k", 8) > target_bytes("1080p", 8)
    assert target_bytes("720p", 4) < target_bytes("720p", 8)


def test_padding_is_one_free_box_to_the_exact_size() -> None:
    clip = b"\x00\x00\x00\x18ftypisom" + bytes(12)
    data = padded(clip, 1000)
    assert len(data) == 1000
    box = data[len(clip) :]
    assert int.from_bytes(box[:4], "big") == len(box)
    assert box[4:8] == b"free"
    assert padded(clip, len(clip) + 3) == clip  # no room for a box header: left as it is
    assert padding_for(len(clip), 10) == 0

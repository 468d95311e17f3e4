"""What a job costs: credits per second of video, by model, resolution and audio, times the
number of samples, rounded up to whole credits (at least one).

The table is a setting (`price_table`, JSON), so an operator follows Google's price list
without a release. Its default keeps the flat price of earlier releases for the default
request (veo-3.1, 8 s, 720p, with audio: 2 credits) and follows Vertex AI's relative prices
for the rest (video without audio costs half; 4k half as much again; Fast about a third).
"""

import json
import math
from fractions import Fraction
from functools import cache, lru_cache

from shared.capabilities import Options

AUDIO, SILENT = "audio", "silent"
# One credit per 4 seconds of Veo 3.1 720p with audio.
DEFAULT_PRICE_TABLE = json.dumps(
    {
        "veo-3.1": {
            "720p": {AUDIO: 0.25, SILENT: 0.125},
            "1080p": {AUDIO: 0.25, SILENT: 0.125},
            "4k": {AUDIO: 0.375, SILENT: 0.25},
        },
        "veo-3.1-fast": {
            "720p": {AUDIO: 0.09375, SILENT: 0.0625},
            "1080p": {AUDIO: 0.09375, SILENT: 0.0625},
            "4k": {AUDIO: 0.21875, SILENT: 0.1875},
        },
    }
)

PriceTable = dict[str, dict[str, dict[str, Fraction]]]


class NoPrice(Exception):
    """The table has no price for this model, resolution and audio: nothing may be generated."""


def _object(value: object, what: str) -> dict[str, object]:
    if not isinstance(value, dict):
        raise ValueError(f"price_table: {what} must be a JSON object")  # noqa: TRY004
    return value


@cache
def parse(table_json: str) -> PriceTable:
    """The table, read exactly (decimal strings, so 0.1 x 30 is 3 and not 3.0000000000000004);
    raises ValueError for a malformed table (a setting's validation error)."""
    table: PriceTable = {}
    for model, resolutions in _object(json.loads(table_json), "the table").items():
        table[model] = {}
        for resolution, rates in _object(resolutions, model).items():
            table[model][resolution] = {}
            for audio, rate in _object(rates, f"{model}.{resolution}").items():
                if audio not in (AUDIO, SILENT) or not isinstance(rate, int | float):
                    raise ValueError(
                        f"price_table: {model}.{resolution} maps {AUDIO!r}/{SILENT!r} to numbers"
                    )
                value = Fraction(str(rate))
                if value < 0:
                    raise ValueError(f"price_table: negative rate for {model}.{resolution}")
                table[model][resolution][audio] = value
    return table


def credits_for(options: Options, table_json: str) -> int:
    """Whole credits for one job with these options (at least 1)."""
    audio = AUDIO if options.generate_audio else SILENT
    return _credits(
        options.model,
        options.resolution,
        audio,
        duration_s=options.duration_s,
        samples=options.sample_count,
        table_json=table_json,
    )


@lru_cache(maxsize=1024)  # a few hundred combinations: Fraction arithmetic per submit cost 40 us
def _credits(
    model: str, resolution: str, audio: str, *, duration_s: int, samples: int, table_json: str
) -> int:
    try:
        rate = parse(table_json)[model][resolution][audio]
    except KeyError:
        raise NoPrice(f"{model} {resolution} {audio}") from None
    return max(1, math.ceil(rate * duration_s * samples))

"""The targets each figure of a bench run is judged against, as checks of one backend's results."""

from collections.abc import Callable
from typing import Any

# check(result of one backend) -> True/False/None (None: not measured)
Check = Callable[[dict[str, Any]], bool | None]


def get(res: dict[str, Any], *path: str) -> Any:
    cur: Any = res
    for part in path:
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    return cur


def _submit_ok(r: dict[str, Any]) -> bool | None:
    ratio, p99 = (
        get(r, "gateway", "submit", "ratio_median"),
        get(r, "gateway", "submit", "p99_ms", "median"),
    )
    return None if ratio is None else ratio >= 0.2 and p99 <= 50


def _status_ok(r: dict[str, Any]) -> bool | None:
    ratio, p99 = (
        get(r, "gateway", "status", "ratio_median"),
        get(r, "gateway", "status", "p99_ms", "median"),
    )
    return None if ratio is None else ratio >= 0.5 and p99 <= 20


def _pipeline_ok(r: dict[str, Any]) -> bool | None:
    ratio = get(r, "pipeline", "ratio")
    return None if ratio is None else ratio >= 0.3


def _lateness_ok(r: dict[str, Any]) -> bool | None:
    p99 = get(r, "inflight", "lateness_s", "p99")
    return None if p99 is None else p99 <= 1.0


def _rss_ok(r: dict[str, Any]) -> bool | None:
    rss = get(r, "inflight", "worker_rss_peak_bytes")
    return None if rss is None else rss <= 1024**3


def _lag_ok(r: dict[str, Any]) -> bool | None:
    ratio = get(r, "latency", "lag", "ratio", "p50")
    return None if ratio is None else ratio <= 0.5


def _webhook_ok(r: dict[str, Any]) -> bool | None:
    p99 = get(r, "latency", "webhook", "latency_s", "p99")
    return None if p99 is None else p99 <= 1.0


def _rate_ok(r: dict[str, Any]) -> bool | None:
    ratio = get(r, "rate", "ratio")
    violations = get(r, "rate", "bound_violations")
    return None if ratio is None else ratio <= 1.02 and violations == 0


def _ttr_push_ok(r: dict[str, Any]) -> bool | None:
    total = get(r, "ttr", "push", "total")
    return None if total is None else total["p50"] <= 1.5 and total["max"] <= 5.0


def _ttr_poll_ok(r: dict[str, Any]) -> bool | None:
    new, old = get(r, "ttr", "predictive"), get(r, "ttr", "geometric")
    if not new or not old or "total" not in new or "total" not in old:
        return None
    return (
        new["total"]["p50"] <= 0.5 * old["total"]["p50"]
        and new["polls"]["mean"] <= old["polls"]["mean"]
    )


CHECKS: list[tuple[str, Check]] = [
    ("gateway.submit", _submit_ok),
    ("gateway.status", _status_ok),
    ("pipeline", _pipeline_ok),
    ("inflight.lateness", _lateness_ok),
    ("inflight.rss", _rss_ok),
    ("latency.detection", _lag_ok),
    ("latency.webhook", _webhook_ok),
    ("ttr.push", _ttr_push_ok),
    ("ttr.polling", _ttr_poll_ok),
    ("rate", _rate_ok),
]


def verdicts(results: dict[str, dict[str, Any]]) -> dict[str, dict[str, bool | None]]:
    return {backend: {key: check(res) for key, check in CHECKS} for backend, res in results.items()}

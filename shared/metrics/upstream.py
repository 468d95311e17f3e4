"""Calls to the upstream model by kind (submit, poll, download) and outcome class, their latency,
429s, submits whose outcome is unknown, and the ticks on which the quota allowed nothing."""

from prometheus_client import Counter, Histogram

CALL_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120)
# ok; transient (retried later); rate_limited (429); ambiguous (a submit that may have been
# accepted: timeout or dropped connection); permanent (the job fails); config (our settings).
OUTCOMES = ("ok", "transient", "rate_limited", "ambiguous", "permanent", "config")

CALLS = Counter(
    "veo_upstream_calls_total", "Upstream calls by kind and outcome", ["kind", "outcome"]
)
LATENCY = Histogram(
    "veo_upstream_call_duration_seconds", "Upstream call latency", ["kind"], buckets=CALL_BUCKETS_S
)
RATE_LIMITED = Counter(
    "veo_upstream_rate_limited_total", "Upstream answers 429 (resource exhausted)", ["kind"]
)
AMBIGUOUS_SUBMITS = Counter(
    "veo_upstream_ambiguous_submits_total",
    "Submits that ended without an answer (timeout, dropped connection): maybe accepted",
)
QUOTA_WAITS = Counter(
    "veo_upstream_quota_waits_total",
    "Dispatch or poll ticks on which our own upstream quota allowed no call",
    ["kind"],
)


def observe(kind: str, outcome: str, seconds: float) -> None:
    CALLS.labels(kind, outcome).inc()
    LATENCY.labels(kind).observe(seconds)
    if outcome == "rate_limited":
        RATE_LIMITED.labels(kind).inc()
    elif outcome == "ambiguous":
        AMBIGUOUS_SUBMITS.inc()


def quota_wait(kind: str) -> None:
    QUOTA_WAITS.labels(kind).inc()

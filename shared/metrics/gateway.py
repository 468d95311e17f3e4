"""The gateway's requests: by route template (never a raw path: a uuid is not a label), method
and HTTP status; their latency; and the requests admission refused, by reason."""

from typing import Any

from prometheus_client import Counter, Histogram

LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

REQUESTS = Counter(
    "veo_http_requests_total", "Gateway requests answered", ["route", "method", "code"]
)
LATENCY = Histogram(
    "veo_http_request_duration_seconds",
    "Gateway request latency, first byte of the request to the last of the answer",
    ["route", "method"],
    buckets=LATENCY_BUCKETS_S,
)
REFUSALS = Counter(
    "veo_admission_refusals_total",
    "Requests refused before their route ran: 1002 (no or bad key), 1003 (rate limits)",
    ["reason"],
)
JOBS_CREATED = Counter("veo_jobs_created_total", "Jobs paid for and written by the gateway")
CREDITS_DEBITED = Counter("veo_credits_debited_total", "Credits charged for new jobs")

# Route templates of the paths served before the router (api_gateway/asgi.py), which leaves
# no route in the scope; anything else the router did not match is "unmatched".
_PREFIX_TEMPLATES = (
    ("/api/video-status/", "/api/video-status/{uuid}"),
    ("/api/files/", "/api/files/{key}"),
)
_EXACT = frozenset({"/api/generate-video", "/metrics"})


def route_template(path: str, matched: str | None) -> str:
    """The bounded label of a request: its route's template, else a known one, else unmatched."""
    if matched is not None:
        return matched
    if path in _EXACT:
        return path
    for prefix, template in _PREFIX_TEMPLATES:
        if path.startswith(prefix):
            return template
    return "unmatched"


def refusal_reason(status: int, headers: list[tuple[bytes, bytes]]) -> str | None:
    """Why admission refused a request, read from its answer: 401 is 1002 (missing, unknown or
    revoked key); a 429 with rate-limit headers is the key's budget, one without them is the
    client address's refused-key limit."""
    if status == 401:
        return "invalid_key"
    if status != 429:
        return None
    if any(name.lower() == b"x-ratelimit-limit" for name, _ in headers):
        return "rate_limited"
    return "refused_keys_from_address"


# The label children of each (route, method, status) seen: looking them up in prometheus_client
# takes a lock and builds the label tuple on every request; the set of keys is bounded.
_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}


METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def observe(route: str, method: str, status: int, seconds: float) -> None:
    method = method if method in METHODS else "OTHER"  # the client names it: keep it bounded
    key = (route, method, status)
    children = _children.get(key)
    if children is None:
        children = (REQUESTS.labels(route, method, str(status)), LATENCY.labels(route, method))
        _children[key] = children
    children[0].inc()
    children[1].observe(seconds)


def job_created(credits: int) -> None:
    JOBS_CREATED.inc()
    CREDITS_DEBITED.inc(credits)

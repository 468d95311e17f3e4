"""Webhook deliveries: each attempt's outcome and latency, what became of the delivery, and the
endpoints disabled after failing for too long."""

from prometheus_client import Counter, Histogram

ATTEMPTS = Counter(
    "veo_webhook_attempts_total", "Webhook send attempts by result", ["result"]
)  # success, http_error, network_error, refused
LATENCY = Histogram(
    "veo_webhook_attempt_duration_seconds",
    "Webhook send latency (to the receiver's answer or the error)",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
DELIVERIES = Counter(
    "veo_webhook_deliveries_total",
    "Webhook deliveries after an attempt: delivered, retrying, failed (gave up)",
    ["outcome"],
)
DISABLED = Counter("veo_webhook_endpoints_disabled_total", "Webhook endpoints disabled")


def attempt(result: str, seconds: float) -> None:
    ATTEMPTS.labels(result).inc()
    LATENCY.observe(seconds)


def delivery(outcome: str) -> None:
    DELIVERIES.labels(outcome).inc()


def endpoint_disabled() -> None:
    DISABLED.inc()

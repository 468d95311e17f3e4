"""The operator's view of one job: the gateway's /metrics and the worker host's exporter, scraped
before and after a job goes through submit, poll, download and its webhook."""

import secrets
from collections.abc import Callable

import pytest

from devtools.processes import http_ok, wait_for
from tests.conftest import AccountInfo, Stack, Workers
from tests.observability.scrape import Samples, names, scrape, value
from tests.support.api import create_video, wait_terminal
from tests.support.receiver import Receiver

pytestmark = pytest.mark.e2e


def worker_metrics_url(stack: Stack) -> str:
    return f"http://127.0.0.1:{stack.env['VEO_WORKER_METRICS_PORT']}/metrics"


def test_counters_move_with_one_job(
    client, gateway_url: str, workers: Workers, stack: Stack,
    account: Callable[..., AccountInfo], receiver: Receiver,
) -> None:  # fmt: skip
    hook = f"metrics-{secrets.token_hex(4)}"
    user = account(credits=10, webhook_url=receiver.url(hook))
    worker_url = worker_metrics_url(stack)
    wait_for(lambda: http_ok(worker_url), timeout_s=60, what="the workers' exporter")
    gateway_before, worker_before = scrape(f"{gateway_url}/metrics"), scrape(worker_url)

    uuid = create_video(client, user.headers, f"metrics e2e {secrets.token_hex(4)}")
    assert wait_terminal(client, user.headers, uuid)["status"] == "completed"
    wait_for(lambda: receiver.at(hook), timeout_s=60, what="the webhook")

    def delivered() -> Samples | None:
        samples = scrape(worker_url)
        moved = value(samples, "veo_webhook_deliveries_total", outcome="delivered") > value(
            worker_before, "veo_webhook_deliveries_total", outcome="delivered"
        )
        return samples if moved else None

    worker_after = wait_for(delivered, timeout_s=30, what="the delivery's counter")
    assert isinstance(worker_after, dict)
    gateway_after = scrape(f"{gateway_url}/metrics")

    def grew(before: Samples, after: Samples, name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    submit = {"route": "/api/generate-video", "method": "POST"}
    assert grew(gateway_before, gateway_after, "veo_http_requests_total", **submit, code="200") == 1
    assert (
        grew(gateway_before, gateway_after, "veo_http_request_duration_seconds_count", **submit)
        == 1
    )
    status_route = {"route": "/api/video-status/{uuid}", "method": "GET", "code": "200"}
    assert grew(gateway_before, gateway_after, "veo_http_requests_total", **status_route) >= 1
    assert grew(gateway_before, gateway_after, "veo_jobs_created_total") == 1
    assert grew(gateway_before, gateway_after, "veo_credits_debited_total") == 2
    assert not any(uuid in str(key) for key in gateway_after)  # no job id ever is a label

    for kind in ("submit", "poll", "download"):
        assert (
            grew(worker_before, worker_after, "veo_upstream_calls_total", kind=kind, outcome="ok")
            >= 1
        )
        assert (
            grew(worker_before, worker_after, "veo_upstream_call_duration_seconds_count", kind=kind)
            >= 1
        )
    assert grew(worker_before, worker_after, "veo_jobs_finished_total", status="completed") >= 1
    for state in ("waiting", "submitting", "generating", "downloading", "total"):
        assert (
            grew(worker_before, worker_after, "veo_job_state_duration_seconds_count", state=state)
            >= 1
        )
    assert grew(worker_before, worker_after, "veo_webhook_attempts_total", result="success") >= 1
    assert grew(worker_before, worker_after, "veo_webhook_attempt_duration_seconds_count") >= 1
    assert grew(worker_before, worker_after, "veo_dispatcher_admitted_total") >= 1

    # The gauges read from the database and Redis at scrape time.
    for name in (
        "veo_jobs", "veo_queue_messages", "veo_backlog_oldest_age_seconds", "veo_credits_balance",
        "veo_sweeper_last_run_timestamp_seconds", "veo_webhook_endpoints_disabled",
        "veo_upstream_recent_error_ratio", "veo_sweeper_runs_total",
    ):  # fmt: skip
        assert name in names(worker_after), name
    assert value(worker_after, "veo_state_up", dependency="database") == 1
    assert value(worker_after, "veo_state_up", dependency="redis") == 1
    assert ("veo_queue_messages", (("queue", "veo.submit"),)) in worker_after


def test_scraping_is_not_a_user_request(client, gateway_url: str) -> None:
    """/metrics takes no key and never counts against a rate limit or answers 1003."""
    for _ in range(3):
        answer = client.get("/metrics")
        assert answer.status_code == 200
        assert "x-ratelimit-remaining" not in answer.headers
    assert "veo_http_requests_total" in answer.text

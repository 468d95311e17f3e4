"""The pure parts of the operator's view: JSON log lines (with their context, without secrets),
the bounded labels of the metrics and their names, and the upstream outcome classes."""

import io
import json
import logging
import sys

import pytest
from prometheus_client import REGISTRY

from shared.errors import UpstreamConfigError, UpstreamPermanentError, UpstreamTransientError
from shared.log_redaction import RedactSecrets
from shared.logs import ContextFilter, JsonFormatter, log_context
from shared.metrics import gateway, jobs, pipeline, upstream, webhooks
from shared.metrics.process import is_celery_worker
from worker.upstream.metered import outcome_of

KEY = "veo_" + "Zq3-_x" * 7 + "a"
OUR_MODULES = (gateway, jobs, pipeline, upstream, webhooks)


def _json_line(record: logging.LogRecord) -> dict[str, object]:
    RedactSecrets().filter(record)  # as the record factory does at birth (log_redaction.install)
    ContextFilter().filter(record)
    line = JsonFormatter("gateway").format(record)
    assert "\n" not in line
    parsed = json.loads(line)
    assert isinstance(parsed, dict)
    return parsed


def test_a_json_line_names_the_job_and_account_in_context() -> None:
    with log_context("job-uuid", "acct_1"):
        record = logging.LogRecord("x", logging.INFO, __file__, 1, "job %s created", ("j",), None)
        entry = _json_line(record)
    assert entry["msg"] == "job j created"
    assert entry["job_id"] == "job-uuid"
    assert entry["account_id"] == "acct_1"
    assert entry["process"] == "gateway"
    assert entry["level"] == "INFO"
    outside = _json_line(logging.LogRecord("x", logging.INFO, __file__, 1, "idle", (), None))
    assert "job_id" not in outside
    assert "account_id" not in outside


def test_a_json_line_carries_no_secret_in_its_message_or_traceback() -> None:
    try:
        raise RuntimeError(f"GET https://h.example/v1?key={KEY}")
    except RuntimeError:
        info = sys.exc_info()
    message = f"Authorization: Bearer {KEY}"
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, message, (), info)
    text = json.dumps(_json_line(record))
    assert KEY not in text
    assert "RuntimeError" in text


def test_json_mode_replaces_every_handler_with_one_json_handler(monkeypatch) -> None:
    from shared import logs

    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    monkeypatch.setattr(logs, "json_enabled", lambda: True)
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    try:
        assert logs.configure("worker")
        logging.getLogger("uvicorn.error").warning("started %s", "x")
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])
        logging.captureWarnings(False)
    entry = json.loads(stream.getvalue().splitlines()[-1])
    assert entry["msg"] == "started x"
    assert entry["logger"] == "uvicorn.error"


@pytest.mark.parametrize(
    ("path", "matched", "label"),
    [
        ("/api/video-status/2f1c-uuid", None, "/api/video-status/{uuid}"),
        ("/api/generate-video", None, "/api/generate-video"),
        ("/api/files/videos/x.mp4", None, "/api/files/{key}"),
        ("/api/webhooks/deliveries/msg_1/replay", "/api/webhooks/deliveries/{delivery_id}/replay",
         "/api/webhooks/deliveries/{delivery_id}/replay"),
        ("/wp-admin/anything-a-scanner-tries", None, "unmatched"),
    ],
)  # fmt: skip
def test_requests_are_labelled_by_route_template_never_by_path(
    path: str, matched: str | None, label: str
) -> None:
    assert gateway.route_template(path, matched) == label


def test_a_method_the_client_invents_is_not_a_label_value() -> None:
    gateway.observe("unmatched", "BREW", 400, 0.001)
    samples = {
        tuple(sorted(s.labels.items())) for f in REGISTRY.collect() for s in f.samples
        if s.name == "veo_http_requests_total"
    }  # fmt: skip
    assert (("code", "400"), ("method", "OTHER"), ("route", "unmatched")) in samples
    assert not any(("method", "BREW") in labels for labels in samples)


def test_admission_refusals_are_told_apart_by_their_answer() -> None:
    limited = [(b"x-ratelimit-limit", b"60"), (b"retry-after", b"3")]
    assert gateway.refusal_reason(401, []) == "invalid_key"
    assert gateway.refusal_reason(429, limited) == "rate_limited"
    assert gateway.refusal_reason(429, [(b"retry-after", b"3")]) == "refused_keys_from_address"
    assert gateway.refusal_reason(200, limited) is None


@pytest.mark.parametrize(
    ("kind", "error", "outcome"),
    [
        ("poll", None, "ok"),
        ("submit", UpstreamTransientError("busy", status=429), "rate_limited"),
        ("submit", UpstreamTransientError("timed out"), "ambiguous"),
        ("poll", UpstreamTransientError("timed out"), "transient"),
        ("submit", UpstreamTransientError("503", status=503), "transient"),
        ("download", UpstreamPermanentError("gone", status=404), "permanent"),
        ("submit", UpstreamConfigError("retired model", status=404), "config"),
    ],
)
def test_upstream_outcomes_fall_in_a_few_classes(
    kind: str, error: Exception | None, outcome: str
) -> None:
    assert outcome_of(kind, error) == outcome
    assert outcome in upstream.OUTCOMES


def _ours() -> list[object]:
    return [
        value
        for module in OUR_MODULES
        for value in vars(module).values()
        if hasattr(value, "_type") and hasattr(value, "_labelnames")
    ]


def test_metric_names_follow_prometheus_conventions() -> None:
    metrics = _ours()
    assert len(metrics) >= 15
    for metric in metrics:
        name, kind = metric._name, metric._type  # type: ignore[attr-defined]
        assert name.startswith("veo_"), name
        if kind == "histogram":
            assert name.endswith("_seconds"), name
        assert not {"id", "uuid", "job", "job_id", "account", "account_id", "url"} & set(
            metric._labelnames  # type: ignore[attr-defined]
        ), name
    counters = {m._name for m in metrics if m._type == "counter"}  # type: ignore[attr-defined]
    exposed = {s.name for f in REGISTRY.collect() for s in f.samples}
    assert all(f"{name}_total" in exposed or name not in exposed for name in counters)


def test_only_a_celery_worker_main_process_writes_metric_files() -> None:
    assert is_celery_worker(["/venv/bin/celery", "-A", "worker.app", "worker", "-Q", "veo.poll"])
    assert not is_celery_worker(["/venv/bin/celery", "-A", "worker.app", "beat"])
    assert not is_celery_worker(["/venv/bin/celery", "-A", "worker.app", "flower"])
    assert not is_celery_worker(["/venv/bin/pytest", "tests/worker"])


def test_the_banner_prints_both_metrics_endpoints(tmp_path) -> None:
    from devtools.banner import Banner
    from tests.support.settings import ExplicitSettings

    settings = ExplicitSettings(data_dir=tmp_path, gateway_port=8123, worker_metrics_port=9911)
    line = Banner(settings, "veo_key", "password", "").metrics
    assert line == "http://127.0.0.1:8123/metrics  workers http://127.0.0.1:9911/metrics"
    quiet = ExplicitSettings(data_dir=tmp_path, worker_metrics_port=0, metrics_enabled=False)
    assert Banner(quiet, "veo_key", "password", "").metrics == "gateway: off"


def test_a_starting_worker_removes_the_metric_files_of_workers_that_are_gone(tmp_path) -> None:
    import os
    import subprocess

    from shared.metrics.process import remove_dead

    gone = subprocess.Popen(["true"])
    gone.wait()  # its pid now names no process
    for pid in (gone.pid, os.getpid(), os.getppid()):
        (tmp_path / f"worker-{pid}").mkdir()
        (tmp_path / f"worker-{pid}" / "counter_1.db").write_bytes(b"")
    remove_dead(tmp_path)
    left = {p.name for p in tmp_path.iterdir()}
    assert left == {f"worker-{os.getpid()}", f"worker-{os.getppid()}"}

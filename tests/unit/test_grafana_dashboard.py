"""The Grafana dashboard (deploy/grafana/dashboards/veo.json) against the dashboard model
Grafana loads (the part of its JSON schema a file-provisioned dashboard uses), and every series
it draws against the metrics this code exports. Grafana itself is not installed here; the
`observability` compose profile provisions this file into a real one."""

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from shared.metrics import gateway, jobs, pipeline, upstream, webhooks

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "veo.json"
PANEL_TYPES = {"row", "timeseries", "stat", "gauge", "bargauge", "table", "text", "heatmap"}
# Read at scrape time by shared/metrics/state.py (no metric object of their own).
STATE_GAUGES = {
    "veo_jobs", "veo_queue_messages", "veo_backlog_oldest_age_seconds", "veo_credits_balance",
    "veo_sweeper_last_run_timestamp_seconds", "veo_webhook_endpoints_disabled",
    "veo_upstream_recent_error_ratio", "veo_state_up",
}  # fmt: skip

GRID = {
    "type": "object",
    "required": ["x", "y", "w", "h"],
    "properties": {
        "x": {"type": "integer", "minimum": 0, "maximum": 23},
        "y": {"type": "integer", "minimum": 0},
        "w": {"type": "integer", "minimum": 1, "maximum": 24},
        "h": {"type": "integer", "minimum": 1},
    },
}
DATASOURCE = {
    "type": "object",
    "required": ["type", "uid"],
    "properties": {"type": {"const": "prometheus"}, "uid": {"const": "prometheus"}},
}
SCHEMA = {
    "type": "object",
    "required": ["uid", "title", "schemaVersion", "panels", "time", "templating", "annotations"],
    "properties": {
        "uid": {"type": "string", "pattern": "^[a-zA-Z0-9_-]{1,40}$"},
        "title": {"type": "string", "minLength": 1},
        "schemaVersion": {"type": "integer", "minimum": 36},
        "time": {"type": "object", "required": ["from", "to"]},
        "templating": {"type": "object", "required": ["list"]},
        "annotations": {"type": "object", "required": ["list"]},
        "panels": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["id", "type", "title", "gridPos"],
                "properties": {
                    "id": {"type": "integer", "minimum": 1},
                    "type": {"enum": sorted(PANEL_TYPES)},
                    "title": {"type": "string", "minLength": 1},
                    "gridPos": GRID,
                    "datasource": DATASOURCE,
                    "targets": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["refId", "expr"],
                            "properties": {
                                "refId": {"type": "string", "pattern": "^[A-Z]$"},
                                "expr": {"type": "string", "minLength": 1},
                                "datasource": DATASOURCE,
                            },
                        },
                    },
                },
                "if": {"properties": {"type": {"const": "row"}}},
                "then": {"required": ["panels", "collapsed"]},
                "else": {"required": ["datasource", "targets", "fieldConfig", "options"]},
            },
        },
    },
}


@pytest.fixture(scope="module")
def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def exported_series() -> set[str]:
    """Every series name this code exports (counters with _total, histograms' three)."""
    names = set(STATE_GAUGES)
    for module in (gateway, jobs, pipeline, upstream, webhooks):
        for metric in vars(module).values():
            kind, name = getattr(metric, "_type", None), getattr(metric, "_name", None)
            if kind == "counter":
                names.add(f"{name}_total")
            elif kind == "histogram":
                names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
            elif kind is not None:
                names.add(str(name))
    return names


def test_the_dashboard_matches_grafanas_model(dashboard: dict) -> None:
    jsonschema.validate(dashboard, SCHEMA)
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        refs = [target["refId"] for target in panel.get("targets", [])]
        assert len(refs) == len(set(refs)), panel["title"]


def test_panels_do_not_overlap(dashboard: dict) -> None:
    cells: set[tuple[int, int]] = set()
    for panel in dashboard["panels"]:
        g = panel["gridPos"]
        mine = {
            (x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])
        }
        assert not cells & mine, panel["title"]
        cells |= mine


def test_every_series_drawn_is_one_we_export(dashboard: dict) -> None:
    exported = exported_series()
    drawn = set()
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"]
            assert expr.count("(") == expr.count(")"), expr
            drawn |= set(re.findall(r"\bveo_[a-z_]+\b", expr))
            for label_set in re.findall(r"by \(([^)]*)\)", expr):
                assert "job_id" not in label_set, expr
    assert drawn, "the dashboard draws nothing"
    assert drawn <= exported, drawn - exported
    # Each concern of docs/operations.md has at least one panel.
    for prefix in (
        "veo_http_",
        "veo_job",
        "veo_upstream_",
        "veo_queue_",
        "veo_webhook_",
        "veo_credits_",
    ):
        assert any(name.startswith(prefix) for name in drawn), prefix


def test_the_observability_profile_provisions_it() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    for name in ("prometheus", "grafana"):
        assert services[name]["profiles"] == ["observability"]
        for volume in services[name]["volumes"]:
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), source
    for name in ("prometheus-data", "grafana-data"):
        assert name in compose["volumes"]
    provider = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/dashboards/veo.yml").read_text()
    )["providers"][0]
    mounted = {v.split(":")[1]: v.split(":")[0] for v in services["grafana"]["volumes"]}
    assert (ROOT / mounted[provider["options"]["path"]] / DASHBOARD.name).exists()
    datasource = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text()
    )["datasources"][0]
    assert datasource["uid"] == "prometheus"  # the uid every panel names
    scrape = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    jobs_by_name = {job["job_name"]: job for job in scrape["scrape_configs"]}
    assert jobs_by_name["veo-gateway"]["static_configs"][0]["targets"] == ["gateway:8000"]
    workers = jobs_by_name["veo-workers"]["dns_sd_configs"][0]
    assert set(workers["names"]) == {"worker", "inputs", "webhooks"} <= set(services)
    assert workers["port"] == 9808  # VEO_WORKER_METRICS_PORT's default

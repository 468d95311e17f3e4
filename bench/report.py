"""The one table of a bench run: every figure beside its target and verdict (bench/targets.py)."""

# ruff: noqa: RUF001, E501 - the table is typeset (times sign, dashes) and its rows read best one per line

import functools
import math
from collections.abc import Callable
from typing import Any

from rich.table import Table

from bench.targets import get

# One table cell: (results, which figure of them) -> text
Cell = Callable[[dict[str, Any], str], str]


# --- formatting ----------------------------------------------------------------------------------
def _n(value: Any, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:,.{digits}f}"


def _spread(s: dict[str, Any] | None, digits: int = 0) -> str:
    if not s:
        return "—"
    if s.get("n", 1) > 1:
        return f"{_n(s['median'], digits)} ({_n(s['min'], digits)}–{_n(s['max'], digits)})"
    return _n(s["median"], digits)


def _http(r: dict[str, Any], name: str) -> str:
    g = get(r, "gateway", name)
    if not g:
        return _err(r, "gateway")
    text = f"{_spread(g['rps'])} req/s\np50 {_n(g['p50_ms']['median'], 1)} · p99 {_n(g['p99_ms']['median'], 1)} ms"
    if "ratio_median" in g:
        text += f"\n= {g['ratio_median']:.3f}× bare"
    cpu = g.get("server_cpu_ms_per_req")
    if cpu:
        text += f"\nserver CPU {_n(cpu['median'], 2)} ms/req"
    if g.get("errors"):
        text += f"\n[red]{g['errors']} errors[/red]"
    return text


def _err(r: dict[str, Any], section: str) -> str:
    err = get(r, section, "error")
    return f"[red]failed: {str(err)[:60]}[/red]" if err else "—"


def _section(name: str) -> Callable[[Cell], Cell]:
    """The decorated cell is given one section of a backend's results, never a failed one: a
    section that failed or did not run shows its error (or a dash) instead."""

    def wrap(cell: Cell) -> Cell:
        @functools.wraps(cell)
        def guarded(r: dict[str, Any], what: str) -> str:
            p = get(r, name)
            if not p or "error" in p:
                return _err(r, name)
            return cell(p, what)

        return guarded

    return wrap


@_section("pipeline")
def _pipeline(p: dict[str, Any], what: str) -> str:
    if what == "noop":
        return f"{_spread(p['noop_tasks_per_s'])} tasks/s"
    return (
        f"{_n(p['jobs_per_s'], 1)} jobs/s = {p['ratio']:.3f}× no-op\n"
        f"steady {_n(p['steady_jobs_per_s'], 1)} jobs/s · {p['jobs']} jobs, {p['failed']} failed"
        + (
            "\nCPU ms/job: " + " · ".join(f"{k} {_n(v, 1)}" for k, v in p["cpu_ms_per_job"].items())
            if p.get("cpu_ms_per_job")
            else ""
        )
    )


@_section("inflight")
def _inflight(p: dict[str, Any], what: str) -> str:
    if what == "lateness":
        lat = p["lateness_s"]
        return (
            f"p50 {_n(lat['p50'], 3)} · p99 {_n(lat['p99'], 3)} s\n"
            f"{_n(p['polls_per_s'])} polls/s (need {_n(p['needed_polls_per_s'])})"
            + (
                f"\nworker CPU {_n(p['worker_cpu_ms_per_poll'], 2)} ms/poll"
                if "worker_cpu_ms_per_poll" in p
                else ""
            )
        )
    if what == "rss":
        return f"{_n(p['worker_rss_peak_bytes'] / 2**20)} MiB\n(beat {_n(p['beat_rss_peak_bytes'] / 2**20)} MiB)"
    if what == "redis":
        return (
            f"+{_n(p['redis_used_memory_delta_bytes'] / 2**20, 1)} MiB used_memory\n"
            f"own keys {_n(p['redis_own_keys_bytes'] / 2**20, 2)} MiB"
        )
    return f"{_n(p['db_rows_per_s'])} rows/s\n({_n(p['reschedules_per_s'])} reschedules/s)"


@_section("latency")
def _latency(p: dict[str, Any], what: str) -> str:
    if what == "lag":
        lag = p["lag"]
        return (
            f"p50 {lag['ratio']['p50']:.2f}× interval\n"
            f"lag p50 {_n(lag['lag_s']['p50'], 1)} s of {_n(lag['interval_s']['p50'], 1)} s;"
            f" after seen {_n(lag['after_seen_s']['p50'], 2)} s"
        )
    w = p["webhook"]["latency_s"]
    return f"p50 {_n(w['p50'], 3)} · p99 {_n(w['p99'], 3)} s\n({w['n']} jobs)"


@_section("ttr")
def _ttr(p: dict[str, Any], what: str) -> str:
    if "skipped" in p:
        return "(measured on the first backend)"
    if what == "limit":
        lim = p["limits"]
        geo, best = lim["geometric"], lim["optimal"]
        return (
            f"expected mean lag: geometric {geo['mean_lag_s']:.1f} s at {geo['polls']:.2f}"
            f" polls/job; calibrated {best['mean_lag_s']:.1f} s at {best['polls']:.2f}"
        )
    r = p[what]
    legs = " · ".join(
        f"{leg} {_n(r[leg]['p50'], 2)}/{_n(r[leg]['p99'], 2)}"
        for leg in ("detection", "download", "commit", "webhook")
    )
    return (
        f"total p50 {_n(r['total']['p50'], 2)} · p99 {_n(r['total']['p99'], 2)} · "
        f"max {_n(r['total']['max'], 2)} s; {r['polls']['mean']:.2f} polls/job\n"
        f"p50/p99 s: {legs}"
    )


@_section("rate")
def _rate(p: dict[str, Any], _what: str) -> str:
    return (
        f"{_n(p['sustained_per_min'])}/min = {p['ratio']:.3f}× of {p['configured_per_min']}/min\n"
        f"{p['accepted']} accepted; max {p.get('max_excess_over_bound', 0):.1f} over bucket bound"
        f" (slack {p.get('slack_tokens', 1):.0f}); "
        f"submits by worker {p['submits_by_worker']}"
    )


@_section("waiters")
def _waiters(p: dict[str, Any], _what: str) -> str:
    after = p["answered_after_commit_s"]
    return (
        f"{_n(p['rss_bytes_per_waiter'] / 1024, 1)} KiB RSS/waiter · start {_n(p['start_cpu_ms_per_waiter'], 2)} ms CPU"
        f" (plain status {_n(p['plain_status_cpu_ms_per_req'], 2)} ms)\n"
        f"waiting {_n(p['hold_cpu_us_per_waiter_s'], 1)} µs CPU/waiter/s · answer {_n(p['answer_cpu_ms_per_waiter'], 2)} ms CPU\n"
        f"{p['completed']}/{p['waiters']} completed; answered p50 {_n(after['p50'], 3)} · p99 {_n(after['p99'], 3)} s after their job's commit"
    )


def _mark(value: bool | None) -> str:
    return {True: "[green]✔[/green]", False: "[red]✘[/red]", None: ""}[value]


def table(doc: dict[str, Any]) -> Table:
    results = doc["results"]
    backends = [b for b in ("postgres", "sqlite") if b in results]
    v = doc["verdicts"]
    cfg = doc["config"]
    title = (
        f"veo-gateway benchmark — {doc['machine']['cores']} cores, "
        f"load generator {doc['load_generator']}, uvicorn workers {doc['gateway_workers']}"
        + (" — QUICK" if doc["quick"] else "")
    )
    t = Table(title=title, show_lines=True)
    t.add_column("Measure")
    t.add_column("Target")
    for b in backends:
        t.add_column("PostgreSQL" if b == "postgres" else "SQLite")
        t.add_column("")
    n = cfg["inflight"]
    rows: list[tuple[str, str, Callable[[dict[str, Any]], str], str | None]] = [
        ("1. bare FastAPI GET (baseline)", "—", lambda r: _http(r, "bare"), None),
        ("1. floor: our app, auth + rate limit, no work", "—", lambda r: _http(r, "floor"), None),
        ("1. POST /api/generate-video", "≥ 0.2× bare, p99 ≤ 50 ms", lambda r: _http(r, "submit"), "gateway.submit"),
        ("1. GET /api/video-status/{uuid}", "≥ 0.5× bare, p99 ≤ 20 ms", lambda r: _http(r, "status"), "gateway.status"),
        ("2. Celery no-op (baseline)", "—", lambda r: _pipeline(r, "noop"), None),
        ("2. pipeline submit→completed→webhook", "≥ 0.3× no-op", lambda r: _pipeline(r, "jobs"), "pipeline"),
        (f"3. {n:,} in flight: poll lateness", "p99 ≤ 1 s", lambda r: _inflight(r, "lateness"), "inflight.lateness"),
        (f"3. {n:,} in flight: worker RSS (tree, peak)", "≤ 1 GiB", lambda r: _inflight(r, "rss"), "inflight.rss"),
        (f"3. {n:,} in flight: Redis memory", "—", lambda r: _inflight(r, "redis"), None),
        (f"3. {n:,} in flight: DB rows written", "—", lambda r: _inflight(r, "db"), None),
        ("4. detection lag (upstream done → completed)", "p50 ≤ 0.5× poll interval", lambda r: _latency(r, "lag"), "latency.detection"),
        (f"5. webhook latency, burst of {cfg['burst_jobs']}", "p99 ≤ 1 s", lambda r: _latency(r, "webhook"), "latency.webhook"),
        (f"6. upstream submit rate, {cfg['rate_workers']} workers", "≤ configured", lambda r: _rate(r, "submits"), "rate"),
        (f"7. {cfg.get('waiters', 0):,} Prefer: wait requests, one gateway", "—", lambda r: _waiters(r, "waiters"), None),
        (f"8. time to result, {cfg.get('ttr_jobs', 200)} jobs: push", "p50 ≤ 1.5 s, max ≤ 5 s", lambda r: _ttr(r, "push"), "ttr.push"),
        ("8. time to result: predictive polling", "p50 ≤ ½ baseline, polls ≤ baseline", lambda r: _ttr(r, "predictive"), "ttr.polling"),
        ("8. time to result: geometric (baseline)", "—", lambda r: _ttr(r, "geometric"), None),
        ("8. polling's limit (calibrated placement)", "—", lambda r: _ttr(r, "limit"), None),
    ]  # fmt: skip
    for label, target, fmt, key in rows:
        cells: list[str] = [label, target]
        for b in backends:
            cells.append(fmt(results[b]))
            cells.append(_mark(v[b].get(key)) if key else "")
        t.add_row(*cells)
    versions = doc["versions"]
    t.caption = (
        " · ".join(f"{k} {val}" for k, val in versions.items())
        + f"\n{doc['machine']['cpu']} · {doc['machine']['ram_gib']} GiB · kernel {doc['machine']['kernel']}"
        + (f"\n{'; '.join(doc['notes'])}" if doc["notes"] else "")
    )
    return t

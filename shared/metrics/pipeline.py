"""The pipeline's own work: jobs admitted by the dispatcher, and what the sweeper re-sent."""

from prometheus_client import Counter

ADMITTED = Counter("veo_dispatcher_admitted_total", "Waiting jobs the dispatcher admitted")
SWEEPS = Counter("veo_sweeper_runs_total", "Sweeper runs")
SWEEPER_ACTIONS = Counter(
    "veo_sweeper_actions_total",
    "What the sweeper re-sent or repaired, by kind (resent_admitted, retried_submits, ...)",
    ["kind"],
)


def admitted(count: int) -> None:
    if count:
        ADMITTED.inc(count)


def swept(detail: dict[str, int]) -> None:
    SWEEPS.inc()
    for kind, count in detail.items():
        SWEEPER_ACTIONS.labels(kind).inc(count)

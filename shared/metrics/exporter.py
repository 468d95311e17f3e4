"""The metrics endpoint of a worker host: `http://<worker_metrics_host>:<worker_metrics_port>/metrics`.

Every worker (`celery ... worker`) tries to serve it once its pool is up. The first on the host
to bind the port serves the sum of every worker's directory under data_dir/metrics (all their
pool processes), plus the gauges read from the database and Redis (shared/metrics/state.py);
the others try again every RETRY_S, so the endpoint survives the exit of the one serving it.
"""

import logging
import threading
from collections.abc import Iterable
from pathlib import Path

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from shared.metrics.process import WORKER_DIR_PREFIX, metrics_root
from shared.metrics.state import StateCollector
from shared.settings import get_settings

log = logging.getLogger(__name__)
RETRY_S = 15.0


class HostCollector(Collector):
    """Every worker directory of the host, added up at each scrape."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def collect(self) -> Iterable[Metric]:
        for _ in range(3):  # a directory removed mid-read (a dead worker's): read again
            files = [str(p) for p in self.root.glob(f"{WORKER_DIR_PREFIX}*/*.db")]
            try:
                merged: Iterable[Metric] = _merge(files)
            except FileNotFoundError:
                continue
            return merged
        return []


def _merge(files: list[str]) -> Iterable[Metric]:
    merged: Iterable[Metric] = MultiProcessCollector.merge(files, accumulate=True)  # type: ignore[no-untyped-call]
    return merged


def host_registry(root: Path) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(HostCollector(root))
    registry.register(StateCollector())
    return registry


def _serve_when_free(
    port: int, host: str, registry: CollectorRegistry, stop: threading.Event
) -> None:
    while not stop.is_set():
        try:
            start_http_server(port, host, registry=registry)
        except OSError:
            stop.wait(RETRY_S)  # another worker of this host serves it
            continue
        log.info("worker metrics served at http://%s:%d/metrics", host, port)
        return


def start() -> threading.Event | None:
    """Serve the host's metrics from this worker, now or once the port is free; None if off."""
    settings = get_settings()
    if settings.worker_metrics_port <= 0:
        return None
    stop = threading.Event()
    registry = host_registry(metrics_root())
    threading.Thread(
        target=_serve_when_free,
        args=(settings.worker_metrics_port, settings.worker_metrics_host, registry, stop),
        name="metrics-exporter",
        daemon=True,
    ).start()
    return stop

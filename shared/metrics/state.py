"""What the database and Redis say now, read when scraped (worker host exporter) and by
GET /api/ready: a handful of indexed aggregate queries and one Redis pipeline.

Jobs are counted in the statuses that move (terminal ones are counters:
veo_jobs_finished_total). A Redis list carries no time, so the age of each queue's oldest
work is read from the rows its messages stand for.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Connection, func, select
from sqlmodel import col

from shared.constants import ALL_QUEUES, HEARTBEAT_SWEEPER
from shared.db import read_connection
from shared.models import Account, Heartbeat, Job, WebhookDelivery, WebhookEndpoint
from shared.redis_client import get_redis
from shared.settings import get_settings
from shared.states import DeliveryStatus, JobStatus
from shared.timeutil import utcnow
from shared.upstream_health import ErrorRate, recent

MOVING = (JobStatus.PENDING, JobStatus.ADMITTED, JobStatus.SUBMITTING, JobStatus.PROCESSING)


@dataclass
class DatabaseState:
    jobs: dict[str, int] = field(default_factory=dict)
    oldest_age_s: dict[str, float] = field(default_factory=dict)  # by stage, 0: none waiting
    last_sweep_at: datetime | None = None
    credits_balance: int = 0
    endpoints_disabled: int = 0

    @property
    def sweep_age_s(self) -> float | None:
        if self.last_sweep_at is None:
            return None
        return max(0.0, (utcnow() - self.last_sweep_at).total_seconds())


def _age(now: datetime, oldest: datetime | None) -> float:
    return 0.0 if oldest is None else max(0.0, (now - oldest).total_seconds())


def _oldest(connection: Connection, now: datetime) -> dict[str, float]:
    """Per stage, how long its oldest item has waited: paid jobs for the dispatcher, admitted
    jobs for a submit, due polls, due webhook deliveries."""
    jobs, deliveries = Job, WebhookDelivery
    queries = {
        "waiting": select(func.min(col(jobs.created_at))).where(
            col(jobs.status) == JobStatus.PENDING.value
        ),
        "admitted": select(func.min(col(jobs.admitted_at))).where(
            col(jobs.status) == JobStatus.ADMITTED.value
        ),
        "poll_due": select(func.min(col(jobs.next_poll_at))).where(
            col(jobs.status) == JobStatus.PROCESSING.value, col(jobs.next_poll_at) <= now
        ),
        "webhook_due": select(func.min(col(deliveries.next_attempt_at))).where(
            col(deliveries.status) == DeliveryStatus.PENDING.value,
            col(deliveries.next_attempt_at) <= now,
        ),
    }
    return {stage: _age(now, connection.execute(q).scalar()) for stage, q in queries.items()}


def read_database(*, full: bool = True) -> DatabaseState:
    """The database's part; `full=False` skips what only the metrics need (balances, endpoints)."""
    now = utcnow()
    state = DatabaseState()
    with read_connection() as connection:
        counts = connection.execute(
            select(col(Job.status), func.count())
            .where(col(Job.status).in_([s.value for s in MOVING]))
            .group_by(col(Job.status))
        ).all()
        state.jobs = {s.value: 0 for s in MOVING} | {str(s): int(n) for s, n in counts}
        state.oldest_age_s = _oldest(connection, now)
        state.last_sweep_at = connection.execute(
            select(col(Heartbeat.ran_at)).where(col(Heartbeat.name) == HEARTBEAT_SWEEPER)
        ).scalar()
        if full:
            state.credits_balance = int(
                connection.execute(
                    select(func.coalesce(func.sum(col(Account.credits)), 0))
                ).scalar()
                or 0
            )
            state.endpoints_disabled = int(
                connection.execute(
                    select(func.count()).where(col(WebhookEndpoint.disabled_at).is_not(None))
                ).scalar()
                or 0
            )
    return state


def queue_lengths() -> dict[str, int]:
    """Messages waiting in each Celery queue (the broker's lists, under the key prefix)."""
    prefix = get_settings().redis_key_prefix
    with get_redis().pipeline(transaction=False) as pipe:
        for queue in ALL_QUEUES:
            pipe.llen(prefix + queue)
        return dict(zip(ALL_QUEUES, (int(n) for n in pipe.execute()), strict=True))


def _gauge(name: str, doc: str, values: dict[str, float], label: str) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=[label])
    for key, value in values.items():
        family.add_metric([key], value)
    return family


class StateCollector(Collector):
    """The gauges read at scrape time; a dependency that does not answer is left out (and
    veo_state_up says which)."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up: dict[str, float] = {}
        try:
            db = read_database()
        except Exception:
            up["database"] = 0
        else:
            up["database"] = 1
            yield _gauge("veo_jobs", "Jobs in each moving status", dict(db.jobs), "status")
            yield _gauge(
                "veo_backlog_oldest_age_seconds",
                "Age of the oldest item waiting in each stage",
                db.oldest_age_s,
                "stage",
            )
            if db.last_sweep_at is not None:
                yield GaugeMetricFamily(
                    "veo_sweeper_last_run_timestamp_seconds",
                    "When the sweeper last ran (Unix time)",
                    value=db.last_sweep_at.timestamp(),
                )
            yield GaugeMetricFamily(
                "veo_credits_balance", "Credits held by all accounts", value=db.credits_balance
            )
            yield GaugeMetricFamily(
                "veo_webhook_endpoints_disabled",
                "Webhook endpoints disabled now",
                value=db.endpoints_disabled,
            )
        yield from self._redis(up)
        yield _gauge("veo_state_up", "Whether the scrape could read it", up, "dependency")

    def _redis(self, up: dict[str, float]) -> Iterator[GaugeMetricFamily]:
        try:
            lengths = queue_lengths()
            rate: ErrorRate = recent(get_redis())
        except Exception:
            up["redis"] = 0
            return
        up["redis"] = 1
        yield _gauge("veo_queue_messages", "Messages waiting in each queue", dict(lengths), "queue")
        yield GaugeMetricFamily(
            "veo_upstream_recent_error_ratio",
            "Share of the upstream calls of the last 5 minutes that failed",
            value=rate.rate,
        )

"""The Celery app both sides share, with every setting chosen for at-least-once work.

The gateway only publishes (by task name, shared.queueing); `worker.app` imports this app and
registers the tasks. Building it installs the kombu patches (shared.kombu_patches) in both.
Each setting says why it is set; see ../shared/notes/celery-redis.md for the evidence.
"""

from functools import cache
from typing import Any

from celery import Celery
from kombu.entity import Exchange, Queue

from shared import kombu_patches
from shared.constants import (
    ALL_QUEUES,
    QUEUE_MAINTENANCE,
    QUEUE_POLL,
    QUEUE_SUBMIT,
    QUEUE_WEBHOOKS,
    TASK_DELIVER,
    TASK_DISPATCH,
    TASK_POLL_DUE,
    TASK_RETENTION,
    TASK_SUBMIT,
    TASK_SWEEP,
)
from shared.settings import Settings, get_settings

QUIET_TASKS = (TASK_POLL_DUE, TASK_DISPATCH, TASK_SWEEP)
# Far above every countdown we use (<= 60 s) and every task's hard time limit, so the Redis
# transport never re-delivers a message that a live worker still holds (notes §1).
VISIBILITY_TIMEOUT_S = 3600


def celery_config(settings: Settings) -> dict[str, Any]:
    transport = {
        "visibility_timeout": VISIBILITY_TIMEOUT_S,
        # A dead Redis must fail a publish fast, not hang a gateway request.
        "socket_connect_timeout": settings.redis_socket_timeout_s,
        "socket_timeout": max(settings.redis_socket_timeout_s, 5.0),
        "global_keyprefix": settings.redis_key_prefix,
    }
    return {
        "broker_url": settings.redis_url,
        "broker_transport_options": transport,
        "broker_connection_retry_on_startup": True,  # workers may start before Redis
        "broker_connection_timeout": settings.redis_socket_timeout_s,
        # Results live in our database; a result backend would only add Redis writes.
        "task_ignore_result": True,
        "result_backend": None,
        # JSON only: no pickle from a shared broker.
        "task_serializer": "json",
        "accept_content": ["json"],
        "event_serializer": "json",
        # At-least-once: ack after the task ran, and re-queue if the process running it died.
        # Requeue is unbounded in Celery, so our own DB attempt counters bound the retries.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        # Reserve one message per process: a worker never hoards work another could do.
        "worker_prefetch_multiplier": 1,
        # Countdown (ETA) messages sit in worker memory; cap them (Celery >= 5.6, celery #9849).
        "worker_eta_task_limit": 1000,
        # Late-ack tasks are redelivered when the broker connection drops; kill local copies.
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        # Soft limits raise inside the task; hard limits kill it. Both sit above httpx timeouts.
        "task_soft_time_limit": 240,
        "task_time_limit": 300,
        # Warm shutdown gets a bounded soft phase, also when idle holding ETA messages.
        "worker_soft_shutdown_timeout": 30.0,
        "worker_enable_soft_shutdown_on_idle": True,
        # Task events for Flower. No "sent" events: each was a second Redis publish that made
        # up 40 % of a gateway submit's publish (1.19 ms -> 0.71 ms of CPU, bench/README.md);
        # Flower still shows every task from the moment a worker receives it.
        "worker_send_task_events": True,
        "task_send_sent_event": False,
        # Flower shows the jobs' tasks (submits, webhook deliveries), not the ticks beat sends
        # several times a second nor the sweeper: their thousands of entries drowned the jobs,
        # and an expired tick's lone "revoked" event showed as a task without a name. Their
        # work is in the metrics and GET /api/ready (docs/operations.md).
        "task_annotations": {name: {"send_events": False} for name in QUIET_TASKS},
        # Recycle a child that leaked past 400 MiB (checked after each task).
        "worker_max_memory_per_child": 400_000,
        "worker_hijack_root_logger": False,
        # One direct exchange per queue: a bare Queue(name) would be bound to the default
        # exchange and routing key, and every message would land in every queue.
        "task_queues": [
            Queue(name, Exchange(name, type="direct"), routing_key=name) for name in ALL_QUEUES
        ],
        "task_default_queue": QUEUE_MAINTENANCE,
        "task_routes": {
            TASK_SUBMIT: {"queue": QUEUE_SUBMIT},
            TASK_POLL_DUE: {"queue": QUEUE_POLL},
            # The short database-driven ticks share a queue: neither ever waits on the upstream.
            TASK_DISPATCH: {"queue": QUEUE_POLL},
            TASK_DELIVER: {"queue": QUEUE_WEBHOOKS},
            TASK_SWEEP: {"queue": QUEUE_MAINTENANCE},
            TASK_RETENTION: {"queue": QUEUE_MAINTENANCE},
        },
        # The database is the truth: beat only nudges (DESIGN rule 1). Stale nudges are useless,
        # so they expire instead of piling up while no worker is consuming.
        "beat_schedule": {
            "poll-due": {
                "task": TASK_POLL_DUE,
                "schedule": settings.poll_tick_s,
                "options": {"expires": max(5.0, settings.poll_tick_s * 5)},
            },
            "dispatch": {
                "task": TASK_DISPATCH,
                "schedule": settings.dispatch_tick_s,
                "options": {"expires": max(5.0, settings.dispatch_tick_s * 5)},
            },
            "sweep": {
                "task": TASK_SWEEP,
                "schedule": settings.sweep_interval_s,
                "options": {"expires": settings.sweep_interval_s * 2},
            },
            "retention": {
                "task": TASK_RETENTION,
                "schedule": settings.retention_sweep_interval_s,
                "options": {"expires": settings.retention_sweep_interval_s},
            },
        },
        "timezone": "UTC",
        "enable_utc": True,
    }


@cache
def get_celery() -> Celery:
    kombu_patches.install()
    app = Celery("veo")
    app.conf.update(celery_config(get_settings()))
    return app

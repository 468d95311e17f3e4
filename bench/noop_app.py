"""The pipeline baseline: a no-op Celery task on the product's own broker and worker settings.

`celery -A bench.noop_app worker -Q bench.noop ...` with the same flags as the product's
workers. Each task does what the notes' baseline did (one Redis round trip: count, and stamp the
time it finished) so the orchestrator can tell when the last one ran.
"""

import time

import redis
from celery import Celery
from kombu import Exchange, Queue

from shared.celery_app import celery_config
from shared.settings import get_settings

QUEUE = "bench.noop"
TASK = "bench.noop"

settings = get_settings()
config = celery_config(settings)  # acks_late, prefetch 1, events, prefix, ... exactly as product
config.update(
    task_queues=[Queue(QUEUE, Exchange(QUEUE, type="direct"), routing_key=QUEUE)],
    task_default_queue=QUEUE,
    task_routes={TASK: {"queue": QUEUE}},
    beat_schedule={},
)
app = Celery("veo-bench-noop")
app.conf.update(config)
_redis = redis.Redis.from_url(settings.redis_url)


def done_keys(prefix: str) -> tuple[str, str]:
    return f"{prefix}bench:noop:count", f"{prefix}bench:noop:last"


@app.task(name=TASK)
def noop() -> None:
    count_key, last_key = done_keys(settings.redis_key_prefix)
    pipe = _redis.pipeline(transaction=False)
    pipe.incr(count_key)
    pipe.set(last_key, repr(time.time()))
    pipe.execute()

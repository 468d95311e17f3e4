"""The Celery app the workers run: `celery -A worker.app worker -Q <queues>`."""

from celery.signals import worker_process_init, worker_process_shutdown, worker_ready

from shared.db import dispose_engines
from shared.queueing import get_celery

app = get_celery()
app.conf.include = [
    "worker.tasks.submit",
    "worker.tasks.poll",
    "worker.tasks.sweep",
    "worker.tasks.deliver",
]


@worker_process_init.connect
def _after_fork(**_: object) -> None:
    """A pool child must not reuse sockets inherited from its parent."""
    dispose_engines(close=False)


@worker_process_shutdown.connect
def _before_exit(**_: object) -> None:
    """Close pooled upstream connections cleanly instead of leaving them to the OS."""
    from worker import runloop
    from worker.upstream import get_upstream

    runloop.run(get_upstream().aclose())
    runloop.close()


@worker_ready.connect
def _check_model(**_: object) -> None:
    from worker.startup import check_upstream_model

    check_upstream_model()

"""The Celery app the workers run: `celery -A worker.app worker -Q <queues>`."""

import logging

from celery.signals import worker_init, worker_process_init, worker_process_shutdown, worker_ready
from sqlalchemy.orm import configure_mappers

from shared import log_redaction
from shared.celery_app import get_celery
from shared.constants import TASK_DISPATCH, TASK_POLL_DUE
from shared.db import dispose_engines, engine


class QuietPollTicks(logging.Filter):
    """Beat sends a poll tick and a dispatch tick twice a second; logging each one (sent,
    received, "succeeded: 0") would drown the log. Ticks that did something are still logged."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if not any(tick in text for tick in (TASK_POLL_DUE, "poll-due", TASK_DISPATCH)):
            return True
        return not ("Sending due task" in text or " received" in text or text.endswith(": 0"))


log_redaction.install()  # workers, beat and Flower (which loads this app): no secret in the logs
for _name in ("celery.app.trace", "celery.worker.strategy", "celery.beat"):
    logging.getLogger(_name).addFilter(QuietPollTicks())
# httpx logs every request at INFO: four lines per job (submit, poll, download, webhook) that
# repeat what the task results say, and about 1 ms of a job's CPU. Its warnings still show.
logging.getLogger("httpx").setLevel(logging.WARNING)

app = get_celery()
app.conf.include = [
    "worker.tasks.submit",
    "worker.tasks.poll",
    "worker.tasks.dispatch",
    "worker.tasks.sweep",
    "worker.tasks.deliver",
    "worker.tasks.retention",
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


@worker_init.connect
def _warm_up(**_: object) -> None:
    """Pay the one-time costs before the pool starts: the database driver, engine and ORM
    mappers, httpx's deferred imports and the TLS contexts. Prefork children inherit them
    instead of each paying (about 0.3 s of CPU) inside its first tasks, and a thread-pool
    worker's threads no longer race to build the same context."""
    from shared.netguard.pinned import default_ssl_context
    from worker.upstream.transport import warm_up

    engine()
    configure_mappers()
    warm_up()
    default_ssl_context()

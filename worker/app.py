"""The Celery app the workers run: `celery -A worker.app worker -Q <queues>`."""

import logging
import sys
from contextvars import Token
from typing import Any

from celery.apps import worker as celery_worker_app
from celery.signals import (
    celeryd_after_setup,
    setup_logging,
    task_postrun,
    task_prerun,
    worker_init,
    worker_process_init,
    worker_process_shutdown,
    worker_ready,
)
from sqlalchemy.orm import configure_mappers

from shared import log_redaction, logs, upstream_health
from shared.celery_app import get_celery
from shared.constants import TASK_DISPATCH, TASK_POLL_DUE, TASK_SUBMIT
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


def _role() -> str:
    """What this Celery process is, as its JSON log lines say (`process`)."""
    return next((r for r in ("worker", "beat", "flower") if r in sys.argv[1:]), "celery")


if logs.configure(_role()):  # VEO_LOG_FORMAT=json: from the first line on, beat's banner too
    logs.capture_stdout()
    celery_worker_app.safe_say = logs.json_say(_role())

    @setup_logging.connect  # connected, it replaces Celery's own logging set-up
    def _json_logs(**_: object) -> None:
        logs.configure(_role())

    @celeryd_after_setup.connect
    def _no_banner(instance: Any, **_: object) -> None:
        instance.quiet = True  # the worker's banner goes straight to the terminal: not JSON


_job_tokens: dict[str, Token[str | None]] = {}


@task_prerun.connect
def _enter_job_context(task_id: str, task: Any, args: tuple[Any, ...], **_: object) -> None:
    """A submit of one job names it in every record of its task (shared/logs.py)."""
    if task.name == TASK_SUBMIT and len(args) == 1:
        _job_tokens[task_id] = logs.JOB_ID.set(str(args[0]))


@task_postrun.connect
def _leave_job_context(task_id: str, **_: object) -> None:
    token = _job_tokens.pop(task_id, None)
    if token is not None:
        logs.JOB_ID.reset(token)
    upstream_health.flush()  # this task's upstream outcomes, in one Redis round trip


@worker_ready.connect
def _serve_metrics(**_: object) -> None:
    from shared.metrics import exporter

    exporter.start()

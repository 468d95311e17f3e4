"""Log format for every process: human lines (the default) or, with VEO_LOG_FORMAT=json, one
JSON object per line carrying the job uuid, account id and Celery task id where they apply,
so one `grep <uuid>` follows a job from the gateway's request to its webhook delivery.

The job and account come from context variables (`log_context`), set where a job is in hand:
the gateway's submit, a task's message (worker/app.py), each job of a poll batch, each
webhook delivery. The task id and name come from Celery's current task. Secrets are removed
before a record is formatted (shared/log_redaction.py makes every record clean at birth).
"""

import io
import json
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from shared.settings import get_settings

JOB_ID: ContextVar[str | None] = ContextVar("veo_job_id", default=None)
ACCOUNT_ID: ContextVar[str | None] = ContextVar("veo_account_id", default=None)
# uvicorn's and Celery's loggers that keep handlers of their own: in JSON mode they hand their
# records to the root's one JSON handler instead.
OWN_HANDLER_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "celery", "celery.task")


@contextmanager
def log_context(job_id: str | None = None, account_id: str | None = None) -> Iterator[None]:
    """Name the job (and its account) in every record made inside."""
    tokens = [(var, var.set(value)) for var, value in ((JOB_ID, job_id), (ACCOUNT_ID, account_id))]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def _current_task() -> tuple[str | None, str | None]:
    if "celery" not in sys.modules:  # the gateway never imports Celery's task machinery
        return None, None
    from celery import current_task

    task = current_task._get_current_object() if current_task else None
    request = getattr(task, "request", None)
    return getattr(request, "id", None), getattr(task, "name", None)


class ContextFilter(logging.Filter):
    """Puts job_id, account_id, task_id and task_name on each record (None where unknown)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.job_id = getattr(record, "job_id", None) or JOB_ID.get()
        record.account_id = getattr(record, "account_id", None) or ACCOUNT_ID.get()
        task_id, task_name = _current_task()
        record.task_id = getattr(record, "task_id", None) or task_id
        record.task_name = getattr(record, "task_name", None) or task_name
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, process, message, context, traceback."""

    FIELDS = ("job_id", "account_id", "task_id", "task_name")

    def __init__(self, process: str) -> None:
        super().__init__()
        self.process = process

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "process": self.process,
            "pid": record.process,
            "msg": record.getMessage(),
        }
        for name in self.FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc"] = record.exc_text
        return json.dumps(entry, default=str, ensure_ascii=False)


def json_enabled() -> bool:
    return get_settings().log_format == "json"


def configure(process: str) -> bool:
    """In JSON mode, one JSON handler on the root logger for the whole process; True if so.
    Human mode leaves logging as each server sets it up."""
    if not json_enabled():
        return False
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(process))
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(get_settings().log_level.upper())
    logging.captureWarnings(True)  # Python's warnings, too, as records rather than raw text
    for name in OWN_HANDLER_LOGGERS:
        logger = logging.getLogger(name)
        for old in list(logger.handlers):
            logger.removeHandler(old)
        logger.propagate = True
    return True


class _LoggedLines(io.TextIOBase):
    """A stdout whose lines become log records (Celery beat prints its banner before any
    logging is set up): in JSON mode nothing reaches the terminal that is not a JSON line."""

    def __init__(self, logger: logging.Logger) -> None:
        super().__init__()
        self.logger = logger
        self.pending = ""

    def write(self, text: str) -> int:
        self.pending += text
        *lines, self.pending = self.pending.split("\n")
        for line in lines:
            if line.strip():
                self.logger.info("%s", line.rstrip())
        return len(text)

    def flush(self) -> None:
        if self.pending.strip():
            self.logger.info("%s", self.pending.rstrip())
        self.pending = ""

    def isatty(self) -> bool:
        return False


def capture_stdout() -> None:
    """In JSON mode, what a process prints is logged as JSON (logger "stdout")."""
    if json_enabled() and not isinstance(sys.stdout, _LoggedLines):
        sys.stdout = _LoggedLines(logging.getLogger("stdout"))


def json_say(process: str) -> Any:
    """A replacement for Celery's `safe_say` (what a worker prints from its signal handlers:
    "worker: Warm shutdown"), writing one JSON line with a bare os.write as Celery does, since
    a signal handler must not take the logging locks."""

    def say(msg: str, f: Any = None) -> None:  # noqa: ARG001 - safe_say's signature
        entry = {
            "ts": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "level": "WARNING",
            "logger": "celery.apps.worker",
            "process": process,
            "pid": os.getpid(),
            "msg": str(msg).strip(),
        }
        os.write(2, (json.dumps(entry) + "\n").encode())

    return say

"""Task logic, in-process: the bodies of the submit and poll tasks run in the test, against an
SQLite file of the test's own, an in-memory upstream (tests/support/fake_upstream.py), and the
real Redis under a key prefix of the test's own (the global quotas are Lua scripts there; what
the tasks publish lands there too, and tests/support/broker.py reads it back). No worker, beat,
gateway or simulator process is started.

The tasks read their settings through `get_settings()`, so the `settings` fixture sets VEO_*
variables for one test only (monkeypatch undoes them) and clears the caches built from them
before and after.
"""

import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, update
from sqlmodel import SQLModel, col

from shared import queueing
from shared.db import write_session
from shared.job_options import default_credits
from shared.models import Account, Job
from shared.settings import Settings, get_settings
from tests.support.environment import delete_keys, reset_caches
from tests.support.fake_upstream import FakeUpstream
from tests.support.jobs import insert_paid_job
from worker.tasks import dispatch, poll, store_video, submit

CREDITS = 100
# Quick steps, so a test runs a job's whole life by calling the task bodies in turn.
FAST = {
    "VEO_POLL_FIRST_DELAY_S": "0",  # a job is due for its first poll as soon as it is submitted
    "VEO_POLL_SCHEDULE": "geometric",  # ... and again at once (test_poll.py checks the other)
    "VEO_SUBMIT_RETRY_DELAY_S": "2",
    "VEO_UPSTREAM_SUBMITS_PER_MINUTE": "60000",
    "VEO_UPSTREAM_POLLS_PER_SECOND": "5000",
    "VEO_JOB_DEADLINE_S": "600",
}


@pytest.fixture(scope="session")
def schema_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The schema, created once; each test works on a copy of this file."""
    path = tmp_path_factory.mktemp("schema") / "veo.db"
    engine = create_engine(f"sqlite:///{path}")
    SQLModel.metadata.create_all(engine)
    engine.dispose()
    return path


@pytest.fixture
def settings(
    tmp_path: Path, schema_file: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Settings]:
    """This test's settings: its own database file, data directory and Redis key prefix."""
    database = tmp_path / "veo.db"
    shutil.copyfile(schema_file, database)
    for name in [name for name in os.environ if name.startswith("VEO_")]:
        monkeypatch.delenv(name)
    values = {
        **FAST,
        "VEO_DATA_DIR": str(tmp_path),
        "VEO_DATABASE_URL": f"sqlite:///{database}",
        "VEO_REDIS_URL": redis_url,
        "VEO_REDIS_KEY_PREFIX": f"veotask-{secrets.token_hex(4)}:",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    reset_caches()
    current = get_settings()
    yield current
    if queueing.get_celery.cache_info().currsize:
        queueing.get_celery().close()  # its pooled broker connection
    delete_keys(redis_url, current.redis_key_prefix)
    reset_caches()


@pytest.fixture
def configure(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Settings]:
    """Factory: change settings (by field name) for the rest of this test."""

    def change(**values: object) -> Settings:
        for name, value in values.items():
            monkeypatch.setenv(f"VEO_{name.upper()}", str(value))
        get_settings.cache_clear()  # the database, Redis and storage stay this test's
        return get_settings()

    return change


@pytest.fixture
def upstream(monkeypatch: pytest.MonkeyPatch) -> FakeUpstream:
    """The in-memory upstream, in place of the adapter the tasks would build from settings."""
    fake = FakeUpstream()
    monkeypatch.setattr(submit, "get_upstream", lambda: fake)
    monkeypatch.setattr(poll, "get_upstream", lambda: fake)
    monkeypatch.setattr(store_video, "get_upstream", lambda: fake)
    return fake


@pytest.fixture
def account_id(settings: Settings) -> str:
    """An account holding CREDITS credits."""
    account = Account(credits=CREDITS)
    with write_session() as session:
        session.add(account)
        session.commit()
    return account.id


@pytest.fixture
def paid_job(settings: Settings, account_id: str) -> Callable[..., Job]:
    """Factory: a pending job paid for at today's price, as the gateway writes it (no message
    published); `columns` then set on its row (e.g. a status, or attempts already used)."""

    def make(prompt: str = "a red fox in the snow", **columns: Any) -> Job:
        job = insert_paid_job(account_id, prompt, credits=default_credits(settings))
        if columns:
            with write_session() as session:
                session.execute(update(Job).where(col(Job.id) == job.id).values(**columns))
                session.commit()
        return job

    return make


def admit_waiting(limit: int = 1000) -> list[str]:
    """The jobs a dispatch tick admits now (each with a token and a slot, its row claimed), in
    order, without publishing their messages (the test runs the submit step itself)."""
    return [candidate.id for candidate in dispatch.admit(limit)]

"""Table models. The API's camelCase shapes live apart, in api_gateway/schemas.py; the column
types in shared/column_types.py (migrations name `shared.models.UTCDateTime`, re-exported here)."""

import base64
import secrets
import uuid
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from functools import cache
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Index,
    Table,
    Text,
    UniqueConstraint,
)
from sqlmodel import Column, Field, SQLModel

from shared.column_types import DeliveryStatusType, JobStatusType, StatusType, UTCDateTime
from shared.states import DeliveryStatus, JobStatus
from shared.timeutil import utcnow


def _status(column_type: StatusType, default: StrEnum) -> Any:
    return Field(default=default, sa_column=Column(column_type, nullable=False))


def _ts(*, nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


def _created() -> Any:
    return Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


def new_webhook_secret() -> str:
    """A Standard Webhooks secret: `whsec_` + base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def new_account_id() -> str:
    return f"acct_{secrets.token_hex(8)}"


class Account(SQLModel, table=True):
    __tablename__ = "accounts"

    id: str = Field(default_factory=new_account_id, primary_key=True, max_length=40)
    name: str = Field(default="", max_length=200)
    credits: int = Field(default=0, sa_type=BigInteger)
    rate_limit_per_minute: int | None = None  # the write budget; None: the configured default
    read_rate_limit_per_minute: int | None = None  # the read budget; None: the default
    webhook_url: str | None = Field(default=None, max_length=2048)
    webhook_secret: str = Field(default_factory=new_webhook_secret, max_length=100)
    # During a rotation's grace period the previous secret signs too, so receivers never fail.
    webhook_secret_previous: str | None = Field(default=None, max_length=100)
    webhook_secret_previous_until: datetime | None = _ts()
    created_at: datetime = _created()
    # Set: its keys are refused like unknown ones; jobs it already has still finish.
    disabled_at: datetime | None = _ts()
    # Set: its keys, files and prompts are erased; the row stays for the ledger (admin/erase.py).
    deleted_at: datetime | None = _ts()


class ApiKey(SQLModel, table=True):
    """Only the SHA-256 of a key is stored; the key itself is shown once, at creation."""

    __tablename__ = "api_keys"

    id: int | None = Field(default=None, primary_key=True)
    account_id: str = Field(foreign_key="accounts.id", index=True, max_length=40)
    key_hash: str = Field(unique=True, max_length=64)
    key_prefix: str = Field(max_length=16)  # first characters, so operators can tell keys apart
    created_at: datetime = _created()
    revoked_at: datetime | None = _ts()
    last_used_at: datetime | None = _ts()  # stamped when a gateway reads the key from the DB


UPLOAD_KEY_PREFIX = "img_"
UPLOAD_EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}


def upload_storage_key(account_id: str, key: str, mime_type: str) -> str:
    """Where an upload's bytes are stored: derived from the row, so no column has to hold it."""
    token = key.removeprefix(UPLOAD_KEY_PREFIX)
    return f"uploads/{account_id}/{token}.{UPLOAD_EXTENSIONS[mime_type]}"


class Upload(SQLModel, table=True):
    """An image received by POST /api/upload-video-image; `key` is the imageKey (img_<random>)."""

    __tablename__ = "uploads"

    key: str = Field(primary_key=True, max_length=80)
    account_id: str = Field(foreign_key="accounts.id", index=True, max_length=40)
    mime_type: str = Field(max_length=40)  # decided by the bytes, never by the client
    size_bytes: int = Field(sa_type=BigInteger)
    width: int
    height: int
    created_at: datetime = Field(  # indexed: the retention sweep removes unused old uploads
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, index=True)
    )

    @property
    def storage_key(self) -> str:
        return upload_storage_key(self.account_id, self.key, self.mime_type)


class Job(SQLModel, table=True):
    __tablename__ = "jobs"
    __table_args__ = (
        UniqueConstraint("account_id", "idempotency_key", name="uq_jobs_account_idempotency"),
        Index("ix_jobs_status_next_poll", "status", "next_poll_at"),
        Index("ix_jobs_status_updated", "status", "updated_at"),
        Index("ix_jobs_status_created", "status", "created_at"),
        Index("ix_jobs_account_created", "account_id", "created_at"),  # GET /api/videos
        Index("ix_jobs_status_completed", "status", "completed_at"),  # the retention sweep
        Index("ix_jobs_image_key", "image_key"),  # which uploads jobs still use
    )

    id: str = Field(default_factory=lambda: str(uuid.uuid4()), primary_key=True, max_length=36)
    account_id: str = Field(foreign_key="accounts.id", index=True, max_length=40)
    status: JobStatus = _status(JobStatusType(), JobStatus.PENDING)
    generation_type: str = Field(max_length=20)
    prompt: str = Field(sa_column=Column(Text, nullable=False))
    aspect_ratio: str = Field(max_length=8)  # as requested: auto, 16:9, 9:16
    image_url: str | None = Field(default=None, max_length=2048)
    image_key: str | None = Field(default=None, max_length=80)
    credits_charged: int = 0
    idempotency_key: str | None = Field(default=None, max_length=255)
    request_hash: str | None = Field(default=None, max_length=64)  # with an Idempotency-Key
    webhook_url: str | None = Field(default=None, max_length=2048)
    webhook_events: list[str] | None = Field(default=None, sa_column=Column(JSON))
    # Generation options, defaults resolved, in the API's names (shared/job_options.py).
    options: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    aspect_ratio_used: str | None = Field(default=None, max_length=8)  # `auto` resolved

    upstream_operation: str | None = Field(default=None, max_length=512, unique=True)
    submit_attempts: int = 0
    # New submissions after an operation failed upstream (google.rpc 8/13/14); each is also
    # an attempt. Bounded by worker/tasks/decisions.OPERATION_RESUBMITS_MAX.
    operation_resubmits: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    # A job the upstream sent back (429, 5xx) is not admitted again before this time.
    next_submit_at: datetime | None = _ts()
    poll_count: int = 0
    next_poll_at: datetime | None = _ts()
    deadline_at: datetime | None = _ts()
    error_code: str | None = Field(default=None, max_length=40)
    error_message: str | None = Field(default=None, sa_column=Column(Text))
    video_key: str | None = Field(default=None, max_length=200)
    video_bytes: int | None = Field(default=None, sa_type=BigInteger)
    video_keys: list[str] | None = Field(default=None, sa_column=Column(JSON))  # every sample

    created_at: datetime = _created()
    updated_at: datetime = _created()
    admitted_at: datetime | None = _ts()
    submitted_at: datetime | None = _ts()
    processing_at: datetime | None = _ts()
    completed_at: datetime | None = _ts()
    failed_at: datetime | None = _ts()
    cancelled_at: datetime | None = _ts()
    # Set: its owner deleted it; files and prompt are erased, the row stays for the ledger.
    deleted_at: datetime | None = _ts()


def video_files(video_key: str | None, video_keys: list[str] | None) -> list[str]:
    """Every stored sample of a job (rows from before samples were kept name only the first)."""
    return list(video_keys or ([video_key] if video_key else []))


class LedgerEntry(SQLModel, table=True):
    """Append-only: one debit per job at creation, at most one refund (the unique key says so)."""

    __tablename__ = "ledger"
    __table_args__ = (UniqueConstraint("job_id", "kind", name="uq_ledger_job_kind"),)

    id: int | None = Field(default=None, primary_key=True)
    account_id: str = Field(foreign_key="accounts.id", index=True, max_length=40)
    job_id: str | None = Field(default=None, foreign_key="jobs.id", max_length=36)
    kind: str = Field(max_length=16)  # debit | refund | grant
    amount: int = Field(sa_type=BigInteger)  # always positive; kind gives the sign
    created_at: datetime = _created()


class Heartbeat(SQLModel, table=True):
    """Last run of each periodic duty (the sweeper), so /api/health can show it is alive."""

    __tablename__ = "heartbeats"

    name: str = Field(primary_key=True, max_length=40)
    ran_at: datetime = _created()
    detail: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))


class OpsCounter(SQLModel, table=True):
    """A running count operators read in /api/health (shared/counters.py), e.g. submits whose
    outcome the upstream never told us."""

    __tablename__ = "ops_counters"

    name: str = Field(primary_key=True, max_length=40)
    value: int = Field(default=0, sa_type=BigInteger)
    updated_at: datetime = _created()


class WebhookEndpoint(SQLModel, table=True):
    """Health of one receiver URL of an account: failing for days, or a 410, disables it."""

    __tablename__ = "webhook_endpoints"
    __table_args__ = (UniqueConstraint("account_id", "url", name="uq_webhook_endpoint"),)

    id: int | None = Field(default=None, primary_key=True)
    account_id: str = Field(foreign_key="accounts.id", index=True, max_length=40)
    url: str = Field(max_length=2048)
    failing_since: datetime | None = _ts()
    disabled_at: datetime | None = _ts()
    disabled_reason: str | None = Field(default=None, max_length=500)
    created_at: datetime = _created()


class WebhookDelivery(SQLModel, table=True):
    """One event for one endpoint; a row before it is ever sent, so nothing is lost.

    `id` is the Standard Webhooks `webhook-id`: the same on every retry and replay. `payload`
    is frozen when the event happens, so every attempt signs and sends the same bytes.
    """

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("job_id", "event_type", "url", name="uq_delivery_event"),
        Index("ix_deliveries_status_next", "status", "next_attempt_at"),
    )

    id: str = Field(
        default_factory=lambda: f"msg_{uuid.uuid4().hex}", primary_key=True, max_length=40
    )
    account_id: str = Field(foreign_key="accounts.id", index=True, max_length=40)
    job_id: str | None = Field(default=None, foreign_key="jobs.id", index=True, max_length=36)
    event_type: str = Field(max_length=40)
    url: str = Field(max_length=2048)
    payload: str = Field(sa_column=Column(Text, nullable=False))
    status: DeliveryStatus = _status(DeliveryStatusType(), DeliveryStatus.PENDING)
    attempts: int = 0
    last_status_code: int | None = None
    last_error: str | None = Field(default=None, max_length=1000)
    next_attempt_at: datetime | None = _ts()
    delivered_at: datetime | None = _ts()
    created_at: datetime = _created()
    updated_at: datetime = _created()


def _table(model: type[SQLModel]) -> Table:
    table: Table = model.__table__  # type: ignore[attr-defined]  # SQLModel does not declare it
    return table


# The Core tables, for statements built once with bound parameters (no per-row ORM work).
ACCOUNTS = _table(Account)
JOBS = _table(Job)
LEDGER = _table(LedgerEntry)
HEARTBEATS = _table(Heartbeat)
OPS_COUNTERS = _table(OpsCounter)
DELIVERIES = _table(WebhookDelivery)
UPLOADS = _table(Upload)


@cache
def _job_defaults() -> tuple[dict[str, Any], dict[str, Callable[[], Any]], frozenset[str]]:
    """Job's defaults, read once: asking pydantic per field per row was a twentieth of a submit."""
    constants: dict[str, Any] = {}
    factories: dict[str, Callable[[], Any]] = {}
    required = set()
    for name, field in Job.model_fields.items():
        if field.is_required():
            required.add(name)
        elif field.default_factory is not None:
            factories[name] = field.default_factory  # type: ignore[assignment]
        else:
            assert isinstance(field.default, str | int | None), f"shared default: jobs.{name}"
            constants[name] = field.default
    return constants, factories, frozenset(required)


def new_job_row(**values: Any) -> dict[str, Any]:
    """A new job's columns as a plain dict, with Job's defaults: building a Job instance
    (validation and ORM instrumentation) cost 0.26 ms, a twentieth of a submit."""
    constants, factories, required = _job_defaults()
    unknown = values.keys() - Job.model_fields.keys()
    if unknown:
        raise TypeError(f"not columns of jobs: {sorted(unknown)}")
    missing = required - values.keys()
    if missing:
        raise TypeError(f"jobs.{sorted(missing)[0]} is required")
    row = constants | {name: make() for name, make in factories.items() if name not in values}
    row.update(values)
    return row

"""Column types every table uses: timestamps that are always aware UTC, statuses read back as
their enum members."""

from datetime import UTC, datetime
from enum import StrEnum
from typing import ClassVar

from sqlalchemy import DateTime, String, TypeDecorator
from sqlalchemy.engine import Dialect

from shared.states import DeliveryStatus, JobStatus


def as_utc(value: datetime) -> datetime:
    """An aware datetime, in UTC, as every timestamp column stores it; a naive one is refused."""
    if value.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column")
    return value.astimezone(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware UTC datetimes; SQLite hands back naive ones, so re-attach UTC on read."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class StatusType(TypeDecorator[StrEnum]):
    """A status enum stored as its value in a VARCHAR(16) (no database enum type or CHECK: the
    schema stays the migration's) and read back as the member. One subclass per enum, so that
    a migration renders the type by name (each repeats `cache_ok`: SQLAlchemy reads it from
    the class's own body)."""

    impl = String
    cache_ok = True
    enum: ClassVar[type[StrEnum]]

    def __init__(self, length: int = 16) -> None:
        super().__init__(length=length)
        # A dict lookup per row read: calling the enum costs ten times as much.
        self._members = {member.value: member for member in self.enum}

    def process_result_value(self, value: str | None, dialect: Dialect) -> StrEnum | None:
        return None if value is None else self._members[value]


class JobStatusType(StatusType):
    cache_ok = True
    enum = JobStatus


class DeliveryStatusType(StatusType):
    cache_ok = True
    enum = DeliveryStatus

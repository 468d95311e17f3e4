"""Timezone-aware time helpers: every timestamp in the product is UTC and aware."""

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso_z(moment: datetime) -> str:
    """Render as the seed does: ISO 8601, UTC, second precision, trailing `Z`."""
    return moment.astimezone(UTC).replace(microsecond=0, tzinfo=None).isoformat() + "Z"

"""Apply the Alembic migrations programmatically (no alembic.ini to keep in sync)."""

from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def upgrade() -> None:
    command.upgrade(alembic_config(), "head")


def revision(message: str) -> None:
    """Autogenerate a migration from the models (developers only)."""
    command.revision(alembic_config(), message=message, autogenerate=True)

"""The migrations and the models describe one schema: a table, column, index or type that a model
gains without its migration (or the reverse) would break a deployed database on upgrade."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine
from sqlmodel import SQLModel

import shared.models  # noqa: F401 - registers the tables on SQLModel.metadata
from tests.conftest import Stack


def test_a_database_migrated_to_head_is_exactly_what_the_models_describe(stack: Stack) -> None:
    engine = create_engine(stack.database_url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            differences = compare_metadata(context, SQLModel.metadata)
    finally:
        engine.dispose()
    assert differences == []

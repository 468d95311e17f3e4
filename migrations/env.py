"""Alembic environment: the URL comes from the one settings object, the schema from the models."""

from alembic import context
from sqlmodel import SQLModel

import shared.models  # noqa: F401 - registers the tables on SQLModel.metadata
from shared.db import engine

target_metadata = SQLModel.metadata


def run_migrations_online() -> None:
    with engine().connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()

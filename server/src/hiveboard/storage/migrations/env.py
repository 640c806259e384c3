"""Alembic environment: runs against the engine handed over by ``migrations.upgrade``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from hiveboard.storage.tables import metadata

config = context.config
engine = config.attributes.get("engine")
if engine is None:  # command-line use during development (autogenerate)
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "sqlite://")

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER much
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()

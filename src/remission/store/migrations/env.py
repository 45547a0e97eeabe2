"""Alembic environment: runs on the connection remission hands over (see store.db.migrate)."""

from alembic import context

from remission.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - alembic CLI use
    from sqlalchemy import create_engine

    connection = create_engine(context.config.get_main_option("sqlalchemy.url") or "").connect()

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()

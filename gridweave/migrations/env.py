"""Alembic environment (async). The URL comes from ``config.attributes['url']`` when gridweave
calls alembic itself, else from the settings (DATABASE_URL or the embedded server)."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from gridweave.models import Base

config = context.config
target_metadata = Base.metadata


def do_run_migrations(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations(url: str) -> None:
    engine = create_async_engine(url)
    async with engine.connect() as connection:
        await connection.run_sync(do_run_migrations)
    await engine.dispose()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        do_run_migrations(connection)
        return
    url = config.attributes.get("url")
    if url is None:
        from gridweave.db import prepare_database
        from gridweave.settings import get_settings

        url = asyncio.run(prepare_database(get_settings()))
    asyncio.run(run_async_migrations(url))


if context.is_offline_mode():
    raise SystemExit("gridweave migrations run online only")
run_migrations_online()

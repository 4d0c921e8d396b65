"""/readyz answers whether a load balancer may send this process traffic; /healthz only says the
process runs."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from gridweave.app import create_app
from gridweave.db import asyncpg_dsn
from gridweave.ops import readiness
from gridweave.ops.readiness import Revisions, code_revisions
from gridweave.settings import Settings
from tests.api.helpers import serve
from tests.conftest import drop_database, recreate_database


@pytest.fixture
async def bare_database(database_url: str) -> AsyncIterator[str]:
    """An empty database beside the test database: nothing migrated."""
    url = make_url(database_url)
    bare = url.set(database=f"{url.database}_bare").render_as_string(hide_password=False)
    await recreate_database(bare)
    yield bare
    await drop_database(bare)


async def readyz(settings: Settings, url: str) -> httpx.Response:
    async with serve(create_app(settings, database_url=url)) as c:
        health = await c.get("/healthz")
        assert health.status_code == 200
        return await c.get("/readyz")


async def test_ready_on_a_migrated_database(client: httpx.AsyncClient) -> None:
    r = await client.get("/readyz")

    assert r.status_code == 200
    assert r.json() == {
        "status": "ready",
        "reason": "ok",
        "migrations": sorted(code_revisions().heads),
    }


async def test_not_ready_when_the_database_is_unreachable(settings: Settings) -> None:
    # nothing listens on port 1
    r = await readyz(settings, "postgresql+asyncpg://gridweave@127.0.0.1:1/gridweave")

    assert r.status_code == 503
    assert r.json()["status"] == "unavailable"
    assert r.json()["reason"].startswith("database unreachable")


async def test_not_ready_until_migrations_ran(settings: Settings, bare_database: str) -> None:
    r = await readyz(settings, bare_database)

    assert r.status_code == 503
    assert r.json()["reason"] == "migrations behind: the database has none applied"


async def test_not_ready_when_migrations_are_behind(
    settings: Settings, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the test database is at this release's head; the next release brings one more migration
    heads = code_revisions().heads
    nxt = Revisions(frozenset({"9999_next"}), code_revisions().known | {"9999_next"})
    monkeypatch.setattr(readiness, "code_revisions", lambda: nxt)

    r = await readyz(settings, database_url)

    assert r.status_code == 503
    want = f"migrations behind: database at {', '.join(sorted(heads))}, code at 9999_next"
    assert r.json()["reason"] == want


async def test_a_database_ahead_of_the_code_stays_ready(
    settings: Settings, bare_database: str
) -> None:
    # a rolling restart: the next release migrated the database while this one still serves
    conn = await asyncpg.connect(asyncpg_dsn(bare_database))
    try:
        await conn.execute("CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY)")
        await conn.execute("INSERT INTO alembic_version VALUES ('9999_next_release')")
    finally:
        await conn.close()

    r = await readyz(settings, bare_database)

    assert r.status_code == 200
    assert r.json()["migrations"] == ["9999_next_release"]

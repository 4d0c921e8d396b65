"""``gridweave backup FILE`` then ``gridweave restore FILE`` into an empty database, run as real
commands against real servers: the same rows, the same ledger, and a chain that verifies."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from sqlalchemy.engine import make_url

from gridweave.db import make_engine, make_sessionmaker, unit_of_work
from gridweave.models import AreaLevel
from gridweave.services import areas, audit
from gridweave.settings import Settings
from tests.conftest import drop_database
from tests.factories import admin_actor, edit_ledger_behind_its_back
from tests.snapshot import snapshot


async def gridweave(database_url: str, *args: str) -> tuple[int, dict[str, Any], str]:
    env = {**os.environ, "DATABASE_URL": database_url}
    result = await anyio.run_process(
        [sys.executable, "-c", "from gridweave.cli import main; main()", *args],
        env=env,
        check=False,
    )
    lines = result.stdout.decode().strip().splitlines()
    return result.returncode, json.loads(lines[-1]) if lines else {}, result.stderr.decode()


@pytest.fixture
async def empty_database(database_url: str) -> AsyncIterator[str]:
    url = make_url(database_url)
    other = url.set(database=f"{url.database}_restore").render_as_string(hide_password=False)
    await drop_database(other)  # restore creates it, as it would the embedded default's
    yield other
    await drop_database(other)


async def test_backup_and_restore_into_an_empty_database(
    database_url: str,
    empty_database: str,
    settings: Settings,
    sessionmaker: Any,
    tmp_path: Path,
) -> None:
    # given a database with areas and their ledger entries
    admin = await admin_actor(sessionmaker)
    async with unit_of_work(sessionmaker) as s:
        city = await areas.create_area(
            s, actor=admin, name="示范市", level=AreaLevel.CITY, code="city"
        )
    for i in range(3):
        async with unit_of_work(sessionmaker) as s:
            await areas.create_area(
                s,
                actor=admin,
                name=f"区{i}",
                level=AreaLevel.DISTRICT,
                code=f"d{i}",
                parent_id=city.id,
            )
    async with sessionmaker() as s:
        before = await snapshot(s)
    dump = tmp_path / "gridweave.dump"

    # when it is backed up and restored into a database that does not exist yet
    code, backed_up, err = await gridweave(database_url, "backup", str(dump))
    assert code == 0, err
    code, restored, err = await gridweave(empty_database, "restore", str(dump))
    assert code == 0, err

    # then the restored database holds the same rows, and its ledger verifies
    engine = make_engine(empty_database, settings)
    try:
        other = make_sessionmaker(engine)
        async with other() as s:
            assert await snapshot(s) == before  # every table, row for row
            check = await audit.verify_chain(s)
    finally:
        await engine.dispose()
    assert backed_up["ledger_entries"] == 4
    assert (restored["ledger_entries"], restored["ledger_head"]) == (4, backed_up["ledger_head"])
    assert restored["ledger_valid"] is True
    assert (check.valid, check.checked) == (True, 4)
    assert dump.stat().st_size == backed_up["bytes"]


async def test_restore_refuses_a_database_that_is_not_empty(
    database_url: str, tmp_path: Path
) -> None:
    # (the test database holds the migrated tables; the refusal comes before the file is read)
    dump = tmp_path / "gridweave.dump"
    dump.write_bytes(b"PGDMP")

    code, _, err = await gridweave(database_url, "restore", str(dump))

    assert code == 2
    assert "is not empty" in err


async def test_restore_of_a_tampered_ledger_fails(
    database_url: str, empty_database: str, sessionmaker: Any, tmp_path: Path
) -> None:
    # given a backup of a ledger that someone edited behind its back
    async with unit_of_work(sessionmaker) as s:
        for i in range(2):
            await audit.append(
                s, actor=None, action="createArea", entity_id=f"Area:{i}", summary={}
            )
    await edit_ledger_behind_its_back(
        database_url, "UPDATE audit_log SET action = 'forged' WHERE id = $1", 2
    )
    dump = tmp_path / "gridweave.dump"
    code, _, err = await gridweave(database_url, "backup", str(dump))
    assert code == 0, err

    # when it is restored, then the command says so and exits 1
    code, restored, err = await gridweave(empty_database, "restore", str(dump))

    assert code == 1
    assert restored["ledger_valid"] is False
    assert restored["first_broken_id"] == 2

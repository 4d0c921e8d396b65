"""``gridweave audit verify`` run as a real subprocess against the test database: exit 0 on an
intact ledger, exit 1 naming the first entry that was altered."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import anyio
import httpx

from gridweave.db import Sessionmaker, unit_of_work
from gridweave.services import audit
from gridweave.settings import Settings
from tests.factories import Api, edit_ledger_behind_its_back, make_user, token_for


async def run_verify(database_url: str) -> tuple[int, dict[str, Any]]:
    env = {**os.environ, "DATABASE_URL": database_url}
    result = await anyio.run_process(
        [sys.executable, "-c", "from gridweave.cli import main; main()", "audit", "verify"],
        env=env,
        check=False,
    )
    lines = result.stdout.decode().strip().splitlines()
    return result.returncode, json.loads(lines[-1]) if lines else {}


async def append_entries(sm: Sessionmaker, n: int) -> list[int]:
    ids = []
    for i in range(n):
        async with unit_of_work(sm) as s:
            entry = await audit.append(
                s, actor=None, action="createArea", entity_id=f"Area:{i}", summary={"name": str(i)}
            )
            ids.append(entry.id)
    return ids


async def test_audit_verify_passes_on_an_intact_ledger(
    sessionmaker: Sessionmaker, database_url: str
) -> None:
    await append_entries(sessionmaker, 3)

    code, report = await run_verify(database_url)

    assert code == 0
    assert report == {"valid": True, "checked": 3, "first_broken_id": None, "reason": None}


async def test_tampering_is_found_by_the_service_the_api_and_the_cli(
    client: httpx.AsyncClient, sessionmaker: Sessionmaker, settings: Settings, database_url: str
) -> None:
    # given an intact ledger of four entries, and someone who edits one of them behind its back
    ids = await append_entries(sessionmaker, 4)
    await edit_ledger_behind_its_back(
        database_url, 'UPDATE audit_log SET summary = \'{"name": "forged"}\' WHERE id = $1', ids[1]
    )

    # when the chain is checked three ways
    async with sessionmaker() as s:
        check = await audit.verify_chain(s)
    auditor = Api(client, token_for(settings, await make_user(sessionmaker, "AUDITOR")))
    api_says = (await auditor.data("{ auditChainValid }"))["auditChainValid"]
    code, report = await run_verify(database_url)

    # then each names (or flags) the altered entry, and the CLI exits 1
    assert (check.valid, check.first_broken_id) == (False, ids[1])
    assert api_says is False
    assert code == 1
    assert report["valid"] is False
    assert report["first_broken_id"] == ids[1]
    assert report["checked"] == 1

"""The ledger itself: appends chain, secrets never enter it, the database refuses to change it, and
verify_chain finds the first entry that was altered behind its back."""

from __future__ import annotations

import asyncpg
import pytest
from sqlalchemy import select

from gridweave.db import Sessionmaker, asyncpg_dsn, unit_of_work
from gridweave.models import AuditEntry
from gridweave.services import audit
from gridweave.services.access import Actor
from tests.factories import edit_ledger_behind_its_back, make_user


async def append_some(sm: Sessionmaker, n: int, *, actor: Actor | None = None) -> list[int]:
    ids = []
    for i in range(n):
        async with unit_of_work(sm) as s:
            entry = await audit.append(
                s, actor=actor, action="test", entity_id=f"Area:{i % 2}", summary={"i": i}
            )
            ids.append(entry.id)
    return ids


async def test_entries_chain_to_their_predecessor(sessionmaker: Sessionmaker) -> None:
    await append_some(sessionmaker, 3)

    async with sessionmaker() as s:
        rows = (await s.scalars(select(AuditEntry).order_by(AuditEntry.id))).all()
        check = await audit.verify_chain(s)

    assert rows[0].previous_hash is None
    assert [r.previous_hash for r in rows[1:]] == [r.hash for r in rows[:-1]]
    assert (check.valid, check.checked) == (True, 3)


async def test_secrets_are_redacted_at_any_depth(sessionmaker: Sessionmaker) -> None:
    async with unit_of_work(sessionmaker) as s:
        entry = await audit.append(
            s,
            actor=None,
            action="test",
            entity_id=None,
            summary={"Password": "hunter22", "nested": [{"token": "abc", "name": "ok"}]},
        )

    assert entry.summary == {
        "Password": "[redacted]",
        "nested": [{"token": "[redacted]", "name": "ok"}],
    }


async def test_verify_chain_names_the_altered_entry(
    sessionmaker: Sessionmaker, database_url: str
) -> None:
    ids = await append_some(sessionmaker, 4)
    await edit_ledger_behind_its_back(
        database_url, "UPDATE audit_log SET summary = '{\"i\": 99}' WHERE id = $1", ids[2]
    )

    async with sessionmaker() as s:
        check = await audit.verify_chain(s, batch=2)

    assert (check.valid, check.first_broken_id, check.checked) == (False, ids[2], 2)
    assert check.reason == "hash does not match the entry's content"


async def test_verify_chain_notices_a_removed_entry(
    sessionmaker: Sessionmaker, database_url: str
) -> None:
    ids = await append_some(sessionmaker, 3)
    await edit_ledger_behind_its_back(database_url, "DELETE FROM audit_log WHERE id = $1", ids[1])

    async with sessionmaker() as s:
        check = await audit.verify_chain(s)

    assert (check.valid, check.first_broken_id) == (False, ids[2])


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_log SET action = 'forged'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
    ],
)
async def test_the_database_refuses_to_change_the_ledger(
    sessionmaker: Sessionmaker, database_url: str, statement: str
) -> None:
    await append_some(sessionmaker, 1)
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await conn.execute(statement)
        assert await conn.fetchval("SELECT action FROM audit_log") == "test"
    finally:
        await conn.close()


async def test_list_entries_pages_newest_first(sessionmaker: Sessionmaker) -> None:
    user = await make_user(sessionmaker, "ADMIN")
    ids = await append_some(sessionmaker, 5, actor=Actor(user.id))

    async with sessionmaker() as s:
        first = await audit.list_entries(s, before_id=None, limit=2)
        second = await audit.list_entries(s, before_id=first[-1].id, limit=2)
        area_one = await audit.list_entries(s, entity_id="Area:1", before_id=None, limit=10)
        total = await audit.count_entries(s)
        area_one_total = await audit.count_entries(s, entity_id="Area:1")

    assert [e.id for e in first] == ids[::-1][:2]
    assert [e.id for e in second] == ids[::-1][2:4]
    assert [e.id for e in area_one] == [ids[3], ids[1]]
    assert (total, area_one_total) == (5, 2)

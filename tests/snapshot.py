"""What "nothing was written" means in every test: each table of the SQLAlchemy metadata, its row
count and a digest of its rows in primary-key order. A table added to ``gridweave.models`` is
covered without anyone listing it, and an UPDATE shows as surely as an INSERT or a DELETE."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Table, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gridweave.models import Base

Snapshot = dict[str, tuple[int, str]]
"""Table name -> (row count, md5 of its rows as text, in primary-key order)."""


def _digest(table: Table) -> str:
    keys = [f'x."{c.name}"' for c in table.primary_key.columns] or ["x::text"]
    return (
        f"SELECT '{table.name}' AS name, count(*) AS n, "
        f"md5(coalesce(string_agg(x::text, '|' ORDER BY {', '.join(keys)}), '')) AS digest "
        f'FROM "{table.name}" x'
    )


def _statement() -> str:
    tables = sorted(Base.metadata.tables.values(), key=lambda t: t.name)
    return " UNION ALL ".join(_digest(t) for t in tables)


async def snapshot(db: AsyncSession | AsyncConnection) -> Snapshot:
    """Every table as ``db`` sees it now (a session's own unflushed objects are not written, so
    they are not flushed here: the statement goes straight to the session's connection)."""
    conn = await db.connection() if isinstance(db, AsyncSession) else db
    rows = (await conn.execute(text(_statement()))).all()
    return {row.name: (int(row.n), str(row.digest)) for row in rows}


def changed(before: Snapshot, after: Snapshot) -> list[str]:
    """The tables whose rows differ between two snapshots."""
    return sorted(t for t in before.keys() | after.keys() if before.get(t) != after.get(t))


async def snapshot_of(sm: Any, tables: Iterable[str]) -> Snapshot:
    """The state of some tables only (those a check is about, when others are meant to change,
    like an import's stored report)."""
    async with sm() as s:
        whole = await snapshot(s)
    return {name: whole[name] for name in tables}

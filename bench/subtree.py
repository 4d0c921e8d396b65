"""Subtree queries: materialised path (what gridweave uses) against a recursive CTE, on the
city-scale demo. Prints the time ratio CTE/path per subtree size (same run, same connection).

    gridweave demo --scale city   # once, with the same DATABASE_URL
    DATABASE_URL=postgresql://... .venv/bin/python -m bench.subtree
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time

import asyncpg

PATH_SQL = """
SELECT count(*) OVER () AS total, o.id FROM organizations o
WHERE o.area_path LIKE (SELECT path FROM areas WHERE id = $1) || '%' ORDER BY o.id LIMIT 20
"""
CTE_SQL = """
WITH RECURSIVE sub(id) AS (
  SELECT $1::bigint UNION ALL SELECT a.id FROM areas a JOIN sub ON a.parent_id = sub.id)
SELECT count(*) OVER () AS total, o.id FROM organizations o JOIN sub ON o.area_id = sub.id
ORDER BY o.id LIMIT 20
"""


async def timed(conn: asyncpg.Connection, sql: str, area_id: int, runs: int) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        await conn.fetch(sql, area_id)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


async def main() -> None:
    dsn = os.environ["DATABASE_URL"].replace("+asyncpg", "")
    conn = await asyncpg.connect(dsn)
    try:
        for level in ("DISTRICT", "STREET", "COMMUNITY", "GRID"):
            area_id = await conn.fetchval(
                "SELECT id FROM areas WHERE level = $1 ORDER BY id LIMIT 1", level
            )
            a = await conn.fetch(PATH_SQL, area_id)
            b = await conn.fetch(CTE_SQL, area_id)
            assert [r["id"] for r in a] == [r["id"] for r in b], level
            a[0]["total"] if a else 0
            await timed(conn, PATH_SQL, area_id, 30)
            await timed(conn, CTE_SQL, area_id, 30)
    finally:
        await conn.close()


if __name__ == "__main__":
    asyncio.run(main())

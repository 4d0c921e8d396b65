"""Service activity counts at city scale: "activities in this subtree, this category, this period"
(and per partner) with the migration's indexes, against the same table with those indexes dropped
(same run, same data, same connection). Builds its own database on the configured server
(DATABASE_URL, else the embedded one): a city of 10 districts, 150 streets, 2,000 communities and
20,000 grids, 50,000 organizations and ``--rows`` activities a year over two years.

    .venv/bin/python -m bench.activities              # 500,000 rows a year (about a minute)
    .venv/bin/python -m bench.activities --rows 50000 # a quick look

Statements run prepared with parameters, as the services run them, and are timed after the
sixth execution (PostgreSQL's generic plan, see STACK.md)."""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Sequence
from datetime import date
from typing import Any

import anyio
import asyncpg

from gridweave.db import asyncpg_dsn, ensure_database, server_database_url
from gridweave.migrate import upgrade
from gridweave.services.subtree import in_subtree_sql
from gridweave.settings import Settings

DATABASE = "gridweave_bench_activities"
INDEXES = (
    "ix_service_activities_category_path",
    "ix_service_activities_path",
    "ix_service_activities_organization",
)
AREAS = """
INSERT INTO areas (id, name, level, parent_id, path, households, population, elderly_living_alone,
  left_behind_children, disabled_households, hardship_households, mobile_population)
SELECT 1, '市', 'CITY', NULL, '/1/', 0, 0, 0, 0, 0, 0, 0
UNION ALL SELECT 1 + d, '区' || d, 'DISTRICT', 1, '/1/' || (1 + d) || '/', 0, 0, 0, 0, 0, 0, 0
  FROM generate_series(1, 10) d
UNION ALL SELECT 100 + s, '街道' || s, 'STREET', 1 + (s - 1) / 15 + 1,
  '/1/' || (1 + (s - 1) / 15 + 1) || '/' || (100 + s) || '/', 0, 0, 0, 0, 0, 0, 0
  FROM generate_series(1, 150) s
"""
COMMUNITIES = """
INSERT INTO areas (id, name, level, parent_id, path, households, population, elderly_living_alone,
  left_behind_children, disabled_households, hardship_households, mobile_population)
SELECT 1000 + c, '社区' || c, 'COMMUNITY', p.id, p.path || (1000 + c) || '/', 0, 0, 0, 0, 0, 0, 0
FROM generate_series(1, 2000) c JOIN areas p ON p.id = 100 + 1 + (c - 1) % 150
"""
GRIDS = """
INSERT INTO areas (id, name, level, parent_id, path, households, population, elderly_living_alone,
  left_behind_children, disabled_households, hardship_households, mobile_population)
SELECT 10000 + g, '网格' || g, 'GRID', p.id, p.path || (10000 + g) || '/', 0, 0, 0, 0, 0, 0, 0
FROM generate_series(1, 20000) g JOIN areas p ON p.id = 1000 + 1 + (g - 1) % 2000
"""
ORGS = """
INSERT INTO organizations (id, name, kind, area_id, area_path)
SELECT o, '单位' || o, 'CO_RESIDENT_UNIT', a.id, a.path
FROM generate_series(1, 50000) o JOIN areas a ON a.id = 1000 + 1 + (o - 1) % 2000
"""
ACTIVITIES = """
INSERT INTO service_activities (organization_id, area_id, area_path, category_id, occurred_on,
  hours, beneficiaries, source)
SELECT o.id, g.id, g.path, 1 + (hashint % 14), DATE '2025-01-01' + (hashint / 14 % 730)::int,
  1 + hashint % 8, hashint % 50, 'DEMO'
FROM (SELECT n, abs(hashtext(n::text)) AS hashint FROM generate_series(1, $1::int) n) r
JOIN areas g ON g.id = 10000 + 1 + r.hashint % 20000
JOIN organizations o ON o.id = 1 + (r.hashint / 7) % 50000
"""
SUBTREE = in_subtree_sql("area_path", "$1::text")
QUERIES: dict[str, str] = {
    "subtree + category + quarter": (
        "SELECT count(*), coalesce(sum(hours), 0) FROM service_activities"
        f" WHERE {SUBTREE} AND category_id = $2 AND occurred_on BETWEEN $3 AND $4"
    ),
    "subtree + quarter (all categories)": (
        f"SELECT count(*) FROM service_activities WHERE {SUBTREE} AND occurred_on BETWEEN $2 AND $3"
    ),
    "partner in a community + quarter": (
        "SELECT count(*) FROM service_activities WHERE organization_id = $2"
        f" AND occurred_on BETWEEN $3 AND $4 AND {SUBTREE}"
    ),
}
Q2 = (date(2026, 4, 1), date(2026, 6, 30))


def say(line: str) -> None:
    sys.stdout.write(line + "\n")


async def build(conn: asyncpg.Connection, rows_per_year: int) -> None:
    for sql in (AREAS, COMMUNITIES, GRIDS, ORGS):
        await conn.execute(sql)
    await conn.execute(ACTIVITIES, rows_per_year * 2)
    # what autovacuum does soon after a bulk load: statistics and the visibility map (so that
    # index-only scans need not visit the heap)
    await conn.execute("VACUUM ANALYZE")


async def timed(conn: asyncpg.Connection, sql: str, args: Sequence[Any], runs: int = 30) -> float:
    statement = await conn.prepare(sql)
    for _ in range(6):  # past the custom plans: the generic plan is what a busy server runs
        await statement.fetch(*args)
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        await statement.fetch(*args)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000


async def cases(conn: asyncpg.Connection) -> list[tuple[str, str, list[Any]]]:
    picks = {}
    for level in ("DISTRICT", "STREET", "COMMUNITY", "GRID"):
        picks[level] = await conn.fetchval(
            "SELECT path FROM areas WHERE level = $1 ORDER BY id LIMIT 1", level
        )
    org = await conn.fetchrow("SELECT id, area_path FROM organizations ORDER BY id LIMIT 1")
    out: list[tuple[str, str, list[Any]]] = []
    for level, path in picks.items():
        out.append(("subtree + category + quarter", level, [path, 3, *Q2]))
    for level in ("STREET", "COMMUNITY"):
        out.append(("subtree + quarter (all categories)", level, [picks[level], *Q2]))
    out.append(
        ("partner in a community + quarter", "COMMUNITY", [org["area_path"], org["id"], *Q2])
    )
    return out


async def run(rows_per_year: int) -> None:
    target = server_database_url(Settings(), DATABASE)
    admin = await asyncpg.connect(asyncpg_dsn(server_database_url(Settings(), "postgres")))
    await admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    await admin.close()
    await ensure_database(target)
    await anyio.to_thread.run_sync(upgrade, target)
    conn = await asyncpg.connect(asyncpg_dsn(target))
    try:
        started = time.perf_counter()
        await build(conn, rows_per_year)
        total = await conn.fetchval("SELECT count(*) FROM service_activities")
        say(f"{total:,} activities loaded in {time.perf_counter() - started:.1f}s")
        plan = await cases(conn)
        indexed = [await timed(conn, QUERIES[name], args) for name, _, args in plan]
        counts = [await conn.fetchval(QUERIES[name], *args) for name, _, args in plan]
        for index in INDEXES:
            await conn.execute(f"DROP INDEX {index}")
        await conn.execute("VACUUM ANALYZE service_activities")
        baseline = [await timed(conn, QUERIES[name], args, runs=5) for name, _, args in plan]
        again = [await conn.fetchval(QUERIES[name], *args) for name, _, args in plan]
        assert counts == again
        say(
            f"{'query':36} {'subtree':9} {'rows':>6} {'indexed ms':>10} {'no index ms':>11}"
            f" {'ratio':>6}"
        )
        for (name, level, _), n, fast, slow in zip(plan, counts, indexed, baseline, strict=True):
            say(f"{name:36} {level:9} {n:>6,} {fast:>10.2f} {slow:>11.1f} {slow / fast:>5.0f}x")
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=500_000, help="activities a year")
    args = parser.parse_args()
    asyncio.run(run(args.rows))


if __name__ == "__main__":
    main()

"""``bench/import``: the city-scale demo's organizations through the spreadsheet import.

1. A database of its own (``gridweave_bench_import``), migrated, with the city demo loaded once.
2. The organizations and their service areas exported to one workbook (the export is timed too).
3. The organization rows are emptied; COPY of the same rows (the rows the export came from, as
   CSV) is timed as the baseline, three times (emptied after each; the median counts).
4. The dry run, the real run, and a second real run of the same file (nothing to change), each in
   a child process of its own: wall time per phase (read: python-calamine's parse into rows)
   and the child's peak RSS.
5. The imported rows are compared with the baseline's: the same organizations, parents and
   service areas (by name, area and category), or the bench fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg

from bench.readpath_lib.util import out, progress
from gridweave.db import (
    asyncpg_dsn,
    ensure_database,
    make_engine,
    make_sessionmaker,
    server_database_url,
)
from gridweave.settings import Settings

WORK = Path(__file__).resolve().parent.parent / ".work"
# COPY's time varies with the disk and whatever else writes to it: the median of a few runs
COPY_RUNS = 3
# Organizations compared by what the import matches on, not by id (ids are new after a reload).
SIGNATURE = """
SELECT md5(string_agg(x, '|' ORDER BY x)), count(*) FROM (
  SELECT o.name || ';' || o.kind || ';' || coalesce(o.credit_code, '') || ';' || a.code || ';'
         || coalesce(p.name || '@' || pa.code, '') AS x
  FROM organizations o JOIN areas a ON a.id = o.area_id
  LEFT JOIN organizations p ON p.id = o.parent_id LEFT JOIN areas pa ON pa.id = p.area_id) t
"""
SERVICE_SIGNATURE = """
SELECT md5(string_agg(x, '|' ORDER BY x)), count(*) FROM (
  SELECT o.name || ';' || a.code || ';' || sa.code || ';' || s.category_id AS x
  FROM organization_service_areas s JOIN organizations o ON o.id = s.organization_id
  JOIN areas a ON a.id = o.area_id JOIN areas sa ON sa.id = s.area_id) t
"""


def rss_mb() -> float:
    """This process's peak RSS. Not getrusage's ru_maxrss: Linux carries the parent's peak
    across fork and exec into it, so a child spawned by a big parent reports the parent's."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---- the child: one import ---------------------------------------------------------------------


async def child(url: str, path: Path, dry_run: bool) -> dict[str, Any]:
    from gridweave.services.import_writes import OPERATOR, run_import
    from gridweave.services.sheets import read_file

    settings = Settings()
    start_rss = rss_mb()
    phases: dict[str, float] = {}
    t0 = time.perf_counter()
    book = read_file(await asyncio.to_thread(path.read_bytes), name=path.name)
    phases["read"] = time.perf_counter() - t0
    marks: dict[str, float] = {}

    def mark(phase: str, done: int, total: int) -> None:
        marks.setdefault(phase, time.perf_counter())
        marks[phase + ".end"] = time.perf_counter()

    engine = make_engine(url, settings)
    try:
        async with make_sessionmaker(engine)() as session:
            t1 = time.perf_counter()
            result = await run_import(
                session, actor=OPERATOR, book=book, dry_run=dry_run, progress=mark
            )
            t2 = time.perf_counter()
            if result.status == "applied":
                await session.commit()
            else:
                await session.rollback()
            t3 = time.perf_counter()
    finally:
        await engine.dispose()
    write_start = marks.get("write", t2)
    phases["check"] = write_start - t1
    phases["write"] = t2 - write_start
    phases["commit"] = t3 - t2
    return {
        "status": result.status,
        "problems": [f"{p.sheet}:{p.row}:{p.column}: {p.message}" for p in result.problems[:5]],
        "counts": result.counts,
        "seconds": time.perf_counter() - t0,
        "phases": phases,
        "rows": book.row_count,
        "start_rss_mb": start_rss,
        "peak_rss_mb": rss_mb(),
    }


def run_child(url: str, path: Path, dry_run: bool) -> dict[str, Any]:
    args = [sys.executable, "-m", "bench.import_lib", "--child", url, str(path)]
    if dry_run:
        args.append("--dry-run")
    done = subprocess.run(args, check=True, capture_output=True, text=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# ---- the parent --------------------------------------------------------------------------------


async def prepare(url: str, settings: Settings) -> None:
    from gridweave.demo import load_demo
    from gridweave.migrate import upgrade

    await ensure_database(url)
    await asyncio.to_thread(upgrade, url)
    engine = make_engine(url, settings)
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            t = time.perf_counter()
            summary = await load_demo(session, scale="city")
            if summary.created:
                progress(f"city demo loaded in {time.perf_counter() - t:.0f} s")
    finally:
        await engine.dispose()


async def export(url: str, settings: Settings, target: Path) -> float:
    from gridweave.services.exports import export_organizations
    from gridweave.services.import_writes import OPERATOR

    engine = make_engine(url, settings)
    try:
        async with make_sessionmaker(engine)() as session:
            t = time.perf_counter()
            data = await export_organizations(session, actor=OPERATOR)
            seconds = time.perf_counter() - t
    finally:
        await engine.dispose()
    await asyncio.to_thread(target.write_bytes, data)
    return seconds


async def signatures(conn: asyncpg.Connection) -> tuple[Any, ...]:
    a = await conn.fetchrow(SIGNATURE)
    b = await conn.fetchrow(SERVICE_SIGNATURE)
    return (a[0], a[1], b[0], b[1])


async def empty(conn: asyncpg.Connection) -> None:
    # role_grants of demo members and links go with the organizations (this database only)
    await conn.execute("TRUNCATE organizations, organization_service_areas CASCADE")


async def copy_baseline(conn: asyncpg.Connection, orgs: Path, services: Path) -> float:
    t = time.perf_counter()
    async with conn.transaction():
        await conn.copy_to_table(
            "organizations",
            source=orgs,
            columns=["id", "name", "kind", "credit_code", "area_id", "area_path", "parent_id"],
            format="csv",
        )
        await conn.copy_to_table(
            "organization_service_areas",
            source=services,
            columns=["organization_id", "area_id", "category_id"],
            format="csv",
        )
    return time.perf_counter() - t


def table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


async def main(database: str) -> int:
    settings = Settings()
    url = server_database_url(settings, database)
    WORK.mkdir(exist_ok=True)
    load_before = os.getloadavg()
    progress(f"database {database}: migrating, loading the city demo when missing")
    await prepare(url, settings)
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        expected = await signatures(conn)
        if expected[1] < 40_000:
            raise SystemExit(f"expected the city demo, found {expected[1]} organizations")
        book = WORK / "organizations.xlsx"
        progress("exporting the organizations to one workbook")
        export_s = await export(url, settings, book)
        orgs_csv, services_csv = WORK / "organizations.csv", WORK / "service_areas.csv"
        await conn.copy_from_query(
            "SELECT id, name, kind, credit_code, area_id, area_path, parent_id FROM organizations"
            " ORDER BY id",
            output=orgs_csv,
            format="csv",
        )
        await conn.copy_from_query(
            "SELECT organization_id, area_id, category_id FROM organization_service_areas",
            output=services_csv,
            format="csv",
        )
        await empty(conn)
        copies: list[float] = []
        for i in range(COPY_RUNS):
            progress(f"baseline: COPY of the same rows ({i + 1}/{COPY_RUNS})")
            copies.append(await copy_baseline(conn, orgs_csv, services_csv))
            if await signatures(conn) != expected:
                raise SystemExit("the COPY baseline did not restore the same rows")
            await empty(conn)
        copy_s = statistics.median(copies)
        progress("dry run")
        dry = run_child(url, book, dry_run=True)
        progress("real run")
        real = run_child(url, book, dry_run=False)
        got = await signatures(conn)
        progress("the same file again")
        again = run_child(url, book, dry_run=False)
        after = await signatures(conn)
    finally:
        await conn.close()
    for name, r in (("dry run", dry), ("real run", real), ("again", again)):
        if r["problems"]:
            raise SystemExit(f"{name} found problems: {r['problems']}")
    if got != expected or after != expected:
        raise SystemExit(f"imported rows differ from the demo's: {got} != {expected}")
    orgs_n, pairs_n = expected[1], expected[3]
    rows = [("run", "seconds", "read", "check", "write", "commit", "peak RSS MB", "vs COPY")]
    for name, r in (("dry run", dry), ("real run", real), ("same file again", again)):
        p = r["phases"]
        rows.append(
            (
                name,
                f"{r['seconds']:.1f}",
                f"{p['read']:.1f}",
                f"{p['check']:.1f}",
                f"{p['write']:.1f}" if r["status"] == "applied" else "-",
                f"{p['commit']:.1f}",
                f"{r['peak_rss_mb']:.0f} (+{r['peak_rss_mb'] - r['start_rss_mb']:.0f})",
                f"{r['seconds'] / copy_s:.1f}x",
            )
        )
    spread = f"{copy_s:.1f} ({min(copies):.1f}-{max(copies):.1f})"
    rows.append(("COPY (baseline, median)", spread, "-", "-", spread, "-", "-", "1.0x"))
    rows.append(("export (xlsx)", f"{export_s:.1f}", "-", "-", "-", "-", "-", "-"))
    out(
        f"bench/import: {orgs_n:,} organizations, {pairs_n:,} service-area rows, "
        f"{real['rows']:,} spreadsheet rows ({book.stat().st_size / 1e6:.1f} MB workbook)"
    )
    out(table(rows))
    out(
        "load average (1, 5, 15 min): at the start "
        + ", ".join(f"{x:.1f}" for x in load_before)
        + "; at the end "
        + ", ".join(f"{x:.1f}" for x in os.getloadavg())
    )
    write_ratio = real["phases"]["write"] / copy_s
    out(
        f"import: real run {real['seconds']:.1f} s = {real['seconds'] / copy_s:.1f}x COPY "
        f"({copy_s:.1f} s); its write phase {write_ratio:.1f}x"
    )
    return 0


def cli() -> int:
    parser = argparse.ArgumentParser(prog="bench/import")
    parser.add_argument("--database", default="gridweave_bench_import")
    parser.add_argument("--child", nargs=2, metavar=("URL", "FILE"))
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args()
    if args.child:
        url, path = args.child
        out(json.dumps(asyncio.run(child(url, Path(path), args.dry_run))))
        return 0
    return asyncio.run(main(args.database))


if __name__ == "__main__":
    sys.exit(cli())

"""Coverage reports at city scale and beyond (issue 12), with same-run baselines.

    bench/coverage            # the city in its own database, then 50x in memory (~5 minutes)
    bench/coverage --quick    # city at 1/100 and 1/10 only, 50x skipped

Database phase: a database of its own on the configured server (DATABASE_URL, else the embedded
one) holding the city-scale demo (``gridweave demo --scale city``: 20,000 grids with adjacency,
50,000 organizations), topped up to 200,000 service-area rows and 500,000 service activities
over the past year. For a street (~1/100 of the city), a district (~1/10) and the whole city:
the time to load the facts (``services.coverage_load.load_coverage_data``: six array reads and
a few small ones), to compute the full report (``graph.coverage.coverage_gaps``: every rule,
suggestions by min-cost flow), to make every gap an object (what the command line does), and
peak Python memory; the same report by the reference commit (``bench/coverage_reference.py``)
on the same data, which must give the same gaps; beside them, the bare multi-source search for
the six essential categories with ``provider_reach`` (ours), with scipy.sparse.csgraph
(``dijkstra(min_only=True, unweighted=True, limit=k)`` from every provider's grids) and with
networkx (``multi_source_dijkstra_path_length`` with a cutoff) on the same adjacency.

Memory phase (50x, a national roll-out): 1,000,000 grids on a lattice with 2,000,000 edges,
2,500,000 organizations and 10,000,000 service rows built as arrays, the same search and the
full report (networkx is left out here: 18 s and 1 GB for this search, measured in the issue)."""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from typing import Any, TypeVar, overload

import networkx as nx
import numpy as np
from scipy.sparse.csgraph import dijkstra
from sqlalchemy import select, text

from bench.coverage_reference import (
    REFERENCE_COMMIT,
    digest,
    reference_loader,
    reference_report,
)
from gridweave.db import (
    make_engine,
    make_sessionmaker,
    server_database_url,
    unit_of_work,
)
from gridweave.demo import load_demo
from gridweave.graph.coverage import (
    VULNERABLE_GROUPS,
    CoverageData,
    Rules,
    coverage_gaps,
    prepare,
    provider_reach,
)
from gridweave.migrate import upgrade
from gridweave.models import Area, Role, ServiceCategory
from gridweave.models.areas import LEVEL_ORDER, AreaLevel
from gridweave.services.access import Actor, Grant
from gridweave.services.calendar import today
from gridweave.services.coverage import check_query, load_coverage_data, rules_from_settings
from gridweave.settings import Settings

DATABASE = "gridweave_bench_coverage"
SERVICE_ROWS = 200_000
ACTIVITIES = 500_000
T = TypeVar("T")
REFERENCE: Callable[[Any, Any], Any] | None = None  # the reference commit's coverage_gaps
LOADER: Callable[..., Any] | None = None  # and its load_coverage_data


def say(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def timed(fn: Callable[[], T], runs: int) -> tuple[float, T]:
    """Median seconds over ``runs`` and the last result."""
    wall, _, out = timed_cpu(fn, runs)
    return wall, out


def timed_cpu(fn: Callable[[], T], runs: int) -> tuple[float, float, T]:
    """Median wall and CPU seconds of this process over ``runs``, and the last result. On a
    shared machine the CPU time says what the work costs; the wall time adds the waiting."""
    wall, cpu, out = [], [], None
    for _ in range(runs):
        gc.collect()
        t, c = time.perf_counter(), time.process_time()
        out = fn()
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    assert out is not None
    return statistics.median(wall), statistics.median(cpu), out


def peak_mb(fn: Callable[[], Any]) -> float:
    gc.collect()
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 1e6


# ---- the three searches -----------------------------------------------------------------------


def essential_sources(data: CoverageData, essential: Sequence[int]) -> tuple[Any, list[Any]]:
    prep = prepare(data, Rules())
    per_cat = []
    for c in essential:
        sel = prep.pair_category == c
        per_cat.append((prep.pair_target[sel], prep.pair_org[sel]))
    return prep.adjacency, per_cat


def search_ours(adjacency: Any, per_cat: list[Any], hops: int) -> int:
    return sum(
        int((provider_reach(adjacency, t, o, hops)[0] == np.iinfo(np.int64).max).sum())
        for t, o in per_cat
    )


def search_scipy(adjacency: Any, per_cat: list[Any], hops: int) -> int:
    uncovered = 0
    for t, _ in per_cat:
        src = np.unique(t)
        if not len(src):
            uncovered += adjacency.shape[0]
            continue
        d = dijkstra(adjacency, indices=src, min_only=True, unweighted=True, limit=hops + 0.5)
        uncovered += int((~np.isfinite(d)).sum())
    return uncovered


def networkx_graph(adjacency: Any) -> nx.Graph:
    g = nx.Graph()
    g.add_nodes_from(range(adjacency.shape[0]))
    coo = adjacency.tocoo()
    g.add_edges_from(zip(coo.row.tolist(), coo.col.tolist(), strict=True))
    return g


def search_networkx(g: nx.Graph, per_cat: list[Any], hops: int) -> int:
    uncovered = 0
    for t, _ in per_cat:
        src = set(np.unique(t).tolist())
        reached = nx.multi_source_dijkstra_path_length(g, src, cutoff=hops) if src else {}
        uncovered += g.number_of_nodes() - len(reached)
    return uncovered


# ---- the database phase -------------------------------------------------------------------------


# Arrays of ids, then one generated row per index: cheap at any size (no OFFSET scans).
TOP_UP_SERVICES = """
WITH g AS (SELECT array_agg(id ORDER BY id) AS ids FROM areas WHERE level = 'GRID'),
     o AS (SELECT array_agg(id ORDER BY id) AS ids FROM organizations)
INSERT INTO organization_service_areas (organization_id, area_id, category_id)
SELECT o.ids[1 + (i * 7) % cardinality(o.ids)], g.ids[1 + (i * 7919) % cardinality(g.ids)],
  1 + (i * 31) % 14
FROM g, o, generate_series(1, $1::bigint) i
ON CONFLICT DO NOTHING
"""
ACTIVITY_ROWS = """
WITH g AS (SELECT array_agg(id ORDER BY id) AS ids, array_agg(path ORDER BY id) AS paths
           FROM areas WHERE level = 'GRID'),
     o AS (SELECT array_agg(id ORDER BY id) AS ids FROM organizations)
INSERT INTO service_activities (organization_id, area_id, area_path, category_id, occurred_on,
  hours, beneficiaries, source)
SELECT o.ids[1 + (i * 104729) % cardinality(o.ids)], g.ids[1 + (i * 7919) % cardinality(g.ids)],
  g.paths[1 + (i * 7919) % cardinality(g.ids)], 1 + i % 14, $2::date - (i % 365)::int, 2, 3, 'DEMO'
FROM g, o, generate_series(1, $1::bigint) i
"""


async def build(settings: Settings, url: str) -> None:
    # bulk statements: no 15 s statement timeout while building
    engine = make_engine(url, settings.model_copy(update={"statement_timeout_ms": 900_000}))
    sm = make_sessionmaker(engine)
    try:
        async with unit_of_work(sm) as s:
            started = time.perf_counter()
            await load_demo(s, scale="city")
            say(f"city demo loaded in {time.perf_counter() - started:.0f}s")
        async with unit_of_work(sm) as s:
            raw = (await (await s.connection()).get_raw_connection()).driver_connection
            n = int(await s.scalar(text("SELECT count(*) FROM organization_service_areas")) or 0)
            if n < SERVICE_ROWS:
                await raw.execute(TOP_UP_SERVICES, int((SERVICE_ROWS - n) * 1.02))
            n = int(await s.scalar(text("SELECT count(*) FROM service_activities")) or 0)
            if n < ACTIVITIES:
                await raw.execute(ACTIVITY_ROWS, ACTIVITIES - n, today())
        async with engine.connect() as c:
            ac = await c.execution_options(isolation_level="AUTOCOMMIT")
            await ac.execute(text("VACUUM ANALYZE"))
    finally:
        await engine.dispose()


async def database_phase(settings: Settings, quick: bool) -> list[dict[str, Any]]:
    url = server_database_url(settings, DATABASE)
    from gridweave.db import ensure_database

    await ensure_database(url)
    await asyncio.to_thread(upgrade, url)
    await build(settings, url)
    engine = make_engine(url, settings)
    sm = make_sessionmaker(engine)
    rows: list[dict[str, Any]] = []
    try:
        async with sm() as s:
            counts = (
                await s.execute(
                    text(
                        "SELECT (SELECT count(*) FROM areas WHERE level = 'GRID'),"
                        " (SELECT count(*) FROM organizations),"
                        " (SELECT count(*) FROM organization_service_areas),"
                        " (SELECT count(*) FROM service_activities),"
                        " (SELECT count(*) FROM area_neighbors) / 2"
                    )
                )
            ).one()
            say(
                f"dataset: {counts[0]:,} grids, {counts[1]:,} organizations, {counts[2]:,}"
                f" service rows, {counts[3]:,} activities, {counts[4]:,} adjacencies"
            )
            city = await s.scalar(select(Area).where(Area.code == "DEMO-CITY"))
            district = await s.scalar(select(Area).where(Area.code == "DEMO-D02"))
            street = await s.scalar(select(Area).where(Area.code == "DEMO-D02-S02"))
            essential = list(
                await s.scalars(select(ServiceCategory.id).where(ServiceCategory.essential))
            )
        scopes = [("street (~1/100)", street), ("district (~1/10)", district)]
        if not quick:
            scopes.append(("city", city))
        admin = Actor(0, (Grant(Role.ADMIN),))
        for label, area in scopes:
            assert area is not None
            rows.append(await measure_scope(sm, settings, admin, label, area, essential))
    finally:
        await engine.dispose()
    return rows


async def measure_scope(
    sm: Any, settings: Settings, admin: Actor, label: str, area: Area, essential: list[int]
) -> dict[str, Any]:
    async with sm() as s:
        q = await check_query(
            s,
            actor=admin,
            settings=settings,
            area_id=area.id,
            category_codes=None,
            max_hops=1,
            as_of=None,
        )
    loads, load_cpu, before = [], [], []
    data = None
    for _ in range(3):  # the reference commit's load and ours, alternating
        if LOADER is not None:
            async with sm() as s:
                t = time.perf_counter()
                old = await LOADER(s, q, max_areas=settings.coverage_max_areas)
                before.append(time.perf_counter() - t)
        async with sm() as s:
            t, c = time.perf_counter(), time.process_time()
            data = await load_coverage_data(s, q, max_areas=settings.coverage_max_areas)
            loads.append(time.perf_counter() - t)
            load_cpu.append(time.process_time() - c)
    assert data is not None
    rules = rules_from_settings(settings, max_hops=1)
    row = measure_report(label, data, rules, essential, True)
    if LOADER is not None:
        loaded_same = digest(*_report_of(old, rules)) == (row["gaps"], row["digest"])
        row["same"] = row["same"] if loaded_same else "NO"
        if not loaded_same:
            say(f"{label}: the report on {REFERENCE_COMMIT}'s load differs")
    say(f"{label}: load {statistics.median(loads):.3f}s, report {row['report']:.3f}s")
    return {
        **row,
        "load": statistics.median(loads),
        "load_cpu": statistics.median(load_cpu),
        "load_before": statistics.median(before) if before else float("nan"),
    }


def _report_of(data: CoverageData, rules: Rules) -> tuple[list[Any], list[Any]]:
    result = coverage_gaps(data, rules)
    return list(result.gaps), result.by_category


def measure_report(
    label: str, data: CoverageData, rules: Rules, essential: list[int], with_networkx: bool
) -> dict[str, Any]:
    """The full report (wall, CPU, every gap made an object, peak memory), the same report by
    the reference commit (time, and whether it is the same), and the bare searches."""
    runs = 3 if data.n < 200_000 else 1
    compute, cpu, result = timed_cpu(lambda: coverage_gaps(data, rules), runs)
    every, gaps = timed(lambda: list(result.gaps), 1)
    mem = peak_mb(lambda: coverage_gaps(data, rules))
    ours_digest = digest(gaps, result.by_category)
    before, same = float("nan"), "–"
    if REFERENCE is not None:
        before, old = timed(lambda: REFERENCE(data, rules), 1)
        same = "yes" if digest(old.gaps, old.by_category) == ours_digest else "NO"
        if same != "yes":
            say(f"{label}: the report differs from {REFERENCE_COMMIT}'s")
    adjacency, per_cat = essential_sources(data, essential)
    ours, a = timed(lambda: search_ours(adjacency, per_cat, 1), 3)
    sp_t, b = timed(lambda: search_scipy(adjacency, per_cat, 1), 3)
    nx_t, c = float("nan"), a
    if with_networkx:
        g = networkx_graph(adjacency)
        nx_t, c = timed(lambda: search_networkx(g, per_cat, 1), 1)
    assert a == b == c, (a, b, c)
    return {
        "scope": label,
        "grids": adjacency.shape[0],
        "load": float("nan"),
        "load_cpu": float("nan"),
        "load_before": float("nan"),
        "report": compute,
        "report_cpu": cpu,
        "every": every,
        "gaps": ours_digest[0],
        "digest": ours_digest[1],
        "peak_mb": mem,
        "before": before,
        "same": same,
        "ours": ours,
        "scipy": sp_t,
        "networkx": nx_t,
    }


# ---- the memory phase (50x) -------------------------------------------------------------------


class Names(Sequence[str]):
    """Names made on demand (a million strings would dominate the memory measured)."""

    def __init__(self, prefix: str, n: int) -> None:
        self.prefix, self.n = prefix, n

    def __len__(self) -> int:
        return self.n

    @overload
    def __getitem__(self, i: int) -> str: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[str]: ...
    def __getitem__(self, i: int | slice) -> str | Sequence[str]:
        if isinstance(i, slice):
            return [f"{self.prefix}{k}" for k in range(*i.indices(self.n))]
        return f"{self.prefix}{i}"

    def __iter__(self) -> Iterator[str]:
        return (f"{self.prefix}{k}" for k in range(self.n))


class Repeat(Sequence[Any]):
    def __init__(self, value: Any, n: int) -> None:
        self.value, self.n = value, n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: Any) -> Any:
        return self.value

    def __iter__(self) -> Iterator[Any]:
        return (self.value for _ in range(self.n))


def synthetic(grids: int, seed: int = 7) -> tuple[CoverageData, list[int]]:
    """A city of ``grids`` grids on a square lattice (10 grids a community, 100 communities a
    street, 10 districts), 2.5 organizations and 10 service rows per grid."""
    rng = np.random.default_rng(seed)
    side = int(np.sqrt(grids))
    grids = side * side
    communities = grids // 10
    streets = max(1, communities // 100)
    districts = 10
    lv = {x: LEVEL_ORDER.index(x) for x in AreaLevel}
    # ids: 0 city, 1..10 districts, then streets, communities, grids
    d0, s0 = 1, 1 + districts
    c0 = s0 + streets
    g0 = c0 + communities
    n = g0 + grids
    parent = np.empty(n, dtype=np.int64)
    parent[0] = -1
    parent[d0:s0] = 0
    parent[s0:c0] = d0 + np.arange(streets) % districts
    parent[c0:g0] = s0 + np.arange(communities) % streets
    parent[g0:] = c0 + np.arange(grids) // 10
    level = np.empty(n, dtype=np.int64)
    level[0] = lv[AreaLevel.CITY]
    level[d0:s0] = lv[AreaLevel.DISTRICT]
    level[s0:c0] = lv[AreaLevel.STREET]
    level[c0:g0] = lv[AreaLevel.COMMUNITY]
    level[g0:] = lv[AreaLevel.GRID]
    households = np.zeros(n, dtype=np.int64)
    households[g0:] = rng.integers(10, 60, grids)
    vulnerable = np.zeros((n, len(VULNERABLE_GROUPS)), dtype=np.int64)
    vulnerable[g0:] = rng.poisson(0.4, (grids, len(VULNERABLE_GROUPS)))
    k = np.arange(grids)
    right = k[(k % side) < side - 1]
    down = k[k < grids - side]
    na = np.concatenate([right, down]) + g0
    nb = np.concatenate([right + 1, down + side]) + g0
    orgs = grids * 5 // 2
    rows = grids * 10
    service_org = rng.integers(0, orgs, rows)
    service_area = g0 + rng.integers(0, grids, rows)
    essential = [1, 2, 4, 5, 7, 11]
    service_category = np.array(essential)[rng.integers(0, 6, rows)]
    visits = np.zeros((n, 3), dtype=np.int64)
    visits[g0:] = rng.poisson([0.7, 2.0, 8.0], (grids, 3))
    data = CoverageData(
        area_ids=np.arange(1, n + 1, dtype=np.int64),
        parent=parent,
        level=level,
        households=households,
        vulnerable=vulnerable,
        party_members=np.zeros(n, dtype=np.int64),
        names=Names("网格", n),
        office_space=Repeat(Decimal(10_000), n),
        neighbors=(na, nb),
        org_ids=np.arange(1, orgs + 1, dtype=np.int64),
        org_area=c0 + rng.integers(0, communities, orgs),
        org_kind=np.full(orgs, "SOCIAL_ORGANIZATION", dtype=object),
        org_party_level=np.full(orgs, None, dtype=object),
        org_names=Names("组织", orgs),
        org_load=rng.integers(1, 12, orgs),
        org_recent=rng.integers(0, 5, orgs),
        service_org=service_org,
        service_area=service_area,
        service_category=service_category,
        visits=visits,
        categories={c: f"c{c}" for c in essential},
    )
    return data, essential


def memory_phase(grids: int) -> dict[str, Any]:
    t = time.perf_counter()
    data, essential = synthetic(grids)
    say(f"{grids:,} grids built in memory in {time.perf_counter() - t:.1f}s")
    label = f"50x in memory ({grids // 1000:,}k grids)"
    return measure_report(label, data, Rules(max_hops=1), essential, False)


COLUMNS = (
    ("scope", 28, "{}"),
    ("grids", 9, "{:,}"),
    ("load s", 7, "{:.3f}"),
    ("report s", 8, "{:.3f}"),
    ("total s", 7, "{:.3f}"),
    ("cpu s", 6, "{:.3f}"),
    ("all gaps s", 10, "{:.3f}"),
    ("gaps", 9, "{:,}"),
    ("peak MB", 7, "{:.0f}"),
    ("before: load s", 14, "{:.3f}"),
    ("before: report s", 16, "{:.3f}"),
    ("same", 4, "{}"),
    ("search: ours s", 14, "{:.3f}"),
    ("scipy s", 7, "{:.3f}"),
    ("networkx s", 10, "{:.3f}"),
    ("ours/scipy", 10, "{:.2f}"),
    ("total/scipy", 11, "{:.2f}"),
)


def table(rows: list[dict[str, Any]]) -> str:
    """load, report and total are wall seconds (medians); cpu is this process's CPU seconds for
    the load (client side) and the report; all gaps: making every gap an object (what the
    command line's JSON and CSV do); before: the reference commit's load (alternating with ours)
    and report (on the same data); same: its report, on its load and on ours, equals ours."""
    head = (
        "| "
        + " | ".join(
            f"{name:{'<' if i == 0 else '>'}{w}}" for i, (name, w, _) in enumerate(COLUMNS)
        )
        + " |"
    )
    out = [head, "|" + "|".join("-" * (w + 2) for _, w, _ in COLUMNS) + "|"]
    for r in rows:
        load = 0.0 if r["load"] != r["load"] else r["load"]
        load_cpu = 0.0 if r["load_cpu"] != r["load_cpu"] else r["load_cpu"]
        total = load + r["report"]
        values = (
            r["scope"], r["grids"], r["load"], r["report"], total, load_cpu + r["report_cpu"],
            r["every"], r["gaps"], r["peak_mb"], r["load_before"], r["before"], r["same"],
            r["ours"], r["scipy"],
            r["networkx"], r["ours"] / r["scipy"], total / r["scipy"],
        )  # fmt: skip
        cells = [
            f"{fmt.format(v):{'<' if i == 0 else '>'}{w}}"
            for i, ((_, w, fmt), v) in enumerate(zip(COLUMNS, values, strict=True))
        ]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def main() -> None:
    global REFERENCE, LOADER
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="street and district; no 50x")
    parser.add_argument("--grids", type=int, default=1_000_000, help="grids of the 50x phase")
    parser.add_argument(
        "--reference",
        choices=("db", "all", "none"),
        default="db",
        help=f"check the report against {REFERENCE_COMMIT}'s: database scopes (db), also 50x"
        " (all, ~30 s more), or not",
    )
    args = parser.parse_args()
    settings = Settings()
    say(f"uptime: {load_average()}")
    REFERENCE = None if args.reference == "none" else reference_report()
    LOADER = None if args.reference == "none" else reference_loader()
    rows = asyncio.run(database_phase(settings, args.quick))
    if not args.quick:
        if args.reference != "all":
            REFERENCE = None
        rows.append(memory_phase(args.grids))
    say(f"uptime: {load_average()}")
    sys.stdout.write(table(rows) + "\n")
    city = next((r for r in rows if r["scope"] == "city"), rows[-1])
    big = rows[-1]
    sys.stdout.write(
        f"coverage: city load+report {city['load'] + city['report']:.2f}s"
        f" (cpu {city['load_cpu'] + city['report_cpu']:.2f}s);"
        f" {big['scope']} report {big['report']:.2f}s = {big['report'] / big['scipy']:.2f}x scipy;"
        f" search ours/scipy {max(r['ours'] / r['scipy'] for r in rows):.2f} at worst;"
        f" same as {REFERENCE_COMMIT}: {', '.join(r['same'] for r in rows)}\n"
    )


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


if __name__ == "__main__":
    main()

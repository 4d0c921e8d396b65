"""Plans, not only timings: the compiled statements keep plans that fit their arguments once
PostgreSQL has seen them often enough to switch to a generic plan (after five executions of a
prepared statement, which is how asyncpg runs every statement), and a document of many aliases
stays a statement small enough to plan fast.

Run on the demo region; the bench (bench/readpath) measures the same shapes at city scale."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import pytest
from sqlalchemy import select

from gridweave.app import create_app
from gridweave.compiled.compiler import CompiledQuery
from gridweave.compiled.endpoint import CompiledReads
from gridweave.compiled.variables import coerce_variables
from gridweave.db import Sessionmaker, asyncpg_dsn, unit_of_work
from gridweave.demo import load_demo
from gridweave.models import Area, Organization
from gridweave.settings import Settings
from tests.factories import gid, make_area, make_chain, make_org, make_user

AREA_KIND = """
query AreaKind($area: ID!, $kind: OrganizationKind!, $first: Int!) {
  organizations(areaId: $area, kind: $kind, first: $first) {
    totalCount
    edges { node { id name kind creditCode area { id name } } }
  }
}
"""
# The indexes that serve "in this area's subtree" and "of this kind".
FITTING_INDEXES = {"ix_organizations_area_path", "ix_organizations_kind"}
ALIASES = 30  # the served alias limit
GENERIC_PLAN_FUNCTION = """
CREATE FUNCTION pg_temp.generic_plan(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE plan text;
BEGIN
  EXECUTE 'EXPLAIN (GENERIC_PLAN, FORMAT JSON) ' || q INTO plan;
  RETURN plan;
END $$
"""
MAX_ALIAS_SQL = 20_000
FILLER_NAME = "填充区"
FILLER_ORGANIZATIONS = 48_000
KINDS = (
    "PARTY_ORGANIZATION",
    "SOCIAL_ORGANIZATION",
    "CO_RESIDENT_UNIT",
    "VOLUNTEER_TEAM",
    "SELF_GOVERNANCE_ORGANIZATION",
    "SERVICE_CENTER",
    "MASS_ORGANIZATION",
    "ECONOMIC_ORGANIZATION",
    "GOVERNMENT_DEPARTMENT",
)
# $1: the city's id, $2: how many organizations; one district below the city holds them all.
FILLER = f"""
WITH d AS (
  INSERT INTO areas (id, name, level, parent_id, path, households, population,
    elderly_living_alone, left_behind_children, disabled_households, hardship_households,
    mobile_population)
  SELECT n, '{FILLER_NAME}', 'DISTRICT', c.id, c.path || n || '/', 0, 0, 0, 0, 0, 0, 0
  FROM areas c, nextval('areas_id_seq') AS n WHERE c.id = $1
  RETURNING id, path
)
INSERT INTO organizations (name, kind, area_id, area_path)
SELECT '填充组织' || g, (ARRAY[{", ".join(f"'{k}'" for k in KINDS)}])[1 + g % 9], d.id, d.path
FROM d, generate_series(1, $2::int) AS g
"""


def by_id(count: int) -> str:
    params = ", ".join(f"$a{i}: ID!" for i in range(1, count + 1))
    fields = " ".join(
        f"o{i}: node(id: $a{i}) {{ ... on Organization {{ id name kind area {{ name }} }} }}"
        for i in range(1, count + 1)
    )
    return f"query ById({params}) {{ {fields} }}"


def literal(value: Any) -> str:
    """A statement parameter as an SQL literal, for EXECUTE (every parameter carries a cast)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list | tuple):
        return "ARRAY[" + ", ".join(literal(v) for v in value) + "]"
    return "'" + str(value).replace("'", "''") + "'"


def plan_nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", ()):
        yield from plan_nodes(child)


def organization_scans(plan: dict[str, Any]) -> list[tuple[str, set[str]]]:
    """Every scan of ``organizations`` in a plan: its node type and the indexes it reads (its own,
    or those of the Bitmap Index Scans under a Bitmap Heap Scan)."""
    found = []
    for node in plan_nodes(plan):
        if node.get("Relation Name") != "organizations":
            continue
        indexes = {n["Index Name"] for n in plan_nodes(node) if "Index Name" in n}
        found.append((node["Node Type"], indexes))
    return found


def compiled(reads: CompiledReads, query: str, operation: str, variables: dict[str, Any]) -> Any:
    prepared = reads.prepare(query, operation)
    assert prepared is not None
    coerced = coerce_variables(reads.schema, prepared.operation, variables)
    statement: CompiledQuery = reads.statement(prepared, coerced)
    return statement, coerced


@pytest.fixture
async def reads(settings: Settings, database_url: str) -> CompiledReads:
    app = create_app(settings, database_url=database_url)
    found: CompiledReads = app.state.compiled_reads.reads
    return found


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    c = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        yield c
    finally:
        await c.close()


async def _demo(
    sessionmaker: Sessionmaker, conn: asyncpg.Connection, *, city_sized: bool = False
) -> tuple[int, list[int]]:
    """The demo region, analyzed; its user id (a coordinator) and its district ids.

    ``city_sized`` adds a district of FILLER organizations after the demo's, so that the planner
    sees a table of the city's size (the plan of a 1,000-row table says nothing about 49,000):
    the demo districts' organizations then come first in id order, as the first tenth of a
    city's do."""
    async with unit_of_work(sessionmaker) as s:
        demo = await load_demo(s, scale="region")
    if city_sized:
        await conn.execute(FILLER, demo.city_id, FILLER_ORGANIZATIONS)
    await conn.execute("ANALYZE")
    async with sessionmaker() as s:
        query = select(Area.id).where(Area.level == "DISTRICT", Area.name != FILLER_NAME)
        districts = list((await s.scalars(query)).all())
    user = await make_user(sessionmaker, "COORDINATOR")
    return user.id, sorted(districts)


async def _explain(conn: asyncpg.Connection, args: str) -> tuple[dict[str, Any], float]:
    raw = await conn.fetchval(f"EXPLAIN (FORMAT JSON, SUMMARY ON) EXECUTE s({args})")
    explained = json.loads(raw)[0]
    return explained["Plan"], float(explained.get("Planning Time", 0.0))


async def _area_kind_plans(
    reads: CompiledReads, sessionmaker: Sessionmaker, conn: asyncpg.Connection
) -> dict[str, dict[str, Any]]:
    """The compiled organizations(areaId:, kind:, first: 50) statement, run more than five times
    as a prepared statement for each demo district in turn (the plan cache then chooses between
    custom and generic plans itself), and its plans: the one it chose, the generic one, and
    EXPLAIN (GENERIC_PLAN) of its text (PostgreSQL 16+)."""
    user_id, districts = await _demo(sessionmaker, conn, city_sized=True)
    variables = {"area": gid("Area", districts[0]), "kind": "SOCIAL_ORGANIZATION", "first": 50}
    statement, coerced = compiled(reads, AREA_KIND, "AreaKind", variables)
    assert "IS NULL OR" not in statement.sql  # no optional-filter ORs (see STACK.md)
    await conn.execute(f"PREPARE s AS {statement.sql}")
    args = []
    for district in districts:
        coerced_d = dict(coerced, area=gid("Area", district))
        args.append(", ".join(literal(p) for p in statement.params(user_id, coerced_d)))
    for i in range(8):
        answer = await conn.fetchval(f"EXECUTE s({args[i % len(args)]})")
        assert json.loads(answer)["data"]["organizations"]["totalCount"] > 0
    plans = {"chosen": (await _explain(conn, args[-1]))[0]}
    await conn.execute("SET plan_cache_mode = force_generic_plan")
    plans["generic"] = (await _explain(conn, args[-1]))[0]
    if conn.get_server_version().major >= 16:
        # through plpgsql: the extended protocol would want values for $1, $2, ...
        await conn.execute(GENERIC_PLAN_FUNCTION)
        raw = await conn.fetchval("SELECT pg_temp.generic_plan($1)", statement.sql)
        plans["GENERIC_PLAN"] = json.loads(raw)[0]["Plan"]
    return plans


async def test_organizations_by_area_and_kind_never_scan_every_organization(
    reads: CompiledReads, sessionmaker: Sessionmaker, conn: asyncpg.Connection
) -> None:
    # given the compiled statement of organizations(areaId:, kind:) on a city-sized table,
    # when PostgreSQL may have switched it to a generic plan
    plans = await _area_kind_plans(reads, sessionmaker, conn)
    # then no plan reads organizations sequentially (the generic plan of
    # `($k IS NULL OR kind = $k)` does), and the total is counted through the area-path or kind
    # index
    for name, plan in plans.items():
        scans = organization_scans(plan)
        assert scans, name
        assert all(node_type != "Seq Scan" for node_type, _ in scans), (name, scans)
        assert scans[0][1] & FITTING_INDEXES, (name, scans)  # the totalCount


async def test_organizations_by_area_and_kind_page_through_a_fitting_index(
    reads: CompiledReads, sessionmaker: Sessionmaker, conn: asyncpg.Connection
) -> None:
    # given the same statement and plans
    plans = await _area_kind_plans(reads, sessionmaker, conn)
    # then every read of organizations, the page's too, goes through the area-path or the kind
    # index: not a walk of the primary key that filters the rows before the area's
    for name, plan in plans.items():
        for node_type, indexes in organization_scans(plan):
            assert indexes & FITTING_INDEXES, (name, node_type, indexes)


async def test_thirty_node_aliases_compile_to_one_small_statement(
    reads: CompiledReads, sessionmaker: Sessionmaker, conn: asyncpg.Connection
) -> None:
    # given thirty organizations of the demo region, each read through its own node() alias
    user_id, _ = await _demo(sessionmaker, conn)
    async with sessionmaker() as s:
        ids = (await s.scalars(select(Organization.id).order_by(Organization.id))).all()
    picked = ids[:: max(1, len(ids) // ALIASES)][:ALIASES]
    assert len(picked) == ALIASES
    variables = {f"a{i}": gid("Organization", pk) for i, pk in enumerate(picked, 1)}

    # when the document is compiled
    statement, coerced = compiled(reads, by_id(ALIASES), "ById", variables)

    # then its statement stays small (it is planned on every custom execution), it reads the
    # organizations by primary key, and it answers every alias, in order
    assert len(statement.sql) < MAX_ALIAS_SQL, len(statement.sql)
    params = ", ".join(literal(p) for p in statement.params(user_id, coerced))
    await conn.execute(f"PREPARE s AS {statement.sql}")
    plan, _ = await _explain(conn, params)
    for node_type, _indexes in organization_scans(plan):
        assert node_type != "Seq Scan", organization_scans(plan)
    data = json.loads(await conn.fetchval(f"EXECUTE s({params})"))["data"]
    assert list(data) == [f"o{i}" for i in range(1, ALIASES + 1)]
    assert [o["id"] for o in data.values()] == list(variables.values())


BOARD = """
query Board($area: ID!, $first: Int) {
  serviceProjects(areaId: $area, first: $first) {
    totalCount
    edges { node { id title status claims { id status claimant { name } } } }
  }
}
"""
# $1: the community of the filler projects, $2: their poster, $3: how many
FILLER_PROJECTS = """
INSERT INTO service_projects (title, description, kind, category_id, area_id, area_path,
  posted_by_id, slots)
SELECT '填充项目' || g, '说明', 'SMALL_WISH', (SELECT min(id) FROM service_categories), a.id,
  a.path, $2, 1 FROM areas a, generate_series(1, $3::int) g WHERE a.id = $1
"""


async def test_the_board_of_an_area_reads_its_subtree_by_the_path_index(
    reads: CompiledReads, sessionmaker: Sessionmaker, conn: asyncpg.Connection
) -> None:
    # given a community's 30 projects, posted before 10,000 of another community's
    street, ours = await make_chain(sessionmaker, "STREET", "COMMUNITY")
    theirs = await make_area(sessionmaker, level="COMMUNITY", parent=street)
    poster = await make_org(sessionmaker, area=ours)
    for area, count in ((ours, 30), (theirs, 10_000)):
        await conn.execute(FILLER_PROJECTS, area.id, poster.id, count)
    await conn.execute("ANALYZE service_projects")
    user = await make_user(sessionmaker, "COORDINATOR", area=street)
    variables = {"area": gid("Area", ours.id), "first": 20}
    statement, coerced = compiled(reads, BOARD, "Board", variables)
    args = ", ".join(literal(p) for p in statement.params(user.id, coerced))

    # when its compiled statement has run often enough for a generic plan
    await conn.execute(f"PREPARE s AS {statement.sql}")
    for _ in range(6):
        answer = json.loads(await conn.fetchval(f"EXECUTE s({args})"))
        assert answer["data"]["serviceProjects"]["totalCount"] == 30
    plans = {"chosen": (await _explain(conn, args))[0]}
    await conn.execute("SET plan_cache_mode = force_generic_plan")
    plans["generic"] = (await _explain(conn, args))[0]

    # then the page and the total read the community's projects by the path index (a walk of
    # the primary key, newest first, would filter the other community's 10,000 first)
    for name, plan in plans.items():
        scans = [
            (n["Node Type"], {i["Index Name"] for i in plan_nodes(n) if "Index Name" in i})
            for n in plan_nodes(plan)
            if n.get("Relation Name") == "service_projects" and n.get("Alias", "").startswith("t")
        ]
        assert len(scans) == 2, (name, scans)
        assert all("ix_service_projects_area_path" in indexes for _, indexes in scans), scans

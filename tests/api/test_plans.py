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
from tests.factories import gid, make_user

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


async def _demo(sessionmaker: Sessionmaker, conn: asyncpg.Connection) -> tuple[int, list[int]]:
    """The demo region, analyzed; its user id (a coordinator) and its district ids."""
    async with unit_of_work(sessionmaker) as s:
        await load_demo(s, scale="region")
    await conn.execute("ANALYZE")
    async with sessionmaker() as s:
        districts = list((await s.scalars(select(Area.id).where(Area.level == "DISTRICT"))).all())
    user = await make_user(sessionmaker, "COORDINATOR")
    return user.id, sorted(districts)


async def _explain(conn: asyncpg.Connection, args: str) -> tuple[dict[str, Any], float]:
    raw = await conn.fetchval(f"EXPLAIN (FORMAT JSON, SUMMARY ON) EXECUTE s({args})")
    explained = json.loads(raw)[0]
    return explained["Plan"], float(explained.get("Planning Time", 0.0))


async def test_organizations_by_area_and_kind_keep_an_index_plan_when_generic(
    reads: CompiledReads, sessionmaker: Sessionmaker, conn: asyncpg.Connection
) -> None:
    # given the demo region and the compiled statement of organizations(areaId:, kind:, first:)
    user_id, districts = await _demo(sessionmaker, conn)
    variables = {"area": gid("Area", districts[0]), "kind": "SOCIAL_ORGANIZATION", "first": 50}
    statement, coerced = compiled(reads, AREA_KIND, "AreaKind", variables)
    assert "IS NULL OR" not in statement.sql  # no optional-filter ORs (see STACK.md)
    await conn.execute(f"PREPARE s AS {statement.sql}")

    # when it runs more than five times as a prepared statement, for each district in turn
    # (the plan cache's own choice between custom and generic plans)
    args = []
    for district in districts:
        coerced_d = dict(coerced, area=gid("Area", district))
        args.append(", ".join(literal(p) for p in statement.params(user_id, coerced_d)))
    for i in range(8):
        answer = await conn.fetchval(f"EXECUTE s({args[i % len(args)]})")
        assert json.loads(answer)["data"]["organizations"]["totalCount"] > 0
    chosen, _ = await _explain(conn, args[-1])

    # then neither the plan it uses now nor the generic plan reads organizations other than by
    # the area-path or the kind index: no sequential scan, no walk of the primary key filtering
    # every row (the plan a generic `($k IS NULL OR kind = $k)` gets)
    await conn.execute("SET plan_cache_mode = force_generic_plan")
    generic, _ = await _explain(conn, args[-1])
    if conn.get_server_version().major >= 16:
        # through plpgsql: the extended protocol would want values for $1, $2, ...
        await conn.execute(GENERIC_PLAN_FUNCTION)
        raw = await conn.fetchval("SELECT pg_temp.generic_plan($1)", statement.sql)
        also = json.loads(raw)[0]["Plan"]
    else:
        also = generic
    for name, plan in (("chosen", chosen), ("generic", generic), ("GENERIC_PLAN", also)):
        scans = organization_scans(plan)
        import sys; sys.stderr.write(f"DEBUG {name} {scans}\n")
        assert scans, name
        for node_type, indexes in scans:
            assert node_type != "Seq Scan", (name, scans)
            assert indexes & FITTING_INDEXES, (name, scans)


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

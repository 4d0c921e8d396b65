"""The bench database: created on the configured server (DATABASE_URL, else the embedded one),
migrated, loaded with the city-scale demo once, given PostGraphile's two helper functions and a
COORDINATOR of the city for gridweave's token."""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass

from sqlalchemy import select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from bench.readpath_lib.util import BenchError, progress
from gridweave.db import (
    asyncpg_dsn,
    ensure_database,
    make_engine,
    make_sessionmaker,
    server_database_url,
    unit_of_work,
)
from gridweave.demo import DemoSummary, load_demo
from gridweave.migrate import upgrade
from gridweave.models import Role, RoleGrant, User
from gridweave.security import hash_password, issue_token
from gridweave.settings import Settings

BENCH_EMAIL = "readpath-bench@example.org"
MIN_COMMUNITIES = 1_000  # the city scale has ~2,000; the region scale a handful

# PostGraphile has no "organizations in this subtree" relation and no name search: these
# functions (bench database only) give it the closest equivalents. PostGraphile exposes them as
# Area.organizationsBelow, Query.searchOrganizations and Query.organizationsInArea (the subtree of
# the area with that id, of one kind: gridweave's ``organizations(areaId:, kind:)``). The subtree
# condition is
# gridweave's own (gridweave.services.subtree): ``area_path LIKE a.path || '%'`` written as a
# text_pattern_ops range, which the index serves although a.path is not a constant (the LIKE
# form makes every call a sequential scan of the organizations: ~8 ms each at city scale, which
# would measure the predicate, not PostGraphile); OFFSET 0 makes the planner read the subtree by
# that index and sort it, instead of walking the primary key in id order and filtering.
POSTGRAPHILE_FUNCTIONS = (
    "CREATE OR REPLACE FUNCTION areas_organizations_below(a areas) RETURNS SETOF organizations"
    " LANGUAGE sql STABLE AS $$ SELECT * FROM (SELECT * FROM organizations"
    " WHERE area_path ~>=~ a.path AND area_path ~<~ (left(a.path, -1) || '0') OFFSET 0) s"
    " ORDER BY id $$",
    "CREATE OR REPLACE FUNCTION search_organizations(q text, k text) RETURNS SETOF organizations"
    " LANGUAGE sql STABLE AS $$ SELECT * FROM organizations"
    " WHERE name ILIKE '%' || q || '%' AND kind = k ORDER BY id $$",
    "CREATE OR REPLACE FUNCTION organizations_in_area(area bigint, k text)"
    " RETURNS SETOF organizations LANGUAGE sql STABLE AS $$ SELECT * FROM (SELECT o.* FROM areas a"
    " JOIN organizations o ON o.area_path ~>=~ a.path AND o.area_path ~<~ (left(a.path, -1) || '0')"
    " WHERE a.id = area AND o.kind = k OFFSET 0) s ORDER BY id $$",
)
# The organizations read by id through aliases (the served alias limit is 30): every 8th of the
# featured street's organizations by id.
BY_ID_COUNT = 30
_BY_ID = (
    "SELECT id FROM (SELECT o.id, row_number() OVER (ORDER BY o.id) AS n FROM organizations o,"
    " areas a WHERE a.id = :street AND o.area_path ~>=~ a.path"
    " AND o.area_path ~<~ (left(a.path, -1) || '0')) s WHERE n % 8 = 1 ORDER BY id LIMIT :count"
)


@dataclass(frozen=True, slots=True)
class BenchDatabase:
    url: str  # SQLAlchemy URL (postgresql+asyncpg://...), gridweave's DATABASE_URL
    dsn: str  # the same as a libpq URI, for asyncpg and PostGraphile
    summary: DemoSummary
    district_id: int  # the featured street's parent
    late_district_id: int  # the district whose organizations come last in id order
    organization_ids: tuple[int, ...]  # BY_ID_COUNT organizations of the featured street
    user_id: int
    token: str  # a COORDINATOR of the city root, signed with the bench's secret key

    @property
    def where(self) -> str:
        """The URL without a password, for the report."""
        return make_url(self.url).render_as_string(hide_password=True)


def bench_url(settings: Settings, database: str) -> str:
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", database):
        raise BenchError(f"{database!r} is not a plain lower-case database name")
    return server_database_url(settings, database)


def prepare(settings: Settings, database: str, secret_key: str) -> BenchDatabase:
    """Create, migrate and load the bench database (reused when it is already loaded)."""
    url = bench_url(settings, database)
    shown = make_url(url).render_as_string(hide_password=True)
    progress(f"bench database: {shown}")
    asyncio.run(ensure_database(url))
    upgrade(url)
    started = time.monotonic()
    summary, user_id, districts, organization_ids = asyncio.run(_load(url, settings))
    verb = "loaded" if summary.created else "reused"
    progress(
        f"{verb} the city demo in {time.monotonic() - started:.1f}s: "
        f"{summary.areas_by_level.get('COMMUNITY', 0):,} communities, "
        f"{summary.areas_by_level.get('GRID', 0):,} grids, {summary.organizations:,} organizations"
    )
    signer = Settings(secret_key=secret_key, environment="production")
    return BenchDatabase(
        url=url,
        dsn=asyncpg_dsn(url),
        summary=summary,
        district_id=districts[0],
        late_district_id=districts[1],
        organization_ids=organization_ids,
        user_id=user_id,
        token=issue_token(signer, user_id),
    )


async def _load(
    url: str, settings: Settings
) -> tuple[DemoSummary, int, tuple[int, int], tuple[int, ...]]:
    engine = make_engine(url, settings.model_copy(update={"statement_timeout_ms": 600_000}))
    try:
        sm = make_sessionmaker(engine)
        async with unit_of_work(sm) as session:
            summary = await load_demo(session, scale="city")
        if summary.areas_by_level.get("COMMUNITY", 0) < MIN_COMMUNITIES:
            raise BenchError(
                f"{make_url(url).database} holds a smaller demo than the city scale "
                f"({summary.areas_by_level}); drop that database or pass another --database"
            )
        async with unit_of_work(sm) as session:
            if summary.created:
                progress("ANALYZE after the bulk load")
                await session.execute(text("ANALYZE"))
            for ddl in POSTGRAPHILE_FUNCTIONS:
                await session.execute(text(ddl))
            user_id = await _coordinator(session, summary.city_id)
            district_id = await session.scalar(
                text("SELECT parent_id FROM areas WHERE id = :street"),
                {"street": summary.street_id},
            )
            late = await session.scalar(
                text(
                    "SELECT area_id FROM (SELECT a.id AS area_id, max(o.id) AS last FROM areas a"
                    " JOIN organizations o ON o.area_path ~>=~ a.path"
                    " AND o.area_path ~<~ (left(a.path, -1) || '0')"
                    " WHERE a.level = 'DISTRICT' GROUP BY a.id) d ORDER BY last DESC LIMIT 1"
                )
            )
            ids = (
                await session.scalars(
                    text(_BY_ID), {"street": summary.street_id, "count": BY_ID_COUNT}
                )
            ).all()
        if district_id is None or late is None or len(ids) < BY_ID_COUNT:
            raise BenchError(
                f"the featured street {summary.street_id} lacks a parent or has few organizations"
            )
        districts = (int(district_id), int(late))
        return summary, user_id, districts, tuple(int(i) for i in ids)
    finally:
        await engine.dispose()


async def _coordinator(session: AsyncSession, city_id: int) -> int:
    """The bench user (created once): a COORDINATOR of the city root area."""
    user_id = await session.scalar(select(User.id).where(User.email == BENCH_EMAIL))
    if user_id is None:
        user = User(
            email=BENCH_EMAIL,
            display_name="readpath bench",
            password_hash=hash_password("readpath-bench-not-for-login"),
        )
        session.add(user)
        await session.flush()
        user_id = user.id
    grant = await session.scalar(
        select(RoleGrant.id).where(
            RoleGrant.user_id == user_id,
            RoleGrant.role == Role.COORDINATOR.value,
            RoleGrant.area_id == city_id,
        )
    )
    if grant is None:
        session.add(RoleGrant(user_id=user_id, role=Role.COORDINATOR.value, area_id=city_id))
    return int(user_id)

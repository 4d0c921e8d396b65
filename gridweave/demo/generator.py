"""Load the demo region into the database: plan it in memory, take ids from the sequences, and
bulk-copy every table through the session's own asyncpg connection (inside the caller's
transaction; nothing is committed here). The load records itself in the ledger as one entry with
its counts and the ids of every row it wrote (``audit.record_bulk_load``)."""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from gridweave.demo.areas import (
    COUNT_FIELDS,
    FEATURED_COMMUNITY_CODE,
    FEATURED_STREET_CODE,
    ROOT_CODE,
    SCALES,
    AreaPlan,
    plan_areas,
)
from gridweave.demo.coverage import write_coverage_inputs
from gridweave.demo.meetings import load_demo_meetings
from gridweave.demo.orgs import OrgPlan, plan_orgs
from gridweave.models import Area, OrganizationKind, ServiceCategory
from gridweave.services import audit
from gridweave.services.calendar import today

Scale = Literal["region", "city"]
LOCK_KEY = 0x6772_6964_6465_6D6F  # 'griddemo': one loader at a time
CHUNK = 50_000
AREA_COLUMNS = ("id", "name", "code", "level", "parent_id", "path", *COUNT_FIELDS)
ORG_COLUMNS = ("id", "name", "kind", "credit_code", "area_id", "area_path", "parent_id")
LINK_COLUMNS = ("id", "kind", "source_id", "target_id", "since")
COUNTED = ("organizations", "organization_links")  # already in the summary's counts
ANALYZED = (
    "areas",
    "organizations",
    "organization_service_areas",
    "organization_links",
    "joint_meetings",
    "joint_meeting_members",
    "agreements",
    "service_activities",
)


@dataclass(frozen=True, slots=True)
class DemoSummary:
    """What the demo region holds; the ids are those later steps (demo users, tests) start from."""

    created: bool  # False when the demo was already there and nothing was added
    city_id: int
    street_id: int  # the street of 13 communities and 192 grids
    community_id: int  # the first community of that street
    organization_id: int  # a social organization based in that community
    areas_by_level: Mapping[str, int]
    organizations_by_kind: Mapping[str, int]
    links_by_kind: Mapping[str, int]
    service_areas: int
    neighbor_rows: int  # area_neighbors rows (both directions)

    @property
    def areas(self) -> int:
        return sum(self.areas_by_level.values())

    @property
    def organizations(self) -> int:
        return sum(self.organizations_by_kind.values())

    @property
    def links(self) -> int:
        return sum(self.links_by_kind.values())


async def load_demo(
    session: AsyncSession, *, scale: Scale = "region", seed: int = 20261121
) -> DemoSummary:
    """Create the demo region (same seed, same data) unless its root area already exists."""
    if scale not in SCALES:
        raise ValueError(f"unknown demo scale {scale!r}")
    await session.flush()
    await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
    root = await session.scalar(select(Area.id).where(Area.code == ROOT_CODE))
    if root is not None:
        return await summarize(session, created=False)
    ids = await _write(session, scale, seed)
    street = await _id_by_code(session, FEATURED_STREET_CODE)
    meetings = await load_demo_meetings(session, street_id=street, today=today(), seed=seed)
    for table, pks in meetings.items():
        ids[table] = [*ids.get(table, []), *pks]
    # Fresh statistics, so the planner knows the bulk-loaded tables' sizes at once.
    for table in ANALYZED:
        await session.execute(text(f"ANALYZE {table}"))
    summary = await summarize(session, created=True)
    await audit.record_bulk_load(
        session,
        None,
        "loadDemo",
        f"Area:{summary.city_id}",
        ids=ids,
        counts={
            "areas": summary.areas,
            "area_neighbors": summary.neighbor_rows,
            "organizations": summary.organizations,
            "organization_service_areas": summary.service_areas,
            "organization_links": summary.links,
            "areas_by_level": dict(summary.areas_by_level),
            "organizations_by_kind": dict(summary.organizations_by_kind),
            "links_by_kind": dict(summary.links_by_kind),
            **{table: len(pks) for table, pks in meetings.items() if table not in COUNTED},
        },
        area_path=f"/{summary.city_id}/",
        scale=scale,
        seed=seed,
        via="demo",
    )
    return summary


async def _write(session: AsyncSession, scale: Scale, seed: int) -> dict[str, list[int]]:
    """Copy the planned region in; the ids taken, by table."""
    rows = (
        await session.execute(
            select(ServiceCategory.code, ServiceCategory.id, ServiceCategory.essential)
        )
    ).all()
    categories = {code: cid for code, cid, _ in rows}
    essential = frozenset(code for code, _, is_essential in rows if is_essential)
    rng = random.Random(seed)
    areas = plan_areas(rng, scale)
    orgs = plan_orgs(rng, areas, SCALES[scale], essential)
    apg = await _driver(session)
    area_ids = await _ids(apg, "areas", len(areas.areas))
    org_ids = await _ids(apg, "organizations", len(orgs.orgs))
    link_ids = await _ids(apg, "organization_links", len(orgs.links))
    paths = _paths(areas, area_ids)
    taken = await _taken_credit_codes(apg, orgs)
    await _copy(apg, "areas", AREA_COLUMNS, _area_records(areas, area_ids, paths))
    await _copy(
        apg, "area_neighbors", ("area_id", "neighbor_id"), _neighbor_records(areas, area_ids)
    )
    await _copy(
        apg, "organizations", ORG_COLUMNS, _org_records(orgs, org_ids, area_ids, paths, taken)
    )
    await _copy(
        apg,
        "organization_service_areas",
        ("organization_id", "area_id", "category_id"),
        _service_records(orgs, org_ids, area_ids, categories),
    )
    await _copy(apg, "organization_links", LINK_COLUMNS, _link_records(orgs, org_ids, link_ids))
    await write_coverage_inputs(apg, areas, area_ids, paths[0])
    return {"areas": area_ids, "organizations": org_ids, "organization_links": link_ids}


async def _driver(session: AsyncSession) -> Any:
    """The asyncpg connection under the session (its transaction is already open)."""
    conn = await session.connection()
    raw = await conn.get_raw_connection()
    return raw.driver_connection


async def _ids(apg: Any, table: str, n: int) -> list[int]:
    rows = await apg.fetch(
        "SELECT nextval(pg_get_serial_sequence($1, 'id')) FROM generate_series(1, $2)", table, n
    )
    return sorted(int(r[0]) for r in rows)


async def _taken_credit_codes(apg: Any, orgs: OrgPlan) -> set[str]:
    """Codes some organization outside the demo already holds (left off the demo's copy)."""
    codes = [o.credit_code for o in orgs.orgs if o.credit_code]
    rows = await apg.fetch(
        "SELECT credit_code FROM organizations WHERE credit_code = ANY($1::text[])", codes
    )
    return {r[0] for r in rows}


async def _copy(
    apg: Any, table: str, columns: Sequence[str], records: Iterable[tuple[Any, ...]]
) -> None:
    for chunk in _chunks(records):
        await apg.copy_records_to_table(table, records=chunk, columns=list(columns))


def _chunks(records: Iterable[tuple[Any, ...]]) -> Iterator[list[tuple[Any, ...]]]:
    chunk: list[tuple[Any, ...]] = []
    for record in records:
        chunk.append(record)
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _paths(areas: AreaPlan, ids: list[int]) -> list[str]:
    paths: list[str] = []
    for i, node in enumerate(areas.areas):
        parent = "/" if node.parent is None else paths[node.parent]
        paths.append(f"{parent}{ids[i]}/")
    return paths


def _area_records(areas: AreaPlan, ids: list[int], paths: list[str]) -> Iterator[tuple[Any, ...]]:
    for i, a in enumerate(areas.areas):
        parent = None if a.parent is None else ids[a.parent]
        yield (ids[i], a.name, a.code, a.level.value, parent, paths[i], *a.counts)


def _neighbor_records(areas: AreaPlan, ids: list[int]) -> Iterator[tuple[int, int]]:
    for a, b in areas.neighbors:
        yield ids[a], ids[b]
        yield ids[b], ids[a]


def _org_records(
    orgs: OrgPlan, ids: list[int], area_ids: list[int], paths: list[str], taken: set[str]
) -> Iterator[tuple[Any, ...]]:
    for i, o in enumerate(orgs.orgs):
        code = o.credit_code if o.credit_code not in taken else None
        parent = None if o.parent is None else ids[o.parent]
        yield (ids[i], o.name, o.kind.value, code, area_ids[o.area], paths[o.area], parent)


def _service_records(
    orgs: OrgPlan, ids: list[int], area_ids: list[int], categories: Mapping[str, int]
) -> Iterator[tuple[int, int, int]]:
    for org, area, code in orgs.services:
        if code in categories:
            yield ids[org], area_ids[area], categories[code]


def _link_records(orgs: OrgPlan, ids: list[int], link_ids: list[int]) -> Iterator[tuple[Any, ...]]:
    for i, (kind, source, target, since) in enumerate(orgs.links):
        yield link_ids[i], kind.value, ids[source], ids[target], since


# ---- the summary --------------------------------------------------------------------------------


async def _id_by_code(session: AsyncSession, code: str) -> int:
    found = await session.scalar(select(Area.id).where(Area.code == code))
    if found is None:
        raise LookupError(f"the demo area {code} is missing")
    return int(found)


async def _grouped(session: AsyncSession, sql: str, prefix: str) -> dict[str, int]:
    rows = (await session.execute(text(sql), {"prefix": prefix + "%"})).all()
    return {str(key): int(n) for key, n in sorted(rows)}


async def _count(session: AsyncSession, sql: str, prefix: str) -> int:
    return int(await session.scalar(text(sql), {"prefix": prefix + "%"}) or 0)


async def _featured_org(session: AsyncSession, community_id: int, street_path: str) -> int:
    """The first social organization of the community (else of its street)."""
    sql = "SELECT id FROM organizations WHERE kind = :kind AND {where} ORDER BY id LIMIT 1"
    kind = OrganizationKind.SOCIAL_ORGANIZATION.value
    found = await session.scalar(
        text(sql.format(where="area_id = :a")), {"kind": kind, "a": community_id}
    ) or await session.scalar(
        text(sql.format(where="area_path LIKE :p")), {"kind": kind, "p": street_path + "%"}
    )
    if found is None:
        raise LookupError("the demo street has no social organization")
    return int(found)


async def summarize(session: AsyncSession, *, created: bool = False) -> DemoSummary:
    """Counts of what is under the demo root now, and the featured ids."""
    city = await _id_by_code(session, ROOT_CODE)
    street = await _id_by_code(session, FEATURED_STREET_CODE)
    community = await _id_by_code(session, FEATURED_COMMUNITY_CODE)
    prefix = f"/{city}/"
    street_path = await session.scalar(select(Area.path).where(Area.id == street)) or prefix
    by_org = "JOIN organizations o ON o.id = {col} WHERE o.area_path LIKE :prefix"
    return DemoSummary(
        created=created,
        city_id=city,
        street_id=street,
        community_id=community,
        organization_id=await _featured_org(session, community, street_path),
        areas_by_level=await _grouped(
            session, "SELECT level, count(*) FROM areas WHERE path LIKE :prefix GROUP BY 1", prefix
        ),
        organizations_by_kind=await _grouped(
            session,
            "SELECT kind, count(*) FROM organizations WHERE area_path LIKE :prefix GROUP BY 1",
            prefix,
        ),
        links_by_kind=await _grouped(
            session,
            "SELECT l.kind, count(*) FROM organization_links l "
            + by_org.format(col="l.source_id")
            + " GROUP BY 1",
            prefix,
        ),
        service_areas=await _count(
            session,
            "SELECT count(*) FROM organization_service_areas s "
            + by_org.format(col="s.organization_id"),
            prefix,
        ),
        neighbor_rows=await _count(
            session,
            "SELECT count(*) FROM area_neighbors n JOIN areas a ON a.id = n.area_id"
            " WHERE a.path LIKE :prefix",
            prefix,
        ),
    )


__all__ = ["DemoSummary", "Scale", "load_demo", "summarize"]

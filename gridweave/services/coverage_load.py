"""Loading a subtree's coverage facts into ``graph.coverage.CoverageData`` in a few set-based
queries.

Nothing comes back a Python object per row: the reads of integers only (service rows,
adjacency, activity counts) are ``COPY (...) TO STDOUT (FORMAT binary)``, parsed into one numpy
array per column; those with text (areas, organizations) are one row of arrays, which asyncpg
decodes in C. Activities are counted in SQL (per area and window, per organization), never
shipped."""

from __future__ import annotations

import asyncio
import calendar
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from gridweave.errors import ValidationFailed
from gridweave.graph.coverage import AgreementFact, CoverageData, MeetingFact
from gridweave.models import Organization, RotationPeriod, ServiceCategory
from gridweave.models.areas import LEVEL_ORDER
from gridweave.services import rotation
from gridweave.services.meetings import unengaged_units_condition
from gridweave.services.subtree import in_subtree_sql

if TYPE_CHECKING:
    from gridweave.services.coverage import CoverageQuery

RECENT_DAYS = 90
Progress = Callable[[str], None]
I64 = NDArray[np.int64]
LEVEL_INDEX = {lv.value: i for i, lv in enumerate(LEVEL_ORDER)}


def _sub(column: str) -> str:
    return in_subtree_sql(column, ":path")


_AREAS = text(
    "SELECT array_agg(id ORDER BY id), array_agg(COALESCE(parent_id, 0) ORDER BY id),"
    " array_agg(level ORDER BY id), array_agg(households ORDER BY id),"
    " array_agg(elderly_living_alone ORDER BY id), array_agg(left_behind_children ORDER BY id),"
    " array_agg(disabled_households ORDER BY id), array_agg(hardship_households ORDER BY id),"
    " array_agg(mobile_population ORDER BY id), array_agg(party_members ORDER BY id),"
    " array_agg(office_space_m2 ORDER BY id), array_agg(name ORDER BY id)"
    f" FROM areas WHERE {_sub('path')}"
)


def _copy_sub(column: str) -> str:
    return in_subtree_sql(column, "$1::text")


# The COPY reads: bigint columns only, never NULL (``_int_columns``), parameters by number.
_NEIGHBORS = (
    "SELECT n.area_id, n.neighbor_id FROM areas a JOIN area_neighbors n ON n.area_id = a.id"
    f" WHERE {_copy_sub('a.path')} AND n.area_id < n.neighbor_id"
)
# By the subtree's area ids rather than a join on its paths: the planner then reads a district's
# rows through ix_osa_area_category (its estimate of a path range made it hash all 200,000 rows).
# Rows at the root's ancestors (a city's service centre serving the whole city) serve the root.
_SERVICES = (
    "SELECT organization_id, area_id, category_id::bigint FROM organization_service_areas"
    " WHERE area_id = ANY($1::bigint[]) AND category_id = ANY($2::int[])"
    " UNION ALL SELECT organization_id, $3::bigint, category_id::bigint"
    " FROM organization_service_areas WHERE area_id = ANY($4::bigint[])"
    " AND category_id = ANY($2::int[])"
)
_ORG_COLUMNS = (
    "SELECT array_agg(id ORDER BY id), array_agg(area_id ORDER BY id),"
    " array_agg(kind ORDER BY id), array_agg(party_level ORDER BY id),"
    " array_agg(name ORDER BY id) FROM organizations o"
)
_ORGS = text(f"{_ORG_COLUMNS} WHERE {_sub('o.area_path')}")
_ORGS_BY_ID = text(f"{_ORG_COLUMNS} WHERE o.id = ANY(:ids)")
# Grouped by the path, whose last step is the area's id: the (category, path, date) index then
# answers a district without reading the table (an index-only scan). $2..$5: the month, quarter
# and year windows' first days (exclusive) and the report's day.
_VISITS = (
    "SELECT reverse(split_part(reverse(area_path), '/', 2))::bigint,"
    " count(*) FILTER (WHERE occurred_on > $2), count(*) FILTER (WHERE occurred_on > $3),"
    f" count(*) FROM service_activities WHERE {_copy_sub('area_path')}"
    " AND occurred_on > $4 AND occurred_on <= $5 GROUP BY area_path"
)
# Each organization's activities in this subtree in the last 90 days ("active"), after $2 up to
# the report's day $3.
_RECENT = (
    "SELECT organization_id, count(*) FROM service_activities"
    f" WHERE {_copy_sub('area_path')} AND occurred_on > $2 AND occurred_on <= $3"
    " GROUP BY organization_id"
)
# Agreements in force on some day of the quarter, with the partner's activities in the
# community on those days (services.agreements.quarter_window, in SQL).
_LAST_DAY = "LEAST(a.ends_on, COALESCE(a.terminated_on - 1, a.ends_on))"
_AGREEMENTS = text(
    "SELECT a.id, a.community_id, a.partner_id, a.min_activities_per_quarter AS minimum,"
    f" (a.starts_on <= :as_of AND {_LAST_DAY} >= :as_of) AS in_force,"
    f" (GREATEST(a.starts_on, :q_start) <= LEAST({_LAST_DAY}, :q_end)) AS this_quarter,"
    " (SELECT count(*) FROM service_activities v WHERE v.organization_id = a.partner_id"
    f"  AND {in_subtree_sql('v.area_path', 'a.community_path')}"
    f"  AND v.occurred_on BETWEEN GREATEST(a.starts_on, :q_start) AND LEAST({_LAST_DAY}, :q_end)"
    " ) AS done"
    f" FROM agreements a WHERE {_sub('a.community_path')}"
    f" AND a.starts_on <= :q_end AND {_LAST_DAY} >= :q_start"
)
_MEETINGS = text(
    "SELECT m.id, m.area_id, m.name, m.rotation_period,"
    " (SELECT max(s.held_on) FROM meeting_sessions s WHERE s.meeting_id = m.id"
    "  AND s.held_on <= :as_of) AS last_sat"
    f" FROM joint_meetings m WHERE {_sub('m.area_path')} AND m.starts_on <= :as_of"
)
_ROTATIONS = text(
    "SELECT meeting_id, effective_from, member_ids, anchor FROM convener_rotations"
    " WHERE meeting_id = ANY(:ids) ORDER BY id"
)


@dataclass(slots=True)
class _Areas:
    ids: I64
    columns: list[list[Any]]


@dataclass(slots=True)
class _Orgs:
    ids: I64
    area_ids: I64
    kind: NDArray[np.object_]
    party_level: NDArray[np.object_]
    names: list[str]


async def load_coverage_data(
    session: AsyncSession,
    q: CoverageQuery,
    *,
    max_areas: int,
    progress: Progress | None = None,
) -> CoverageData:
    """The facts of the subtree at ``q.area``: six array reads and a few small ones, the
    activity counts on a second connection alongside the rest."""
    say = progress or (lambda _step: None)
    path, day = q.area.path, q.as_of
    say("areas")
    areas = await _areas(session, path, max_areas)
    counting = asyncio.ensure_future(_activity_counts(session, path, day))
    try:
        return await _load_rest(session, q, areas, counting, say)
    finally:
        if not counting.done():
            counting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await counting
        elif not counting.cancelled():
            counting.exception()  # seen: an error of the rest is the one raised


async def _load_rest(
    session: AsyncSession,
    q: CoverageQuery,
    areas: _Areas,
    counting: asyncio.Future[list[I64]],
    say: Progress,
) -> CoverageData:
    path, day = q.area.path, q.as_of
    ids, cols = areas.ids, areas.columns
    n = len(ids)
    say("neighbours")
    na_ids, nb_ids = await _int_columns(session, 2, _NEIGHBORS, path)
    na, nb = _positions(ids, na_ids), _positions(ids, nb_ids)  # -1: outside the subtree
    keep = (na >= 0) & (nb >= 0)
    say("service areas")
    s_org, s_area, s_cat = await _services(session, q, ids)
    say("organizations")
    orgs = await _organizations(session, path, s_org)
    service_org = _positions(orgs.ids, s_org)
    say("service activities")
    visits, org_recent = _place_counts(await counting, ids, orgs.ids)
    say("agreements and meetings")
    agreements = await _agreements(session, path, day, ids, orgs.ids)
    meetings = await _meetings(session, path, day, ids, orgs.ids)
    unengaged = await session.scalars(
        select(Organization.id).where(unengaged_units_condition(path, day))
    )
    unengaged_pos = _positions(orgs.ids, list(unengaged))
    categories = (
        await session.execute(
            select(ServiceCategory.id, ServiceCategory.code, ServiceCategory.name).where(
                ServiceCategory.id.in_(q.category_ids)
            )
        )
    ).all()
    return CoverageData(
        area_ids=ids,
        parent=_positions(ids, cols[1]),
        level=np.array([LEVEL_INDEX[lv] for lv in cols[2]], dtype=np.int64),
        households=np.array(cols[3], dtype=np.int64),
        vulnerable=np.array(cols[4:9], dtype=np.int64).T.reshape(n, 5),
        party_members=np.array(cols[9], dtype=np.int64),
        names=cols[11],
        office_space=cols[10],
        neighbors=(na[keep], nb[keep]),
        org_ids=orgs.ids,
        org_area=_positions(ids, orgs.area_ids),
        org_kind=orgs.kind,
        org_party_level=orgs.party_level,
        org_names=orgs.names,
        # areas served in this report's region and categories (where a suggestion would land)
        org_load=np.bincount(service_org, minlength=len(orgs.ids)).astype(np.int64),
        org_recent=org_recent,
        service_org=service_org,
        service_area=_positions(ids, s_area),
        service_category=s_cat,
        visits=visits,
        categories={c.id: c.code for c in categories},
        category_names={c.id: c.name for c in categories},
        agreements=agreements,
        meetings=meetings,
        unengaged=unengaged_pos[unengaged_pos >= 0].tolist(),
    )


async def _areas(session: AsyncSession, path: str, max_areas: int) -> _Areas:
    cols = await _columns(session, _AREAS, {"path": path}, 12)
    if len(cols[0]) > max_areas:
        raise ValidationFailed(
            f"This area holds {len(cols[0]):,} areas, more than the {max_areas:,} a report"
            " covers: pick a smaller area.",
            field=["areaId"],
        )
    return _Areas(np.array(cols[0], dtype=np.int64), cols)


async def _services(session: AsyncSession, q: CoverageQuery, ids: I64) -> list[I64]:
    ancestors = [int(x) for x in q.area.path.strip("/").split("/")[:-1]]
    args = (ids.tolist(), list(q.category_ids), q.area.id, ancestors)
    return await _int_columns(session, 3, _SERVICES, *args)


async def _organizations(session: AsyncSession, path: str, serving: I64) -> _Orgs:
    """The subtree's organizations and those elsewhere serving in it, by id."""
    cols = await _columns(session, _ORGS, {"path": path}, 5)
    ids = np.array(cols[0], dtype=np.int64)
    missing = np.unique(serving[_positions(ids, serving) < 0])
    if len(missing):
        more = await _columns(session, _ORGS_BY_ID, {"ids": missing.tolist()}, 5)
        cols = [a + b for a, b in zip(cols, more, strict=True)]
        order = np.argsort(np.array(cols[0], dtype=np.int64), kind="stable").tolist()
        cols = [[c[i] for i in order] for c in cols]
        ids = np.array(cols[0], dtype=np.int64)
    return _Orgs(
        ids=ids,
        area_ids=np.array(cols[1], dtype=np.int64),
        kind=_objects(cols[2]),
        party_level=_objects(cols[3]),
        names=cols[4],
    )


def _months_before(day: date, months: int) -> date:
    m = day.year * 12 + day.month - 1 - months
    y, mo = divmod(m, 12)
    return date(y, mo + 1, min(day.day, calendar.monthrange(y, mo + 1)[1]))


async def _activity_counts(session: AsyncSession, path: str, day: date) -> list[I64]:
    """Activities per area in the trailing month, quarter and year, and per organization in
    the last 90 days, within the subtree: (area ids, month, quarter, year, organization ids,
    recent). The largest read of a report, so it runs on a connection of its own while the
    session reads the rest (each statement reads committed data as of its start either way)."""
    windows = (_months_before(day, 1), _months_before(day, 3), _months_before(day, 12), day)
    since = day - timedelta(days=RECENT_DAYS)
    engine = session.bind
    if not isinstance(engine, AsyncEngine):
        visits = await _int_columns(session, 4, _VISITS, path, *windows)
        return visits + await _int_columns(session, 2, _RECENT, path, since, day)
    async with AsyncSession(engine) as own:
        visits = await _int_columns(own, 4, _VISITS, path, *windows)
        return visits + await _int_columns(own, 2, _RECENT, path, since, day)


def _place_counts(counts: list[I64], area_ids: I64, org_ids: I64) -> tuple[I64, I64]:
    """The counts as (n, 3) visits per area index and recent activities per organization."""
    v_area, v_m, v_q, v_y, r_org, r_n = counts
    visits = np.zeros((len(area_ids), 3), dtype=np.int64)
    at = _positions(area_ids, v_area)
    visits[at[at >= 0]] = np.stack([v_m, v_q, v_y], axis=1)[at >= 0]
    recent = np.zeros(len(org_ids), dtype=np.int64)
    at = _positions(org_ids, r_org)
    recent[at[at >= 0]] = r_n[at >= 0]
    return visits, recent


async def _agreements(
    session: AsyncSession, path: str, day: date, area_ids: I64, org_ids: I64
) -> list[AgreementFact]:
    q_start, q_end = rotation.quarter_bounds(day)
    rows = (
        await session.execute(
            _AGREEMENTS, {"path": path, "as_of": day, "q_start": q_start, "q_end": q_end}
        )
    ).all()
    community = _positions(area_ids, [r.community_id for r in rows]).tolist()
    partner = _positions(org_ids, [r.partner_id for r in rows]).tolist()
    return [
        AgreementFact(
            r.id, c, p, bool(r.in_force), int(r.minimum), int(r.done), bool(r.this_quarter)
        )
        for r, c, p in zip(rows, community, partner, strict=True)
        if c >= 0 and p >= 0
    ]


async def _meetings(
    session: AsyncSession, path: str, day: date, area_ids: I64, org_ids: I64
) -> list[MeetingFact]:
    q_start, _ = rotation.quarter_bounds(day)
    rows = (await session.execute(_MEETINGS, {"path": path, "as_of": day})).all()
    rotations: dict[int, list[rotation.Rotation]] = {}
    for r in (await session.execute(_ROTATIONS, {"ids": [m.id for m in rows]})).all():
        rotations.setdefault(r.meeting_id, []).append(
            rotation.Rotation(r.effective_from, tuple(r.member_ids), r.anchor)
        )
    conveners = [
        rotation.convener_on(RotationPeriod(m.rotation_period), rotations.get(m.id, []), day)
        for m in rows
    ]
    at_org = _positions(org_ids, [-1 if c is None else c for c in conveners]).tolist()
    at_area = _positions(area_ids, [m.area_id for m in rows]).tolist()
    return [
        MeetingFact(
            m.id,
            a,
            m.name,
            m.last_sat is not None and m.last_sat >= q_start,
            m.last_sat,
            None if o < 0 else o,
        )
        for m, a, o in zip(rows, at_area, at_org, strict=True)
    ]


async def _columns(
    session: AsyncSession, sql: Any, params: dict[str, Any], width: int
) -> list[list[Any]]:
    row = (await session.execute(sql, params)).one()
    return [list(c) if c is not None else [] for c in row[:width]]


async def _int_columns(session: AsyncSession, width: int, sql: str, *args: Any) -> list[I64]:
    """The rows of ``sql`` (``width`` bigint columns, never NULL) as one array per column, read
    with binary COPY on the session's connection: no Python object per value."""
    raw = (await (await session.connection()).get_raw_connection()).driver_connection
    assert raw is not None
    chunks: list[bytes] = []

    async def keep(chunk: bytes) -> None:
        chunks.append(chunk)

    await raw.copy_from_query(sql, *args, output=keep, format="binary")
    return binary_copy_columns(b"".join(chunks), width)


def binary_copy_columns(data: bytes, width: int) -> list[I64]:
    """Parse PostgreSQL's binary COPY format (a signature, flags and an extension area, then per
    row a field count and per field a length and the value, then -1) where every row holds
    ``width`` int8 values: one fixed-size record per row."""
    if data[:11] != b"PGCOPY\n\xff\r\n\x00":
        raise ValueError("not a binary COPY stream")
    start = 19 + int.from_bytes(data[15:19], "big")
    body = memoryview(data)[start : len(data) - 2]
    fields: list[tuple[str, str]] = [("count", ">i2")]
    for i in range(width):
        fields += [(f"len{i}", ">i4"), (f"v{i}", ">i8")]
    record = np.dtype(fields)
    if len(body) % record.itemsize:
        raise ValueError(f"COPY rows are not {width} bigints each")
    rows = np.frombuffer(body, dtype=record)
    if (rows["count"] != width).any() or any((rows[f"len{i}"] != 8).any() for i in range(width)):
        raise ValueError(f"COPY rows are not {width} non-null bigints each")
    return [rows[f"v{i}"].astype(np.int64) for i in range(width)]


def _objects(values: Sequence[Any]) -> NDArray[np.object_]:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _positions(sorted_ids: I64, values: Any) -> I64:
    """The index of each value in ``sorted_ids`` (-1 where absent)."""
    v = np.array(values, dtype=np.int64).reshape(-1)
    if not len(sorted_ids) or not len(v):
        return np.full(len(v), -1, dtype=np.int64)
    at = np.minimum(np.searchsorted(sorted_ids, v), len(sorted_ids) - 1)
    found: I64 = np.where(sorted_ids[at] == v, at, -1).astype(np.int64)
    return found

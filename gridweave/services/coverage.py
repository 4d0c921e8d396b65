"""Coverage reports: authorize, bound the arguments, load a subtree's facts in a few set-based
queries into ``graph.coverage.CoverageData``, and run the rules in a worker thread.

The loaded data is cached per process (``CoverageCache``) and dropped by the change events of
its subtree, so a report after a change reflects it; the rules themselves run on every call
(they take a fraction of the load)."""

from __future__ import annotations

import calendar
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import anyio
import numpy as np
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from gridweave.errors import ValidationFailed
from gridweave.graph.coverage import (
    AgreementFact,
    CoverageData,
    CoverageResult,
    MeetingFact,
    Rules,
    VisitPeriod,
    VisitRule,
    coverage_gaps,
)
from gridweave.models import Area, Organization, RotationPeriod, ServiceCategory
from gridweave.models.areas import LEVEL_ORDER
from gridweave.services import rotation
from gridweave.services.access import Actor, require_coverage_reader
from gridweave.services.areas import get_area
from gridweave.services.calendar import not_in_future, today
from gridweave.services.meetings import unengaged_units_condition
from gridweave.services.subtree import in_subtree_sql
from gridweave.settings import Settings

RECENT_DAYS = 90
Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class CoverageQuery:
    area: Area
    category_ids: tuple[int, ...]
    max_hops: int
    as_of: date


@dataclass(slots=True)
class CoverageReport:
    area: Area
    as_of: date
    max_hops: int
    result: CoverageResult
    data: CoverageData


def rules_from_settings(settings: Settings, *, max_hops: int) -> Rules:
    return Rules(
        max_hops=max_hops,
        visit_rules=tuple(
            VisitRule(VisitPeriod(r.period), tuple(r.groups), r.min_activities)
            for r in settings.coverage_visit_rules
        ),
        weights=dict(settings.coverage_weights),
        office_m2_per_100_households=Decimal(settings.coverage_office_m2_per_100_households),
        party_threshold=settings.coverage_party_threshold,
        suggestion_capacity=settings.coverage_suggestion_capacity,
        suggestions_per_gap=settings.coverage_suggestions_per_gap,
        suggested_gaps=settings.coverage_suggested_gaps,
    )


async def check_query(
    session: AsyncSession,
    *,
    actor: Actor | None,
    settings: Settings,
    area_id: int,
    category_codes: Sequence[str] | None,
    max_hops: int | None,
    as_of: date | None,
) -> CoverageQuery:
    """Refuse what a caller may not see or ask: the area outside their scope, unknown or too
    many categories, hops out of range, a day outside the calendar's bounds or in the future."""
    area = await get_area(session, area_id, field=["areaId"])
    require_coverage_reader(actor, area.path)
    hops = settings.coverage_default_max_hops if max_hops is None else max_hops
    if not 0 <= hops <= settings.coverage_max_hops:
        raise ValidationFailed(
            f"maxHops lies between 0 and {settings.coverage_max_hops}.", field=["maxHops"]
        )
    day = today() if as_of is None else not_in_future(as_of, field=["asOf"], what="asOf")
    rows = (await session.execute(select(ServiceCategory.id, ServiceCategory.code))).all()
    by_code = {code: cid for cid, code in rows}
    if category_codes is None:
        ids = tuple(sorted(by_code.values()))
    else:
        if len(category_codes) > settings.coverage_max_categories:
            raise ValidationFailed(
                f"Ask for at most {settings.coverage_max_categories} categories.",
                field=["categoryCodes"],
            )
        found = []
        for i, code in enumerate(category_codes):
            if code not in by_code:
                raise ValidationFailed(
                    f"Unknown service category '{code[:64]}'.", field=["categoryCodes", str(i)]
                )
            found.append(by_code[code])
        ids = tuple(sorted(set(found)))
    return CoverageQuery(area=area, category_ids=ids, max_hops=hops, as_of=day)


# ---- loading ----------------------------------------------------------------------------------


def _sub(column: str) -> str:
    return in_subtree_sql(column, ":path")


# The big reads come back as one row of arrays (one per column): asyncpg decodes arrays in C,
# where 200,000 rows would cost a Python object each.
_AREAS = text(
    "SELECT array_agg(id ORDER BY id), array_agg(COALESCE(parent_id, 0) ORDER BY id),"
    " array_agg(level ORDER BY id), array_agg(households ORDER BY id),"
    " array_agg(elderly_living_alone ORDER BY id), array_agg(left_behind_children ORDER BY id),"
    " array_agg(disabled_households ORDER BY id), array_agg(hardship_households ORDER BY id),"
    " array_agg(mobile_population ORDER BY id), array_agg(party_members ORDER BY id),"
    " array_agg(office_space_m2 ORDER BY id), array_agg(name ORDER BY id)"
    f" FROM areas WHERE {_sub('path')}"
)
_NEIGHBORS = text(
    "SELECT array_agg(n.area_id), array_agg(n.neighbor_id)"
    " FROM areas a JOIN area_neighbors n ON n.area_id = a.id"
    f" WHERE {_sub('a.path')} AND n.area_id < n.neighbor_id"
)
# Rows at the root's ancestors (a city's service centre serving the whole city) serve the root.
_SERVICES = text(
    "SELECT array_agg(organization_id), array_agg(area_id), array_agg(category_id) FROM ("
    " SELECT s.organization_id, s.area_id, s.category_id FROM areas a"
    " JOIN organization_service_areas s ON s.area_id = a.id"
    f" WHERE {_sub('a.path')} AND s.category_id = ANY(:categories)"
    " UNION ALL SELECT s.organization_id, :root, s.category_id FROM organization_service_areas s"
    " WHERE s.area_id = ANY(:ancestors) AND s.category_id = ANY(:categories)) x"
)
_ORGS = text(
    "SELECT array_agg(id ORDER BY id), array_agg(area_id ORDER BY id),"
    " array_agg(kind ORDER BY id), array_agg(party_level ORDER BY id),"
    " array_agg(name ORDER BY id) FROM organizations o"
    f" WHERE {_sub('o.area_path')} OR o.id = ANY(:extra)"
)
_VISITS = text(
    "SELECT array_agg(area_id), array_agg(m), array_agg(q), array_agg(y) FROM ("
    " SELECT area_id, count(*) FILTER (WHERE occurred_on > :month) AS m,"
    " count(*) FILTER (WHERE occurred_on > :quarter) AS q, count(*) AS y"
    f" FROM service_activities WHERE {_sub('area_path')}"
    " AND occurred_on > :year AND occurred_on <= :as_of GROUP BY area_id) v"
)
# Each organization's activities in this subtree in the last 90 days ("active").
_RECENT = text(
    "SELECT array_agg(organization_id), array_agg(n) FROM ("
    " SELECT organization_id, count(*) AS n FROM service_activities"
    f" WHERE {_sub('area_path')} AND occurred_on > :recent AND occurred_on <= :as_of"
    " GROUP BY organization_id) r"
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


def _months_before(day: date, months: int) -> date:
    m = day.year * 12 + day.month - 1 - months
    y, mo = divmod(m, 12)
    return date(y, mo + 1, min(day.day, calendar.monthrange(y, mo + 1)[1]))


def _arr(values: Sequence[Any]) -> np.ndarray[Any, np.dtype[np.int64]]:
    return np.fromiter(values, dtype=np.int64, count=len(values))


async def load_coverage_data(
    session: AsyncSession,
    q: CoverageQuery,
    *,
    max_areas: int,
    progress: Progress | None = None,
) -> CoverageData:
    """The facts of the subtree at ``q.area`` in nine queries."""
    say = progress or (lambda _step: None)
    path = q.area.path
    day = q.as_of
    base = {"path": path}
    say("areas")
    cols = await _columns(session, _AREAS, base, 12)
    if len(cols[0]) > max_areas:
        raise ValidationFailed(
            f"This area holds {len(cols[0]):,} areas, more than the {max_areas:,} a report"
            " covers: pick a smaller area.",
            field=["areaId"],
        )
    ids = np.array(cols[0], dtype=np.int64)
    n = len(ids)
    say("neighbours")
    na_ids, nb_ids = await _columns(session, _NEIGHBORS, base, 2)
    nself, na = _positions(ids, na_ids), _positions(ids, nb_ids)  # -1: outside the subtree
    keep = (nself >= 0) & (na >= 0)
    say("service areas")
    ancestors = [int(x) for x in path.strip("/").split("/")[:-1]]
    s_org, s_area, s_cat = await _columns(
        session,
        _SERVICES,
        {**base, "ancestors": ancestors, "root": q.area.id, "categories": list(q.category_ids)},
        3,
    )
    say("organizations")
    extra = np.unique(np.array(s_org, dtype=np.int64)).tolist()
    o_cols = await _columns(session, _ORGS, {**base, "extra": extra}, 5)
    org_ids = np.array(o_cols[0], dtype=np.int64)
    opos = {int(o): i for i, o in enumerate(o_cols[0])}
    say("service activities")
    windows = {
        "month": _months_before(day, 1),
        "quarter": _months_before(day, 3),
        "year": _months_before(day, 12),
        "recent": day - timedelta(days=RECENT_DAYS),
        "as_of": day,
    }
    v_area, v_m, v_q, v_y = await _columns(
        session, _VISITS, {k: v for k, v in {**base, **windows}.items() if k != "recent"}, 4
    )
    r_org, r_n = await _columns(
        session, _RECENT, {"path": path, "recent": windows["recent"], "as_of": day}, 2
    )
    org_recent = np.zeros(len(org_ids), dtype=np.int64)
    rpos = _positions(org_ids, r_org)
    org_recent[rpos[rpos >= 0]] = np.array(r_n, dtype=np.int64)[rpos >= 0]
    visits = np.zeros((n, 3), dtype=np.int64)
    vpos = _positions(ids, v_area)
    inside = vpos >= 0
    visits[vpos[inside]] = np.array([v_m, v_q, v_y], dtype=np.int64).T.reshape(-1, 3)[inside]
    pos = {int(a): i for i, a in enumerate(cols[0])}
    say("agreements and meetings")
    q_start, q_end = rotation.quarter_bounds(day)
    agreements = [
        AgreementFact(
            r.id,
            pos[r.community_id],
            opos[r.partner_id],
            bool(r.in_force),
            int(r.minimum),
            int(r.done),
            bool(r.this_quarter),
        )
        for r in (
            await session.execute(
                _AGREEMENTS, {**base, "as_of": day, "q_start": q_start, "q_end": q_end}
            )
        ).all()
        if r.community_id in pos and r.partner_id in opos
    ]
    meeting_rows = (await session.execute(_MEETINGS, {**base, "as_of": day})).all()
    rotations: dict[int, list[rotation.Rotation]] = {}
    for r in (await session.execute(_ROTATIONS, {"ids": [m.id for m in meeting_rows]})).all():
        rotations.setdefault(r.meeting_id, []).append(
            rotation.Rotation(r.effective_from, tuple(r.member_ids), r.anchor)
        )
    meetings = []
    for m in meeting_rows:
        convener = rotation.convener_on(
            RotationPeriod(m.rotation_period), rotations.get(m.id, []), day
        )
        meetings.append(
            MeetingFact(
                m.id,
                pos[m.area_id],
                m.name,
                m.last_sat is not None and m.last_sat >= q_start,
                m.last_sat,
                opos.get(convener) if convener is not None else None,
            )
        )
    unengaged = [
        opos[o]
        for o in await session.scalars(
            select(Organization.id).where(unengaged_units_condition(path, day))
        )
        if o in opos
    ]
    categories = (
        await session.execute(
            select(ServiceCategory.id, ServiceCategory.code, ServiceCategory.name).where(
                ServiceCategory.id.in_(q.category_ids)
            )
        )
    ).all()
    parent_ids = np.array(cols[1], dtype=np.int64)
    service_org = _positions(org_ids, s_org)
    level_index = {lv: i for i, lv in LEVEL_INDEX.items()}
    return CoverageData(
        area_ids=ids,
        parent=_positions(ids, parent_ids),
        level=np.array([level_index[lv] for lv in cols[2]], dtype=np.int64),
        households=np.array(cols[3], dtype=np.int64),
        vulnerable=np.array(cols[4:9], dtype=np.int64).T.reshape(n, 5),
        party_members=np.array(cols[9], dtype=np.int64),
        names=cols[11],
        office_space=cols[10],
        neighbors=(nself[keep], na[keep]),
        org_ids=org_ids,
        org_area=_positions(ids, o_cols[1]),
        org_kind=o_cols[2],
        org_party_level=o_cols[3],
        org_names=o_cols[4],
        # areas served in this report's region and categories (where a suggestion would land)
        org_load=np.bincount(service_org, minlength=len(org_ids)).astype(np.int64),
        org_recent=org_recent,
        service_org=service_org,
        service_area=_positions(ids, s_area),
        service_category=np.array(s_cat, dtype=np.int64),
        visits=visits,
        categories={c.id: c.code for c in categories},
        category_names={c.id: c.name for c in categories},
        agreements=agreements,
        meetings=meetings,
        unengaged=unengaged,
    )


async def _columns(
    session: AsyncSession, sql: Any, params: dict[str, Any], width: int
) -> list[list[Any]]:
    row = (await session.execute(sql, params)).one()
    return [list(c) if c is not None else [] for c in row[:width]]


def _positions(sorted_ids: np.ndarray[Any, Any], values: Any) -> np.ndarray[Any, Any]:
    """The index of each value in ``sorted_ids`` (-1 where absent)."""
    v = np.array(values, dtype=np.int64)
    if not len(sorted_ids) or not len(v):
        return np.full(len(v), -1, dtype=np.int64)
    at = np.minimum(np.searchsorted(sorted_ids, v), len(sorted_ids) - 1)
    return np.where(sorted_ids[at] == v, at, -1).astype(np.int64)


LEVEL_INDEX = dict(enumerate(lv.value for lv in LEVEL_ORDER))


# ---- the per-process cache ----------------------------------------------------------------------


class CoverageCache:
    """Loaded ``CoverageData`` by (root area, day, categories), at most ``entries`` of them. A
    change event drops every entry whose subtree it touches (the event's area lies in the
    subtree, or above it); an event without an area, or a lost listener (None), drops all.
    Nothing is cached while ``connected()`` says the listener is down: a missed event would
    otherwise leave a stale entry behind."""

    def __init__(self, entries: int, connected: Callable[[], bool] = lambda: True) -> None:
        self.entries = entries
        self.connected = connected
        self._data: OrderedDict[tuple[str, date, tuple[int, ...]], CoverageData] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(q: CoverageQuery) -> tuple[str, date, tuple[int, ...]]:
        return (q.area.path, q.as_of, q.category_ids)

    def get(self, q: CoverageQuery) -> CoverageData | None:
        with self._lock:
            found = self._data.get(self.key(q))
            if found is None:
                self.misses += 1
                return None
            self._data.move_to_end(self.key(q))
            self.hits += 1
            return found

    def put(self, q: CoverageQuery, data: CoverageData) -> None:
        if self.entries <= 0 or not self.connected():
            return
        with self._lock:
            self._data[self.key(q)] = data
            while len(self._data) > self.entries:
                self._data.popitem(last=False)

    def on_change(self, event: dict[str, Any] | None) -> None:
        area = str((event or {}).get("area") or "")
        with self._lock:
            if not area:
                self._data.clear()
                return
            for k in [k for k in self._data if area.startswith(k[0]) or k[0].startswith(area)]:
                del self._data[k]


async def coverage_report(
    session: AsyncSession,
    *,
    actor: Actor | None,
    settings: Settings,
    area_id: int,
    category_codes: Sequence[str] | None = None,
    max_hops: int | None = None,
    as_of: date | None = None,
    cache: CoverageCache | None = None,
    progress: Progress | None = None,
) -> CoverageReport:
    q = await check_query(
        session,
        actor=actor,
        settings=settings,
        area_id=area_id,
        category_codes=category_codes,
        max_hops=max_hops,
        as_of=as_of,
    )
    data = cache.get(q) if cache is not None else None
    if data is None:
        data = await load_coverage_data(
            session, q, max_areas=settings.coverage_max_areas, progress=progress
        )
        if cache is not None:
            cache.put(q, data)
    rules = rules_from_settings(settings, max_hops=q.max_hops)
    if progress:
        progress("gaps")
    result = await anyio.to_thread.run_sync(coverage_gaps, data, rules)
    return CoverageReport(area=q.area, as_of=q.as_of, max_hops=q.max_hops, result=result, data=data)

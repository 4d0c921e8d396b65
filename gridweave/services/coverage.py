"""Coverage reports: authorize, bound the arguments, load a subtree's facts in a few set-based
queries into ``graph.coverage.CoverageData`` (``services/coverage_load.py``), and run the rules in
a worker thread.

The loaded data is cached per process (``CoverageCache``) and dropped by the change events of
its subtree, so a report after a change reflects it; the rules themselves run on every call
(they take a fraction of the load)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import anyio
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gridweave.errors import ValidationFailed
from gridweave.graph.coverage import (
    CoverageData,
    CoverageResult,
    Rules,
    VisitPeriod,
    VisitRule,
    coverage_gaps,
)
from gridweave.models import Area, ServiceCategory
from gridweave.services.access import Actor, require_coverage_reader
from gridweave.services.areas import get_area
from gridweave.services.calendar import not_in_future, today
from gridweave.services.coverage_load import Progress, load_coverage_data
from gridweave.settings import Settings

__all__ = [
    "CoverageCache",
    "CoverageQuery",
    "CoverageReport",
    "coverage_report",
    "load_coverage_data",
]


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

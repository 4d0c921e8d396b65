"""DataLoaders for purchased services, one per relation; each batch opens its own read session."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any, TypeVar

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from gridweave.db import Sessionmaker
from gridweave.resolvers.batching import BatchLoaders
from gridweave.services import users as user_svc
from gridweave.services.bids import BID_FACTS_SQL
from gridweave.services.reviews import REVIEW_SQL

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

CALL_COLS = (
    "id, title, issuer_id, issuer_area_path, area_id, area_path, total_budget, max_bid_amount,"
    " opens_at, closes_at, blind_review, aggregation, evaluators_per_bid, proposal_rubric,"
    " performance_rubric, panel_assigned_at, reviews_pending, awarded_at, awarded_total,"
    " cancelled_at, cancel_reason"
)


def _group(rows: Sequence[Row[Any]], keys: Sequence[Any], key: str) -> list[list[Row[Any]]]:
    by: dict[Any, list[Row[Any]]] = {}
    for r in rows:
        by.setdefault(getattr(r, key), []).append(r)
    return [by.get(k, []) for k in keys]


class ProcurementLoaders(BatchLoaders):
    def __init__(self, sessionmaker: Sessionmaker) -> None:
        super().__init__(sessionmaker)
        self.call = self._make(self._calls)
        self.call_categories = self._make(self._call_categories)
        self.bid = self._make(self._bids)
        self.budget_lines = self._make(self._budget_lines)
        self.target_areas = self._make(self._target_areas)
        self.indicators = self._make(self._indicators)
        self.reviews = self._make(self._reviews)
        self.review = self._make(self._review)
        self.user_record = self._make(self._user_records)
        self.track_record = self._make(self._track_records)

    async def _calls(self, session: AsyncSession, keys: list[int]) -> list[Row[Any] | None]:
        rows = await self._fetch(
            session, f"SELECT {CALL_COLS} FROM procurement_calls WHERE id = ANY(:ids)", ids=keys
        )
        by_id = {r.id: r for r in rows}
        return [by_id.get(k) for k in keys]

    async def _call_categories(self, session: AsyncSession, keys: list[int]) -> list[list[int]]:
        rows = await self._fetch(
            session,
            "SELECT call_id, category_id FROM procurement_call_categories"
            " WHERE call_id = ANY(:ids) ORDER BY category_id",
            ids=keys,
        )
        return [[r.category_id for r in g] for g in _group(rows, keys, "call_id")]

    async def _bids(self, session: AsyncSession, keys: list[int]) -> list[Row[Any] | None]:
        rows = await self._fetch(session, f"{BID_FACTS_SQL} WHERE b.id = ANY(:ids)", ids=keys)
        by_id = {r.id: r for r in rows}
        return [by_id.get(k) for k in keys]

    async def _budget_lines(self, session: AsyncSession, keys: list[int]) -> list[list[Row[Any]]]:
        rows = await self._fetch(
            session,
            "SELECT bid_id, item, amount FROM bid_budget_lines WHERE bid_id = ANY(:ids)"
            " ORDER BY bid_id, position",
            ids=keys,
        )
        return _group(rows, keys, "bid_id")

    async def _target_areas(self, session: AsyncSession, keys: list[int]) -> list[list[int]]:
        rows = await self._fetch(
            session,
            "SELECT bid_id, area_id FROM bid_target_areas WHERE bid_id = ANY(:ids)"
            " ORDER BY bid_id, area_id",
            ids=keys,
        )
        return [[r.area_id for r in g] for g in _group(rows, keys, "bid_id")]

    async def _indicators(self, session: AsyncSession, keys: list[int]) -> list[list[Row[Any]]]:
        rows = await self._fetch(
            session,
            "SELECT bid_id, name, unit, target, achieved FROM bid_indicators"
            " WHERE bid_id = ANY(:ids) ORDER BY bid_id, position",
            ids=keys,
        )
        return _group(rows, keys, "bid_id")

    async def _reviews(self, session: AsyncSession, keys: list[int]) -> list[list[Row[Any]]]:
        rows = await self._fetch(
            session, f"{REVIEW_SQL} WHERE r.bid_id = ANY(:ids) ORDER BY r.id", ids=keys
        )
        return _group(rows, keys, "bid_id")

    async def _review(self, session: AsyncSession, keys: list[int]) -> list[Row[Any] | None]:
        rows = await self._fetch(session, f"{REVIEW_SQL} WHERE r.id = ANY(:ids)", ids=keys)
        by_id = {r.id: r for r in rows}
        return [by_id.get(k) for k in keys]

    async def _user_records(
        self, session: AsyncSession, keys: list[int]
    ) -> list[user_svc.UserRecord | None]:
        found = await user_svc.load_users(session, keys)
        return [found.get(k) for k in keys]

    async def _track_records(
        self, session: AsyncSession, keys: list[tuple[int, int]]
    ) -> list[list[Row[Any]]]:
        """Keys are (organization id, limit): completed bids, newest evaluation first; one
        LATERAL query per distinct limit."""
        by_limit: dict[int, list[int]] = {}
        for org_id, limit in keys:
            by_limit.setdefault(limit, []).append(org_id)
        found: dict[tuple[int, int], list[Row[Any]]] = {}
        for limit, orgs in by_limit.items():
            rows = await self._fetch(
                session,
                "SELECT p.k AS _key, t.* FROM unnest(CAST(:orgs AS bigint[])) AS p(k)"
                f" CROSS JOIN LATERAL ({BID_FACTS_SQL} WHERE b.bidder_id = p.k"
                " AND b.status = 'COMPLETED' ORDER BY b.evaluated_at DESC, b.id DESC"
                " LIMIT :lim) t",
                orgs=orgs,
                lim=limit,
            )
            for org_id, group in zip(orgs, _group(rows, orgs, "_key"), strict=True):
                found[(org_id, limit)] = group
        return [found[k] for k in keys]

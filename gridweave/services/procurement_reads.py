"""The lists of purchased services, as SQL with the read policy in the WHERE (a page holds only
what the viewer may read), and the ranking of a call's bids."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import Row, text
from sqlalchemy.ext.asyncio import AsyncSession

from gridweave.models import Aggregation, BidStatus, CallStatus
from gridweave.services.access import read_policy
from gridweave.services.bids import BID_FACTS_SQL
from gridweave.services.procurement import status_sql
from gridweave.services.scoring import Aggregate, headline

B = TypeVar("B")
RANKED_STATUSES = ("SUBMITTED", "AWARDED", "NOT_AWARDED", "COMPLETED")


async def call_rows(
    session: AsyncSession, *, status: CallStatus | None, after_id: int, limit: int
) -> Sequence[Row[Any]]:
    """Calls are public (published before, 三个公开): every signed-in user reads them all."""
    where = f" AND {status_sql(status)}" if status else ""
    sql = f"SELECT c.* FROM procurement_calls c WHERE c.id > :after{where}"
    rows = await session.execute(
        text(f"{sql} ORDER BY c.id LIMIT :lim"),
        {"after": after_id, "lim": limit},
    )
    return rows.all()


def _bids_where(status: BidStatus | None) -> str:
    policy = read_policy("Bid").sql("CAST(:viewer AS bigint)", "b")
    status_sql = " AND b.status = :status" if status else ""
    return f" WHERE b.call_id = :call{status_sql} AND {policy}"


def _bid_params(viewer: int, call_id: int, status: BidStatus | None) -> dict[str, Any]:
    params: dict[str, Any] = {"call": call_id, "viewer": viewer}
    if status:
        params["status"] = status.value
    return params


async def bid_rows(
    session: AsyncSession,
    *,
    viewer: int,
    call_id: int,
    status: BidStatus | None,
    after_id: int,
    limit: int,
) -> Sequence[Row[Any]]:
    """A page of the call's bids the viewer may read (user id 0 for nobody), oldest first."""
    rows = await session.execute(
        text(f"{BID_FACTS_SQL}{_bids_where(status)} AND b.id > :after ORDER BY b.id LIMIT :lim"),
        {**_bid_params(viewer, call_id, status), "after": after_id, "lim": limit},
    )
    return rows.all()


async def bid_count(
    session: AsyncSession, *, viewer: int, call_id: int, status: BidStatus | None
) -> int:
    sql = f"SELECT count(*) FROM bids b{_bids_where(status)}"
    return int(await session.scalar(text(sql), _bid_params(viewer, call_id, status)) or 0)


async def rankable_bid_rows(
    session: AsyncSession, *, viewer: int, call_id: int
) -> Sequence[Row[Any]]:
    """The call's bids the viewer may read that take part in the ranking."""
    statuses = ", ".join(f"'{s}'" for s in RANKED_STATUSES)
    rows = await session.execute(
        text(f"{BID_FACTS_SQL}{_bids_where(None)} AND b.status IN ({statuses}) ORDER BY b.id"),
        {"call": call_id, "viewer": viewer},
    )
    return rows.all()


def ranked(
    bids: Sequence[B],
    scores: Sequence[Aggregate | None],
    *,
    key: Callable[[B], tuple[Aggregation, Decimal, int]],
) -> list[B]:
    """Best first: the higher headline score (trimmed mean or mean, as the call says), then the
    higher mean, then the lower amount, then the earlier bid. Bids without a score are left out."""
    keyed = []
    for bid, agg in zip(bids, scores, strict=True):
        if agg is None:
            continue
        how, amount, seq = key(bid)
        keyed.append(((-headline(agg, how), -agg.mean, amount, seq), bid))
    keyed.sort(key=lambda kb: kb[0])
    return [b for _, b in keyed]

"""Bids (投标): the facts the read policies decide on, submitting and withdrawing.

Calls and awards are in services/procurement.py; review panels and reviews in
services/reviews.py."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Row, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from gridweave.errors import Conflict, Forbidden, NotFound, ValidationFailed
from gridweave.models import (
    Area,
    Bid,
    BidBudgetLine,
    BidIndicator,
    BidStatus,
    BidTargetArea,
    CallStatus,
    Organization,
)
from gridweave.services import audit
from gridweave.services.access import Actor, BidFacts, read_policy, require_actor
from gridweave.services.procurement import (
    DEFAULT_RULES,
    INPUT,
    MAX_MONEY,
    BudgetExceeded,
    InvalidState,
    ProcurementRules,
    WindowClosed,
    call_status,
    clean_text,
    get_call,
    locked,
    money,
    utcnow,
)
from gridweave.services.scoring import exact
from gridweave.services.validation import clean_name

MAX_BUDGET_LINES = 50
MAX_TARGET_AREAS = 50
MAX_INDICATORS = 20
MAX_SUMMARY = 4000


# ---------------------------------------------------------------- facts for the read policies

BID_FACTS_SQL = (
    "SELECT b.id, b.call_id, b.seq, b.bidder_id, b.title, b.summary, b.amount, b.status,"
    " b.submitted_at, b.reviews_due, b.proposal_reviews, b.performance_reviews, b.evaluated_at,"
    " c.issuer_area_path, c.awarded_at IS NOT NULL AS call_awarded, c.blind_review,"
    " c.aggregation, c.area_id AS call_area_id, c.area_path AS call_area_path,"
    " (c.panel_assigned_at IS NOT NULL AND c.reviews_pending = 0) AS proposal_complete,"
    " ARRAY(SELECT ba.evaluator_id FROM bid_assignments ba WHERE ba.bid_id = b.id"
    " ORDER BY ba.evaluator_id) AS evaluator_ids"
    " FROM bids b JOIN procurement_calls c ON c.id = b.call_id"
)


def bid_facts(row: Any) -> BidFacts:
    """The read policy's facts from a row of BID_FACTS_SQL."""
    return BidFacts(
        bidder_id=row.bidder_id,
        status=row.status,
        issuer_area_path=row.issuer_area_path,
        call_awarded=bool(row.call_awarded),
        evaluator_ids=frozenset(row.evaluator_ids or ()),
    )


async def load_bid_rows(session: AsyncSession, bid_ids: Sequence[int]) -> dict[int, Row[Any]]:
    rows = await session.execute(text(f"{BID_FACTS_SQL} WHERE b.id = ANY(:ids)"), {"ids": bid_ids})
    return {r.id: r for r in rows}


async def readable_bid(
    session: AsyncSession, actor: Actor, bid_id: int, *, field: Sequence[str]
) -> Row[Any]:
    """The bid, or NOT_FOUND when the actor may not read it (as if it did not exist)."""
    row = (await load_bid_rows(session, [bid_id])).get(bid_id)
    if row is None or not read_policy("Bid").may_read(actor, bid_facts(row)):
        raise NotFound("No such bid.", field=field)
    return row


# ---------------------------------------------------------------- bids


@dataclass(frozen=True, slots=True)
class BudgetLineSpec:
    item: str
    amount: Any


@dataclass(frozen=True, slots=True)
class IndicatorSpec:
    name: str
    unit: str
    target: float


@dataclass(frozen=True, slots=True)
class BidSpec:
    call_id: int
    bidder_id: int
    title: str
    summary: str
    budget_lines: Sequence[BudgetLineSpec]
    target_area_ids: Sequence[int]
    indicators: Sequence[IndicatorSpec]


def _budget_lines(specs: Sequence[BudgetLineSpec]) -> list[tuple[str, Decimal]]:
    where = [INPUT, "budgetLines"]
    if not 1 <= len(specs) <= MAX_BUDGET_LINES:
        raise ValidationFailed(f"A bid has 1 to {MAX_BUDGET_LINES} budget lines.", field=where)
    return [
        (
            clean_text(s.item, field=[*where, str(i), "item"], label="An item", max_length=200),
            money(s.amount, field=[*where, str(i), "amount"], label="A line's amount"),
        )
        for i, s in enumerate(specs)
    ]


def _indicators(specs: Sequence[IndicatorSpec]) -> list[tuple[str, str, Decimal]]:
    where = [INPUT, "indicators"]
    if not 1 <= len(specs) <= MAX_INDICATORS:
        raise ValidationFailed(
            f"A bid promises 1 to {MAX_INDICATORS} indicators (its performance is reviewed "
            "against them).",
            field=where,
        )
    out: list[tuple[str, str, Decimal]] = []
    seen: set[str] = set()
    for i, s in enumerate(specs):
        at = [*where, str(i)]
        name = clean_name(s.name, field=[*at, "name"])
        if name in seen:
            raise ValidationFailed(f"The indicator '{name}' is named twice.", field=[*at, "name"])
        seen.add(name)
        unit = clean_text(s.unit, field=[*at, "unit"], label="A unit", max_length=32)
        target = exact(s.target, field=[*at, "target"], label="A target")
        if not Decimal(0) <= target < MAX_MONEY:
            raise ValidationFailed("A target is from 0 to below 10^12.", field=[*at, "target"])
        out.append((name, unit, target))
    return out


async def submit_bid(
    session: AsyncSession,
    *,
    actor: Actor | None,
    spec: BidSpec,
    rules: ProcurementRules = DEFAULT_RULES,
) -> Bid:
    actor = require_actor(actor)
    # The call's row lock numbers its bids one after another (投标人 A, B, ...).
    call = await get_call(session, spec.call_id, field=[INPUT, "callId"], lock=True)
    bidder = await session.get(Organization, spec.bidder_id)
    if bidder is None:
        raise NotFound("No such organization.", field=[INPUT, "bidderId"])
    if not (actor.is_admin or actor.member_of(bidder.id)):
        raise Forbidden("Only the bidder's own members may bid for it.", field=[INPUT, "bidderId"])
    if call_status(call) is not CallStatus.OPEN:
        raise WindowClosed(
            f"Bids are taken while the call is open, and it is {call_status(call).value}.",
            field=[INPUT, "callId"],
        )
    if bidder.kind not in rules.bidder_kinds:
        kinds = ", ".join(sorted(rules.bidder_kinds))
        raise ValidationFailed(f"Bids come from: {kinds}.", field=[INPUT, "bidderId"])
    live = await session.scalar(
        select(Bid.id).where(
            Bid.call_id == call.id,
            Bid.bidder_id == bidder.id,
            Bid.status != BidStatus.WITHDRAWN.value,
        )
    )
    if live is not None:
        raise Conflict(
            "This organization has a bid in this call already (withdraw it to bid anew).",
            field=[INPUT, "bidderId"],
        )
    title = clean_name(spec.title, field=[INPUT, "title"])
    summary = clean_text(
        spec.summary, field=[INPUT, "summary"], label="The summary", max_length=MAX_SUMMARY
    )
    lines = _budget_lines(spec.budget_lines)
    amount = sum((a for _, a in lines), Decimal(0))
    if amount > call.max_bid_amount:
        raise BudgetExceeded(
            f"The budget lines add up to {amount}, above this call's cap of "
            f"{call.max_bid_amount} per bid.",
            field=[INPUT, "budgetLines"],
        )
    area_ids = list(dict.fromkeys(spec.target_area_ids))
    if not 1 <= len(area_ids) <= MAX_TARGET_AREAS:
        raise ValidationFailed(
            f"Name 1 to {MAX_TARGET_AREAS} target areas.", field=[INPUT, "targetAreaIds"]
        )
    paths = dict(
        (await session.execute(select(Area.id, Area.path).where(Area.id.in_(area_ids)))).all()
    )
    for i, area_id in enumerate(area_ids):
        path = paths.get(area_id)
        if path is None:
            raise NotFound("No such area.", field=[INPUT, "targetAreaIds", str(i)])
        if not path.startswith(call.area_path):
            raise ValidationFailed(
                "A target area must lie inside the call's area.",
                field=[INPUT, "targetAreaIds", str(i)],
            )
    indicators = _indicators(spec.indicators)
    seq = int(
        await session.scalar(
            select(func.coalesce(func.max(Bid.seq), 0)).where(Bid.call_id == call.id)
        )
        or 0
    )
    bid = Bid(
        call_id=call.id,
        seq=seq + 1,
        bidder_id=bidder.id,
        title=title,
        summary=summary,
        amount=amount,
        status=BidStatus.SUBMITTED.value,
        submitted_at=utcnow(),
        reviews_due=0,
        proposal_reviews=0,
        performance_reviews=0,
    )
    session.add(bid)
    await session.flush()
    await session.execute(
        insert(BidBudgetLine),
        [
            {"bid_id": bid.id, "position": i, "item": item, "amount": a}
            for i, (item, a) in enumerate(lines)
        ],
    )
    await session.execute(
        insert(BidTargetArea), [{"bid_id": bid.id, "area_id": a} for a in area_ids]
    )
    await session.execute(
        insert(BidIndicator),
        [
            {"bid_id": bid.id, "position": i, "name": n, "unit": u, "target": t, "achieved": None}
            for i, (n, u, t) in enumerate(indicators)
        ],
    )
    await audit.record(
        session,
        actor,
        "submitBid",
        f"Bid:{bid.id}",
        {
            "call_id": call.id,
            "bidder_id": bidder.id,
            "title": title,
            "amount": str(amount),
            "budget_lines": [[item, str(a)] for item, a in lines],
            "target_area_ids": area_ids,
            "indicators": [[n, u, str(t)] for n, u, t in indicators],
        },
        area_path=call.area_path,
    )
    return bid


async def withdraw_bid(session: AsyncSession, *, actor: Actor | None, bid_id: int) -> Bid:
    actor = require_actor(actor)
    await readable_bid(session, actor, bid_id, field=[INPUT, "bidId"])
    bid = await session.scalar(locked(select(Bid).where(Bid.id == bid_id)))
    assert bid is not None
    if not (actor.is_admin or actor.member_of(bid.bidder_id)):
        raise Forbidden(
            "Only the bidder's own members may withdraw its bid.", field=[INPUT, "bidId"]
        )
    call = await get_call(session, bid.call_id, field=[INPUT, "bidId"])
    if bid.status != BidStatus.SUBMITTED.value:
        raise InvalidState(f"The bid is {bid.status.lower()}.", field=[INPUT, "bidId"])
    if call_status(call) is not CallStatus.OPEN:
        raise WindowClosed(
            "A bid can be withdrawn only while its call is open.", field=[INPUT, "bidId"]
        )
    bid.status = BidStatus.WITHDRAWN.value
    bid.withdrawn_at = utcnow()
    await audit.record(
        session,
        actor,
        "withdrawBid",
        f"Bid:{bid.id}",
        {"call_id": call.id, "bidder_id": bid.bidder_id, "amount": str(bid.amount)},
        area_path=call.area_path,
    )
    return bid

"""Calls (政府购买服务): create, cancel and award; the rules and checks bids share.

Bids are in services/bids.py; review panels, reviews and performance evaluation in
services/reviews.py; who reads what is declared in services/access.py (ProcurementCall, Bid,
Review, AggregateScore)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from sqlalchemy import Select, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gridweave.errors import Conflict, DomainError, ErrorCode, Forbidden, NotFound, ValidationFailed
from gridweave.models import (
    Aggregation,
    Area,
    Bid,
    BidStatus,
    CallStatus,
    Organization,
    ProcurementCall,
    ProcurementCallCategory,
    ServiceCategory,
)
from gridweave.services import audit
from gridweave.services.access import Actor, require_actor
from gridweave.services.scoring import Criterion, Thresholds, parse_rubric
from gridweave.services.validation import clean_name, no_control_characters
from gridweave.settings import Settings

INPUT = "input"
T = TypeVar("T")
MAX_MONEY = Decimal("1000000000000")  # 10^12 yuan: numeric(14, 2) holds less than that
FEN = Decimal("0.01")
MAX_CATEGORIES = 20
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)


class BudgetExceeded(DomainError):
    code = ErrorCode.BUDGET_EXCEEDED


class WindowClosed(DomainError):
    code = ErrorCode.WINDOW_CLOSED


class InvalidState(DomainError):
    code = ErrorCode.INVALID_STATE


@dataclass(frozen=True, slots=True)
class ProcurementRules:
    """The settings that purchased services follow (settings.py documents each)."""

    max_bid_amount: Decimal = Decimal("200000")
    bidder_kinds: frozenset[str] = frozenset(
        {"SOCIAL_ORGANIZATION", "VOLUNTEER_TEAM", "SERVICE_CENTER"}
    )
    issuer_kinds: frozenset[str] = frozenset({"GOVERNMENT_DEPARTMENT", "SERVICE_CENTER"})
    evaluators_per_bid: int = 3
    conflict_steps: int = 2
    thresholds: Thresholds = field(default_factory=Thresholds)

    @classmethod
    def from_settings(cls, settings: Settings) -> ProcurementRules:
        return cls(
            max_bid_amount=settings.procurement_max_bid_amount,
            bidder_kinds=frozenset(settings.procurement_bidder_kinds),
            issuer_kinds=frozenset(settings.procurement_issuer_kinds),
            evaluators_per_bid=settings.procurement_evaluators_per_bid,
            conflict_steps=settings.procurement_conflict_steps,
            thresholds=Thresholds(
                settings.grade_excellent, settings.grade_good, settings.grade_pass
            ),
        )


DEFAULT_RULES = ProcurementRules()


def locked(query: Select[T]) -> Select[T]:
    """``SELECT ... FOR UPDATE`` that also refreshes an object the session already holds: its
    counters may have been changed by a bulk UPDATE since (one session, many steps)."""
    return query.with_for_update().execution_options(populate_existing=True)


def utcnow() -> datetime:
    return datetime.now(UTC)


def call_status(call: Any, now: datetime | None = None) -> CallStatus:
    """DRAFT before ``opens_at``, OPEN until ``closes_at``, CLOSED after; AWARDED or CANCELLED once
    either happened."""
    if call.cancelled_at is not None:
        return CallStatus.CANCELLED
    if call.awarded_at is not None:
        return CallStatus.AWARDED
    now = now or utcnow()
    if now < call.opens_at:
        return CallStatus.DRAFT
    if now < call.closes_at:
        return CallStatus.OPEN
    return CallStatus.CLOSED


def status_sql(status: CallStatus, c: str = "c") -> str:
    """The same rule as a SQL condition on the calls row at alias ``c``."""
    live = f"{c}.cancelled_at IS NULL AND {c}.awarded_at IS NULL"
    return {
        CallStatus.CANCELLED: f"{c}.cancelled_at IS NOT NULL",
        CallStatus.AWARDED: f"{c}.awarded_at IS NOT NULL",
        CallStatus.DRAFT: f"{live} AND now() < {c}.opens_at",
        CallStatus.OPEN: f"{live} AND now() >= {c}.opens_at AND now() < {c}.closes_at",
        CallStatus.CLOSED: f"{live} AND now() >= {c}.closes_at",
    }[status]


def rubric_of(call: Any, stage: str) -> list[Criterion]:
    items = call.proposal_rubric if stage == "PROPOSAL" else call.performance_rubric
    return [Criterion.from_json(c) for c in items]


def money(value: Any, *, field: list[str], label: str) -> Decimal:
    """A positive amount in yuan with at most two decimals (fen), below 10^12."""
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ValidationFailed(f"{label} is not a number.", field=field) from None
    if not amount.is_finite() or amount <= 0 or amount >= MAX_MONEY:
        raise ValidationFailed(f"{label} must be more than 0 and less than 10^12.", field=field)
    if amount != amount.quantize(FEN):
        raise ValidationFailed(f"{label} has more than two decimals (fen).", field=field)
    return amount.quantize(FEN)


def clean_text(value: str, *, field: list[str], label: str, max_length: int) -> str:
    text_ = no_control_characters(value, field=field).strip()
    if not text_:
        raise ValidationFailed(f"{label} cannot be empty.", field=field)
    if len(text_) > max_length:
        raise ValidationFailed(f"{label} has more than {max_length} characters.", field=field)
    return text_


def sane_time(value: datetime, *, field: list[str]) -> datetime:
    if value.tzinfo is None:
        raise ValidationFailed("Give a time zone (e.g. +08:00).", field=field)
    if not EARLIEST <= value < LATEST:
        raise ValidationFailed("Give a date between 2000 and 2100.", field=field)
    return value


async def get_call(
    session: AsyncSession, call_id: int, *, field: Sequence[str], lock: bool = False
) -> ProcurementCall:
    q = select(ProcurementCall).where(ProcurementCall.id == call_id)
    if lock:
        q = locked(q)
    call = await session.scalar(q)
    if call is None:
        raise NotFound("No such call for bids.", field=field)
    return call


def require_issuer(actor: Actor | None, call: ProcurementCall) -> Actor:
    """The issuer's coordinators (of the issuing organization's home area) run a call."""
    actor = require_actor(actor)
    if not actor.coordinates(call.issuer_area_path):
        raise Forbidden("Only the issuer's coordinators may do this with the call.")
    return actor


# ---------------------------------------------------------------- calls


@dataclass(frozen=True, slots=True)
class CallSpec:
    title: str
    issuer_id: int
    area_id: int
    category_codes: Sequence[str]
    total_budget: Any
    opens_at: datetime
    closes_at: datetime
    proposal_rubric: Sequence[Any]
    performance_rubric: Sequence[Any]
    max_bid_amount: Any = None
    blind_review: bool = False
    aggregation: Aggregation = Aggregation.TRIMMED_MEAN
    evaluators_per_bid: int | None = None


async def create_call(
    session: AsyncSession,
    *,
    actor: Actor | None,
    spec: CallSpec,
    rules: ProcurementRules = DEFAULT_RULES,
    now: datetime | None = None,
) -> ProcurementCall:
    actor = require_actor(actor)
    issuer = await session.get(Organization, spec.issuer_id)
    if issuer is None:
        raise NotFound("No such organization.", field=[INPUT, "issuerId"])
    if not actor.coordinates(issuer.area_path):
        raise Forbidden(
            "Only coordinators of the issuer's area may open its calls.", field=[INPUT, "issuerId"]
        )
    if issuer.kind not in rules.issuer_kinds:
        kinds = ", ".join(sorted(rules.issuer_kinds))
        raise ValidationFailed(f"Calls are issued by: {kinds}.", field=[INPUT, "issuerId"])
    area = await session.get(Area, spec.area_id)
    if area is None:
        raise NotFound("No such area.", field=[INPUT, "areaId"])
    if not area.path.startswith(issuer.area_path):
        raise ValidationFailed(
            "An issuer buys services for its own area and the areas below it.",
            field=[INPUT, "areaId"],
        )
    title = clean_name(spec.title, field=[INPUT, "title"])
    codes = list(dict.fromkeys(spec.category_codes))
    if not 1 <= len(codes) <= MAX_CATEGORIES:
        raise ValidationFailed(
            f"Name 1 to {MAX_CATEGORIES} service categories.", field=[INPUT, "categoryCodes"]
        )
    found = dict(
        (
            await session.execute(
                select(ServiceCategory.code, ServiceCategory.id).where(
                    ServiceCategory.code.in_(codes)
                )
            )
        ).all()
    )
    for i, code in enumerate(codes):
        if code not in found:
            raise ValidationFailed(
                f"Unknown service category '{code}'.", field=[INPUT, "categoryCodes", str(i)]
            )
    budget = money(spec.total_budget, field=[INPUT, "totalBudget"], label="The total budget")
    cap = (
        rules.max_bid_amount
        if spec.max_bid_amount is None
        else money(spec.max_bid_amount, field=[INPUT, "maxBidAmount"], label="The cap per bid")
    )
    cap = min(cap, budget) if spec.max_bid_amount is None else cap
    if cap > budget:
        raise BudgetExceeded(
            "The cap per bid cannot exceed the total budget.", field=[INPUT, "maxBidAmount"]
        )
    opens = sane_time(spec.opens_at, field=[INPUT, "opensAt"])
    closes = sane_time(spec.closes_at, field=[INPUT, "closesAt"])
    if closes <= opens:
        raise ValidationFailed("The call must close after it opens.", field=[INPUT, "closesAt"])
    if closes <= (now or utcnow()):
        raise ValidationFailed("The call would be closed already.", field=[INPUT, "closesAt"])
    proposal = parse_rubric(spec.proposal_rubric, field=[INPUT, "proposalRubric"])
    performance = parse_rubric(spec.performance_rubric, field=[INPUT, "performanceRubric"])
    needed = spec.evaluators_per_bid or rules.evaluators_per_bid
    if not 1 <= needed <= 50:
        raise ValidationFailed("A bid needs 1 to 50 evaluators.", field=[INPUT, "evaluatorsPerBid"])
    call = ProcurementCall(
        title=title,
        issuer_id=issuer.id,
        issuer_area_path=issuer.area_path,
        area_id=area.id,
        area_path=area.path,
        total_budget=budget,
        max_bid_amount=cap,
        opens_at=opens,
        closes_at=closes,
        blind_review=bool(spec.blind_review),
        aggregation=spec.aggregation.value,
        evaluators_per_bid=needed,
        proposal_rubric=[c.as_json() for c in proposal],
        performance_rubric=[c.as_json() for c in performance],
        reviews_pending=0,
    )
    session.add(call)
    await session.flush()
    await session.execute(
        insert(ProcurementCallCategory),
        [{"call_id": call.id, "category_id": found[c]} for c in codes],
    )
    await audit.record(
        session,
        actor,
        "createProcurementCall",
        f"ProcurementCall:{call.id}",
        {
            "title": title,
            "issuer_id": issuer.id,
            "area_id": area.id,
            "categories": codes,
            "total_budget": str(budget),
            "max_bid_amount": str(cap),
            "opens_at": opens.isoformat(),
            "closes_at": closes.isoformat(),
            "blind_review": call.blind_review,
            "aggregation": call.aggregation,
            "evaluators_per_bid": needed,
            "proposal_rubric": call.proposal_rubric,
            "performance_rubric": call.performance_rubric,
        },
        area_path=area.path,
    )
    return call


async def cancel_call(
    session: AsyncSession, *, actor: Actor | None, call_id: int, reason: str
) -> ProcurementCall:
    call = await get_call(session, call_id, field=[INPUT, "callId"], lock=True)
    actor = require_issuer(actor, call)
    status = call_status(call)
    if status in (CallStatus.AWARDED, CallStatus.CANCELLED):
        raise InvalidState(f"The call is {status.value.lower()} already.", field=[INPUT, "callId"])
    why = clean_text(reason, field=[INPUT, "reason"], label="The reason", max_length=1000)
    call.cancelled_at = utcnow()
    call.cancel_reason = why
    await session.execute(
        update(Bid)
        .where(Bid.call_id == call.id, Bid.status == BidStatus.SUBMITTED.value)
        .values(status=BidStatus.NOT_AWARDED.value)
    )
    await audit.record(
        session,
        actor,
        "cancelProcurementCall",
        f"ProcurementCall:{call.id}",
        {"reason": why, "status_before": status.value},
        area_path=call.area_path,
    )
    return call


# ---------------------------------------------------------------- award


async def award_bids(
    session: AsyncSession, *, actor: Actor | None, call_id: int, bid_ids: Sequence[int]
) -> ProcurementCall:
    """Decide the call: the chosen bids are AWARDED, every other submitted bid NOT_AWARDED, in one
    step. The call's row lock makes two concurrent awards queue (the second finds it awarded);
    the conditional update and the budget check constraint hold even without the lock."""
    call = await get_call(session, call_id, field=[INPUT, "callId"], lock=True)
    actor = require_issuer(actor, call)
    status = call_status(call)
    if status is not CallStatus.CLOSED:
        raise InvalidState(
            f"Awards are made once the call has closed; it is {status.value}.",
            field=[INPUT, "callId"],
        )
    if call.panel_assigned_at is None or call.reviews_pending > 0:
        raise InvalidState(
            f"Scoring is not complete: {call.reviews_pending} reviews are still due"
            if call.panel_assigned_at is not None
            else "Scoring is not complete: no review panel is assigned yet.",
            field=[INPUT, "callId"],
        )
    if len(bid_ids) > 1000:
        raise ValidationFailed("Award at most 1,000 bids.", field=[INPUT, "bidIds"])
    if len(set(bid_ids)) != len(bid_ids):
        raise ValidationFailed("A bid is named twice.", field=[INPUT, "bidIds"])
    rows = (
        await session.execute(
            select(Bid.id, Bid.call_id, Bid.status, Bid.amount).where(Bid.id.in_(bid_ids))
        )
    ).all()
    by_id = {r.id: r for r in rows}
    total = Decimal(0)
    for i, pk in enumerate(bid_ids):
        row = by_id.get(pk)
        if row is None or row.call_id != call.id:
            raise NotFound("No such bid in this call.", field=[INPUT, "bidIds", str(i)])
        if row.status != BidStatus.SUBMITTED.value:
            raise InvalidState(
                f"That bid is {row.status.lower()}.", field=[INPUT, "bidIds", str(i)]
            )
        total += row.amount
    if total > call.total_budget:
        raise BudgetExceeded(
            f"These bids add up to {total}, above the call's budget of {call.total_budget}.",
            field=[INPUT, "bidIds"],
        )
    now = utcnow()
    won = await session.scalar(
        update(ProcurementCall)
        .where(
            ProcurementCall.id == call.id,
            ProcurementCall.awarded_at.is_(None),
            ProcurementCall.cancelled_at.is_(None),
        )
        .values(awarded_at=now, awarded_total=total)
        .returning(ProcurementCall.id)
    )
    if won is None:
        raise Conflict("The call was just decided by someone else.", field=[INPUT, "callId"])
    if bid_ids:
        await session.execute(
            update(Bid).where(Bid.id.in_(bid_ids)).values(status=BidStatus.AWARDED.value)
        )
    await session.execute(
        update(Bid)
        .where(Bid.call_id == call.id, Bid.status == BidStatus.SUBMITTED.value)
        .values(status=BidStatus.NOT_AWARDED.value)
    )
    await session.refresh(call)
    await audit.record(
        session,
        actor,
        "awardBids",
        f"ProcurementCall:{call.id}",
        {
            "awarded": [[pk, str(by_id[pk].amount)] for pk in bid_ids],
            "awarded_total": str(total),
            "total_budget": str(call.total_budget),
        },
        area_path=call.area_path,
    )
    return call

"""Fair review of bids: the panel (with conflicts of interest found on the organization graph),
proposal and performance reviews, indicator results, and the aggregates read from them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from gridweave.errors import Conflict, DomainError, ErrorCode, Forbidden, NotFound, ValidationFailed
from gridweave.models import (
    Bid,
    BidAssignment,
    BidConflict,
    BidIndicator,
    BidStatus,
    CallEvaluator,
    CallStatus,
    ProcurementCall,
    Review,
    ReviewScore,
    ReviewStage,
    Role,
)
from gridweave.services import audit, conflicts
from gridweave.services.access import Actor, load_grants, require_actor, require_role
from gridweave.services.bids import readable_bid
from gridweave.services.procurement import (
    DEFAULT_RULES,
    INPUT,
    MAX_MONEY,
    InvalidState,
    ProcurementRules,
    call_status,
    get_call,
    locked,
    require_issuer,
    rubric_of,
    utcnow,
)
from gridweave.services.scoring import exact, score_review

MAX_PANEL = 100


class ConflictOfInterest(DomainError):
    code = ErrorCode.CONFLICT_OF_INTEREST


def letter(seq: int) -> str:
    """投标人 A, B, ..., Z, AA, AB, ...: a bid's stand-in name in a blind review."""
    out = ""
    while seq > 0:
        seq, rest = divmod(seq - 1, 26)
        out = chr(ord("A") + rest) + out
    return out


@dataclass(frozen=True, slots=True)
class PanelResult:
    call: ProcurementCall
    conflicts: list[conflicts.FoundConflict]
    bid_ids_by_bidder: dict[int, int]


async def _check_evaluators(
    session: AsyncSession, call: ProcurementCall, evaluator_ids: Sequence[int]
) -> None:
    grants = await load_grants(session, evaluator_ids)
    existing = set(
        (
            await session.scalars(
                text("SELECT id FROM users WHERE id = ANY(:ids)"), {"ids": list(evaluator_ids)}
            )
        ).all()
    )
    for i, uid in enumerate(evaluator_ids):
        at = [INPUT, "evaluatorIds", str(i)]
        if uid not in existing:
            raise NotFound("No such user.", field=at)
        ok = any(
            g.role is Role.EVALUATOR and g.covers_path(call.area_path) for g in grants.get(uid, ())
        )
        if not ok:
            raise ValidationFailed("This user is not an evaluator for the call's area.", field=at)


async def assign_evaluators(
    session: AsyncSession,
    *,
    actor: Actor | None,
    call_id: int,
    evaluator_ids: Sequence[int],
    rules: ProcurementRules = DEFAULT_RULES,
) -> PanelResult:
    """Name the call's review panel (replacing one that has not started). Each submitted bid is
    assigned every panel member without a conflict of interest with its bidder; the panel is
    refused when a bid would be left with fewer than the call needs."""
    call = await get_call(session, call_id, field=[INPUT, "callId"], lock=True)
    actor = require_issuer(actor, call)
    status = call_status(call)
    if status is not CallStatus.CLOSED:
        raise InvalidState(
            f"The panel is named once the call has closed (its bids are known); it is "
            f"{status.value}.",
            field=[INPUT, "callId"],
        )
    started = await session.scalar(
        text("SELECT 1 FROM reviews r JOIN bids b ON b.id = r.bid_id WHERE b.call_id = :c LIMIT 1"),
        {"c": call.id},
    )
    if started:
        raise InvalidState(
            "Reviews have started: the panel can no longer change.", field=[INPUT, "callId"]
        )
    if not 1 <= len(evaluator_ids) <= MAX_PANEL:
        raise ValidationFailed(f"Name 1 to {MAX_PANEL} evaluators.", field=[INPUT, "evaluatorIds"])
    if len(set(evaluator_ids)) != len(evaluator_ids):
        raise ValidationFailed("An evaluator is named twice.", field=[INPUT, "evaluatorIds"])
    await _check_evaluators(session, call, evaluator_ids)
    bids = (
        await session.execute(
            select(Bid.id, Bid.seq, Bid.bidder_id)
            .where(Bid.call_id == call.id, Bid.status == BidStatus.SUBMITTED.value)
            .order_by(Bid.id)
        )
    ).all()
    orgs = await conflicts.evaluator_organizations(session, evaluator_ids)
    found = await conflicts.find(
        session,
        evaluator_orgs=orgs,
        bidder_ids=[b.bidder_id for b in bids],
        max_steps=rules.conflict_steps,
    )
    conflicted: dict[int, dict[int, str]] = {}
    for c in found:
        conflicted.setdefault(c.bidder_id, {})[c.evaluator_id] = c.path
    short = []
    for b in bids:
        against = conflicted.get(b.bidder_id, {})
        if len(evaluator_ids) - len(against) < call.evaluators_per_bid:
            short.append((b, against))
    if short:
        b, against = short[0]
        paths = "; ".join(f"evaluator {e}: {p}" for e, p in sorted(against.items())[:3])
        more = f" ({len(short) - 1} more bids are short too)" if len(short) > 1 else ""
        raise ConflictOfInterest(
            f"Bid {letter(b.seq)} would keep {len(evaluator_ids) - len(against)} conflict-free "
            f"evaluators, fewer than the {call.evaluators_per_bid} the call needs{more}. "
            f"Conflicts: {paths}.",
            field=[INPUT, "evaluatorIds"],
        )
    bid_ids = [b.id for b in bids]
    await session.execute(delete(BidConflict).where(BidConflict.bid_id.in_(bid_ids)))
    await session.execute(delete(BidAssignment).where(BidAssignment.bid_id.in_(bid_ids)))
    await session.execute(delete(CallEvaluator).where(CallEvaluator.call_id == call.id))
    await session.execute(
        text(
            "INSERT INTO call_evaluators (call_id, evaluator_id, position)"
            " SELECT :c, e, n FROM unnest(CAST(:ids AS bigint[])) WITH ORDINALITY AS u(e, n)"
        ),
        {"c": call.id, "ids": list(evaluator_ids)},
    )
    pairs_bid: list[int] = []
    pairs_eval: list[int] = []
    conflict_rows: list[tuple[int, int, str]] = []
    due: dict[int, int] = {}
    for b in bids:
        against = conflicted.get(b.bidder_id, {})
        for e in evaluator_ids:
            if e in against:
                conflict_rows.append((b.id, e, against[e]))
            else:
                pairs_bid.append(b.id)
                pairs_eval.append(e)
        due[b.id] = len(evaluator_ids) - len(against)
    await session.execute(
        text(
            "INSERT INTO bid_assignments (bid_id, evaluator_id)"
            " SELECT * FROM unnest(CAST(:b AS bigint[]), CAST(:e AS bigint[]))"
        ),
        {"b": pairs_bid, "e": pairs_eval},
    )
    if conflict_rows:
        await session.execute(
            text(
                "INSERT INTO bid_conflicts (bid_id, evaluator_id, path)"
                " SELECT * FROM unnest(CAST(:b AS bigint[]), CAST(:e AS bigint[]),"
                " CAST(:p AS text[]))"
            ),
            {
                "b": [r[0] for r in conflict_rows],
                "e": [r[1] for r in conflict_rows],
                "p": [r[2] for r in conflict_rows],
            },
        )
    await session.execute(
        text(
            "UPDATE bids SET reviews_due = u.d FROM unnest(CAST(:b AS bigint[]),"
            " CAST(:d AS int[])) AS u(b, d) WHERE bids.id = u.b"
        ),
        {"b": list(due), "d": list(due.values())},
    )
    call.panel_assigned_at = utcnow()
    call.reviews_pending = sum(due.values())
    await audit.record(
        session,
        actor,
        "assignEvaluators",
        f"ProcurementCall:{call.id}",
        {
            "evaluator_ids": list(evaluator_ids),
            "bids": len(bids),
            "reviews_due": call.reviews_pending,
            "conflicts": [[b, e, p] for b, e, p in conflict_rows],
        },
        area_path=call.area_path,
    )
    return PanelResult(call, found, {b.bidder_id: b.id for b in bids})


# ---------------------------------------------------------------- reviews


@dataclass(frozen=True, slots=True)
class ScoreSpec:
    criterion_key: str
    score: float
    comment: str | None = None


#: A review as the API shows it (scores in order, the evaluator's position on the panel): the
#: loaders add their WHERE, by bid or by id.
REVIEW_SQL = (
    "SELECT r.id, r.bid_id, r.evaluator_id, r.stage, r.total, r.submitted_at, b.call_id,"
    " ce.position,"
    " coalesce((SELECT json_agg(json_build_object('k', s.criterion_key, 's', s.score::text,"
    " 'c', s.comment) ORDER BY s.position) FROM review_scores s WHERE s.review_id = r.id),"
    " '[]'::json) AS scores"
    " FROM reviews r JOIN bids b ON b.id = r.bid_id"
    " LEFT JOIN call_evaluators ce ON ce.call_id = b.call_id AND ce.evaluator_id = r.evaluator_id"
)


async def review_row(session: AsyncSession, review_id: int) -> Any:
    """The review as :data:`REVIEW_SQL` reads it, pending changes of this session included."""
    await session.flush()
    return (await session.execute(text(f"{REVIEW_SQL} WHERE r.id = :id"), {"id": review_id})).one()


async def submit_review(
    session: AsyncSession,
    *,
    actor: Actor | None,
    bid_id: int,
    stage: ReviewStage,
    scores: Sequence[ScoreSpec],
    rules: ProcurementRules = DEFAULT_RULES,
) -> Review:
    actor = require_role(actor, Role.EVALUATOR)
    where = [INPUT, "bidId"]
    stored = await session.scalar(
        select(BidConflict.path).where(
            BidConflict.bid_id == bid_id, BidConflict.evaluator_id == actor.user_id
        )
    )
    if stored is not None:
        raise ConflictOfInterest(f"You may not review this bid: {stored}.", field=where)
    row = await readable_bid(session, actor, bid_id, field=where)
    if actor.user_id not in set(row.evaluator_ids or ()):
        raise Forbidden("You are not assigned to review this bid.", field=where)
    # Ties may have been made since the panel was named: check this pair again.
    orgs = await conflicts.evaluator_organizations(session, [actor.user_id])
    live = await conflicts.find(
        session, evaluator_orgs=orgs, bidder_ids=[row.bidder_id], max_steps=rules.conflict_steps
    )
    if live:
        raise ConflictOfInterest(f"You may not review this bid: {live[0].path}.", field=where)
    bid = await session.scalar(locked(select(Bid).where(Bid.id == bid_id)))
    call = await get_call(session, row.call_id, field=where)
    assert bid is not None
    if stage is ReviewStage.PROPOSAL:
        if call_status(call) is not CallStatus.CLOSED or bid.status != BidStatus.SUBMITTED.value:
            raise InvalidState(
                "Proposals are reviewed after the call closes and before the award.", field=where
            )
    else:
        if bid.status != BidStatus.AWARDED.value:
            raise InvalidState("Performance is reviewed on awarded bids only.", field=where)
        pending = await session.scalar(
            select(BidIndicator.name).where(
                BidIndicator.bid_id == bid.id, BidIndicator.achieved.is_(None)
            )
        )
        if pending is not None:
            raise InvalidState(
                f"Indicator results are not recorded yet ('{pending}').", field=where
            )
    done = await session.scalar(
        select(Review.id).where(
            Review.bid_id == bid.id,
            Review.stage == stage.value,
            Review.evaluator_id == actor.user_id,
        )
    )
    if done is not None:
        raise Conflict("You have reviewed this bid at this stage already.", field=where)
    scored, total = score_review(rubric_of(call, stage.value), scores, field=[INPUT, "scores"])
    review = Review(
        bid_id=bid.id,
        evaluator_id=actor.user_id,
        stage=stage.value,
        total=total,
        submitted_at=utcnow(),
    )
    session.add(review)
    await session.flush()
    session.add_all(
        ReviewScore(
            review_id=review.id,
            criterion_key=s.key,
            position=i,
            score=s.score,
            comment=s.comment,
        )
        for i, s in enumerate(scored)
    )
    if stage is ReviewStage.PROPOSAL:
        bid.proposal_reviews += 1
        await session.execute(
            update(ProcurementCall)
            .where(ProcurementCall.id == call.id)
            .values(reviews_pending=ProcurementCall.reviews_pending - 1)
        )
    else:
        bid.performance_reviews += 1
        if bid.performance_reviews == bid.reviews_due:
            bid.status = BidStatus.COMPLETED.value
            bid.evaluated_at = review.submitted_at
    await audit.record(
        session,
        actor,
        "submitReview",
        f"Review:{review.id}",
        {
            "bid_id": bid.id,
            "stage": stage.value,
            "scores": [[s.key, str(s.score)] for s in scored],
            "total": str(total),
        },
        area_path=call.area_path,
    )
    return review


@dataclass(frozen=True, slots=True)
class ResultSpec:
    name: str
    achieved: float


async def record_indicator_results(
    session: AsyncSession, *, actor: Actor | None, bid_id: int, results: Sequence[ResultSpec]
) -> Bid:
    """What an awarded bid achieved, by indicator: its bidder reports, the issuer may correct,
    until performance reviews start."""
    actor = require_actor(actor)
    where = [INPUT, "bidId"]
    row = await readable_bid(session, actor, bid_id, field=where)
    if not (actor.member_of(row.bidder_id) or actor.coordinates(row.issuer_area_path)):
        raise Forbidden(
            "Only the bidder's members or the issuer's coordinators record results.", field=where
        )
    bid = await session.scalar(locked(select(Bid).where(Bid.id == bid_id)))
    assert bid is not None
    if bid.status != BidStatus.AWARDED.value:
        raise InvalidState("Results are recorded for awarded bids.", field=where)
    if bid.performance_reviews > 0:
        raise InvalidState("Performance reviews have started: results are final.", field=where)
    if not 1 <= len(results) <= 20:
        raise ValidationFailed("Give 1 to 20 results.", field=[INPUT, "results"])
    indicators = {
        i.name: i
        for i in (
            await session.scalars(select(BidIndicator).where(BidIndicator.bid_id == bid.id))
        ).all()
    }
    seen: set[str] = set()
    recorded: list[list[Any]] = []
    for i, r in enumerate(results):
        at = [INPUT, "results", str(i)]
        indicator = indicators.get(r.name.strip())
        if indicator is None:
            raise ValidationFailed(f"The bid has no indicator '{r.name}'.", field=[*at, "name"])
        if indicator.name in seen:
            raise ValidationFailed(f"'{indicator.name}' is given twice.", field=[*at, "name"])
        seen.add(indicator.name)
        value = exact(r.achieved, field=[*at, "achieved"], label="A result")
        if not Decimal(0) <= value < MAX_MONEY:
            raise ValidationFailed("A result is from 0 to below 10^12.", field=[*at, "achieved"])
        indicator.achieved = value
        recorded.append([indicator.name, str(value)])
    call = await session.get(ProcurementCall, bid.call_id)
    assert call is not None
    await audit.record(
        session,
        actor,
        "recordIndicatorResults",
        f"Bid:{bid.id}",
        {"results": recorded},
        area_path=call.area_path,
    )
    return bid

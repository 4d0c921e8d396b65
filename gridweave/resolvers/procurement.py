"""Thin resolvers for purchased services: decode ids, call a service, map the answer. Lists put
the read policy's SQL form in their WHERE (so pages hold only what the viewer may read); single
rows ask its Python form."""

from __future__ import annotations

from typing import Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from gridweave.errors import ValidationFailed
from gridweave.ids import decode_cursor, decode_id, decode_optional, encode_id
from gridweave.models import Aggregation as PyAggregation
from gridweave.models import BidStatus as PyBidStatus
from gridweave.models import CallStatus as PyCallStatus
from gridweave.models import ReviewStage as PyReviewStage
from gridweave.resolvers.common import mutate
from gridweave.resolvers.nodes import EXTRA_NODE_RESOLVERS
from gridweave.schema.common import GqlInfo, Node, page_size
from gridweave.schema.permissions import SignedIn
from gridweave.schema.procurement import (
    AggregateScore,
    AssignEvaluatorsInput,
    AwardBidsInput,
    Bid,
    BidConnection,
    BidPayload,
    BidStatus,
    CallStatus,
    CancelProcurementCallInput,
    CreateProcurementCallInput,
    EvaluatorConflict,
    PerformanceResult,
    ProcurementCall,
    ProcurementCallPayload,
    RecordIndicatorResultsInput,
    Review,
    ReviewPayload,
    SubmitBidInput,
    SubmitReviewInput,
    WithdrawBidInput,
)
from gridweave.services import bids as bid_svc
from gridweave.services import procurement as svc
from gridweave.services import procurement_reads as reads
from gridweave.services import reviews as review_svc
from gridweave.services.access import ReviewFacts, read_policy
from gridweave.services.bids import bid_facts
from gridweave.services.procurement import ProcurementRules
from gridweave.services.scoring import aggregate

INPUT = "input"


def _rules(info: GqlInfo) -> ProcurementRules:
    return ProcurementRules.from_settings(info.context.settings)


def _viewer(info: GqlInfo) -> int:
    actor = info.context.actor
    return actor.user_id if actor is not None else 0


async def _bid(session: AsyncSession, info: GqlInfo, pk: int) -> Bid:
    row = (await bid_svc.load_bid_rows(session, [pk]))[pk]
    return Bid.from_row(row, info.context.actor)


async def _call(session: AsyncSession, pk: int) -> ProcurementCall:
    return ProcurementCall.from_row(await svc.get_call(session, pk, field=[INPUT, "callId"]))


# ---------------------------------------------------------------- reads


async def procurement_calls(
    info: GqlInfo,
    status: CallStatus | None = None,
    first: int | None = None,
    after: strawberry.ID | None = None,
) -> list[ProcurementCall]:
    limit = page_size(info, first)
    after_id = decode_optional(after, "ProcurementCall", field=["after"]) or 0
    py_status = PyCallStatus(status.value) if status else None
    async with info.context.sessionmaker() as session:
        rows = await reads.call_rows(session, status=py_status, after_id=after_id, limit=limit)
    return [ProcurementCall.from_row(r) for r in rows]


async def call_bids(
    info: GqlInfo,
    call_id: int,
    *,
    status: BidStatus | None,
    first: int | None,
    after: str | None,
) -> BidConnection:
    limit = page_size(info, first)
    after_id = decode_cursor(after)
    py_status = PyBidStatus(status.value) if status else None
    viewer = _viewer(info)
    sm = info.context.sessionmaker
    async with sm() as session:
        rows = await reads.bid_rows(
            session,
            viewer=viewer,
            call_id=call_id,
            status=py_status,
            after_id=after_id,
            limit=limit + 1,
        )

    async def total() -> int:
        async with sm() as s:
            return await reads.bid_count(s, viewer=viewer, call_id=call_id, status=py_status)

    actor = info.context.actor
    return BidConnection.build(
        rows, lambda r: Bid.from_row(r, actor), limit=limit, after_id=after_id, total=total
    )


async def call_ranking(info: GqlInfo, call_id: int, *, first: int | None, offset: int) -> list[Bid]:
    limit = page_size(info, first if first is not None else info.context.settings.max_page_size)
    if not 0 <= offset <= 100_000:
        raise ValidationFailed("'offset' must be between 0 and 100000.", field=["offset"])
    async with info.context.sessionmaker() as session:
        rows = await reads.rankable_bid_rows(session, viewer=_viewer(info), call_id=call_id)
    actor = info.context.actor
    bids = [Bid.from_row(r, actor) for r in rows]
    if not bids or not bids[0].proposal_complete:
        return []
    policy = read_policy("AggregateScore")
    scored = [b for b in bids if policy.may_read(actor, b.review_facts("PROPOSAL"))]
    reviews = await info.context.loaders.procurement.reviews.load_many([b.pk for b in scored])
    thresholds = _rules(info).thresholds
    aggs = [
        aggregate(
            [r.total for r in rs if r.stage == "PROPOSAL"],
            aggregation=PyAggregation(b.aggregation),
            thresholds=thresholds,
        )
        for b, rs in zip(scored, reviews, strict=True)
    ]
    best = reads.ranked(scored, aggs, key=lambda b: (PyAggregation(b.aggregation), b.amount, b.seq))
    return best[offset : offset + limit]


async def track_record(info: GqlInfo, organization_id: int, first: int | None) -> list[Any]:
    limit = page_size(info, first)
    rows = await info.context.loaders.procurement.track_record.load((organization_id, limit))
    actor = info.context.actor
    policy = read_policy("PerformanceResult")
    thresholds = _rules(info).thresholds
    results = []
    for row in rows:
        bid = Bid.from_row(row, actor)
        if not policy.may_read(actor, bid.review_facts("PERFORMANCE")):
            continue
        reviews = await info.context.loaders.procurement.reviews.load(bid.pk)
        agg = aggregate(
            [r.total for r in reviews if r.stage == "PERFORMANCE"],
            aggregation=PyAggregation(bid.aggregation),
            thresholds=thresholds,
        )
        if agg is None:
            continue
        results.append(
            PerformanceResult(
                bid=bid, score=AggregateScore.of(agg), evaluated_on=row.evaluated_at.date()
            )
        )
    return results


# ---------------------------------------------------------------- node()


async def call_node(info: GqlInfo, pk: int) -> Node | None:
    row = await info.context.loaders.procurement.call.load(pk)
    return ProcurementCall.from_row(row) if row else None


async def bid_node(info: GqlInfo, pk: int) -> Node | None:
    row = await info.context.loaders.procurement.bid.load(pk)
    if row is None or not read_policy("Bid").may_read(info.context.actor, bid_facts(row)):
        return None
    return Bid.from_row(row, info.context.actor)


async def review_node(info: GqlInfo, pk: int) -> Node | None:
    review = await info.context.loaders.procurement.review.load(pk)
    if review is None:
        return None
    row = await info.context.loaders.procurement.bid.load(review.bid_id)
    actor = info.context.actor
    if row is None or actor is None:
        return None
    bid = Bid.from_row(row, actor)
    facts: ReviewFacts = bid.review_facts(review.stage, review.evaluator_id)
    if not read_policy("Review").may_read(actor, facts):
        return None
    return Review.from_row(review, issuer_side=actor.coordinates(row.issuer_area_path))


EXTRA_NODE_RESOLVERS["ProcurementCall"] = call_node
EXTRA_NODE_RESOLVERS["Bid"] = bid_node
EXTRA_NODE_RESOLVERS["Review"] = review_node


# ---------------------------------------------------------------- mutations


async def create_procurement_call(
    info: GqlInfo, input: CreateProcurementCallInput
) -> ProcurementCallPayload:
    async def work(session: AsyncSession) -> ProcurementCallPayload:
        call = await svc.create_call(
            session,
            actor=info.context.actor,
            spec=svc.CallSpec(
                title=input.title,
                issuer_id=decode_id(input.issuer_id, "Organization", field=[INPUT, "issuerId"]),
                area_id=decode_id(input.area_id, "Area", field=[INPUT, "areaId"]),
                category_codes=input.category_codes,
                total_budget=input.total_budget,
                max_bid_amount=input.max_bid_amount,
                opens_at=input.opens_at,
                closes_at=input.closes_at,
                proposal_rubric=input.proposal_rubric,
                performance_rubric=input.performance_rubric,
                blind_review=bool(input.blind_review),
                aggregation=PyAggregation(
                    input.aggregation.value if input.aggregation else "TRIMMED_MEAN"
                ),
                evaluators_per_bid=input.evaluators_per_bid,
            ),
            rules=_rules(info),
        )
        return ProcurementCallPayload(call=ProcurementCall.from_row(call))

    return await mutate(info, ProcurementCallPayload, work)


async def cancel_procurement_call(
    info: GqlInfo, input: CancelProcurementCallInput
) -> ProcurementCallPayload:
    async def work(session: AsyncSession) -> ProcurementCallPayload:
        call = await svc.cancel_call(
            session,
            actor=info.context.actor,
            call_id=decode_id(input.call_id, "ProcurementCall", field=[INPUT, "callId"]),
            reason=input.reason,
        )
        return ProcurementCallPayload(call=ProcurementCall.from_row(call))

    return await mutate(info, ProcurementCallPayload, work)


async def submit_bid(info: GqlInfo, input: SubmitBidInput) -> BidPayload:
    async def work(session: AsyncSession) -> BidPayload:
        bid = await bid_svc.submit_bid(
            session,
            actor=info.context.actor,
            spec=bid_svc.BidSpec(
                call_id=decode_id(input.call_id, "ProcurementCall", field=[INPUT, "callId"]),
                bidder_id=decode_id(input.bidder_id, "Organization", field=[INPUT, "bidderId"]),
                title=input.title,
                summary=input.summary,
                budget_lines=[bid_svc.BudgetLineSpec(x.item, x.amount) for x in input.budget_lines],
                target_area_ids=[
                    decode_id(a, "Area", field=[INPUT, "targetAreaIds", str(i)])
                    for i, a in enumerate(input.target_area_ids[: bid_svc.MAX_TARGET_AREAS + 1])
                ],
                indicators=[
                    bid_svc.IndicatorSpec(x.name, x.unit, x.target) for x in input.indicators
                ],
            ),
            rules=_rules(info),
        )
        await session.flush()
        return BidPayload(bid=await _bid(session, info, bid.id))

    return await mutate(info, BidPayload, work)


async def withdraw_bid(info: GqlInfo, input: WithdrawBidInput) -> BidPayload:
    async def work(session: AsyncSession) -> BidPayload:
        bid = await bid_svc.withdraw_bid(
            session,
            actor=info.context.actor,
            bid_id=decode_id(input.bid_id, "Bid", field=[INPUT, "bidId"]),
        )
        await session.flush()
        return BidPayload(bid=await _bid(session, info, bid.id))

    return await mutate(info, BidPayload, work)


async def assign_evaluators(info: GqlInfo, input: AssignEvaluatorsInput) -> ProcurementCallPayload:
    async def work(session: AsyncSession) -> ProcurementCallPayload:
        ids = [
            decode_id(e, "User", field=[INPUT, "evaluatorIds", str(i)])
            for i, e in enumerate(input.evaluator_ids[: review_svc.MAX_PANEL + 1])
        ]
        result = await review_svc.assign_evaluators(
            session,
            actor=info.context.actor,
            call_id=decode_id(input.call_id, "ProcurementCall", field=[INPUT, "callId"]),
            evaluator_ids=ids,
            rules=_rules(info),
        )
        return ProcurementCallPayload(
            call=ProcurementCall.from_row(result.call),
            conflicts=[
                EvaluatorConflict(
                    bid_id=strawberry.ID(encode_id("Bid", result.bid_ids_by_bidder[c.bidder_id])),
                    evaluator_id=strawberry.ID(encode_id("User", c.evaluator_id)),
                    path=c.path,
                )
                for c in result.conflicts
            ],
        )

    return await mutate(info, ProcurementCallPayload, work)


async def submit_review(info: GqlInfo, input: SubmitReviewInput) -> ReviewPayload:
    async def work(session: AsyncSession) -> ReviewPayload:
        review = await review_svc.submit_review(
            session,
            actor=info.context.actor,
            bid_id=decode_id(input.bid_id, "Bid", field=[INPUT, "bidId"]),
            stage=PyReviewStage(input.stage.value),
            scores=[
                review_svc.ScoreSpec(s.criterion_key, s.score, s.comment) for s in input.scores[:50]
            ],
            rules=_rules(info),
        )
        row = await review_svc.review_row(session, review.id)
        return ReviewPayload(review=Review.from_row(row, issuer_side=False))

    return await mutate(info, ReviewPayload, work)


async def award_bids(info: GqlInfo, input: AwardBidsInput) -> ProcurementCallPayload:
    async def work(session: AsyncSession) -> ProcurementCallPayload:
        call = await svc.award_bids(
            session,
            actor=info.context.actor,
            call_id=decode_id(input.call_id, "ProcurementCall", field=[INPUT, "callId"]),
            bid_ids=[
                decode_id(b, "Bid", field=[INPUT, "bidIds", str(i)])
                for i, b in enumerate(input.bid_ids[:1001])
            ],
        )
        return ProcurementCallPayload(call=ProcurementCall.from_row(call))

    return await mutate(info, ProcurementCallPayload, work)


async def record_indicator_results(info: GqlInfo, input: RecordIndicatorResultsInput) -> BidPayload:
    async def work(session: AsyncSession) -> BidPayload:
        bid = await review_svc.record_indicator_results(
            session,
            actor=info.context.actor,
            bid_id=decode_id(input.bid_id, "Bid", field=[INPUT, "bidId"]),
            results=[review_svc.ResultSpec(r.name, r.achieved) for r in input.results[:21]],
        )
        await session.flush()
        return BidPayload(bid=await _bid(session, info, bid.id))

    return await mutate(info, BidPayload, work)


@strawberry.type
class Queries:
    procurement_calls: list[ProcurementCall] = strawberry.field(
        resolver=procurement_calls,
        permission_classes=[SignedIn],
        description="Calls for bids, oldest first; public to every signed-in user. Paged by "
        "`first` (default 20, at most the page size) and `after` (the id of the previous "
        "page's last call).",
    )


@strawberry.type
class Mutations:
    create_procurement_call: ProcurementCallPayload = strawberry.mutation(
        resolver=create_procurement_call,
        description="Open a call for bids (the issuer's coordinators).",
    )
    cancel_procurement_call: ProcurementCallPayload = strawberry.mutation(
        resolver=cancel_procurement_call,
        description="Cancel a call that is not awarded, with a reason; its bids are not awarded.",
    )
    submit_bid: BidPayload = strawberry.mutation(
        resolver=submit_bid,
        description="Bid for an open call (the bidder's members); the bid's content is final.",
    )
    withdraw_bid: BidPayload = strawberry.mutation(
        resolver=withdraw_bid, description="Withdraw a bid while its call is open."
    )
    assign_evaluators: ProcurementCallPayload = strawberry.mutation(
        resolver=assign_evaluators,
        description="Name the review panel of a closed call; conflicts of interest are found on "
        "the organization graph and reported per bid (ProcurementCallPayload.conflicts).",
    )
    submit_review: ReviewPayload = strawberry.mutation(
        resolver=submit_review,
        description="Score an assigned bid on the stage's rubric (final once submitted).",
    )
    award_bids: ProcurementCallPayload = strawberry.mutation(
        resolver=award_bids,
        description="Decide a closed, fully scored call: these bids are awarded (within the "
        "budget), every other submitted bid is not. Once only.",
    )
    record_indicator_results: BidPayload = strawberry.mutation(
        resolver=record_indicator_results,
        description="What an awarded bid achieved, per indicator (before performance review).",
    )

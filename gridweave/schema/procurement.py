"""Purchased services: calls, bids, reviews, scores; their inputs and payloads.

Every per-viewer decision asks services/access.py (READ_POLICIES "Bid", "Review",
"AggregateScore"); the rows come from the loaders in resolvers/procurement_loaders.py."""

from __future__ import annotations

import base64
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import strawberry

from gridweave import models
from gridweave.ids import encode_id
from gridweave.models import OrganizationKind as PyOrganizationKind
from gridweave.schema.areas import Area
from gridweave.schema.common import GqlInfo, Node, UserError, described
from gridweave.schema.connection import Connection
from gridweave.schema.organizations import Organization, ServiceCategory
from gridweave.schema.users import User
from gridweave.services import users as user_svc
from gridweave.services.access import (
    Actor,
    BidFacts,
    ReviewFacts,
    may_identify_bidder,
    read_policy,
)
from gridweave.services.bids import bid_facts
from gridweave.services.procurement import ProcurementRules, call_status
from gridweave.services.reviews import letter
from gridweave.services.scoring import Aggregate, aggregate
from gridweave.services.scoring import Criterion as PyCriterion

CallStatus = models.CallStatus
BidStatus = models.BidStatus
ReviewStage = models.ReviewStage
Aggregation = models.Aggregation
Grade = models.Grade
for _enum in (CallStatus, BidStatus, ReviewStage, Aggregation, Grade):
    strawberry.enum(_enum)


def _f(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


@strawberry.type
class Criterion:
    key: str
    name: str
    weight: float = strawberry.field(description="Relative weight; weights of a rubric sum to 1.")
    max_score: float

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Criterion:
        c = PyCriterion.from_json(value)
        return cls(key=c.key, name=c.name, weight=float(c.weight), max_score=float(c.max_score))


@strawberry.type
class BudgetLine:
    item: str
    amount: Decimal


@strawberry.type
class Indicator:
    name: str
    unit: str
    target: float
    achieved: float | None


@strawberry.type
class CriterionScore:
    criterion_key: str
    score: float
    comment: str | None


@strawberry.type
class AggregateScore:
    review_count: int
    mean: float
    trimmed_mean: float = strawberry.field(
        description="Mean after dropping one highest and one lowest total (plain mean below 3 "
        "reviews)."
    )
    min: float
    max: float
    grade: Grade = strawberry.field(
        description="From the call's aggregation (trimmed mean or mean): EXCELLENT >= 90, "
        "GOOD >= 75, PASS >= 60, else FAIL (the thresholds are settings: GRIDWEAVE_GRADE_*)."
    )

    @classmethod
    def of(cls, agg: Aggregate) -> AggregateScore:
        return cls(
            review_count=agg.review_count,
            mean=float(agg.mean),
            trimmed_mean=float(agg.trimmed_mean),
            min=float(agg.min),
            max=float(agg.max),
            grade=agg.grade,
        )


def stand_in_id(kind: str, label: str) -> strawberry.ID:
    """An id shaped like a global id that no ``node()`` resolves (its key is not a number)."""
    return strawberry.ID(base64.b64encode(f"{kind}:{label}".encode()).decode())


def _stand_in_user(call_id: int, position: int) -> User:
    return User(
        id=stand_in_id("Evaluator", f"{call_id}-{position}"),
        email="",
        display_name=f"评审专家 {position}",
        roles=[],
        pk=0,
    )


@strawberry.type
class Review(Node):
    id: strawberry.ID
    stage: ReviewStage
    total: float = strawberry.field(description="Weighted total on a 0-100 scale.")
    submitted_at: datetime
    scores: list[CriterionScore]
    pk: strawberry.Private[int]
    call_id: strawberry.Private[int]
    evaluator_id: strawberry.Private[int]
    panel_position: strawberry.Private[int]
    issuer_side: strawberry.Private[bool]

    @classmethod
    def from_row(cls, row: Any, *, issuer_side: bool) -> Review:
        return cls(
            id=strawberry.ID(encode_id("Review", row.id)),
            stage=ReviewStage(row.stage),
            total=float(row.total),
            submitted_at=row.submitted_at,
            scores=[
                CriterionScore(
                    criterion_key=s["k"], score=float(Decimal(str(s["s"]))), comment=s.get("c")
                )
                for s in row.scores
            ],
            pk=row.id,
            call_id=row.call_id,
            evaluator_id=row.evaluator_id,
            panel_position=row.position or 0,
            issuer_side=issuer_side,
        )

    @described(
        "Who wrote the review. Viewers who may not see that user (the public and bidders "
        "after the award, fellow evaluators) get a stand-in, 评审专家 N by panel position, "
        "with an empty email and an id that resolves to nothing."
    )
    async def evaluator(self, info: GqlInfo) -> User:
        actor = info.context.actor
        record = await info.context.loaders.procurement.user_record.load(self.evaluator_id)
        if (
            actor is not None
            and record is not None
            and (self.issuer_side or user_svc.may_see(actor, record))
        ):
            return User.from_record(record)
        return _stand_in_user(self.call_id, self.panel_position)


@strawberry.type
class ProcurementCall(Node):
    id: strawberry.ID
    title: str
    total_budget: Decimal
    max_bid_amount: Decimal = strawberry.field(
        description="Cap on one bid's amount; 200000 unless the call says otherwise."
    )
    opens_at: datetime
    closes_at: datetime
    status: CallStatus
    proposal_rubric: list[Criterion]
    performance_rubric: list[Criterion]
    blind_review: bool = strawberry.field(
        description="When true, evaluators see nothing that identifies a bidder until awards "
        "are made."
    )
    aggregation: Aggregation
    evaluators_per_bid: int = strawberry.field(
        description="Conflict-free evaluators each bid needs: a panel leaving a bid fewer is "
        "refused."
    )
    cancel_reason: str | None = strawberry.field(description="Why the issuer cancelled it.")
    awarded_total: Decimal | None = strawberry.field(
        description="The sum of the awarded bids' amounts, once awarded (never above the budget)."
    )
    pk: strawberry.Private[int]
    issuer_id: strawberry.Private[int]
    area_id: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: Any) -> ProcurementCall:
        return cls(
            id=strawberry.ID(encode_id("ProcurementCall", row.id)),
            title=row.title,
            total_budget=row.total_budget,
            max_bid_amount=row.max_bid_amount,
            opens_at=row.opens_at,
            closes_at=row.closes_at,
            status=call_status(row),
            proposal_rubric=[Criterion.from_json(c) for c in row.proposal_rubric],
            performance_rubric=[Criterion.from_json(c) for c in row.performance_rubric],
            blind_review=row.blind_review,
            aggregation=Aggregation(row.aggregation),
            evaluators_per_bid=row.evaluators_per_bid,
            cancel_reason=row.cancel_reason,
            awarded_total=row.awarded_total,
            pk=row.id,
            issuer_id=row.issuer_id,
            area_id=row.area_id,
        )

    @strawberry.field
    async def issuer(self, info: GqlInfo) -> Organization:
        return Organization.from_row(await info.context.loaders.organization.load(self.issuer_id))

    @strawberry.field
    async def area(self, info: GqlInfo) -> Area:
        return Area.from_row(await info.context.loaders.area.load(self.area_id))

    @strawberry.field
    async def categories(self, info: GqlInfo) -> list[ServiceCategory]:
        ids = await info.context.loaders.procurement.call_categories.load(self.pk)
        rows = await info.context.loaders.category.load_many(ids)
        return [ServiceCategory.from_row(r) for r in rows if r is not None]

    @described(
        "Bids the viewer may see: all for the issuer's coordinators, the assigned ones for an "
        "evaluator, own bids for a bidder; after the award, every decided bid for everyone."
    )
    async def bids(
        self,
        info: GqlInfo,
        status: BidStatus | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> BidConnection:
        from gridweave.resolvers.procurement import call_bids

        return await call_bids(info, self.pk, status=status, first=first, after=after)

    @described(
        "Submitted bids ordered by proposal score (the call's aggregation), best first; visible "
        "once scoring is complete, to those who may see the bids' scores. Paged by `first` "
        "(at most the page size) and `offset`."
    )
    async def ranking(
        self, info: GqlInfo, first: int | None = None, offset: int | None = None
    ) -> list[Bid]:
        from gridweave.resolvers.procurement import call_ranking

        return await call_ranking(info, self.pk, first=first, offset=offset or 0)


@strawberry.type
class Bid(Node):
    id: strawberry.ID
    title: str
    summary: str
    amount: Decimal = strawberry.field(description="The sum of its budget lines.")
    status: BidStatus
    submitted_at: datetime | None
    pk: strawberry.Private[int]
    call_id: strawberry.Private[int]
    seq: strawberry.Private[int]
    facts: strawberry.Private[BidFacts]
    identified: strawberry.Private[bool]
    blind_area_id: strawberry.Private[int]
    blind_area_path: strawberry.Private[str]
    aggregation: strawberry.Private[str]
    proposal_complete: strawberry.Private[bool]
    reviews_due: strawberry.Private[int]
    performance_reviews: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: Any, actor: Actor | None) -> Bid:
        facts = bid_facts(row)
        return cls(
            id=strawberry.ID(encode_id("Bid", row.id)),
            title=row.title,
            summary=row.summary,
            amount=row.amount,
            status=BidStatus(row.status),
            submitted_at=row.submitted_at,
            pk=row.id,
            call_id=row.call_id,
            seq=row.seq,
            facts=facts,
            identified=actor is not None
            and may_identify_bidder(actor, blind_review=row.blind_review, bid=facts),
            blind_area_id=row.call_area_id,
            blind_area_path=row.call_area_path,
            aggregation=row.aggregation,
            proposal_complete=bool(row.proposal_complete),
            reviews_due=row.reviews_due,
            performance_reviews=row.performance_reviews,
        )

    @strawberry.field
    async def call(self, info: GqlInfo) -> ProcurementCall:
        return ProcurementCall.from_row(
            await info.context.loaders.procurement.call.load(self.call_id)
        )

    @described(
        "The bidding organization. In a blind review, until the award, an evaluator gets a "
        "stand-in instead: 投标人 A, B, ... by order of submission in the call, kind "
        "SOCIAL_ORGANIZATION whatever the bidder's kind, the call's area as its area, no credit "
        "code, parent, links or track record, and an id that resolves to nothing."
    )
    async def bidder(self, info: GqlInfo) -> Organization:
        if not self.identified:
            return Organization(
                id=stand_in_id("Bidder", f"{self.call_id}-{letter(self.seq)}"),
                name=f"投标人 {letter(self.seq)}",
                kind=PyOrganizationKind.SOCIAL_ORGANIZATION,
                credit_code=None,
                pk=0,
                area_id=self.blind_area_id,
                area_path=self.blind_area_path,
                parent_id=None,
            )
        row = await info.context.loaders.organization.load(self.facts.bidder_id)
        return Organization.from_row(row)

    @strawberry.field
    async def budget_lines(self, info: GqlInfo) -> list[BudgetLine]:
        rows = await info.context.loaders.procurement.budget_lines.load(self.pk)
        return [BudgetLine(item=r.item, amount=r.amount) for r in rows]

    @strawberry.field
    async def target_areas(self, info: GqlInfo) -> list[Area]:
        ids = await info.context.loaders.procurement.target_areas.load(self.pk)
        rows = await info.context.loaders.area.load_many(ids)
        return [Area.from_row(r) for r in rows if r is not None]

    @strawberry.field
    async def indicators(self, info: GqlInfo) -> list[Indicator]:
        rows = await info.context.loaders.procurement.indicators.load(self.pk)
        return [
            Indicator(name=r.name, unit=r.unit, target=float(r.target), achieved=_f(r.achieved))
            for r in rows
        ]

    def stage_complete(self, stage: str) -> bool:
        if stage == "PROPOSAL":
            return self.proposal_complete
        return self.reviews_due > 0 and self.performance_reviews == self.reviews_due

    def review_facts(self, stage: str, evaluator_id: int | None = None) -> ReviewFacts:
        return ReviewFacts(self.facts, stage, self.stage_complete(stage), evaluator_id)

    @described(
        "Reviews the viewer may see (an evaluator sees own reviews until all are in; bidders "
        "none until results are out)."
    )
    async def reviews(self, info: GqlInfo, stage: ReviewStage | None = None) -> list[Review]:
        actor = info.context.actor
        rows = await info.context.loaders.procurement.reviews.load(self.pk)
        policy = read_policy("Review")
        issuer = actor is not None and actor.coordinates(self.facts.issuer_area_path)
        return [
            Review.from_row(r, issuer_side=issuer)
            for r in rows
            if (stage is None or r.stage == stage.value)
            and policy.may_read(actor, self.review_facts(r.stage, r.evaluator_id))
        ]

    async def score(self, info: GqlInfo, stage: str) -> AggregateScore | None:
        if not read_policy("AggregateScore").may_read(info.context.actor, self.review_facts(stage)):
            return None
        rows = await info.context.loaders.procurement.reviews.load(self.pk)
        agg = aggregate(
            [r.total for r in rows if r.stage == stage],
            aggregation=Aggregation(self.aggregation),
            thresholds=ProcurementRules.from_settings(info.context.settings).thresholds,
        )
        return AggregateScore.of(agg) if agg else None

    @described("Aggregate of the proposal reviews, for those who may see it; null before any.")
    async def proposal_score(self, info: GqlInfo) -> AggregateScore | None:
        return await self.score(info, "PROPOSAL")

    @described("Aggregate of the performance reviews (综合绩效评估), for those who may see it.")
    async def performance_score(self, info: GqlInfo) -> AggregateScore | None:
        return await self.score(info, "PERFORMANCE")


BidConnection = Connection[Bid]


@strawberry.type
class PerformanceResult:
    bid: Bid
    score: AggregateScore
    evaluated_on: date


@strawberry.type
class EvaluatorConflict:
    bid_id: strawberry.ID
    evaluator_id: strawberry.ID
    path: str = strawberry.field(description="The ties on the organization graph, in words.")


# ---------------------------------------------------------------- inputs and payloads


@strawberry.input
class CriterionInput:
    key: str
    name: str
    weight: float
    max_score: float


@strawberry.input
class CreateProcurementCallInput:
    title: str
    issuer_id: strawberry.ID
    area_id: strawberry.ID
    category_codes: list[str]
    total_budget: Decimal
    opens_at: datetime
    closes_at: datetime
    proposal_rubric: list[CriterionInput]
    performance_rubric: list[CriterionInput]
    max_bid_amount: Decimal | None = None
    blind_review: bool | None = None
    aggregation: Aggregation | None = None
    evaluators_per_bid: int | None = strawberry.field(
        default=None, description="Conflict-free evaluators each bid needs (default 3)."
    )


@strawberry.type
class ProcurementCallPayload:
    call: ProcurementCall | None = None
    conflicts: list[EvaluatorConflict] = strawberry.field(
        default_factory=list,
        description="assignEvaluators: the panel members kept off a bid, with the reason.",
    )
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input
class CancelProcurementCallInput:
    call_id: strawberry.ID
    reason: str


@strawberry.input
class BudgetLineInput:
    item: str
    amount: Decimal


@strawberry.input
class IndicatorInput:
    name: str
    unit: str
    target: float


@strawberry.input
class SubmitBidInput:
    call_id: strawberry.ID
    bidder_id: strawberry.ID
    title: str
    summary: str
    budget_lines: list[BudgetLineInput]
    target_area_ids: list[strawberry.ID]
    indicators: list[IndicatorInput]


@strawberry.type
class BidPayload:
    bid: Bid | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input
class WithdrawBidInput:
    bid_id: strawberry.ID


@strawberry.input
class AssignEvaluatorsInput:
    call_id: strawberry.ID
    evaluator_ids: list[strawberry.ID]


@strawberry.input
class CriterionScoreInput:
    criterion_key: str
    score: float
    comment: str | None = None


@strawberry.input
class SubmitReviewInput:
    bid_id: strawberry.ID
    stage: ReviewStage
    scores: list[CriterionScoreInput]


@strawberry.type
class ReviewPayload:
    review: Review | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input
class AwardBidsInput:
    call_id: strawberry.ID
    bid_ids: list[strawberry.ID]


@strawberry.input
class IndicatorResultInput:
    name: str
    achieved: float


@strawberry.input
class RecordIndicatorResultsInput:
    bid_id: strawberry.ID
    results: list[IndicatorResultInput]

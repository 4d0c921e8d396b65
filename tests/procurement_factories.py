"""Factories for purchased services: calls, bids, panels and reviews made through the services
(so that every rule holds), plus the one thing tests need that users cannot do: move a call's
window into the past (``close_call``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import text

from gridweave.db import Sessionmaker, unit_of_work
from gridweave.models import Aggregation, Area, Organization, ReviewStage, Role
from gridweave.services import bids as bid_svc
from gridweave.services import procurement as svc
from gridweave.services import reviews as review_svc
from gridweave.services.access import Actor, Grant
from tests.factories import make_org, make_user


@dataclass
class C:
    """A criterion as the API passes it."""

    key: str
    name: str
    weight: float
    max_score: float


@dataclass
class S:
    criterion_key: str
    score: float
    comment: str | None = None


PROPOSAL = [C("plan", "方案", 0.5, 50), C("team", "团队", 0.3, 30), C("cost", "预算", 0.2, 20)]
PERFORMANCE = [C("outcome", "成效", 0.6, 60), C("satisfaction", "满意度", 0.4, 40)]


def scores_for(total: float, rubric: list[C] = PROPOSAL) -> list[S]:
    """Scores giving this weighted total (each criterion at total% of its maximum)."""
    return [S(c.key, c.max_score * total / 100) for c in rubric]


def now() -> datetime:
    return datetime.now(UTC)


async def make_call(
    sm: Sessionmaker,
    actor: Actor,
    *,
    issuer: Organization,
    area: Area,
    total_budget: str = "500000",
    max_bid_amount: str | None = None,
    blind_review: bool = False,
    aggregation: Aggregation = Aggregation.TRIMMED_MEAN,
    evaluators_per_bid: int | None = None,
    opens_in: timedelta = timedelta(hours=-1),
) -> Any:
    async with unit_of_work(sm) as s:
        return await svc.create_call(
            s,
            actor=actor,
            spec=svc.CallSpec(
                title="社区居民人文关怀服务",
                issuer_id=issuer.id,
                area_id=area.id,
                category_codes=["elderly_care"],
                total_budget=Decimal(total_budget),
                max_bid_amount=None if max_bid_amount is None else Decimal(max_bid_amount),
                opens_at=now() + opens_in,
                closes_at=now() + opens_in + timedelta(days=30),
                proposal_rubric=PROPOSAL,
                performance_rubric=PERFORMANCE,
                blind_review=blind_review,
                aggregation=aggregation,
                evaluators_per_bid=evaluators_per_bid,
            ),
        )


def bid_spec(
    call_id: int, bidder_id: int, area_id: int, *amounts: str, title: str = "关爱独居老人"
) -> bid_svc.BidSpec:
    return bid_svc.BidSpec(
        call_id=call_id,
        bidder_id=bidder_id,
        title=title,
        summary="每周上门探访，建立档案。",
        budget_lines=[
            bid_svc.BudgetLineSpec(f"项目{i}", Decimal(a))
            for i, a in enumerate(amounts or ("100000",))
        ],
        target_area_ids=[area_id],
        indicators=[bid_svc.IndicatorSpec("探访人次", "人次", 1200.0)],
    )


def member_actor(user_id: int, org_id: int) -> Actor:
    return Actor(user_id, (Grant(Role.ORGANIZATION_MEMBER, organization_id=org_id),))


async def make_bidder(sm: Sessionmaker, area: Area, **kw: Any) -> tuple[Organization, Actor]:
    org = await make_org(sm, area=area, **kw)
    user = await make_user(sm, "ORGANIZATION_MEMBER", organization=org)
    return org, member_actor(user.id, org.id)


async def make_bid(sm: Sessionmaker, actor: Actor, spec: bid_svc.BidSpec) -> Any:
    async with unit_of_work(sm) as s:
        return await bid_svc.submit_bid(s, actor=actor, spec=spec)


async def make_evaluator(
    sm: Sessionmaker, area: Area | None = None, *, member_of: Organization | None = None
) -> Actor:
    """An EVALUATOR (of ``area``, or everywhere), optionally also a member of an organization."""
    user = await make_user(sm, "EVALUATOR", area=area)
    grants = [Grant(Role.EVALUATOR, area.id if area else None, area.path if area else None)]
    if member_of is not None:
        async with unit_of_work(sm) as s:
            await s.execute(
                text(
                    "INSERT INTO role_grants (user_id, role, organization_id)"
                    " VALUES (:u, 'ORGANIZATION_MEMBER', :o)"
                ),
                {"u": user.id, "o": member_of.id},
            )
        grants.append(Grant(Role.ORGANIZATION_MEMBER, organization_id=member_of.id))
    return Actor(user.id, tuple(grants))


async def close_call(sm: Sessionmaker, call_id: int) -> None:
    """Moves the call's window into the past: it is CLOSED now."""
    async with unit_of_work(sm) as s:
        await s.execute(
            text(
                "UPDATE procurement_calls SET opens_at = now() - interval '31 days',"
                " closes_at = now() - interval '1 second' WHERE id = :id"
            ),
            {"id": call_id},
        )


async def assign(sm: Sessionmaker, actor: Actor, call_id: int, evaluators: list[Actor]) -> Any:
    async with unit_of_work(sm) as s:
        return await review_svc.assign_evaluators(
            s, actor=actor, call_id=call_id, evaluator_ids=[e.user_id for e in evaluators]
        )


async def review(
    sm: Sessionmaker,
    evaluator: Actor,
    bid_id: int,
    total: float,
    stage: ReviewStage = ReviewStage.PROPOSAL,
) -> Any:
    rubric = PROPOSAL if stage is ReviewStage.PROPOSAL else PERFORMANCE
    async with unit_of_work(sm) as s:
        return await review_svc.submit_review(
            s, actor=evaluator, bid_id=bid_id, stage=stage, scores=scores_for(total, rubric)
        )


async def award(sm: Sessionmaker, actor: Actor, call_id: int, bid_ids: list[int]) -> Any:
    async with unit_of_work(sm) as s:
        return await svc.award_bids(s, actor=actor, call_id=call_id, bid_ids=bid_ids)


@dataclass
class Scene:
    """A street with an issuer and its coordinator, two communities, bidders and evaluators."""

    street: Area
    community: Area
    other_community: Area
    issuer: Organization
    coordinator: Actor
    bidders: list[tuple[Organization, Actor]] = field(default_factory=list)
    evaluators: list[Actor] = field(default_factory=list)


async def make_scene(sm: Sessionmaker, *, bidders: int = 2, evaluators: int = 3) -> Scene:
    from tests.factories import coordinator_of, make_area, make_chain

    city, district, street = await make_chain(sm, "CITY", "DISTRICT", "STREET")
    community = await make_area(sm, level="COMMUNITY", parent=street)
    other = await make_area(sm, level="COMMUNITY", parent=street)
    issuer = await make_org(sm, area=street, kind="GOVERNMENT_DEPARTMENT", name="街道民政科")
    scene = Scene(street, community, other, issuer, await coordinator_of(sm, street))
    for i in range(bidders):
        scene.bidders.append(await make_bidder(sm, community, name=f"投标机构{i + 1}"))
    for _ in range(evaluators):
        scene.evaluators.append(await make_evaluator(sm, city))
    return scene


async def make_reviewed_bid(sm: Sessionmaker) -> tuple[int, int, int]:
    """A closed call with a bid under review and one review in: (call, bid, review) ids."""
    sc = await make_scene(sm, bidders=1, evaluators=3)
    call = await make_call(sm, sc.coordinator, issuer=sc.issuer, area=sc.street)
    org, member = sc.bidders[0]
    bid = await make_bid(sm, member, bid_spec(call.id, org.id, sc.community.id))
    await close_call(sm, call.id)
    await assign(sm, sc.coordinator, call.id, sc.evaluators)
    done = await review(sm, sc.evaluators[0], bid.id, 80)
    return call.id, bid.id, done.id

"""Purchased services in the demo: two calls of the featured street's service centre, through the
services (so every rule holds and every step is in the ledger).

* 关爱独居老人服务 (awarded and evaluated): four bids, a panel of five, every review in, two
  bids awarded within the budget, their indicator results and performance reviews recorded, so
  that the winners have a track record.
* 困境儿童陪伴服务 (blind review under way): three bids, one of them from the demo member's
  organization; the panel is named and some reviews are in; the demo evaluator has not scored
  yet. One panel member belongs to a bidder's parent: the deliberate conflict, reported when the
  panel was named and refused if they try to review that bid.

Reviews happen after a call closes, so the demo backdates each call's window once its bids are
in; the ledger records that (``backdateDemoCall``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from gridweave.demo.generator import DemoSummary
from gridweave.demo.users import DEMO_PASSWORD, DOMAIN
from gridweave.models import (
    Aggregation,
    Organization,
    ProcurementCall,
    ReviewStage,
    Role,
    RoleGrant,
    User,
)
from gridweave.security import hash_password
from gridweave.services import audit
from gridweave.services import bids as bid_svc
from gridweave.services import procurement as svc
from gridweave.services import reviews as review_svc
from gridweave.services.access import Actor, Grant

TITLES = ("关爱独居老人服务", "困境儿童陪伴服务")


class _C:
    def __init__(self, key: str, name: str, weight: float, top: float) -> None:
        self.key, self.name, self.weight, self.max_score = key, name, weight, top


PROPOSAL = [
    _C("plan", "服务方案", 0.4, 40),
    _C("team", "团队能力", 0.3, 30),
    _C("cost", "预算合理", 0.3, 30),
]
PERFORMANCE = [_C("outcome", "服务成效", 0.6, 60), _C("satisfaction", "居民满意度", 0.4, 40)]


def _scores(total: float, rubric: list[_C]) -> list[review_svc.ScoreSpec]:
    return [review_svc.ScoreSpec(c.key, round(c.max_score * total / 100, 2)) for c in rubric]


async def _evaluators(session: AsyncSession, demo: DemoSummary, conflict_org: int) -> list[Actor]:
    """The demo evaluator and four more (evaluator2..5@), the last one a member of
    ``conflict_org``."""
    found = []
    password_hash = hash_password(DEMO_PASSWORD)
    for n in range(1, 6):
        email = f"evaluator{'' if n == 1 else n}@{DOMAIN}"
        uid = await session.scalar(select(User.id).where(func.lower(User.email) == email))
        grants = [Grant(Role.EVALUATOR, demo.city_id, f"/{demo.city_id}/")]
        if uid is None:
            user = User(email=email, display_name=f"评估专家{n}", password_hash=password_hash)
            session.add(user)
            await session.flush()
            uid = user.id
            session.add(RoleGrant(user_id=uid, role="EVALUATOR", area_id=demo.city_id))
            roles: list[dict[str, Any]] = [{"role": "EVALUATOR", "area_id": demo.city_id}]
            if n == 5:
                session.add(
                    RoleGrant(user_id=uid, role="ORGANIZATION_MEMBER", organization_id=conflict_org)
                )
                roles.append({"role": "ORGANIZATION_MEMBER", "organization_id": conflict_org})
            await audit.record(
                session,
                None,
                "createUser",
                f"User:{uid}",
                {"email": email, "display_name": f"评估专家{n}", "roles": roles, "via": "demo"},
            )
        if n == 5:
            grants.append(Grant(Role.ORGANIZATION_MEMBER, organization_id=conflict_org))
        found.append(Actor(uid, tuple(grants)))
    return found


async def _backdate(session: AsyncSession, actor: Actor, call: ProcurementCall) -> None:
    await session.execute(
        text(
            "UPDATE procurement_calls SET opens_at = now() - interval '45 days',"
            " closes_at = now() - interval '15 days' WHERE id = :id"
        ),
        {"id": call.id},
    )
    await audit.record(
        session,
        actor,
        "backdateDemoCall",
        f"ProcurementCall:{call.id}",
        {"why": "the demo closes the call so that its review can be shown", "via": "demo"},
        area_path=call.area_path,
    )
    await session.refresh(call)


async def load_demo_procurement(session: AsyncSession, demo: DemoSummary) -> int:
    """Create the two calls unless they exist; the number of calls created."""
    if await session.scalar(select(ProcurementCall.id).where(ProcurementCall.title == TITLES[0])):
        return 0
    street = await session.scalar(
        text("SELECT path FROM areas WHERE id = :id"), {"id": demo.street_id}
    )
    admin_id = await session.scalar(
        select(User.id).where(func.lower(User.email) == f"admin@{DOMAIN}")
    )
    if admin_id is None or street is None:
        return 0
    actor = Actor(admin_id, (Grant(Role.ADMIN),))
    issuer = await session.scalar(
        select(Organization.id)
        .where(Organization.area_id == demo.street_id, Organization.kind == "SERVICE_CENTER")
        .order_by(Organization.id)
    )
    if issuer is None:
        org = Organization(
            name="街道社会工作服务中心",
            kind="SERVICE_CENTER",
            area_id=demo.street_id,
            area_path=street,
        )
        session.add(org)
        await session.flush()
        issuer = org.id
        await audit.record(
            session,
            actor,
            "createOrganization",
            f"Organization:{org.id}",
            {"name": org.name, "kind": org.kind, "via": "demo"},
            area_path=street,
        )
    # bidders: social organizations and volunteer teams of the street, the member's one first
    rows = (
        await session.execute(
            text(
                "SELECT id, area_id, parent_id FROM organizations WHERE area_path LIKE :p"
                " AND kind IN ('SOCIAL_ORGANIZATION', 'VOLUNTEER_TEAM') AND id <> :m"
                " ORDER BY parent_id IS NULL, id LIMIT 6"
            ),
            {"p": street + "%", "m": demo.organization_id},
        )
    ).all()
    member_area = await session.scalar(
        text("SELECT area_id FROM organizations WHERE id = :id"), {"id": demo.organization_id}
    )
    conflict_org = rows[0].parent_id or rows[0].id
    evaluators = await _evaluators(session, demo, conflict_org)
    now = datetime.now(UTC)

    async def call(title: str, *, blind: bool) -> ProcurementCall:
        return await svc.create_call(
            session,
            actor=actor,
            spec=svc.CallSpec(
                title=title,
                issuer_id=issuer,
                area_id=demo.street_id,
                category_codes=["child_care"] if blind else ["elderly_care", "humanistic_care"],
                total_budget=Decimal("400000"),
                opens_at=now - timedelta(hours=1),
                closes_at=now + timedelta(days=1),
                proposal_rubric=PROPOSAL,
                performance_rubric=PERFORMANCE,
                blind_review=blind,
                aggregation=Aggregation.TRIMMED_MEAN,
            ),
        )

    async def bid(call_id: int, org_id: int, area_id: int, amount: str, title: str) -> Any:
        return await bid_svc.submit_bid(
            session,
            actor=actor,
            spec=bid_svc.BidSpec(
                call_id=call_id,
                bidder_id=org_id,
                title=title,
                summary="每周上门探访，建立服务档案，链接社区志愿者。",
                budget_lines=[
                    bid_svc.BudgetLineSpec("人员经费", Decimal(amount) - Decimal("20000")),
                    bid_svc.BudgetLineSpec("活动物资", Decimal("20000")),
                ],
                target_area_ids=[area_id],
                indicators=[
                    bid_svc.IndicatorSpec("探访人次", "人次", 1200.0),
                    bid_svc.IndicatorSpec("建档户数", "户", 80.0),
                ],
            ),
        )

    # the first call: awarded and evaluated
    first = await call(TITLES[0], blind=False)
    amounts = ("180000", "150000", "200000", "120000")
    bids = [
        await bid(first.id, r.id, r.area_id, a, f"{TITLES[0]}方案{i + 1}")
        for i, (r, a) in enumerate(zip(rows[1:5], amounts, strict=True))
    ]
    await _backdate(session, actor, first)
    panel = await review_svc.assign_evaluators(
        session, actor=actor, call_id=first.id, evaluator_ids=[e.user_id for e in evaluators]
    )
    totals = (88, 76, 69, 81)
    for b, base in zip(bids, totals, strict=True):
        for j, e in enumerate(evaluators):
            if any(
                c.evaluator_id == e.user_id and c.bidder_id == b.bidder_id for c in panel.conflicts
            ):
                continue
            await review_svc.submit_review(
                session,
                actor=e,
                bid_id=b.id,
                stage=ReviewStage.PROPOSAL,
                scores=_scores(base + (j % 3) * 2 - 2, PROPOSAL),
            )
    winners = [bids[0], bids[3]]
    await svc.award_bids(session, actor=actor, call_id=first.id, bid_ids=[b.id for b in winners])
    for w, total in zip(winners, (92, 78), strict=True):
        await review_svc.record_indicator_results(
            session,
            actor=actor,
            bid_id=w.id,
            results=[
                review_svc.ResultSpec("探访人次", 1300),
                review_svc.ResultSpec("建档户数", 84),
            ],
        )
        assigned = (
            await session.scalars(
                text("SELECT evaluator_id FROM bid_assignments WHERE bid_id = :b"), {"b": w.id}
            )
        ).all()
        for j, e in enumerate(e for e in evaluators if e.user_id in set(assigned)):
            await review_svc.submit_review(
                session,
                actor=e,
                bid_id=w.id,
                stage=ReviewStage.PERFORMANCE,
                scores=_scores(total + j % 2, PERFORMANCE),
            )

    # the second call: blind review under way, the demo member's organization among the bidders
    second = await call(TITLES[1], blind=True)
    blind_bids = [
        await bid(second.id, demo.organization_id, member_area, "160000", "儿童陪伴计划"),
        await bid(second.id, rows[0].id, rows[0].area_id, "190000", "四点半课堂"),
        await bid(second.id, rows[5].id, rows[5].area_id, "140000", "暑期成长营"),
    ]
    await _backdate(session, actor, second)
    await review_svc.assign_evaluators(
        session, actor=actor, call_id=second.id, evaluator_ids=[e.user_id for e in evaluators]
    )
    for e in evaluators[1:3]:
        for b, base in zip(blind_bids, (84, 79, 72), strict=True):
            await review_svc.submit_review(
                session,
                actor=e,
                bid_id=b.id,
                stage=ReviewStage.PROPOSAL,
                scores=_scores(base, PROPOSAL),
            )
    return 2

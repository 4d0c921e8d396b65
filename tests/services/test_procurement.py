"""Calls, bids and awards: money to the fen, the window, one live bid per bidder, the award within
budget decided once even when two race."""

from __future__ import annotations

import asyncio
import dataclasses
from decimal import Decimal

import pytest
from sqlalchemy import select, text

from gridweave.db import Sessionmaker, unit_of_work
from gridweave.errors import ErrorCode
from gridweave.models import Bid, BidStatus, CallStatus, ProcurementCall
from gridweave.services import bids as bid_svc
from gridweave.services import procurement as svc
from gridweave.services.procurement import call_status
from tests.factories import make_org
from tests.procurement_factories import (
    C,
    assign,
    award,
    bid_spec,
    close_call,
    make_bid,
    make_bidder,
    make_call,
    make_scene,
    review,
)
from tests.services.helpers import expect_refusal, run


async def test_a_bid_of_exactly_the_cap_is_taken_and_one_fen_more_is_refused(
    sessionmaker: Sessionmaker,
) -> None:
    sc = await make_scene(sessionmaker)
    call = await make_call(sessionmaker, sc.coordinator, issuer=sc.issuer, area=sc.street)
    (first, first_member), (second, second_member) = sc.bidders
    assert call.max_bid_amount == Decimal("200000.00")  # the setting's default

    # a bid whose lines add up to exactly 200,000 is taken, its amount the exact sum
    bid = await make_bid(
        sessionmaker,
        first_member,
        bid_spec(call.id, first.id, sc.community.id, "150000.10", "49999.90"),
    )
    assert bid.amount == Decimal("200000.00")

    # one fen more is refused as over the cap, and nothing is written
    error = await expect_refusal(
        sessionmaker,
        lambda s: bid_svc.submit_bid(
            s,
            actor=second_member,
            spec=bid_spec(call.id, second.id, sc.community.id, "150000.10", "49999.91"),
        ),
    )
    assert error.code is ErrorCode.BUDGET_EXCEEDED
    assert "200000.01" in error.message


async def test_amounts_with_more_than_fen_or_not_finite_are_refused(
    sessionmaker: Sessionmaker,
) -> None:
    sc = await make_scene(sessionmaker)
    call = await make_call(sessionmaker, sc.coordinator, issuer=sc.issuer, area=sc.street)
    org, member = sc.bidders[0]
    for amount in ("0.001", "NaN", "Infinity", "-5", "0"):
        error = await expect_refusal(
            sessionmaker,
            lambda s, a=amount: bid_svc.submit_bid(
                s, actor=member, spec=bid_spec(call.id, org.id, sc.community.id, a)
            ),
        )
        assert error.code is ErrorCode.VALIDATION, amount
        assert error.field == ["input", "budgetLines", "0", "amount"]


async def test_the_cap_is_a_setting_and_a_call_may_set_its_own(
    sessionmaker: Sessionmaker,
) -> None:
    sc = await make_scene(sessionmaker)
    own = await make_call(
        sessionmaker, sc.coordinator, issuer=sc.issuer, area=sc.street, max_bid_amount="80000"
    )
    assert own.max_bid_amount == Decimal("80000")
    rules = svc.ProcurementRules(max_bid_amount=Decimal("50000"))
    async with unit_of_work(sessionmaker) as s:
        call = await svc.create_call(
            s,
            actor=sc.coordinator,
            spec=svc.CallSpec(
                title="t",
                issuer_id=sc.issuer.id,
                area_id=sc.street.id,
                category_codes=["elderly_care"],
                total_budget=Decimal("300000"),
                opens_at=own.opens_at,
                closes_at=own.closes_at,
                proposal_rubric=[C("a", "a", 1.0, 10)],
                performance_rubric=[C("a", "a", 1.0, 10)],
            ),
            rules=rules,
        )
    assert call.max_bid_amount == Decimal("50000.00")


async def test_status_follows_the_window(sessionmaker: Sessionmaker) -> None:
    sc = await make_scene(sessionmaker)
    from datetime import timedelta

    later = await make_call(
        sessionmaker, sc.coordinator, issuer=sc.issuer, area=sc.street, opens_in=timedelta(days=1)
    )
    assert call_status(later) is CallStatus.DRAFT
    org, member = sc.bidders[0]
    error = await expect_refusal(
        sessionmaker,
        lambda s: bid_svc.submit_bid(
            s, actor=member, spec=bid_spec(later.id, org.id, sc.community.id)
        ),
    )
    assert error.code is ErrorCode.WINDOW_CLOSED

    call = await make_call(sessionmaker, sc.coordinator, issuer=sc.issuer, area=sc.street)
    assert call_status(call) is CallStatus.OPEN
    await close_call(sessionmaker, call.id)
    async with sessionmaker() as s:
        closed = await s.get(ProcurementCall, call.id)
    assert closed is not None
    assert call_status(closed) is CallStatus.CLOSED
    error = await expect_refusal(
        sessionmaker,
        lambda s: bid_svc.submit_bid(
            s, actor=member, spec=bid_spec(call.id, org.id, sc.community.id)
        ),
    )
    assert error.code is ErrorCode.WINDOW_CLOSED


async def test_one_live_bid_per_bidder_and_rules_of_who_bids_where(
    sessionmaker: Sessionmaker,
) -> None:
    sc = await make_scene(sessionmaker)
    call = await make_call(sessionmaker, sc.coordinator, issuer=sc.issuer, area=sc.community)
    org, member = sc.bidders[0]
    bid = await make_bid(sessionmaker, member, bid_spec(call.id, org.id, sc.community.id))

    again = await expect_refusal(
        sessionmaker,
        lambda s: bid_svc.submit_bid(
            s, actor=member, spec=bid_spec(call.id, org.id, sc.community.id)
        ),
    )
    assert again.code is ErrorCode.CONFLICT

    # after withdrawing, the organization may bid anew
    await run(sessionmaker, lambda s: bid_svc.withdraw_bid(s, actor=member, bid_id=bid.id))
    await make_bid(sessionmaker, member, bid_spec(call.id, org.id, sc.community.id))

    # a target area outside the call's area
    other, other_member = sc.bidders[1]
    outside = await expect_refusal(
        sessionmaker,
        lambda s: bid_svc.submit_bid(
            s, actor=other_member, spec=bid_spec(call.id, other.id, sc.other_community.id)
        ),
    )
    assert outside.field == ["input", "targetAreaIds", "0"]

    # an enterprise does not bid (configurable kinds), and nobody bids for another organization
    firm, firm_member = await make_bidder(sessionmaker, sc.community, kind="CO_RESIDENT_UNIT")
    refused = await expect_refusal(
        sessionmaker,
        lambda s: bid_svc.submit_bid(
            s, actor=firm_member, spec=bid_spec(call.id, firm.id, sc.community.id)
        ),
    )
    assert refused.code is ErrorCode.VALIDATION
    forbidden = await expect_refusal(
        sessionmaker,
        lambda s: bid_svc.submit_bid(
            s, actor=firm_member, spec=bid_spec(call.id, other.id, sc.community.id)
        ),
    )
    assert forbidden.code is ErrorCode.FORBIDDEN


async def test_weights_must_sum_to_one(sessionmaker: Sessionmaker) -> None:
    sc = await make_scene(sessionmaker)
    call = await make_call(sessionmaker, sc.coordinator, issuer=sc.issuer, area=sc.street)

    def spec(rubric: list[C]) -> svc.CallSpec:
        return svc.CallSpec(
            title="t",
            issuer_id=sc.issuer.id,
            area_id=sc.street.id,
            category_codes=["elderly_care"],
            total_budget=Decimal("300000"),
            opens_at=call.opens_at,
            closes_at=call.closes_at,
            proposal_rubric=rubric,
            performance_rubric=[C("a", "a", 1.0, 10)],
        )

    # 0.1 + 0.2 + 0.7 is exactly 1 in decimal, whatever binary floats make of it
    await run(
        sessionmaker,
        lambda s: svc.create_call(
            s,
            actor=sc.coordinator,
            spec=spec([C("a", "a", 0.1, 10), C("b", "b", 0.2, 10), C("c", "c", 0.7, 10)]),
        ),
    )
    error = await expect_refusal(
        sessionmaker,
        lambda s: svc.create_call(
            s, actor=sc.coordinator, spec=spec([C("a", "a", 0.5, 10), C("b", "b", 0.4999, 10)])
        ),
    )
    assert error.code is ErrorCode.VALIDATION
    assert error.field == ["input", "proposalRubric"]


async def _scored_call(sessionmaker: Sessionmaker, *, budget: str, amounts: list[str]) -> tuple:
    sc = await make_scene(sessionmaker, bidders=len(amounts))
    call = await make_call(
        sessionmaker, sc.coordinator, issuer=sc.issuer, area=sc.street, total_budget=budget
    )
    bids = [
        await make_bid(sessionmaker, member, bid_spec(call.id, org.id, sc.community.id, a))
        for (org, member), a in zip(sc.bidders, amounts, strict=True)
    ]
    await close_call(sessionmaker, call.id)
    await assign(sessionmaker, sc.coordinator, call.id, sc.evaluators)
    for bid in bids:
        for i, e in enumerate(sc.evaluators):
            await review(sessionmaker, e, bid.id, 70 + i)
    return sc, call, bids


async def test_awards_need_complete_scoring_and_stay_within_budget(
    sessionmaker: Sessionmaker,
) -> None:
    sc = await make_scene(sessionmaker)
    call = await make_call(sessionmaker, sc.coordinator, issuer=sc.issuer, area=sc.street)
    (org, member) = sc.bidders[0]
    bid = await make_bid(sessionmaker, member, bid_spec(call.id, org.id, sc.community.id))
    early = await expect_refusal(
        sessionmaker,
        lambda s: svc.award_bids(s, actor=sc.coordinator, call_id=call.id, bid_ids=[bid.id]),
    )
    assert early.code is ErrorCode.INVALID_STATE  # still open
    await close_call(sessionmaker, call.id)
    await assign(sessionmaker, sc.coordinator, call.id, sc.evaluators)
    await review(sessionmaker, sc.evaluators[0], bid.id, 80)
    unscored = await expect_refusal(
        sessionmaker,
        lambda s: svc.award_bids(s, actor=sc.coordinator, call_id=call.id, bid_ids=[bid.id]),
    )
    assert unscored.code is ErrorCode.INVALID_STATE
    assert "2 reviews are still due" in unscored.message

    sc2, call2, bids2 = await _scored_call(
        sessionmaker, budget="300000", amounts=["200000", "100000.01"]
    )
    over = await expect_refusal(
        sessionmaker,
        lambda s: svc.award_bids(
            s, actor=sc2.coordinator, call_id=call2.id, bid_ids=[b.id for b in bids2]
        ),
    )
    assert over.code is ErrorCode.BUDGET_EXCEEDED
    decided = await award(sessionmaker, sc2.coordinator, call2.id, [bids2[0].id])
    assert decided.awarded_total == Decimal("200000.00")
    async with sessionmaker() as s:
        statuses = dict((await s.execute(select(Bid.id, Bid.status).order_by(Bid.id))).all())
    assert statuses[bids2[0].id] == BidStatus.AWARDED.value
    assert statuses[bids2[1].id] == BidStatus.NOT_AWARDED.value
    again = await expect_refusal(
        sessionmaker,
        lambda s: svc.award_bids(s, actor=sc2.coordinator, call_id=call2.id, bid_ids=[]),
    )
    assert again.code is ErrorCode.INVALID_STATE


async def test_two_concurrent_awards_on_one_call_cannot_both_pass(
    sessionmaker: Sessionmaker,
) -> None:
    # given a scored call whose budget holds either bid but not both
    sc, call, bids = await _scored_call(sessionmaker, budget="300000", amounts=["200000", "200000"])
    started = asyncio.Event()

    async def decide(bid_id: int, *, first: bool) -> str:
        try:
            async with unit_of_work(sessionmaker) as s:
                if not first:
                    await started.wait()
                result = await svc.award_bids(
                    s, actor=sc.coordinator, call_id=call.id, bid_ids=[bid_id]
                )
                if first:
                    started.set()  # hold the transaction open while the other one tries
                    await asyncio.sleep(0.3)
                return f"awarded {result.awarded_total}"
        except svc.DomainError as e:
            return e.code.value

    # when two coordinators award a different bid each, on separate connections, at once
    answers = await asyncio.gather(decide(bids[0].id, first=True), decide(bids[1].id, first=False))

    # then exactly one award stands, and the money awarded stays within the budget
    assert sorted(answers) == ["INVALID_STATE", "awarded 200000.00"]
    async with sessionmaker() as s:
        awarded = (
            await s.execute(text("SELECT count(*) FROM bids WHERE status = 'AWARDED'"))
        ).scalar()
        total = await s.scalar(
            text("SELECT awarded_total FROM procurement_calls WHERE id = :c"), {"c": call.id}
        )
    assert awarded == 1
    assert total == Decimal("200000.00")


async def test_the_budget_check_holds_even_if_a_service_forgot_it(
    sessionmaker: Sessionmaker,
) -> None:
    sc, call, _ = await _scored_call(sessionmaker, budget="300000", amounts=["100000"])
    with pytest.raises(Exception, match="award_within_budget"):
        async with unit_of_work(sessionmaker) as s:
            await s.execute(
                text(
                    "UPDATE procurement_calls SET awarded_at = now(), awarded_total = 300000.01"
                    " WHERE id = :c"
                ),
                {"c": call.id},
            )


async def test_cancel_needs_a_reason_and_the_issuer(sessionmaker: Sessionmaker) -> None:
    sc = await make_scene(sessionmaker)
    call = await make_call(sessionmaker, sc.coordinator, issuer=sc.issuer, area=sc.street)
    org, member = sc.bidders[0]
    bid = await make_bid(sessionmaker, member, bid_spec(call.id, org.id, sc.community.id))
    forbidden = await expect_refusal(
        sessionmaker, lambda s: svc.cancel_call(s, actor=member, call_id=call.id, reason="x")
    )
    assert forbidden.code is ErrorCode.FORBIDDEN
    blank = await expect_refusal(
        sessionmaker,
        lambda s: svc.cancel_call(s, actor=sc.coordinator, call_id=call.id, reason="  "),
    )
    assert blank.code is ErrorCode.VALIDATION
    cancelled = await run(
        sessionmaker,
        lambda s: svc.cancel_call(s, actor=sc.coordinator, call_id=call.id, reason="资金调整"),
    )
    assert call_status(cancelled) is CallStatus.CANCELLED
    assert cancelled.cancel_reason == "资金调整"
    async with sessionmaker() as s:
        assert (await s.get(Bid, bid.id)).status == "NOT_AWARDED"  # type: ignore[union-attr]
    twice = await expect_refusal(
        sessionmaker,
        lambda s: svc.cancel_call(s, actor=sc.coordinator, call_id=call.id, reason="again"),
    )
    assert twice.code is ErrorCode.INVALID_STATE


async def test_only_the_issuers_coordinators_open_calls_for_issuing_kinds(
    sessionmaker: Sessionmaker,
) -> None:
    sc = await make_scene(sessionmaker)
    ngo = await make_org(sessionmaker, area=sc.street)
    call = await make_call(sessionmaker, sc.coordinator, issuer=sc.issuer, area=sc.street)
    spec = svc.CallSpec(
        title="t",
        issuer_id=ngo.id,
        area_id=sc.street.id,
        category_codes=["elderly_care"],
        total_budget=Decimal("300000"),
        opens_at=call.opens_at,
        closes_at=call.closes_at,
        proposal_rubric=[C("a", "a", 1.0, 10)],
        performance_rubric=[C("a", "a", 1.0, 10)],
    )
    error = await expect_refusal(
        sessionmaker, lambda s: svc.create_call(s, actor=sc.coordinator, spec=spec)
    )
    assert error.code is ErrorCode.VALIDATION
    assert error.field == ["input", "issuerId"]
    _, member = sc.bidders[0]
    error = await expect_refusal(
        sessionmaker,
        lambda s: svc.create_call(
            s,
            actor=member,
            spec=dataclasses.replace(spec, issuer_id=sc.issuer.id),
        ),
    )
    assert error.code is ErrorCode.FORBIDDEN

"""Fair review: conflicts of interest on every path of the organization graph, the panel refused
when a bid would keep too few conflict-free evaluators, reviews scored exactly, the trimmed mean,
performance reviews after indicator results and the track record they build."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select, text

from gridweave.db import Sessionmaker, unit_of_work
from gridweave.errors import ErrorCode
from gridweave.models import (
    Aggregation,
    Agreement,
    Bid,
    BidConflict,
    Grade,
    JointMeeting,
    JointMeetingMember,
    Organization,
    ReviewStage,
)
from gridweave.services import reviews as review_svc
from gridweave.services.scoring import Thresholds, aggregate, trimmed_mean
from tests.factories import make_org
from tests.procurement_factories import (
    S,
    Scene,
    assign,
    award,
    bid_spec,
    close_call,
    make_bid,
    make_call,
    make_evaluator,
    make_scene,
    review,
    scores_for,
)
from tests.services.helpers import expect_refusal, run


def test_the_trimmed_mean_of_five_reviews_drops_one_highest_and_one_lowest() -> None:
    totals = [Decimal(x) for x in ("95", "60", "80", "70", "82.5")]
    agg = aggregate(totals, aggregation=Aggregation.TRIMMED_MEAN, thresholds=Thresholds())
    assert agg is not None
    assert agg.trimmed_mean == Decimal("77.5000")  # (80 + 70 + 82.5) / 3
    assert agg.mean == Decimal("77.5000")
    assert (agg.min, agg.max, agg.review_count) == (Decimal("60"), Decimal("95"), 5)
    assert agg.grade is Grade.GOOD
    assert trimmed_mean([Decimal("90"), Decimal("10")]) == Decimal("50.0000")  # below 3: mean
    assert trimmed_mean([Decimal(1), Decimal(2), Decimal(100)]) == Decimal("2.0000")


def test_grades_follow_the_thresholds() -> None:
    t = Thresholds()
    assert [t.grade(Decimal(x)).value for x in ("90", "89.9999", "75", "60", "59.99")] == [
        "EXCELLENT",
        "GOOD",
        "GOOD",
        "PASS",
        "FAIL",
    ]
    assert Thresholds(passing=Decimal("50")).grade(Decimal("55")) is Grade.PASS


async def _panel_scene(sessionmaker: Sessionmaker) -> tuple[Scene, object, Bid, Organization]:
    sc = await make_scene(sessionmaker, bidders=1, evaluators=3)
    call = await make_call(sessionmaker, sc.coordinator, issuer=sc.issuer, area=sc.street)
    org, member = sc.bidders[0]
    bid = await make_bid(sessionmaker, member, bid_spec(call.id, org.id, sc.community.id))
    await close_call(sessionmaker, call.id)
    return sc, call, bid, org


async def _link(sessionmaker: Sessionmaker, source: Organization, target: Organization) -> None:
    async with unit_of_work(sessionmaker) as s:
        await s.execute(
            text(
                "INSERT INTO organization_links (kind, source_id, target_id)"
                " VALUES ('SUPPORTS', :s, :t)"
            ),
            {"s": source.id, "t": target.id},
        )


async def _conflict_path(sessionmaker: Sessionmaker, tie: str) -> str | None:
    """Builds the tie named between an evaluator's organization and a bidder, names a panel of
    that evaluator and three others, and answers the conflict's path (None when none found)."""
    sc, call, bid, bidder = await _panel_scene(sessionmaker)
    area = sc.community
    if tie == "member":
        own = bidder
    elif tie == "parent":  # the evaluator's organization is the bidder's parent
        own = await make_org(sessionmaker, area=area, name="上级")
        await _set_parent(sessionmaker, bidder, own)
    elif tie == "child":
        own = await make_org(sessionmaker, area=area, name="下属", parent=bidder)
    elif tie == "link-out":
        own = await make_org(sessionmaker, area=area, name="伙伴")
        await _link(sessionmaker, own, bidder)
    elif tie == "link-in":
        own = await make_org(sessionmaker, area=area, name="伙伴")
        await _link(sessionmaker, bidder, own)
    elif tie == "sibling":  # two steps: both children of one parent
        parent = await make_org(sessionmaker, area=area, name="上级")
        await _set_parent(sessionmaker, bidder, parent)
        own = await make_org(sessionmaker, area=area, name="兄弟", parent=parent)
    elif tie == "link-of-link":  # two steps through a third organization
        middle = await make_org(sessionmaker, area=area, name="中间")
        own = await make_org(sessionmaker, area=area, name="伙伴")
        await _link(sessionmaker, own, middle)
        await _link(sessionmaker, middle, bidder)
    elif tie == "meeting":  # one step: members of one joint meeting
        own = await make_org(sessionmaker, area=area, name="驻区单位")
        await _meeting(sessionmaker, area, own, bidder)
    elif tie == "meeting-and-parent":  # two steps: the meeting, then the parent
        parent = await make_org(sessionmaker, area=area, name="上级")
        await _set_parent(sessionmaker, bidder, parent)
        own = await make_org(sessionmaker, area=area, name="驻区单位")
        await _meeting(sessionmaker, area, own, parent)
    elif tie == "agreement":  # one step: co-building partners of one community
        own = await make_org(sessionmaker, area=area, name="驻区单位")
        await _agreement(sessionmaker, area, own)
        await _agreement(sessionmaker, area, bidder)
    elif tie == "community-body":  # the community's residents' committee and its partner
        own = await make_org(
            sessionmaker, area=area, name="居委会", kind="SELF_GOVERNANCE_ORGANIZATION"
        )
        await _agreement(sessionmaker, area, bidder)
    elif tie == "ended-agreement":  # an agreement that has ended ties nobody any more
        own = await make_org(sessionmaker, area=area, name="驻区单位")
        await _agreement(sessionmaker, area, own, ended=True)
        await _agreement(sessionmaker, area, bidder)
    elif tie == "left-meeting":
        own = await make_org(sessionmaker, area=area, name="驻区单位")
        await _meeting(sessionmaker, area, own, bidder, left=own)
    elif tie == "three-steps-via-meetings":  # meeting, link, meeting: three steps
        x = await make_org(sessionmaker, area=area, name="甲")
        y = await make_org(sessionmaker, area=area, name="乙")
        own = await make_org(sessionmaker, area=area, name="驻区单位")
        await _meeting(sessionmaker, area, own, x)
        await _link(sessionmaker, x, y)
        await _meeting(sessionmaker, area, y, bidder)
    elif tie == "three-steps":
        a = await make_org(sessionmaker, area=area, name="甲")
        b = await make_org(sessionmaker, area=area, name="乙")
        own = await make_org(sessionmaker, area=area, name="伙伴")
        await _link(sessionmaker, own, a)
        await _link(sessionmaker, a, b)
        await _link(sessionmaker, b, bidder)
    else:
        raise AssertionError(tie)
    conflicted = await make_evaluator(sessionmaker, member_of=own)
    result = await assign(sessionmaker, sc.coordinator, call.id, [conflicted, *sc.evaluators])
    assert {c.evaluator_id for c in result.conflicts} <= {conflicted.user_id}
    if not result.conflicts:
        return None
    # the conflicted evaluator is kept off the bid, and told why when they try
    error = await expect_refusal(
        sessionmaker,
        lambda s: review_svc.submit_review(
            s,
            actor=conflicted,
            bid_id=bid.id,
            stage=ReviewStage.PROPOSAL,
            scores=scores_for(80),
        ),
    )
    assert error.code is ErrorCode.CONFLICT_OF_INTEREST
    assert result.conflicts[0].path in error.message
    return result.conflicts[0].path


async def _meeting(
    sessionmaker: Sessionmaker,
    area: object,
    *members: Organization,
    left: Organization | None = None,
) -> None:
    async with unit_of_work(sessionmaker) as s:
        meeting = JointMeeting(
            name=f"联席会议{len(members)}{members[0].id}",
            area_id=area.id,  # type: ignore[attr-defined]
            area_path=area.path,  # type: ignore[attr-defined]
            rotation_period="QUARTER",
            starts_on=date(2026, 1, 1),
        )
        s.add(meeting)
        await s.flush()
        for m in members:
            s.add(
                JointMeetingMember(
                    meeting_id=meeting.id,
                    organization_id=m.id,
                    joined_on=date(2026, 1, 1),
                    left_on=date(2026, 6, 1) if m is left else None,
                )
            )


async def _agreement(
    sessionmaker: Sessionmaker, area: object, partner: Organization, *, ended: bool = False
) -> None:
    async with unit_of_work(sessionmaker) as s:
        s.add(
            Agreement(
                title="共建协议",
                community_id=area.id,  # type: ignore[attr-defined]
                community_path=area.path,  # type: ignore[attr-defined]
                partner_id=partner.id,
                starts_on=date(2025, 1, 1),
                ends_on=date(2025, 12, 31) if ended else date(2099, 12, 31),
                min_activities_per_quarter=1,
            )
        )


async def _set_parent(
    sessionmaker: Sessionmaker, child: Organization, parent: Organization
) -> None:
    async with unit_of_work(sessionmaker) as s:
        await s.execute(
            text("UPDATE organizations SET parent_id = :p WHERE id = :c"),
            {"p": parent.id, "c": child.id},
        )


@pytest.mark.parametrize(
    ("tie", "words"),
    [
        ("member", "the bidder itself"),
        ("parent", "is the parent of «投标机构1»"),
        ("child", "«下属» is part of «投标机构1»"),
        ("link-out", "«伙伴» SUPPORTS «投标机构1»"),
        ("link-in", "«投标机构1» SUPPORTS «伙伴»"),
        ("sibling", "«兄弟» is part of «上级»; «上级» is the parent of «投标机构1»"),
        ("link-of-link", "«伙伴» SUPPORTS «中间»; «中间» SUPPORTS «投标机构1»"),
        ("meeting", "«驻区单位» sits in the joint meeting «联席会议2"),
        ("meeting-and-parent", "«上级» is the parent of «投标机构1»"),
        ("agreement", "«驻区单位» has a co-building agreement with the community «"),
        ("community-body", "«居委会» is a body of the community «"),
    ],
)
async def test_a_conflict_is_found_on_each_path_and_named(
    sessionmaker: Sessionmaker, tie: str, words: str
) -> None:
    path = await _conflict_path(sessionmaker, tie)
    assert path is not None
    assert path.startswith("the evaluator belongs to «")
    assert words in path


@pytest.mark.parametrize(
    "tie", ["three-steps", "three-steps-via-meetings", "ended-agreement", "left-meeting"]
)
async def test_no_conflict_beyond_two_steps_or_through_ties_that_ended(
    sessionmaker: Sessionmaker, tie: str
) -> None:
    assert await _conflict_path(sessionmaker, tie) is None


async def test_a_panel_leaving_a_bid_too_few_conflict_free_evaluators_is_refused(
    sessionmaker: Sessionmaker,
) -> None:
    sc, call, bid, bidder = await _panel_scene(sessionmaker)
    conflicted = await make_evaluator(sessionmaker, member_of=bidder)
    error = await expect_refusal(
        sessionmaker,
        lambda s: review_svc.assign_evaluators(
            s,
            actor=sc.coordinator,
            call_id=call.id,  # type: ignore[attr-defined]
            evaluator_ids=[conflicted.user_id, *(e.user_id for e in sc.evaluators[:2])],
        ),
    )
    assert error.code is ErrorCode.CONFLICT_OF_INTEREST
    assert "Bid A would keep 2 conflict-free evaluators, fewer than the 3" in error.message
    assert "the bidder itself" in error.message


async def test_a_tie_made_after_the_panel_is_caught_at_review(
    sessionmaker: Sessionmaker,
) -> None:
    sc, call, bid, bidder = await _panel_scene(sessionmaker)
    own = await make_org(sessionmaker, area=sc.community, name="后来的伙伴")
    late = await make_evaluator(sessionmaker, member_of=own)
    await assign(sessionmaker, sc.coordinator, call.id, [late, *sc.evaluators])  # type: ignore[attr-defined]
    await _link(sessionmaker, own, bidder)
    error = await expect_refusal(
        sessionmaker,
        lambda s: review_svc.submit_review(
            s, actor=late, bid_id=bid.id, stage=ReviewStage.PROPOSAL, scores=scores_for(80)
        ),
    )
    assert error.code is ErrorCode.CONFLICT_OF_INTEREST
    assert "«后来的伙伴» SUPPORTS «投标机构1»" in error.message


async def test_a_review_scores_every_criterion_within_its_maximum_exactly(
    sessionmaker: Sessionmaker,
) -> None:
    sc, call, bid, _ = await _panel_scene(sessionmaker)
    await assign(sessionmaker, sc.coordinator, call.id, sc.evaluators)  # type: ignore[attr-defined]
    e = sc.evaluators[0]

    def submit(scores: list[S]):  # type: ignore[no-untyped-def]
        return lambda s: review_svc.submit_review(
            s, actor=e, bid_id=bid.id, stage=ReviewStage.PROPOSAL, scores=scores
        )

    over = await expect_refusal(sessionmaker, submit([S("plan", 50.5), S("team", 1), S("cost", 1)]))
    assert over.field == ["input", "scores", "0", "score"]
    missing = await expect_refusal(sessionmaker, submit([S("plan", 50), S("team", 1)]))
    assert "missing cost" in missing.message
    unknown = await expect_refusal(sessionmaker, submit([S("luck", 1)]))
    assert unknown.field == ["input", "scores", "0", "criterionKey"]

    # plan 40/50 at 0.5, team 21/30 at 0.3, cost 19.5/20 at 0.2: 40 + 21 + 19.5 = 80.5
    done = await run(sessionmaker, submit([S("plan", 40), S("team", 21), S("cost", 19.5)]))
    assert done.total == Decimal("80.5000")
    twice = await expect_refusal(sessionmaker, submit([S("plan", 40), S("team", 21), S("cost", 1)]))
    assert twice.code is ErrorCode.CONFLICT

    # someone not on the panel cannot review it (and does not learn that it exists)
    stranger = await make_evaluator(sessionmaker)
    error = await expect_refusal(
        sessionmaker,
        lambda s: review_svc.submit_review(
            s, actor=stranger, bid_id=bid.id, stage=ReviewStage.PROPOSAL, scores=scores_for(80)
        ),
    )
    assert error.code is ErrorCode.NOT_FOUND


async def test_performance_reviews_after_indicator_results_build_the_track_record(
    sessionmaker: Sessionmaker,
) -> None:
    sc, call, bid, bidder = await _panel_scene(sessionmaker)
    await assign(sessionmaker, sc.coordinator, call.id, sc.evaluators)  # type: ignore[attr-defined]
    for i, e in enumerate(sc.evaluators):
        await review(sessionmaker, e, bid.id, 80 + i)
    early = await expect_refusal(
        sessionmaker,
        lambda s: review_svc.submit_review(
            s,
            actor=sc.evaluators[0],
            bid_id=bid.id,
            stage=ReviewStage.PERFORMANCE,
            scores=scores_for(90),
        ),
    )
    assert early.code is ErrorCode.INVALID_STATE  # not awarded yet
    await award(sessionmaker, sc.coordinator, call.id, [bid.id])  # type: ignore[attr-defined]
    no_results = await expect_refusal(
        sessionmaker,
        lambda s: review_svc.submit_review(
            s,
            actor=sc.evaluators[0],
            bid_id=bid.id,
            stage=ReviewStage.PERFORMANCE,
            scores=scores_for(90, []),
        ),
    )
    assert no_results.code is ErrorCode.INVALID_STATE
    assert "探访人次" in no_results.message

    _, member = sc.bidders[0]
    await run(
        sessionmaker,
        lambda s: review_svc.record_indicator_results(
            s, actor=member, bid_id=bid.id, results=[review_svc.ResultSpec("探访人次", 1250.5)]
        ),
    )
    from tests.procurement_factories import PERFORMANCE

    for total, e in zip((95, 88, 91), sc.evaluators, strict=True):
        await review(sessionmaker, e, bid.id, total, ReviewStage.PERFORMANCE)
    async with sessionmaker() as s:
        done = await s.get(Bid, bid.id)
        achieved = await s.scalar(text("SELECT achieved FROM bid_indicators"))
    assert done is not None
    assert done.status == "COMPLETED"
    assert done.evaluated_at is not None
    assert achieved == Decimal("1250.5000")
    assert PERFORMANCE  # the performance rubric scored above
    late = await expect_refusal(
        sessionmaker,
        lambda s: review_svc.record_indicator_results(
            s, actor=member, bid_id=bid.id, results=[review_svc.ResultSpec("探访人次", 1)]
        ),
    )
    assert late.code is ErrorCode.INVALID_STATE


async def test_assignment_stores_conflicts_and_due_counts(sessionmaker: Sessionmaker) -> None:
    sc, call, bid, bidder = await _panel_scene(sessionmaker)
    conflicted = await make_evaluator(sessionmaker, member_of=bidder)
    await assign(sessionmaker, sc.coordinator, call.id, [conflicted, *sc.evaluators])  # type: ignore[attr-defined]
    async with sessionmaker() as s:
        row = await s.get(Bid, bid.id)
        stored = (await s.scalars(select(BidConflict.evaluator_id))).all()
        pending = await s.scalar(text("SELECT reviews_pending FROM procurement_calls"))
    assert row is not None
    assert row.reviews_due == 3
    assert list(stored) == [conflicted.user_id]
    assert pending == 3

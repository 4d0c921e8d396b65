"""The read policies of bids, reviews and scores (services/access.py) say the same thing in Python
(``may_read``, for one loaded row) and in SQL (``sql``, for lists): every viewer, every row, at
every stage of a call, gets the same answer from both."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from gridweave.db import Sessionmaker
from gridweave.models import ReviewStage
from gridweave.services import bids as bid_svc
from gridweave.services import reviews as review_svc
from gridweave.services.access import ReviewFacts, load_actor, read_policy
from gridweave.services.bids import bid_facts, load_bid_rows
from tests.factories import make_org, make_user
from tests.procurement_factories import (
    assign,
    award,
    bid_spec,
    close_call,
    make_bid,
    make_call,
    make_evaluator,
    make_scene,
    review,
)
from tests.services.helpers import run


async def _compare(sm: Sessionmaker, viewers: list[int]) -> dict[str, int]:
    """Asserts agreement; answers how many (viewer, row) pairs each policy let through."""
    seen = {"Bid": 0, "Review": 0, "AggregateScore": 0}
    async with sm() as s:
        bid_ids = list((await s.scalars(text("SELECT id FROM bids ORDER BY id"))).all())
        rows = await load_bid_rows(s, bid_ids)
        reviews = (await s.execute(text("SELECT * FROM reviews ORDER BY id"))).all()
        for viewer in viewers:
            actor = await load_actor(s, viewer)
            assert actor is not None
            bid_sql = read_policy("Bid").sql("CAST(:v AS bigint)", "b")
            in_sql = dict(
                (await s.execute(text(f"SELECT b.id, {bid_sql} FROM bids b"), {"v": viewer})).all()
            )
            for pk, row in rows.items():
                python = read_policy("Bid").may_read(actor, bid_facts(row))
                assert python == in_sql[pk], ("Bid", viewer, pk)
                seen["Bid"] += python
            for name in ("Review", "AggregateScore"):
                review_sql = read_policy(name).sql("CAST(:v AS bigint)", "r")
                in_sql = dict(
                    (
                        await s.execute(
                            text(f"SELECT r.id, {review_sql} FROM reviews r"), {"v": viewer}
                        )
                    ).all()
                )
                for r in reviews:
                    row = rows[r.bid_id]
                    complete = (
                        bool(row.proposal_complete)
                        if r.stage == "PROPOSAL"
                        else row.reviews_due > 0 and row.performance_reviews == row.reviews_due
                    )
                    facts = ReviewFacts(
                        bid_facts(row),
                        r.stage,
                        complete,
                        r.evaluator_id if name == "Review" else None,
                    )
                    python = read_policy(name).may_read(actor, facts)
                    assert python == in_sql[r.id], (name, viewer, r.id)
                    seen[name] += python
    return seen


async def test_python_and_sql_agree_for_every_viewer_at_every_stage(
    sessionmaker: Sessionmaker,
) -> None:
    sm = sessionmaker
    sc = await make_scene(sm, bidders=3, evaluators=3)
    call = await make_call(sm, sc.coordinator, issuer=sc.issuer, area=sc.street)
    bids = [
        await make_bid(sm, m, bid_spec(call.id, o.id, sc.community.id, "60000"))
        for o, m in sc.bidders
    ]
    conflicted = await make_evaluator(sm, member_of=sc.bidders[2][0])
    outsider_area = await make_org(sm, area=sc.other_community)
    viewers = [
        sc.coordinator.user_id,
        *(m.user_id for _, m in sc.bidders),
        *(e.user_id for e in sc.evaluators),
        conflicted.user_id,
        (await make_user(sm, None)).id,
        (await make_user(sm, "ADMIN")).id,
        (await make_user(sm, "AUDITOR")).id,
        (await make_user(sm, "COORDINATOR", area=sc.other_community)).id,
        (await make_user(sm, "ORGANIZATION_MEMBER", organization=outsider_area)).id,
    ]
    stages = [await _compare(sm, viewers)]  # open, no panel

    await run(sm, lambda s: bid_svc.withdraw_bid(s, actor=sc.bidders[1][1], bid_id=bids[1].id))
    await close_call(sm, call.id)
    await assign(sm, sc.coordinator, call.id, [conflicted, *sc.evaluators])
    await review(sm, sc.evaluators[0], bids[0].id, 90)
    stages.append(await _compare(sm, viewers))  # under review

    for e in sc.evaluators:
        if e is not sc.evaluators[0]:
            await review(sm, e, bids[0].id, 80)
        await review(sm, e, bids[2].id, 60)
    await review(sm, conflicted, bids[0].id, 70)  # kept off bid 2 only
    stages.append(await _compare(sm, viewers))  # scoring complete

    await award(sm, sc.coordinator, call.id, [bids[0].id])
    stages.append(await _compare(sm, viewers))  # awarded

    await run(
        sm,
        lambda s: review_svc.record_indicator_results(
            s,
            actor=sc.bidders[0][1],
            bid_id=bids[0].id,
            results=[review_svc.ResultSpec("探访人次", 1300)],
        ),
    )
    await review(sm, sc.evaluators[0], bids[0].id, 88, ReviewStage.PERFORMANCE)
    stages.append(await _compare(sm, viewers))  # performance under way
    for e in [*sc.evaluators[1:], conflicted]:
        await review(sm, e, bids[0].id, 92, ReviewStage.PERFORMANCE)
    stages.append(await _compare(sm, viewers))  # performance complete

    # the rules let more through as the call goes public (the test can see a difference)
    counts: list[Any] = [s["Bid"] for s in stages]
    assert counts[0] < counts[3]
    assert stages[1]["Review"] < stages[2]["Review"] < stages[3]["Review"]
    assert stages[4]["AggregateScore"] < stages[5]["AggregateScore"]

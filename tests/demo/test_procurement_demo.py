"""The demo's purchased services: one call awarded and evaluated (a track record), one under blind
review with a deliberate conflict; loading twice adds nothing."""

from __future__ import annotations

from sqlalchemy import text

from gridweave.db import Sessionmaker, unit_of_work
from gridweave.demo import load_demo
from gridweave.demo.procurement import load_demo_procurement
from gridweave.demo.users import load_demo_users


async def test_the_demo_has_an_awarded_call_and_one_under_blind_review(
    sessionmaker: Sessionmaker,
) -> None:
    async with unit_of_work(sessionmaker) as s:
        demo = await load_demo(s)
        await load_demo_users(s, demo)
        assert await load_demo_procurement(s, demo) == 2
        assert await load_demo_procurement(s, demo) == 0
    async with sessionmaker() as s:
        calls = (
            await s.execute(
                text(
                    "SELECT title, blind_review, awarded_at IS NOT NULL, reviews_pending"
                    " FROM procurement_calls ORDER BY id"
                )
            )
        ).all()
        statuses = (
            await s.execute(
                text("SELECT call_id, status, count(*) FROM bids GROUP BY 1, 2 ORDER BY 1, 2")
            )
        ).all()
        conflicts = (await s.execute(text("SELECT path FROM bid_conflicts"))).scalars().all()
        ledger = set(
            (await s.execute(text("SELECT DISTINCT action FROM audit_log"))).scalars().all()
        )
    assert [(t, b, a) for t, b, a, _ in calls] == [
        ("关爱独居老人服务", False, True),
        ("困境儿童陪伴服务", True, False),
    ]
    assert calls[1][3] > 0  # reviews still due: under way
    assert [(c, st, n) for c, st, n in statuses] == [
        (1, "COMPLETED", 2),
        (1, "NOT_AWARDED", 2),
        (2, "SUBMITTED", 3),
    ]
    assert any("the bidder itself" in p or "«" in p for p in conflicts)
    assert {
        "createProcurementCall",
        "submitBid",
        "assignEvaluators",
        "submitReview",
        "awardBids",
        "recordIndicatorResults",
        "backdateDemoCall",
    } <= ledger

"""The demo region shows gaps of every kind, and every grid has a valid boundary."""

from __future__ import annotations

from sqlalchemy import text

from gridweave.db import Sessionmaker, unit_of_work
from gridweave.demo import load_demo
from gridweave.graph.coverage import GapKind
from gridweave.models import Role
from gridweave.services.access import Actor, Grant
from gridweave.services.boundaries import validate_boundary
from gridweave.services.coverage import coverage_report
from gridweave.settings import Settings


async def test_the_demo_shows_every_gap_kind(
    sessionmaker: Sessionmaker, settings: Settings
) -> None:
    async with unit_of_work(sessionmaker) as s:
        demo = await load_demo(s)
    admin = Actor(0, (Grant(Role.ADMIN),))
    async with sessionmaker() as s:
        street = await coverage_report(s, actor=admin, settings=settings, area_id=demo.street_id)
        city = await coverage_report(s, actor=admin, settings=settings, area_id=demo.city_id)
        shapes = (await s.execute(text("SELECT level, boundary FROM areas"))).all()
        levels = dict(
            (
                await s.execute(
                    text(
                        "SELECT party_level, count(*) FROM organizations WHERE kind = 'PARTY_ORGANIZATION' GROUP BY 1"
                    )
                )
            ).all()
        )
    found = {g.kind for g in city.result.gaps}
    assert found == set(GapKind)
    # the featured street alone shows the meetings and agreements kinds too
    in_street = {g.kind for g in street.result.gaps}
    assert {
        GapKind.MEETING_OVERDUE,
        GapKind.AGREEMENT_UNDERPERFORMING,
        GapKind.NO_PROVIDER,
        GapKind.INSUFFICIENT_ACTIVITY,
    } <= in_street
    grids = [b for level, b in shapes if level == "GRID"]
    assert grids
    assert all(b is not None for b in grids)
    for b in grids:
        assert validate_boundary(b) == b
    assert all(b is None for level, b in shapes if level != "GRID")
    assert None not in levels  # every party organization has a level
    assert (
        {"COMMITTEE", "BRANCH", "GROUP"}
        <= set(levels)
        <= {"COMMITTEE", "GENERAL_BRANCH", "BRANCH", "GROUP"}
    )

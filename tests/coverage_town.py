"""A small town for the coverage tests (services and API)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import text

from gridweave.db import Sessionmaker, unit_of_work
from gridweave.models import Area, Organization
from tests.factories import make_area, make_org


@dataclass
class Town:
    city: Area
    community: Area
    grids: list[Area]
    building: Area
    provider: Organization
    unit: Organization


async def make_town(sm: Sessionmaker) -> Town:
    """A community of three grids in a line; P serves G1 in elderly care; U is a co-resident
    unit in no joint meeting; building B (in G3) has 4 party members and no party group."""
    city = await make_area(sm, level="CITY", households=0)
    street = await make_area(sm, level="STREET", parent=city, households=0)
    community = await make_area(
        sm, level="COMMUNITY", parent=street, households=300, office_space_m2=Decimal("60")
    )
    grids = [
        await make_area(sm, level="GRID", parent=community, name=f"G{i}", households=100)
        for i in (1, 2, 3)
    ]
    building = await make_area(
        sm, level="BUILDING", parent=grids[2], name="B", households=40, party_members=4
    )
    async with unit_of_work(sm) as s:
        for a, b in ((grids[0], grids[1]), (grids[1], grids[2])):
            await s.execute(
                text("INSERT INTO area_neighbors VALUES (:a, :b), (:b, :a)"), {"a": a.id, "b": b.id}
            )
    provider = await make_org(sm, area=community, name="P", serves={grids[0].id: ["elderly_care"]})
    unit = await make_org(sm, area=community, kind="CO_RESIDENT_UNIT", name="U")
    return Town(city, community, grids, building, provider, unit)

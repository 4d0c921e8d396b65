"""Service activities recorded through the service: who may record where, the values refused, the
ledger entry, and the subtree / category / period counts (31 March and 1 April in two quarters)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from gridweave.db import Sessionmaker
from gridweave.errors import ErrorCode
from gridweave.models import Area, AuditEntry, Organization, ServiceActivity, ServiceCategory
from gridweave.models.activities import ActivitySource
from gridweave.services import activities as svc
from gridweave.services.access import Actor
from gridweave.services.calendar import today
from tests.factories import coordinator_of, make_area, make_chain, make_org, member_of
from tests.services.helpers import Call, expect_refusal, run

refused = expect_refusal


async def category(sm: Sessionmaker, code: str = "elderly_care") -> int:
    async with sm() as s:
        return int(await s.scalar(select(ServiceCategory.id).where(ServiceCategory.code == code)))


def record(
    actor: Actor | None, org: Organization, area: Area, category_id: int, **more: Any
) -> Call:
    values: dict[str, Any] = {
        "on": date(2026, 3, 31),
        "hours": Decimal("2.5"),
        "beneficiaries": 12,
    }
    values.update(more)
    return lambda s: svc.record_activity(
        s,
        actor=actor,
        organization_id=org.id,
        area_id=area.id,
        category_id=category_id,
        **values,
    )


async def test_a_member_records_in_its_community_and_the_ledger_says_so(
    sessionmaker: Sessionmaker,
) -> None:
    # given a unit based in a grid of a community, and one of its members
    _, street, community = await make_chain(sessionmaker, "CITY", "STREET", "COMMUNITY")
    grid = await make_area(sessionmaker, level="GRID", parent=community)
    unit = await make_org(sessionmaker, area=grid, kind="CO_RESIDENT_UNIT")
    member = await member_of(sessionmaker, unit)
    cat = await category(sessionmaker)

    # when the member records an activity in the community (above the unit's own grid)
    activity = await run(sessionmaker, record(member, unit, community, cat))

    # then it is stored with exact hours and the community's path, and the ledger has its entry
    async with sessionmaker() as s:
        row = await s.get(ServiceActivity, activity.id)
        assert row is not None
        assert row.hours == Decimal("2.50")
        assert row.area_path == community.path
        assert row.source == "RECORDED"
        entry = await s.scalar(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(1))
        assert entry is not None
        assert entry.action == "recordServiceActivity"
        assert entry.entity_id == f"ServiceActivity:{activity.id}"
        assert entry.summary["hours"] == "2.5"
    del street


async def test_who_may_record_where(sessionmaker: Sessionmaker) -> None:
    # given two communities of one street, a unit in the first, serving one grid of the second
    _, street = await make_chain(sessionmaker, "CITY", "STREET")
    home = await make_area(sessionmaker, level="COMMUNITY", parent=street)
    other = await make_area(sessionmaker, level="COMMUNITY", parent=street)
    served = await make_area(sessionmaker, level="GRID", parent=other)
    unserved = await make_area(sessionmaker, level="GRID", parent=other)
    unit = await make_org(
        sessionmaker, area=home, kind="CO_RESIDENT_UNIT", serves={served.id: ["health"]}
    )
    stranger = await make_org(sessionmaker, area=home)
    member = await member_of(sessionmaker, unit)
    cat = await category(sessionmaker)

    # then its member records in its home, in what it serves, and the other's coordinator too
    await run(sessionmaker, record(member, unit, home, cat))
    await run(sessionmaker, record(member, unit, served, cat))
    await run(sessionmaker, record(await coordinator_of(sessionmaker, other), unit, unserved, cat))

    # but not in an area it neither is in nor serves, not above its community, not for others
    for area, org in ((unserved, unit), (street, unit), (home, stranger)):
        error = await refused(sessionmaker, record(member, org, area, cat))
        assert error.code is ErrorCode.FORBIDDEN
        assert error.field == ["input", "organizationId"]
    # and nobody anonymous, and no coordinator of another area
    error = await refused(sessionmaker, record(None, unit, home, cat))
    assert error.code is ErrorCode.UNAUTHENTICATED
    error = await refused(
        sessionmaker, record(await coordinator_of(sessionmaker, other), unit, home, cat)
    )
    assert error.code is ErrorCode.FORBIDDEN


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"hours": Decimal("-1")}, "hours"),
        ({"hours": Decimal("1.005")}, "hours"),
        ({"hours": Decimal("NaN")}, "hours"),
        ({"hours": Decimal("Infinity")}, "hours"),
        ({"hours": Decimal("100000.01")}, "hours"),
        ({"beneficiaries": -1}, "beneficiaries"),
        ({"beneficiaries": 1_000_001}, "beneficiaries"),
        ({"on": today() + timedelta(days=1)}, "occurredOn"),
        ({"on": date(1900, 1, 1)}, "occurredOn"),
    ],
)
async def test_values_refused(
    sessionmaker: Sessionmaker, values: dict[str, Any], field: str
) -> None:
    (community,) = await make_chain(sessionmaker, "COMMUNITY")
    unit = await make_org(sessionmaker, area=community)
    coordinator = await coordinator_of(sessionmaker, community)
    cat = await category(sessionmaker)

    error = await refused(sessionmaker, record(coordinator, unit, community, cat, **values))

    assert error.code is ErrorCode.VALIDATION
    assert error.field == ["input", field]


async def test_a_claim_writes_one_activity_at_most(sessionmaker: Sessionmaker) -> None:
    (community,) = await make_chain(sessionmaker, "COMMUNITY")
    unit = await make_org(sessionmaker, area=community)
    coordinator = await coordinator_of(sessionmaker, community)
    cat = await category(sessionmaker)
    claim = record(coordinator, unit, community, cat, source=ActivitySource.CLAIM, source_id=7)

    await run(sessionmaker, claim)

    with pytest.raises(Exception, match="uq_service_activities_source"):
        await run(sessionmaker, claim)


async def test_counts_by_subtree_category_and_quarter(sessionmaker: Sessionmaker) -> None:
    # given activities on 31 March and 1 April in two grids of one community, and one elsewhere
    _, street, community = await make_chain(sessionmaker, "CITY", "STREET", "COMMUNITY")
    grid_a = await make_area(sessionmaker, level="GRID", parent=community)
    grid_b = await make_area(sessionmaker, level="GRID", parent=community)
    elsewhere = await make_area(sessionmaker, level="COMMUNITY", parent=street)
    unit = await make_org(sessionmaker, area=community)
    coordinator = await coordinator_of(sessionmaker, street)
    care, health = await category(sessionmaker), await category(sessionmaker, "health")
    for area, cat, on in (
        (grid_a, care, date(2026, 3, 31)),
        (grid_b, care, date(2026, 4, 1)),
        (grid_b, health, date(2026, 4, 1)),
        (elsewhere, care, date(2026, 3, 31)),
    ):
        await run(sessionmaker, record(coordinator, unit, area, cat, on=on))

    async def count(**filters: Any) -> int:
        async with sessionmaker() as s:
            return await svc.count_activities(s, **filters)

    q1 = {"start": date(2026, 1, 1), "end": date(2026, 3, 31)}
    q2 = {"start": date(2026, 4, 1), "end": date(2026, 6, 30)}
    # then 31 March counts in the first quarter and 1 April in the second
    assert await count(area_path=community.path, category_id=care, **q1) == 1
    assert await count(area_path=community.path, category_id=care, **q2) == 1
    assert await count(area_path=community.path, **q2) == 2
    assert await count(area_path=street.path, category_id=care, **q1) == 2
    assert await count(area_path=grid_a.path, **q2) == 0
    assert await count(organization_id=unit.id, **q1) == 2

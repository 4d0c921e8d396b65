"""Area services called directly: the level rules, counts, codes, deletion, neighbours, and who
may do each of them. A refusal writes nothing: not a row, not an audit entry."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from gridweave.db import Sessionmaker, unit_of_work
from gridweave.errors import DomainError, ErrorCode
from gridweave.models import (
    Area,
    AreaLevel,
    AreaNeighbor,
    AuditEntry,
    Organization,
    Role,
)
from gridweave.services import areas as svc
from gridweave.services.access import Actor, Grant
from tests.factories import make_area, make_chain, make_org, make_user

Call = Callable[[AsyncSession], Awaitable[Any]]


async def admin(sm: Sessionmaker) -> Actor:
    user = await make_user(sm, "ADMIN")
    return Actor(user.id, (Grant(Role.ADMIN),))


async def coordinator_of(sm: Sessionmaker, area: Area) -> Actor:
    user = await make_user(sm, "COORDINATOR", area=area)
    return Actor(user.id, (Grant(Role.COORDINATOR, area.id, area.path),))


async def row_counts(s: AsyncSession) -> dict[str, int]:
    counts = {}
    for model in (Area, AreaNeighbor, Organization, AuditEntry):
        counts[model.__tablename__] = int(
            await s.scalar(select(func.count()).select_from(model)) or 0
        )
    return counts


async def run(sm: Sessionmaker, call: Call) -> Any:
    async with unit_of_work(sm) as s:
        return await call(s)


async def refused(sm: Sessionmaker, call: Call) -> DomainError:
    """Run ``call`` and expect a DomainError; in the same transaction, before any rollback, the
    refused call must have left every table as it was."""
    async with sm() as s, s.begin():
        before = await row_counts(s)
        with pytest.raises(DomainError) as caught:
            await call(s)
        assert await row_counts(s) == before, "a refused call wrote something"
        await s.rollback()
    return caught.value


async def neighbour_ids(sm: Sessionmaker, area_id: int) -> set[int]:
    async with sm() as s:
        rows = await s.scalars(
            select(AreaNeighbor.neighbor_id).where(AreaNeighbor.area_id == area_id)
        )
        return set(rows.all())


# ---------------------------------------------------------------- create_area: level rules


async def test_grid_may_sit_under_a_community(sessionmaker: Sessionmaker) -> None:
    # given a coordinator of a city and a community under it
    city, _, _, community = await make_chain(
        sessionmaker, "CITY", "DISTRICT", "STREET", "COMMUNITY"
    )
    actor = await coordinator_of(sessionmaker, city)

    # when they add a grid under the community
    grid = await run(
        sessionmaker,
        lambda s: svc.create_area(
            s,
            actor=actor,
            name="  第一 网格 ",
            level=AreaLevel.GRID,
            parent_id=community.id,
            code="G-001",
            counts=svc.AreaCounts(
                households=120, population=300, vulnerable={"ELDERLY_LIVING_ALONE": 7}
            ),
        ),
    )

    # then it is stored with the parent's path, a cleaned name, its counts and an audit entry
    async with sessionmaker() as s:
        stored = await s.get(Area, grid.id)
        assert stored is not None
        assert stored.path == f"{community.path}{grid.id}/"
        assert stored.name == "第一 网格"
        assert (stored.households, stored.population, stored.elderly_living_alone) == (120, 300, 7)
        assert stored.left_behind_children == 0
        entry = await s.scalar(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(1))
        assert entry is not None
        assert (entry.action, entry.entity_id, entry.actor_id) == (
            "createArea",
            f"Area:{grid.id}",
            actor.user_id,
        )


async def test_grid_may_not_sit_under_a_city(sessionmaker: Sessionmaker) -> None:
    city = await make_area(sessionmaker, level="CITY")
    actor = await coordinator_of(sessionmaker, city)

    error = await refused(
        sessionmaker,
        lambda s: svc.create_area(
            s, actor=actor, name="网格", level=AreaLevel.GRID, parent_id=city.id
        ),
    )

    assert error.code is ErrorCode.VALIDATION
    assert error.field == ["input", "level"]


async def test_building_may_sit_directly_under_a_grid(sessionmaker: Sessionmaker) -> None:
    grid = await make_area(sessionmaker, level="GRID")
    actor = await coordinator_of(sessionmaker, grid)

    building = await run(
        sessionmaker,
        lambda s: svc.create_area(
            s, actor=actor, name="1号楼", level=AreaLevel.BUILDING, parent_id=grid.id
        ),
    )

    assert building.level == "BUILDING"
    assert building.parent_id == grid.id


async def test_nothing_sits_under_a_building(sessionmaker: Sessionmaker) -> None:
    building = await make_area(sessionmaker, level="BUILDING")
    actor = await admin(sessionmaker)

    error = await refused(
        sessionmaker,
        lambda s: svc.create_area(
            s, actor=actor, name="单元", level=AreaLevel.BUILDING, parent_id=building.id
        ),
    )

    assert error.code is ErrorCode.VALIDATION
    assert error.field == ["input", "level"]


async def test_only_an_admin_creates_a_top_level_area(sessionmaker: Sessionmaker) -> None:
    # given a coordinator with an unlimited grant, and an admin
    user = await make_user(sessionmaker, "COORDINATOR")
    coordinator = Actor(user.id, (Grant(Role.COORDINATOR),))
    boss = await admin(sessionmaker)

    # when the coordinator tries to create a city, then it is refused
    error = await refused(
        sessionmaker,
        lambda s: svc.create_area(s, actor=coordinator, name="新城", level=AreaLevel.CITY),
    )
    assert error.code is ErrorCode.FORBIDDEN

    # and anonymously it needs a sign-in
    error = await refused(
        sessionmaker, lambda s: svc.create_area(s, actor=None, name="新城", level=AreaLevel.CITY)
    )
    assert error.code is ErrorCode.UNAUTHENTICATED

    # while the admin may
    city = await run(
        sessionmaker, lambda s: svc.create_area(s, actor=boss, name="新城", level=AreaLevel.CITY)
    )
    assert (city.parent_id, city.path) == (None, f"/{city.id}/")


# ---------------------------------------------------------------- create_area: input checks


async def test_duplicate_code_is_a_conflict(sessionmaker: Sessionmaker) -> None:
    city = await make_area(sessionmaker, level="CITY", code="110000")
    actor = await admin(sessionmaker)

    error = await refused(
        sessionmaker,
        lambda s: svc.create_area(
            s,
            actor=actor,
            name="另一区",
            level=AreaLevel.DISTRICT,
            parent_id=city.id,
            code=" 110000 ",
        ),
    )

    assert error.code is ErrorCode.CONFLICT
    assert error.field == ["input", "code"]


@pytest.mark.parametrize(
    ("counts", "field"),
    [
        (svc.AreaCounts(households=-1), ["input", "households"]),
        (svc.AreaCounts(population=-5), ["input", "population"]),
        (
            svc.AreaCounts(vulnerable={"ELDERLY_LIVING_ALONE": 3, "HARDSHIP_HOUSEHOLDS": -2}),
            ["input", "vulnerableGroups", "1", "count"],
        ),
    ],
)
async def test_negative_counts_are_refused_with_their_field(
    sessionmaker: Sessionmaker, counts: svc.AreaCounts, field: list[str]
) -> None:
    city = await make_area(sessionmaker, level="CITY")
    actor = await admin(sessionmaker)

    error = await refused(
        sessionmaker,
        lambda s: svc.create_area(
            s, actor=actor, name="区", level=AreaLevel.DISTRICT, parent_id=city.id, counts=counts
        ),
    )

    assert error.code is ErrorCode.VALIDATION
    assert error.field == field


async def test_empty_name_is_refused(sessionmaker: Sessionmaker) -> None:
    city = await make_area(sessionmaker, level="CITY")
    actor = await admin(sessionmaker)

    error = await refused(
        sessionmaker,
        lambda s: svc.create_area(
            s, actor=actor, name=" \t ", level=AreaLevel.DISTRICT, parent_id=city.id
        ),
    )

    assert error.code is ErrorCode.VALIDATION
    assert error.field == ["input", "name"]


async def test_unknown_parent_is_not_found(sessionmaker: Sessionmaker) -> None:
    actor = await admin(sessionmaker)

    error = await refused(
        sessionmaker,
        lambda s: svc.create_area(
            s, actor=actor, name="区", level=AreaLevel.DISTRICT, parent_id=987_654
        ),
    )

    assert error.code is ErrorCode.NOT_FOUND
    assert error.field == ["input", "parentId"]


# ---------------------------------------------------------------- update_area


async def test_update_area_changes_name_code_and_counts(sessionmaker: Sessionmaker) -> None:
    city, district = await make_chain(sessionmaker, "CITY", "DISTRICT")
    actor = await coordinator_of(sessionmaker, city)

    await run(
        sessionmaker,
        lambda s: svc.update_area(
            s,
            actor=actor,
            area_id=district.id,
            name="宝山区",
            code="310113",
            counts=svc.AreaCounts(households=5000, vulnerable={"MOBILE_POPULATION": 40}),
        ),
    )

    async with sessionmaker() as s:
        stored = await s.get(Area, district.id)
        assert stored is not None
        assert (stored.name, stored.code, stored.households, stored.mobile_population) == (
            "宝山区",
            "310113",
            5000,
            40,
        )
        assert stored.population == district.population  # untouched
        actions = (await s.scalars(select(AuditEntry.action))).all()
        assert actions == ["updateArea"]


async def test_update_area_may_keep_its_own_code_but_not_take_another(
    sessionmaker: Sessionmaker,
) -> None:
    city = await make_area(sessionmaker, level="CITY", code="A1")
    district = await make_area(sessionmaker, level="DISTRICT", parent=city, code="B1")
    actor = await admin(sessionmaker)

    same = await run(
        sessionmaker, lambda s: svc.update_area(s, actor=actor, area_id=district.id, code="B1")
    )
    assert same.code == "B1"

    error = await refused(
        sessionmaker, lambda s: svc.update_area(s, actor=actor, area_id=district.id, code="A1")
    )
    assert error.code is ErrorCode.CONFLICT
    assert error.field == ["input", "code"]


async def test_update_area_refuses_a_negative_count(sessionmaker: Sessionmaker) -> None:
    city = await make_area(sessionmaker, level="CITY")
    actor = await admin(sessionmaker)

    error = await refused(
        sessionmaker,
        lambda s: svc.update_area(
            s, actor=actor, area_id=city.id, counts=svc.AreaCounts(population=-1)
        ),
    )

    assert error.code is ErrorCode.VALIDATION
    assert error.field == ["input", "population"]


# ---------------------------------------------------------------- delete_area


async def test_delete_refuses_an_area_with_children(sessionmaker: Sessionmaker) -> None:
    city, _ = await make_chain(sessionmaker, "CITY", "DISTRICT")
    actor = await admin(sessionmaker)

    error = await refused(sessionmaker, lambda s: svc.delete_area(s, actor=actor, area_id=city.id))

    assert error.code is ErrorCode.INVALID_STATE
    assert error.field == ["input", "id"]


async def test_delete_refuses_an_area_with_organizations(sessionmaker: Sessionmaker) -> None:
    city = await make_area(sessionmaker, level="CITY")
    await make_org(sessionmaker, area=city)
    actor = await admin(sessionmaker)

    error = await refused(sessionmaker, lambda s: svc.delete_area(s, actor=actor, area_id=city.id))

    assert error.code is ErrorCode.INVALID_STATE


async def test_delete_removes_a_leaf_and_its_neighbour_pairs(sessionmaker: Sessionmaker) -> None:
    # given two neighbouring grids
    community = await make_area(sessionmaker, level="COMMUNITY")
    a = await make_area(sessionmaker, level="GRID", parent=community)
    b = await make_area(sessionmaker, level="GRID", parent=community)
    actor = await coordinator_of(sessionmaker, community)
    await run(
        sessionmaker, lambda s: svc.set_neighbors(s, actor=actor, area_id=a.id, neighbor_ids=[b.id])
    )

    # when grid a is deleted
    deleted = await run(sessionmaker, lambda s: svc.delete_area(s, actor=actor, area_id=a.id))

    # then it is gone, b no longer lists it, and the deletion is in the ledger
    assert deleted == a.id
    async with sessionmaker() as s:
        assert await s.get(Area, a.id) is None
        assert await s.get(Area, b.id) is not None
        last = await s.scalar(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(1))
        assert last is not None
        assert (last.action, last.entity_id) == ("deleteArea", f"Area:{a.id}")
    assert await neighbour_ids(sessionmaker, b.id) == set()


async def test_delete_unknown_area_is_not_found(sessionmaker: Sessionmaker) -> None:
    actor = await admin(sessionmaker)

    error = await refused(sessionmaker, lambda s: svc.delete_area(s, actor=actor, area_id=424242))

    assert error.code is ErrorCode.NOT_FOUND
    assert error.field == ["input", "id"]


# ---------------------------------------------------------------- set_neighbors


async def test_neighbours_are_symmetric_and_replaced(sessionmaker: Sessionmaker) -> None:
    # given four grids of one community
    community = await make_area(sessionmaker, level="COMMUNITY")
    a, b, c, d = [await make_area(sessionmaker, level="GRID", parent=community) for _ in range(4)]
    actor = await coordinator_of(sessionmaker, community)

    # when A's neighbours are set to B and C
    await run(
        sessionmaker,
        lambda s: svc.set_neighbors(s, actor=actor, area_id=a.id, neighbor_ids=[b.id, c.id, b.id]),
    )

    # then both sides list each other
    assert await neighbour_ids(sessionmaker, a.id) == {b.id, c.id}
    assert await neighbour_ids(sessionmaker, b.id) == {a.id}
    assert await neighbour_ids(sessionmaker, c.id) == {a.id}

    # when they are replaced by D alone
    await run(
        sessionmaker, lambda s: svc.set_neighbors(s, actor=actor, area_id=a.id, neighbor_ids=[d.id])
    )

    # then the old pairs are gone on both sides
    assert await neighbour_ids(sessionmaker, a.id) == {d.id}
    assert await neighbour_ids(sessionmaker, b.id) == set()
    assert await neighbour_ids(sessionmaker, c.id) == set()
    assert await neighbour_ids(sessionmaker, d.id) == {a.id}

    # and an empty list clears them
    await run(
        sessionmaker, lambda s: svc.set_neighbors(s, actor=actor, area_id=a.id, neighbor_ids=[])
    )
    assert await neighbour_ids(sessionmaker, a.id) == set()
    assert await neighbour_ids(sessionmaker, d.id) == set()


async def test_neighbours_must_be_of_the_same_level(sessionmaker: Sessionmaker) -> None:
    community = await make_area(sessionmaker, level="COMMUNITY")
    grid = await make_area(sessionmaker, level="GRID", parent=community)
    other = await make_area(sessionmaker, level="GRID", parent=community)
    courtyard = await make_area(sessionmaker, level="COURTYARD", parent=grid)
    actor = await coordinator_of(sessionmaker, community)

    error = await refused(
        sessionmaker,
        lambda s: svc.set_neighbors(
            s, actor=actor, area_id=grid.id, neighbor_ids=[other.id, courtyard.id]
        ),
    )

    assert error.code is ErrorCode.VALIDATION
    assert error.field == ["input", "neighborIds", "1"]


async def test_an_area_cannot_neighbour_itself_or_a_missing_area(
    sessionmaker: Sessionmaker,
) -> None:
    community = await make_area(sessionmaker, level="COMMUNITY")
    grid = await make_area(sessionmaker, level="GRID", parent=community)
    actor = await coordinator_of(sessionmaker, community)

    itself = await refused(
        sessionmaker,
        lambda s: svc.set_neighbors(s, actor=actor, area_id=grid.id, neighbor_ids=[grid.id]),
    )
    missing = await refused(
        sessionmaker,
        lambda s: svc.set_neighbors(s, actor=actor, area_id=grid.id, neighbor_ids=[999_999]),
    )

    assert (itself.code, itself.field) == (ErrorCode.VALIDATION, ["input", "neighborIds"])
    assert (missing.code, missing.field) == (ErrorCode.NOT_FOUND, ["input", "neighborIds", "0"])


# ---------------------------------------------------------------- authorization


@pytest.fixture
async def two_communities(sessionmaker: Sessionmaker) -> dict[str, Any]:
    """Communities A and B under one street, a grid in each, and A's coordinator."""
    street = await make_area(sessionmaker, level="STREET")
    a = await make_area(sessionmaker, level="COMMUNITY", parent=street, name="A社区")
    b = await make_area(sessionmaker, level="COMMUNITY", parent=street, name="B社区")
    grid_a = await make_area(sessionmaker, level="GRID", parent=a)
    grid_b = await make_area(sessionmaker, level="GRID", parent=b)
    leaf_b = await make_area(sessionmaker, level="GRID", parent=b)
    return {
        "a": a,
        "b": b,
        "grid_a": grid_a,
        "grid_b": grid_b,
        "leaf_b": leaf_b,
        "actor": await coordinator_of(sessionmaker, a),
    }


async def test_coordinator_of_a_works_in_a(
    sessionmaker: Sessionmaker, two_communities: dict[str, Any]
) -> None:
    t = two_communities
    actor: Actor = t["actor"]

    grid = await run(
        sessionmaker,
        lambda s: svc.create_area(
            s, actor=actor, name="A2网格", level=AreaLevel.GRID, parent_id=t["a"].id
        ),
    )
    await run(
        sessionmaker,
        lambda s: svc.set_neighbors(s, actor=actor, area_id=grid.id, neighbor_ids=[t["grid_a"].id]),
    )
    await run(
        sessionmaker,
        lambda s: svc.update_area(s, actor=actor, area_id=t["a"].id, name="A社区（新）"),
    )

    assert await neighbour_ids(sessionmaker, t["grid_a"].id) == {grid.id}


@pytest.mark.parametrize(
    "attempt",
    ["create", "update", "delete", "neighbours_of_b", "b_as_neighbour"],
)
async def test_coordinator_of_a_is_forbidden_in_b(
    sessionmaker: Sessionmaker, two_communities: dict[str, Any], attempt: str
) -> None:
    t = two_communities
    actor: Actor = t["actor"]
    calls: dict[str, Call] = {
        "create": lambda s: svc.create_area(
            s, actor=actor, name="B2网格", level=AreaLevel.GRID, parent_id=t["b"].id
        ),
        "update": lambda s: svc.update_area(s, actor=actor, area_id=t["b"].id, name="改名"),
        "delete": lambda s: svc.delete_area(s, actor=actor, area_id=t["leaf_b"].id),
        "neighbours_of_b": lambda s: svc.set_neighbors(
            s, actor=actor, area_id=t["grid_b"].id, neighbor_ids=[t["grid_a"].id]
        ),
        "b_as_neighbour": lambda s: svc.set_neighbors(
            s, actor=actor, area_id=t["grid_a"].id, neighbor_ids=[t["grid_b"].id]
        ),
    }

    error = await refused(sessionmaker, calls[attempt])

    assert error.code is ErrorCode.FORBIDDEN
    async with sessionmaker() as s:
        b = await s.get(Area, t["b"].id)
        assert b is not None
        assert b.name == "B社区"


@pytest.mark.parametrize("attempt", ["create", "update", "delete", "neighbours"])
async def test_anonymous_caller_must_sign_in(
    sessionmaker: Sessionmaker, two_communities: dict[str, Any], attempt: str
) -> None:
    t = two_communities
    calls: dict[str, Call] = {
        "create": lambda s: svc.create_area(
            s, actor=None, name="网格", level=AreaLevel.GRID, parent_id=t["a"].id
        ),
        "update": lambda s: svc.update_area(s, actor=None, area_id=t["a"].id, name="改名"),
        "delete": lambda s: svc.delete_area(s, actor=None, area_id=t["grid_a"].id),
        "neighbours": lambda s: svc.set_neighbors(
            s, actor=None, area_id=t["grid_a"].id, neighbor_ids=[]
        ),
    }

    error = await refused(sessionmaker, calls[attempt])

    assert error.code is ErrorCode.UNAUTHENTICATED


async def test_organization_member_cannot_edit_areas(
    sessionmaker: Sessionmaker, two_communities: dict[str, Any]
) -> None:
    t = two_communities
    org = await make_org(sessionmaker, area=t["a"])
    user = await make_user(sessionmaker, "ORGANIZATION_MEMBER", organization=org)
    member = Actor(user.id, (Grant(Role.ORGANIZATION_MEMBER, organization_id=org.id),))

    error = await refused(
        sessionmaker, lambda s: svc.update_area(s, actor=member, area_id=t["a"].id, name="改名")
    )

    assert error.code is ErrorCode.FORBIDDEN


async def test_delete_refuses_an_area_that_organizations_serve(
    sessionmaker: Sessionmaker,
) -> None:
    # given a grid served by an organization based elsewhere
    community = await make_area(sessionmaker, level="COMMUNITY")
    grid = await make_area(sessionmaker, level="GRID", parent=community)
    await make_org(sessionmaker, area=community, serves={grid.id: ["elderly_care"]})
    actor = await admin(sessionmaker)

    # when the grid is deleted, then it is a plain refusal, not a database error
    error = await refused(sessionmaker, lambda s: svc.delete_area(s, actor=actor, area_id=grid.id))

    assert error.code is ErrorCode.INVALID_STATE
    assert error.field == ["input", "id"]


async def test_delete_refuses_an_area_someone_holds_a_role_in(
    sessionmaker: Sessionmaker,
) -> None:
    community = await make_area(sessionmaker, level="COMMUNITY")
    grid = await make_area(sessionmaker, level="GRID", parent=community)
    await make_user(sessionmaker, "COORDINATOR", area=grid)
    actor = await admin(sessionmaker)

    error = await refused(sessionmaker, lambda s: svc.delete_area(s, actor=actor, area_id=grid.id))

    assert error.code is ErrorCode.INVALID_STATE
    assert error.field == ["input", "id"]

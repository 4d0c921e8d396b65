"""Area services called directly: the level rules, counts, codes, deletion, neighbours, and who
may do each of them. A refusal writes nothing: not a row, not an audit entry."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import select

from gridweave.db import Sessionmaker
from gridweave.errors import ErrorCode
from gridweave.models import (
    Area,
    AreaLevel,
    AreaNeighbor,
    AuditEntry,
    Role,
)
from gridweave.services import areas as svc
from gridweave.services.access import Actor, Grant
from tests.factories import (
    admin_actor,
    coordinator_of,
    make_area,
    make_chain,
    make_org,
    make_user,
    member_of,
)
from tests.services.helpers import Call, expect_refusal, run

# a refused area call must leave the row counts of these as they were
refused = expect_refusal


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


@pytest.mark.parametrize(
    ("parent_level", "level"),
    [("CITY", AreaLevel.GRID), ("BUILDING", AreaLevel.BUILDING)],
    ids=["grid-under-a-city", "anything-under-a-building"],
)
async def test_level_rules_refuse_an_area_under_the_wrong_parent(
    sessionmaker: Sessionmaker, parent_level: str, level: AreaLevel
) -> None:
    # given a parent area and its coordinator
    parent = await make_area(sessionmaker, level=parent_level)
    actor = await coordinator_of(sessionmaker, parent)

    # when they add an area of a level that may not sit there
    error = await refused(
        sessionmaker,
        lambda s: svc.create_area(s, actor=actor, name="网格", level=level, parent_id=parent.id),
    )

    # then it is refused, pointing at the level
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


async def test_only_an_admin_creates_a_top_level_area(sessionmaker: Sessionmaker) -> None:
    # given a coordinator with an unlimited grant, and an admin
    user = await make_user(sessionmaker, "COORDINATOR")
    coordinator = Actor(user.id, (Grant(Role.COORDINATOR),))
    boss = await admin_actor(sessionmaker)

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


@pytest.mark.parametrize(
    ("given", "code", "field"),
    [
        pytest.param({"name": " \t "}, ErrorCode.VALIDATION, ["input", "name"], id="blank-name"),
        pytest.param({"code": " 110000 "}, ErrorCode.CONFLICT, ["input", "code"], id="code-taken"),
        pytest.param(
            {"parent_id": 987_654}, ErrorCode.NOT_FOUND, ["input", "parentId"], id="unknown-parent"
        ),
        pytest.param(
            {"counts": svc.AreaCounts(households=-1)},
            ErrorCode.VALIDATION,
            ["input", "households"],
            id="negative-households",
        ),
        pytest.param(
            {"counts": svc.AreaCounts(population=-5)},
            ErrorCode.VALIDATION,
            ["input", "population"],
            id="negative-population",
        ),
        pytest.param(
            {
                "counts": svc.AreaCounts(
                    vulnerable={"ELDERLY_LIVING_ALONE": 3, "HARDSHIP_HOUSEHOLDS": -2}
                )
            },
            ErrorCode.VALIDATION,
            ["input", "vulnerableGroups", "1", "count"],
            id="negative-vulnerable-group",
        ),
    ],
)
async def test_create_area_checks_its_input(
    sessionmaker: Sessionmaker, given: dict[str, Any], code: ErrorCode, field: list[str]
) -> None:
    # given a city whose code is 110000, and an admin
    city = await make_area(sessionmaker, level="CITY", code="110000")
    actor = await admin_actor(sessionmaker)
    district: dict[str, Any] = {
        "name": "区",
        "level": AreaLevel.DISTRICT,
        "parent_id": city.id,
        **given,
    }

    # when a district is created under it with one part of its input wrong
    error = await refused(sessionmaker, lambda s: svc.create_area(s, actor=actor, **district))

    # then it is refused, pointing at that part
    assert error.code is code
    assert error.field == field


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
            counts=svc.AreaCounts(households=250, vulnerable={"MOBILE_POPULATION": 40}),
        ),
    )

    async with sessionmaker() as s:
        stored = await s.get(Area, district.id)
        assert stored is not None
        assert (stored.name, stored.code, stored.households, stored.mobile_population) == (
            "宝山区",
            "310113",
            250,
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
    actor = await admin_actor(sessionmaker)

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
    actor = await admin_actor(sessionmaker)

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
    actor = await admin_actor(sessionmaker)

    error = await refused(sessionmaker, lambda s: svc.delete_area(s, actor=actor, area_id=city.id))

    assert error.code is ErrorCode.INVALID_STATE
    assert error.field == ["input", "id"]


async def test_delete_refuses_an_area_with_organizations(sessionmaker: Sessionmaker) -> None:
    city = await make_area(sessionmaker, level="CITY")
    await make_org(sessionmaker, area=city)
    actor = await admin_actor(sessionmaker)

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
    actor = await admin_actor(sessionmaker)

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
    member = await member_of(sessionmaker, org)

    error = await refused(
        sessionmaker, lambda s: svc.update_area(s, actor=member, area_id=t["a"].id, name="改名")
    )

    assert error.code is ErrorCode.FORBIDDEN


@pytest.mark.parametrize("holder", ["an organization serving it", "a role held in it"])
async def test_delete_refuses_an_area_something_still_holds(
    sessionmaker: Sessionmaker, holder: str
) -> None:
    # given a grid served by an organization based elsewhere, or a grid someone holds a role in
    community = await make_area(sessionmaker, level="COMMUNITY")
    grid = await make_area(sessionmaker, level="GRID", parent=community)
    holders: dict[str, Callable[[], Awaitable[object]]] = {
        "an organization serving it": lambda: make_org(
            sessionmaker, area=community, serves={grid.id: ["elderly_care"]}
        ),
        "a role held in it": lambda: make_user(sessionmaker, "COORDINATOR", area=grid),
    }
    await holders[holder]()
    actor = await admin_actor(sessionmaker)

    # when the grid is deleted, then it is a plain refusal, not a database error
    error = await refused(sessionmaker, lambda s: svc.delete_area(s, actor=actor, area_id=grid.id))

    assert error.code is ErrorCode.INVALID_STATE
    assert error.field == ["input", "id"]

"""Areas through GraphQL: the four area mutations (who may, who may not, and that a refusal writes
nothing), ids that are not ids, node(id), and the ``areas`` listing with search and pages.

Read queries run twice: through the compiled read path and through strawberry's resolvers."""

from __future__ import annotations

import base64
from dataclasses import dataclass

import httpx
import pytest

from gridweave.db import Sessionmaker
from gridweave.models import Area, Organization
from gridweave.settings import Settings
from tests.api.helpers import Refusal, assert_refused, call, mutation
from tests.factories import Api, gid, make_area, make_org, make_user, token_for

AREA = (
    "area { id name code level households population parent { id } "
    "vulnerableGroups { group count } neighbors { id } }"
)


@dataclass
class World:
    street: Area
    a: Area
    b: Area
    grid_a1: Area
    grid_a2: Area
    leaf_a: Area
    grid_b1: Area
    leaf_b: Area
    org_a: Organization
    coordinator_a: Api
    anonymous: Api
    admin: Api


@pytest.fixture
async def world(client: httpx.AsyncClient, sessionmaker: Sessionmaker, settings: Settings) -> World:
    street = await make_area(sessionmaker, level="STREET", name="宝山街道")
    a = await make_area(sessionmaker, level="COMMUNITY", parent=street, name="阳光社区")
    b = await make_area(sessionmaker, level="COMMUNITY", parent=street, name="和平社区")
    grid_a1 = await make_area(sessionmaker, level="GRID", parent=a, name="阳光一网格")
    coordinator = await make_user(sessionmaker, "COORDINATOR", area=a)
    admin = await make_user(sessionmaker, "ADMIN")
    return World(
        street=street,
        a=a,
        b=b,
        grid_a1=grid_a1,
        grid_a2=await make_area(sessionmaker, level="GRID", parent=a, name="阳光二网格"),
        leaf_a=await make_area(sessionmaker, level="GRID", parent=a, name="阳光三网格"),
        grid_b1=await make_area(sessionmaker, level="GRID", parent=b, name="和平一网格"),
        leaf_b=await make_area(sessionmaker, level="GRID", parent=b, name="和平二网格"),
        org_a=await make_org(sessionmaker, area=grid_a1, name="阳光志愿队"),
        coordinator_a=Api(client, token_for(settings, coordinator)),
        anonymous=Api(client),
        admin=Api(client, token_for(settings, admin)),
    )


# ---------------------------------------------------------------- createArea

CREATE = ("createArea", "CreateAreaInput")


async def test_coordinator_creates_a_grid_in_their_community(
    world: World, sessionmaker: Sessionmaker
) -> None:
    result = await call(
        world.coordinator_a,
        *CREATE,
        AREA,
        name="阳光四网格",
        level="GRID",
        parentId=gid("Area", world.a.id),
        code="YG-04",
        households=320,
        population=810,
        vulnerableGroups=[
            {"group": "ELDERLY_LIVING_ALONE", "count": 12},
            {"group": "LEFT_BEHIND_CHILDREN", "count": 3},
        ],
    )

    assert result["userErrors"] == []
    area = result["area"]
    assert (area["name"], area["code"], area["level"]) == ("阳光四网格", "YG-04", "GRID")
    assert (area["households"], area["population"]) == (320, 810)
    assert area["parent"] == {"id": gid("Area", world.a.id)}
    groups = {g["group"]: g["count"] for g in area["vulnerableGroups"]}
    assert groups == {
        "ELDERLY_LIVING_ALONE": 12,
        "LEFT_BEHIND_CHILDREN": 3,
        "DISABLED_HOUSEHOLDS": 0,
        "HARDSHIP_HOUSEHOLDS": 0,
        "MOBILE_POPULATION": 0,
    }
    # and it is there for the next request
    node = await world.coordinator_a.data(
        "query($id: ID!){ node(id: $id) { ... on Area { name parent { name } } } }", id=area["id"]
    )
    assert node["node"] == {"name": "阳光四网格", "parent": {"name": "阳光社区"}}


async def test_create_area_refusals(world: World, sessionmaker: Sessionmaker) -> None:
    in_b = {"name": "越界网格", "level": "GRID", "parentId": gid("Area", world.b.id)}
    in_a = {**in_b, "parentId": gid("Area", world.a.id)}
    two_groups = [
        {"group": "DISABLED_HOUSEHOLDS", "count": 1},
        {"group": "MOBILE_POPULATION", "count": -4},
    ]
    refusals = [
        Refusal(world.coordinator_a, in_b, "FORBIDDEN"),
        Refusal(world.anonymous, in_a, "UNAUTHENTICATED"),
        Refusal(
            world.admin,
            {**in_a, "parentId": gid("Area", world.street.id)},
            "VALIDATION",
            ["input", "level"],
        ),
        Refusal(
            world.coordinator_a, {**in_a, "households": -1}, "VALIDATION", ["input", "households"]
        ),
        Refusal(
            world.coordinator_a,
            {**in_a, "vulnerableGroups": two_groups},
            "VALIDATION",
            ["input", "vulnerableGroups", "1", "count"],
        ),
    ]

    await assert_refused(sessionmaker, *CREATE, "area", *refusals)


async def test_create_area_refuses_a_group_given_twice(
    world: World, sessionmaker: Sessionmaker
) -> None:
    twice = [
        {"group": "ELDERLY_LIVING_ALONE", "count": 5},
        {"group": "ELDERLY_LIVING_ALONE", "count": 50},
    ]
    input = {"name": "网格", "level": "GRID", "parentId": gid("Area", world.a.id)}

    await assert_refused(
        sessionmaker,
        *CREATE,
        "area",
        Refusal(
            world.coordinator_a,
            {**input, "vulnerableGroups": twice},
            "VALIDATION",
            ["input", "vulnerableGroups", "1", "group"],
        ),
    )


@pytest.mark.parametrize(
    "parent_id",
    ["not-an-id", "QXJlYQ==", base64.b64encode(b"Area:x").decode(), gid("Organization", 1)],
    ids=["garbage", "no-pk", "pk-not-a-number", "wrong-type"],
)
async def test_create_area_refuses_a_parent_id_that_is_not_an_area_id(
    world: World, sessionmaker: Sessionmaker, parent_id: str
) -> None:
    input = {"name": "网格", "level": "GRID", "parentId": parent_id}

    await assert_refused(
        sessionmaker,
        *CREATE,
        "area",
        Refusal(world.admin, input, "VALIDATION", ["input", "parentId"]),
    )


# ---------------------------------------------------------------- updateArea

UPDATE = ("updateArea", "UpdateAreaInput")


async def test_coordinator_updates_an_area_in_their_community(world: World) -> None:
    result = await call(
        world.coordinator_a,
        *UPDATE,
        AREA,
        id=gid("Area", world.grid_a1.id),
        name="阳光网格（东）",
        code="YG-01",
        population=999,
        vulnerableGroups=[{"group": "HARDSHIP_HOUSEHOLDS", "count": 8}],
    )

    assert result["userErrors"] == []
    area = result["area"]
    assert (area["name"], area["code"], area["population"]) == ("阳光网格（东）", "YG-01", 999)
    assert area["households"] == world.grid_a1.households
    assert {"group": "HARDSHIP_HOUSEHOLDS", "count": 8} in area["vulnerableGroups"]


async def test_update_area_refusals(world: World, sessionmaker: Sessionmaker) -> None:
    own, other = gid("Area", world.grid_a1.id), gid("Area", world.grid_b1.id)
    an_org = gid("Organization", world.org_a.id)
    missing = gid("Area", 9_999_999)
    id_field, name_field = ["input", "id"], ["input", "name"]
    refusals = [
        Refusal(world.coordinator_a, {"id": other, "name": "改名"}, "FORBIDDEN"),
        Refusal(world.anonymous, {"id": own, "name": "改名"}, "UNAUTHENTICATED"),
        Refusal(world.coordinator_a, {"id": "not-an-id", "name": "改名"}, "VALIDATION", id_field),
        Refusal(world.coordinator_a, {"id": an_org, "name": "改名"}, "VALIDATION", id_field),
        Refusal(world.coordinator_a, {"id": missing, "name": "改名"}, "NOT_FOUND", id_field),
        Refusal(world.coordinator_a, {"id": own, "name": "  "}, "VALIDATION", name_field),
    ]

    await assert_refused(sessionmaker, *UPDATE, "area", *refusals)


async def test_update_area_refuses_an_id_beyond_bigint(
    world: World, sessionmaker: Sessionmaker
) -> None:
    huge = base64.b64encode(b"Area:99999999999999999999").decode()

    await assert_refused(
        sessionmaker,
        *UPDATE,
        "area",
        Refusal(world.coordinator_a, {"id": huge, "name": "改名"}, "VALIDATION", ["input", "id"]),
    )


# ---------------------------------------------------------------- deleteArea

DELETE = ("deleteArea", "DeleteInput")


async def test_coordinator_deletes_an_empty_area_in_their_community(world: World) -> None:
    area_id = gid("Area", world.leaf_a.id)

    result = await call(world.coordinator_a, *DELETE, "deletedId", id=area_id)

    assert result == {"deletedId": area_id, "userErrors": []}
    node = await world.coordinator_a.data("query($id: ID!){ node(id: $id) { id } }", id=area_id)
    assert node["node"] is None


async def test_delete_area_refusals(world: World, sessionmaker: Sessionmaker) -> None:
    id_field = ["input", "id"]
    refusals = [
        Refusal(world.coordinator_a, {"id": gid("Area", world.leaf_b.id)}, "FORBIDDEN"),
        Refusal(world.anonymous, {"id": gid("Area", world.leaf_a.id)}, "UNAUTHENTICATED"),
        # a has areas under it
        Refusal(world.coordinator_a, {"id": gid("Area", world.a.id)}, "INVALID_STATE", id_field),
        # an organization is based in grid_a1
        Refusal(
            world.coordinator_a, {"id": gid("Area", world.grid_a1.id)}, "INVALID_STATE", id_field
        ),
        Refusal(world.coordinator_a, {"id": "12345"}, "VALIDATION", id_field),
    ]

    await assert_refused(sessionmaker, *DELETE, "deletedId", *refusals)


async def test_delete_refuses_an_area_an_organization_serves(
    world: World, sessionmaker: Sessionmaker
) -> None:
    await make_org(sessionmaker, area=world.a, serves={world.leaf_a.id: ["sanitation"]})

    await assert_refused(
        sessionmaker,
        *DELETE,
        "deletedId",
        Refusal(
            world.coordinator_a,
            {"id": gid("Area", world.leaf_a.id)},
            "INVALID_STATE",
            ["input", "id"],
        ),
    )


# ---------------------------------------------------------------- setNeighbors

NEIGHBORS = ("setNeighbors", "SetNeighborsInput")


async def test_coordinator_sets_neighbours_both_ways(world: World) -> None:
    a1, a2, a3 = (gid("Area", x.id) for x in (world.grid_a1, world.grid_a2, world.leaf_a))

    result = await call(world.coordinator_a, *NEIGHBORS, AREA, areaId=a1, neighborIds=[a2, a3])

    assert result["userErrors"] == []
    assert [n["id"] for n in result["area"]["neighbors"]] == [a2, a3]
    data = await world.coordinator_a.data(
        "query($id: ID!){ a: node(id: $id) { ... on Area { neighbors { id } } } }", id=a2
    )
    assert data["a"]["neighbors"] == [{"id": a1}]


async def test_set_neighbors_refusals(world: World, sessionmaker: Sessionmaker) -> None:
    a1, a2 = gid("Area", world.grid_a1.id), gid("Area", world.grid_a2.id)
    b1 = gid("Area", world.grid_b1.id)
    an_org, a_community = gid("Organization", world.org_a.id), gid("Area", world.a.id)
    refusals = [
        Refusal(world.coordinator_a, {"areaId": b1, "neighborIds": []}, "FORBIDDEN"),
        Refusal(world.coordinator_a, {"areaId": a1, "neighborIds": [a2, b1]}, "FORBIDDEN"),
        Refusal(world.anonymous, {"areaId": a1, "neighborIds": [a2]}, "UNAUTHENTICATED"),
        Refusal(
            world.coordinator_a,
            {"areaId": a1, "neighborIds": [a2, an_org]},
            "VALIDATION",
            ["input", "neighborIds", "1"],
        ),
        Refusal(
            world.coordinator_a,
            {"areaId": a1, "neighborIds": [a_community]},
            "VALIDATION",
            ["input", "neighborIds", "0"],
        ),
    ]

    await assert_refused(sessionmaker, *NEIGHBORS, "area", *refusals)


# ---------------------------------------------------------------- reads, on both read paths


async def test_node_returns_an_area(reader: Api, sessionmaker: Sessionmaker) -> None:
    city = await make_area(sessionmaker, level="CITY", name="成都市", code="510100")
    district = await make_area(sessionmaker, level="DISTRICT", parent=city, name="双流区")

    data = await reader.data(
        "query($id: ID!){ node(id: $id) { __typename id ... on Area { name code level "
        "parent { name } children { totalCount edges { node { name } } } } } }",
        id=gid("Area", city.id),
    )

    assert data["node"] == {
        "__typename": "Area",
        "id": gid("Area", city.id),
        "name": "成都市",
        "code": "510100",
        "level": "CITY",
        "parent": None,
        "children": {"totalCount": 1, "edges": [{"node": {"name": district.name}}]},
    }


async def test_node_of_an_unknown_or_malformed_id_is_null(reader: Api) -> None:
    data = await reader.data(
        '{ a: node(id: "QXJlYTo5OTk5OTk=") { id } b: node(id: "not-an-id") { id } }'
    )

    assert data == {"a": None, "b": None}


async def test_areas_filter_by_level_and_chinese_search(
    reader: Api, sessionmaker: Sessionmaker
) -> None:
    street = await make_area(sessionmaker, level="STREET", name="华阳街道")
    sunshine = await make_area(sessionmaker, level="COMMUNITY", parent=street, name="阳光社区")
    peace = await make_area(
        sessionmaker, level="COMMUNITY", parent=street, name="和平社区", code="510116001"
    )
    await make_area(sessionmaker, level="GRID", parent=sunshine, name="阳光社区第一网格")
    await make_area(sessionmaker, level="COMMUNITY", parent=street, name="河东村")
    query = (
        "query($level: AreaLevel, $search: String){ areas(level: $level, search: $search) "
        "{ totalCount edges { node { id name level } } } }"
    )

    communities = (await reader.data(query, level="COMMUNITY", search="社区"))["areas"]
    any_level = (await reader.data(query, search="阳光社区"))["areas"]
    by_code = (await reader.data(query, search="510116001"))["areas"]
    no_match = (await reader.data(query, search="100%"))["areas"]

    assert communities["totalCount"] == 2
    assert [e["node"]["id"] for e in communities["edges"]] == [
        gid("Area", sunshine.id),
        gid("Area", peace.id),
    ]
    assert [e["node"]["name"] for e in any_level["edges"]] == ["阳光社区", "阳光社区第一网格"]
    assert [e["node"]["name"] for e in by_code["edges"]] == ["和平社区"]
    assert no_match == {"totalCount": 0, "edges": []}


async def test_areas_pages_by_keyset(reader: Api, sessionmaker: Sessionmaker) -> None:
    # given seven districts under a city (eight areas in all)
    city = await make_area(sessionmaker, level="CITY", name="某市")
    districts = [
        await make_area(sessionmaker, level="DISTRICT", parent=city, name=f"第{i}区")
        for i in range(7)
    ]
    query = (
        "query($after: String){ areas(level: DISTRICT, first: 3, after: $after) { totalCount "
        "pageInfo { hasNextPage hasPreviousPage startCursor endCursor } "
        "edges { cursor node { id } } } }"
    )

    # when the client walks the pages
    seen: list[str] = []
    pages = []
    after = None
    while True:
        page = (await reader.data(query, after=after))["areas"]
        pages.append(page)
        seen += [e["node"]["id"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]

    # then every district comes exactly once, in id order, in pages of 3, 3, 1
    assert seen == [gid("Area", d.id) for d in districts]
    assert [len(p["edges"]) for p in pages] == [3, 3, 1]
    assert all(p["totalCount"] == 7 for p in pages)
    assert [p["pageInfo"]["hasPreviousPage"] for p in pages] == [False, True, True]
    for p in pages:
        assert p["pageInfo"]["startCursor"] == p["edges"][0]["cursor"]
        assert p["pageInfo"]["endCursor"] == p["edges"][-1]["cursor"]


async def test_first_above_the_limit_is_refused_with_the_limit(reader: Api) -> None:
    body = await reader("{ areas(first: 101) { totalCount } }")
    nested = await reader(
        "{ areas(first: 1) { edges { node { children(first: 500) { totalCount } } } } }"
    )

    for b in (body, nested):
        assert b.get("data") is None
        assert "100" in b["errors"][0]["message"]


async def test_bad_cursor_is_an_error(reader: Api, sessionmaker: Sessionmaker) -> None:
    await make_area(sessionmaker, level="CITY")

    garbage = await reader('{ areas(after: "zzz") { totalCount edges { node { id } } } }')
    total_only = await reader('{ areas(after: "zzz") { totalCount } }')
    not_ours = await reader(
        "query($a: String){ areas(after: $a) { edges { node { id } } } }",
        a=gid("Area", 1),  # a node id is not a page cursor
    )

    for body in (garbage, total_only, not_ours):
        assert body["data"] is None
        assert body["errors"][0]["extensions"]["code"] == "VALIDATION"
        assert body["errors"][0]["extensions"]["field"] == ["after"]


async def test_areas_parent_filter_needs_an_area_id(reader: Api) -> None:
    body = await reader('{ areas(parentId: "nope") { totalCount edges { node { id } } } }')

    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "VALIDATION"
    assert body["errors"][0]["extensions"]["field"] == ["parentId"]


async def test_area_organizations_include_the_subtree(
    reader: Api, sessionmaker: Sessionmaker
) -> None:
    community = await make_area(sessionmaker, level="COMMUNITY", name="阳光社区")
    grid = await make_area(sessionmaker, level="GRID", parent=community)
    party = await make_org(sessionmaker, area=community, kind="PARTY_ORGANIZATION")
    team = await make_org(sessionmaker, area=grid, kind="VOLUNTEER_TEAM")

    data = await reader.data(
        "query($id: ID!){ node(id: $id) { ... on Area { "
        "all: organizations { totalCount edges { node { id } } } "
        "teams: organizations(kind: VOLUNTEER_TEAM) { totalCount edges { node { id } } } } } }",
        id=gid("Area", community.id),
    )

    assert data["node"]["all"]["totalCount"] == 2
    assert [e["node"]["id"] for e in data["node"]["all"]["edges"]] == [
        gid("Organization", party.id),
        gid("Organization", team.id),
    ]
    assert data["node"]["teams"] == {
        "totalCount": 1,
        "edges": [{"node": {"id": gid("Organization", team.id)}}],
    }


async def test_values_postgres_would_refuse_are_clear_refusals(world: World) -> None:
    """Too long, or carrying a NUL: a VALIDATION userError naming the field, not a masked error."""
    long_code = await call(
        world.coordinator_a,
        "createArea",
        "CreateAreaInput",
        AREA,
        name="新网格",
        level="GRID",
        parentId=gid("Area", world.a.id),
        code="X" * 65,
    )
    nul_name = await world.coordinator_a(
        mutation("createArea", "CreateAreaInput", AREA),
        input={"name": "新\u0000网格", "level": "GRID", "parentId": gid("Area", world.a.id)},
    )

    assert [(e["code"], e["field"]) for e in long_code["userErrors"]] == [
        ("VALIDATION", ["input", "code"])
    ]
    # A NUL can never be stored: every request carrying one is refused before anything runs
    # (gridweave/schema/bounds.py), with the same code and the field in the extensions.
    assert nul_name["data"] is None
    assert nul_name["errors"][0]["extensions"] == {"code": "VALIDATION", "field": ["input", "name"]}

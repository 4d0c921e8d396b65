"""``network(areaId, depth)``: the organization graph of an area subtree, for a dashboard."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import text

from gridweave.app import create_app
from gridweave.db import Sessionmaker, unit_of_work
from gridweave.models import Area, Organization
from gridweave.settings import Settings
from tests.api.helpers import serve
from tests.factories import Api, gid, make_area, make_org, make_user, token_for

QUERY = (
    "query($id: ID!, $depth: Int){ network(areaId: $id, depth: $depth) { "
    "nodes { id label type kind } edges { source target kind } } }"
)


def area_id(area: Area) -> str:
    return gid("Area", area.id)


def org_id(org: Organization) -> str:
    return gid("Organization", org.id)


@dataclass
class Tree:
    street: Area
    community: Area
    grid1: Area
    grid2: Area
    building: Area
    outside: Area
    committee: Organization
    branch: Organization
    team: Organization
    stranger: Organization


async def link(sm: Sessionmaker, kind: str, source: Organization, target: Organization) -> None:
    async with unit_of_work(sm) as s:
        await s.execute(
            text("INSERT INTO organization_links (kind, source_id, target_id) VALUES (:k, :s, :t)"),
            {"k": kind, "s": source.id, "t": target.id},
        )


@pytest.fixture
async def tree(sessionmaker: Sessionmaker) -> Tree:
    """street > community > grid1 > building, community > grid2; an unrelated street outside.
    The committee (community) has a branch (grid1); a volunteer team sits in grid2 and serves
    both grids; an organization outside is linked in."""
    street = await make_area(sessionmaker, level="STREET", name="华阳街道")
    community = await make_area(sessionmaker, level="COMMUNITY", parent=street, name="阳光社区")
    grid1 = await make_area(sessionmaker, level="GRID", parent=community, name="一网格")
    grid2 = await make_area(sessionmaker, level="GRID", parent=community, name="二网格")
    building = await make_area(sessionmaker, level="BUILDING", parent=grid1, name="1号楼")
    outside = await make_area(sessionmaker, level="STREET", name="别的街道")
    committee = await make_org(
        sessionmaker, area=community, name="社区党委", kind="PARTY_ORGANIZATION"
    )
    branch = await make_org(
        sessionmaker, area=grid1, name="网格党支部", kind="PARTY_ORGANIZATION", parent=committee
    )
    team = await make_org(
        sessionmaker,
        area=grid2,
        name="夕阳红志愿队",
        kind="VOLUNTEER_TEAM",
        serves={grid1.id: ["elderly_care"], grid2.id: ["elderly_care", "health"]},
    )
    stranger = await make_org(
        sessionmaker,
        area=outside,
        name="外来基金会",
        kind="SOCIAL_ORGANIZATION",
        serves={grid1.id: ["hardship_relief"]},
    )
    await link(sessionmaker, "GUIDES", committee, team)
    await link(sessionmaker, "CONCURRENT_POST", branch, committee)
    await link(sessionmaker, "FUNDS", stranger, team)
    return Tree(
        street, community, grid1, grid2, building, outside, committee, branch, team, stranger
    )


@pytest.fixture
async def api(client: httpx.AsyncClient, sessionmaker: Sessionmaker, settings: Settings) -> Api:
    user = await make_user(sessionmaker, "EVALUATOR")
    return Api(client, token_for(settings, user))


async def test_network_of_a_community_has_its_areas_organizations_and_ties(
    api: Api, tree: Tree
) -> None:
    t = tree

    net = (await api.data(QUERY, id=area_id(t.community)))["network"]

    nodes = {n["id"]: (n["label"], n["type"], n["kind"]) for n in net["nodes"]}
    assert nodes == {
        area_id(t.community): ("阳光社区", "Area", "COMMUNITY"),
        area_id(t.grid1): ("一网格", "Area", "GRID"),
        area_id(t.grid2): ("二网格", "Area", "GRID"),
        area_id(t.building): ("1号楼", "Area", "BUILDING"),
        org_id(t.committee): ("社区党委", "Organization", "PARTY_ORGANIZATION"),
        org_id(t.branch): ("网格党支部", "Organization", "PARTY_ORGANIZATION"),
        org_id(t.team): ("夕阳红志愿队", "Organization", "VOLUNTEER_TEAM"),
    }
    edges = sorted((e["source"], e["target"], e["kind"]) for e in net["edges"])
    assert edges == sorted(
        [
            (area_id(t.grid1), area_id(t.community), "PARENT"),
            (area_id(t.grid2), area_id(t.community), "PARENT"),
            (area_id(t.building), area_id(t.grid1), "PARENT"),
            (org_id(t.committee), area_id(t.community), "LOCATED_IN"),
            (org_id(t.branch), area_id(t.grid1), "LOCATED_IN"),
            (org_id(t.team), area_id(t.grid2), "LOCATED_IN"),
            (org_id(t.branch), org_id(t.committee), "PARENT"),
            (org_id(t.team), area_id(t.grid1), "SERVES"),
            (
                org_id(t.team),
                area_id(t.grid2),
                "SERVES",
            ),  # one edge per area, however many categories
            (org_id(t.committee), org_id(t.team), "GUIDES"),
            (org_id(t.branch), org_id(t.committee), "CONCURRENT_POST"),
        ]
    )
    # the foundation outside the community, its service and its funding tie are left out
    assert org_id(t.stranger) not in nodes


async def test_depth_limits_the_areas_and_their_organizations(api: Api, tree: Tree) -> None:
    t = tree

    depth0 = (await api.data(QUERY, id=area_id(t.community), depth=0))["network"]
    depth1 = (await api.data(QUERY, id=area_id(t.community), depth=1))["network"]
    street1 = (await api.data(QUERY, id=area_id(t.street), depth=1))["network"]

    assert {n["id"] for n in depth0["nodes"]} == {area_id(t.community), org_id(t.committee)}
    assert [(e["source"], e["kind"]) for e in depth0["edges"]] == [
        (org_id(t.committee), "LOCATED_IN")
    ]
    assert {n["id"] for n in depth1["nodes"]} == {
        area_id(t.community),
        area_id(t.grid1),
        area_id(t.grid2),
        org_id(t.committee),
        org_id(t.branch),
        org_id(t.team),
    }
    assert area_id(t.building) not in {e["source"] for e in depth1["edges"]}
    assert {n["id"] for n in street1["nodes"]} == {
        area_id(t.street),
        area_id(t.community),
        org_id(t.committee),
    }


async def test_network_of_a_leaf_is_just_the_leaf(api: Api, tree: Tree) -> None:
    net = (await api.data(QUERY, id=area_id(tree.building)))["network"]

    assert net == {
        "nodes": [
            {"id": area_id(tree.building), "label": "1号楼", "type": "Area", "kind": "BUILDING"}
        ],
        "edges": [],
    }


async def test_network_refuses_bad_arguments(api: Api, tree: Tree) -> None:
    negative = await api(QUERY, id=area_id(tree.community), depth=-1)
    wrong_type = await api(QUERY, id=org_id(tree.team))
    unknown = await api(QUERY, id=gid("Area", 987_654))

    assert negative["errors"][0]["extensions"] == {"code": "VALIDATION", "field": ["depth"]}
    assert wrong_type["errors"][0]["extensions"] == {"code": "VALIDATION", "field": ["areaId"]}
    assert unknown["errors"][0]["extensions"] == {"code": "NOT_FOUND", "field": ["areaId"]}
    assert [negative["data"], wrong_type["data"], unknown["data"]] == [None, None, None]


async def test_network_needs_a_signed_in_user(client: httpx.AsyncClient, tree: Tree) -> None:
    body = await Api(client)(QUERY, id=area_id(tree.community))

    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_network_too_large_to_draw_is_refused(
    sessionmaker: Sessionmaker, settings: Settings, database_url: str, tree: Tree
) -> None:
    # given a server that draws at most 3 nodes
    app = create_app(
        settings.model_copy(update={"max_network_nodes": 3}), database_url=database_url
    )
    user = await make_user(sessionmaker, "COORDINATOR")
    async with serve(app) as c:
        api = Api(c, token_for(settings, user))
        # when the whole community (7 nodes) and then only its top (2 nodes) are asked
        too_big = await api(QUERY, id=area_id(tree.community))
        fits = await api(QUERY, id=area_id(tree.community), depth=0)

    # then the first is refused with a hint, the second is drawn
    assert too_big["data"] is None
    assert too_big["errors"][0]["extensions"]["code"] == "VALIDATION"
    assert "more than the 3" in too_big["errors"][0]["message"]
    assert "errors" not in fits
    assert len(fits["data"]["network"]["nodes"]) == 2

"""Organizations through GraphQL: the three organization mutations (who may, who may not, and that
a refusal writes nothing), node(id) for organizations and categories, and the ``organizations``
listing with kind, area subtree, Chinese search and pages.

Read queries run twice: through the compiled read path and through strawberry's resolvers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text

from gridweave.db import Sessionmaker
from gridweave.models import Area, Organization, ServiceCategory
from gridweave.services.validation import credit_code_check_char
from gridweave.settings import Settings
from tests.api.helpers import Refusal, assert_refused, call
from tests.factories import Api, gid, make_area, make_chain, make_org, make_user, token_for

ORG = (
    "organization { id name kind creditCode area { id } parent { id } children { id } "
    "serviceAreas { area { id name } categories { code name } } }"
)
LINK = "link { kind since source { id } target { id name } }"
CODE = "91310113MA1GL2QX2" + credit_code_check_char("91310113MA1GL2QX2")


@dataclass
class World:
    a: Area
    b: Area
    grid_a: Area
    grid_b: Area
    org_a: Organization
    org_a2: Organization
    org_b: Organization
    org_b2: Organization
    coordinator_a: Api
    member_a: Api
    anonymous: Api


@pytest.fixture
async def world(client: httpx.AsyncClient, sessionmaker: Sessionmaker, settings: Settings) -> World:
    street = await make_area(sessionmaker, level="STREET", name="华阳街道")
    a = await make_area(sessionmaker, level="COMMUNITY", parent=street, name="阳光社区")
    b = await make_area(sessionmaker, level="COMMUNITY", parent=street, name="和平社区")
    grid_a = await make_area(sessionmaker, level="GRID", parent=a)
    grid_b = await make_area(sessionmaker, level="GRID", parent=b)
    org_a = await make_org(sessionmaker, area=a, name="阳光社区党委", kind="PARTY_ORGANIZATION")
    org_a2 = await make_org(sessionmaker, area=grid_a, name="阳光志愿队", kind="VOLUNTEER_TEAM")
    org_b = await make_org(sessionmaker, area=b, name="和平社区党委", kind="PARTY_ORGANIZATION")
    org_b2 = await make_org(sessionmaker, area=grid_b, name="和平志愿队", kind="VOLUNTEER_TEAM")
    coordinator = await make_user(sessionmaker, "COORDINATOR", area=a)
    member = await make_user(sessionmaker, "ORGANIZATION_MEMBER", organization=org_a2)
    return World(
        a=a,
        b=b,
        grid_a=grid_a,
        grid_b=grid_b,
        org_a=org_a,
        org_a2=org_a2,
        org_b=org_b,
        org_b2=org_b2,
        coordinator_a=Api(client, token_for(settings, coordinator)),
        member_a=Api(client, token_for(settings, member)),
        anonymous=Api(client),
    )


# ---------------------------------------------------------------- createOrganization

CREATE = ("createOrganization", "CreateOrganizationInput")


async def test_coordinator_registers_an_organization(world: World) -> None:
    result = await call(
        world.coordinator_a,
        *CREATE,
        ORG,
        name="阳光社工服务中心",
        kind="SOCIAL_ORGANIZATION",
        areaId=gid("Area", world.grid_a.id),
        parentId=gid("Organization", world.org_a.id),
        creditCode=CODE.lower(),
        serviceAreas=[
            {"areaId": gid("Area", world.grid_a.id), "categoryCodes": ["elderly_care", "health"]},
            {"areaId": gid("Area", world.a.id), "categoryCodes": ["legal_aid"]},
        ],
    )

    assert result["userErrors"] == []
    org = result["organization"]
    assert (org["name"], org["kind"], org["creditCode"]) == (
        "阳光社工服务中心",
        "SOCIAL_ORGANIZATION",
        CODE,
    )
    assert org["area"] == {"id": gid("Area", world.grid_a.id)}
    assert org["parent"] == {"id": gid("Organization", world.org_a.id)}
    served = {(s["area"]["id"], c["code"]) for s in org["serviceAreas"] for c in s["categories"]}
    assert served == {
        (gid("Area", world.grid_a.id), "elderly_care"),
        (gid("Area", world.grid_a.id), "health"),
        (gid("Area", world.a.id), "legal_aid"),
    }
    names = {c["name"] for s in org["serviceAreas"] for c in s["categories"]}
    assert names == {"养老服务", "医疗健康", "法律援助"}


async def test_create_organization_refusals(world: World, sessionmaker: Sessionmaker) -> None:
    base = {"name": "新组织", "kind": "VOLUNTEER_TEAM", "areaId": gid("Area", world.a.id)}
    grid_a = gid("Area", world.grid_a.id)
    wrong_check_char = CODE[:17] + ("0" if CODE[17] != "0" else "1")
    not_an_area = gid("Organization", 1)
    refusals = [
        Refusal(world.coordinator_a, {**base, "areaId": gid("Area", world.grid_b.id)}, "FORBIDDEN"),
        Refusal(world.member_a, base, "FORBIDDEN"),
        Refusal(world.anonymous, base, "UNAUTHENTICATED"),
        Refusal(
            world.coordinator_a,
            {**base, "creditCode": wrong_check_char},
            "VALIDATION",
            ["input", "creditCode"],
        ),
        Refusal(
            world.coordinator_a,
            {
                **base,
                "serviceAreas": [{"areaId": grid_a, "categoryCodes": ["health", "astrology"]}],
            },
            "VALIDATION",
            ["input", "serviceAreas", "0", "categoryCodes", "1"],
        ),
        Refusal(
            world.coordinator_a,
            {
                **base,
                "serviceAreas": [
                    {"areaId": grid_a, "categoryCodes": ["health"]},
                    {"areaId": not_an_area, "categoryCodes": ["health"]},
                ],
            },
            "VALIDATION",
            ["input", "serviceAreas", "1", "areaId"],
        ),
        Refusal(world.coordinator_a, {**base, "areaId": "bad"}, "VALIDATION", ["input", "areaId"]),
        Refusal(
            world.coordinator_a,
            {**base, "parentId": gid("Area", world.a.id)},
            "VALIDATION",
            ["input", "parentId"],
        ),
    ]

    await assert_refused(sessionmaker, *CREATE, "organization", *refusals)


async def test_duplicate_credit_code_is_a_conflict(
    world: World, sessionmaker: Sessionmaker
) -> None:
    # given an organization registered with the code
    first = await call(
        world.coordinator_a,
        *CREATE,
        "organization { id }",
        name="第一家",
        kind="SOCIAL_ORGANIZATION",
        areaId=gid("Area", world.a.id),
        creditCode=CODE,
    )
    assert first["userErrors"] == []

    # when a second one would take it, then it is refused
    second = {
        "name": "第二家",
        "kind": "SOCIAL_ORGANIZATION",
        "areaId": gid("Area", world.grid_a.id),
        "creditCode": CODE,
    }
    await assert_refused(
        sessionmaker,
        *CREATE,
        "organization",
        Refusal(world.coordinator_a, second, "CONFLICT", ["input", "creditCode"]),
    )


# ---------------------------------------------------------------- updateOrganization

UPDATE = ("updateOrganization", "UpdateOrganizationInput")


async def test_member_updates_their_own_organization(world: World) -> None:
    result = await call(
        world.member_a,
        *UPDATE,
        ORG,
        id=gid("Organization", world.org_a2.id),
        name="阳光志愿服务队",
        serviceAreas=[{"areaId": gid("Area", world.grid_a.id), "categoryCodes": ["volunteering"]}],
    )

    assert result["userErrors"] == []
    assert result["organization"]["name"] == "阳光志愿服务队"
    assert [c["code"] for s in result["organization"]["serviceAreas"] for c in s["categories"]] == [
        "volunteering"
    ]


async def test_coordinator_moves_an_organization_under_a_parent(world: World) -> None:
    result = await call(
        world.coordinator_a,
        *UPDATE,
        ORG,
        id=gid("Organization", world.org_a2.id),
        parentId=gid("Organization", world.org_a.id),
    )

    assert result["userErrors"] == []
    assert result["organization"]["parent"] == {"id": gid("Organization", world.org_a.id)}
    parent = await world.coordinator_a.data(
        "query($id: ID!){ node(id: $id) { ... on Organization { children { id name } } } }",
        id=gid("Organization", world.org_a.id),
    )
    assert parent["node"]["children"] == [
        {"id": gid("Organization", world.org_a2.id), "name": "阳光志愿队"}
    ]


async def test_update_organization_refusals(world: World, sessionmaker: Sessionmaker) -> None:
    own, other_b = gid("Organization", world.org_a2.id), gid("Organization", world.org_b2.id)
    party_a = gid("Organization", world.org_a.id)
    parent_field = ["input", "parentId"]
    refusals = [
        Refusal(world.coordinator_a, {"id": other_b, "name": "改名"}, "FORBIDDEN"),
        Refusal(world.member_a, {"id": party_a, "name": "改名"}, "FORBIDDEN"),
        Refusal(world.member_a, {"id": own, "parentId": party_a}, "FORBIDDEN", parent_field),
        Refusal(world.anonymous, {"id": own, "name": "改名"}, "UNAUTHENTICATED"),
        Refusal(
            world.coordinator_a,
            {"id": gid("Area", world.a.id), "name": "改名"},
            "VALIDATION",
            ["input", "id"],
        ),
        Refusal(
            world.coordinator_a, {"id": party_a, "parentId": party_a}, "VALIDATION", parent_field
        ),
    ]

    await assert_refused(sessionmaker, *UPDATE, "organization", *refusals)


async def test_parent_cycle_is_refused(world: World, sessionmaker: Sessionmaker) -> None:
    # given the volunteer team placed under the party committee
    committee, team = gid("Organization", world.org_a.id), gid("Organization", world.org_a2.id)
    moved = await call(
        world.coordinator_a, *UPDATE, "organization { id }", id=team, parentId=committee
    )
    assert moved["userErrors"] == []

    # when the committee would go under the team, then it is refused
    await assert_refused(
        sessionmaker,
        *UPDATE,
        "organization",
        Refusal(
            world.coordinator_a,
            {"id": committee, "parentId": team},
            "VALIDATION",
            ["input", "parentId"],
        ),
    )


# ---------------------------------------------------------------- linkOrganizations

LINK_ = ("linkOrganizations", "LinkOrganizationsInput")


async def test_coordinator_links_two_organizations(world: World) -> None:
    party, team = gid("Organization", world.org_a.id), gid("Organization", world.org_a2.id)

    result = await call(
        world.coordinator_a,
        *LINK_,
        LINK,
        kind="GUIDES",
        sourceId=party,
        targetId=team,
        since="2023-05-04",
    )

    assert result["userErrors"] == []
    assert result["link"] == {
        "kind": "GUIDES",
        "since": "2023-05-04",
        "source": {"id": party},
        "target": {"id": team, "name": "阳光志愿队"},
    }
    links = await world.coordinator_a.data(
        "query($id: ID!){ node(id: $id) { ... on Organization { links { kind source { id } "
        "target { id } } } } }",
        id=team,
    )
    assert links["node"]["links"] == [
        {"kind": "GUIDES", "source": {"id": party}, "target": {"id": team}}
    ]


LINKS_OF = (
    "query($id: ID!){ node(id: $id) { ... on Organization { links { kind source { id } "
    "target { id } } } } }"
)
PROPOSAL = "proposal { kind since source { id } target { id } }"


async def links_of(api: Api, org: Organization) -> list[Any]:
    data = await api.data(LINKS_OF, id=gid("Organization", org.id))
    links: list[Any] = data["node"]["links"]
    return links


async def test_a_member_only_proposes_a_link_until_the_other_end_consents(
    world: World, sessionmaker: Sessionmaker, settings: Settings
) -> None:
    # given a member of a2, and a member of b2 in another community
    a2, b2 = gid("Organization", world.org_a2.id), gid("Organization", world.org_b2.id)
    member_b2 = Api(
        world.member_a.client,
        token_for(
            settings,
            await make_user(sessionmaker, "ORGANIZATION_MEMBER", organization=world.org_b2),
        ),
    )
    link = {"kind": "PARTNERS", "sourceId": a2, "targetId": b2}

    # when a2's member links a2 to b2, then it is only proposed: no link shows anywhere
    proposed = await call(world.member_a, *LINK_, f"{LINK} {PROPOSAL}", **link, since="2024-01-01")
    assert proposed["userErrors"] == []
    assert proposed["link"] is None
    assert proposed["proposal"] == {
        "kind": "PARTNERS",
        "since": "2024-01-01",
        "source": {"id": a2},
        "target": {"id": b2},
    }
    assert await links_of(world.coordinator_a, world.org_b2) == []

    # and a2's member cannot confirm it on b2's behalf by asking again
    await assert_refused(
        sessionmaker, *LINK_, "link", Refusal(world.member_a, link, "CONFLICT", ["input", "kind"])
    )

    # when b2's member makes the same call, then the link exists, on both ends
    confirmed = await call(member_b2, *LINK_, f"{LINK} {PROPOSAL}", **link)
    assert confirmed["userErrors"] == []
    assert confirmed["proposal"] is None
    assert confirmed["link"]["since"] == "2024-01-01"
    expected = [{"kind": "PARTNERS", "source": {"id": a2}, "target": {"id": b2}}]
    assert await links_of(world.coordinator_a, world.org_b2) == expected
    assert await links_of(world.coordinator_a, world.org_a2) == expected


async def test_a_member_cannot_tie_its_organization_to_the_city_or_another_district(
    world: World, sessionmaker: Sessionmaker
) -> None:
    # given the city's funding body and an organization in another district
    city = await make_area(sessionmaker, level="CITY", name="雅安市")
    district = await make_area(sessionmaker, level="DISTRICT", parent=city, name="雨城区")
    funder = await make_org(sessionmaker, area=city, kind="GOVERNMENT_DEPARTMENT")
    elsewhere = await make_org(sessionmaker, area=district, kind="PARTY_ORGANIZATION")
    own = gid("Organization", world.org_a2.id)

    # when a2's member ties a2 to each of them, then neither shows on their public links
    for kind, target in (("FUNDS", funder), ("GUIDES", elsewhere)):
        result = await call(
            world.member_a,
            *LINK_,
            f"{LINK} {PROPOSAL}",
            kind=kind,
            sourceId=own,
            targetId=gid("Organization", target.id),
        )
        assert result["link"] is None, kind
        assert result["proposal"]["target"]["id"] == gid("Organization", target.id)
        assert await links_of(world.coordinator_a, target) == []

    # and the other way round (naming them as the source), it is refused outright
    await assert_refused(
        sessionmaker,
        *LINK_,
        "link",
        Refusal(
            world.member_a,
            {"kind": "FUNDS", "sourceId": gid("Organization", funder.id), "targetId": own},
            "FORBIDDEN",
        ),
    )


# ---------------------------------------------------------------- unlinkOrganizations

UNLINK = ("unlinkOrganizations", "UnlinkOrganizationsInput")


async def test_either_end_may_remove_a_link_or_withdraw_a_proposal(
    world: World, sessionmaker: Sessionmaker, settings: Settings
) -> None:
    # given a link a -> a2 (one coordinator over both) and a proposal a2 -> b2
    a, a2 = gid("Organization", world.org_a.id), gid("Organization", world.org_a2.id)
    b2 = gid("Organization", world.org_b2.id)
    tie = {"kind": "GUIDES", "sourceId": a, "targetId": a2}
    asked = {"kind": "PARTNERS", "sourceId": a2, "targetId": b2}
    assert (await call(world.coordinator_a, *LINK_, "link { kind }", **tie))["link"]
    assert (await call(world.member_a, *LINK_, "proposal { kind }", **asked))["proposal"]
    member_b2 = Api(
        world.member_a.client,
        token_for(
            settings,
            await make_user(sessionmaker, "ORGANIZATION_MEMBER", organization=world.org_b2),
        ),
    )

    # when a2's member (the target's side) removes the tie, then it is gone from both ends
    removed = await call(world.member_a, *UNLINK, f"{LINK} {PROPOSAL}", **tie)
    assert removed["userErrors"] == []
    assert removed["link"]["source"]["id"] == a
    assert await links_of(world.coordinator_a, world.org_a) == []

    # when b2's member declines the proposal, then confirming it later is impossible
    declined = await call(member_b2, *UNLINK, f"{LINK} {PROPOSAL}", **asked)
    assert declined["proposal"]["target"]["id"] == b2
    await assert_refused(sessionmaker, *LINK_, "link", Refusal(member_b2, asked, "FORBIDDEN"))

    # and the ledger has each step
    async with sessionmaker() as s:
        actions = (await s.scalars(text("SELECT action FROM audit_log ORDER BY id"))).all()
    assert actions == [
        "linkOrganizations",
        "proposeLink",
        "unlinkOrganizations",
        "withdrawLinkProposal",
    ]


async def test_unlink_refusals(
    world: World, sessionmaker: Sessionmaker, settings: Settings
) -> None:
    # given a link inside community B, made by B's coordinator
    a, a2 = gid("Organization", world.org_a.id), gid("Organization", world.org_a2.id)
    b, b2 = gid("Organization", world.org_b.id), gid("Organization", world.org_b2.id)
    tie = {"kind": "SUPPORTS", "sourceId": b, "targetId": b2}
    coordinator_b = Api(
        world.member_a.client,
        token_for(settings, await make_user(sessionmaker, "COORDINATOR", area=world.b)),
    )
    assert (await call(coordinator_b, *LINK_, "link { kind }", **tie))["link"]

    await assert_refused(
        sessionmaker,
        *UNLINK,
        "link",
        Refusal(world.coordinator_a, tie, "FORBIDDEN"),
        Refusal(world.member_a, tie, "FORBIDDEN"),
        Refusal(world.anonymous, tie, "UNAUTHENTICATED"),
        Refusal(
            world.coordinator_a,
            {"kind": "PARTNERS", "sourceId": a, "targetId": a2},
            "NOT_FOUND",
            ["input", "kind"],
        ),
        Refusal(
            world.coordinator_a,
            {"kind": "PARTNERS", "sourceId": a, "targetId": gid("Area", world.a.id)},
            "VALIDATION",
            ["input", "targetId"],
        ),
    )


async def test_link_organizations_refusals(world: World, sessionmaker: Sessionmaker) -> None:
    a, a2 = gid("Organization", world.org_a.id), gid("Organization", world.org_a2.id)
    b, b2 = gid("Organization", world.org_b.id), gid("Organization", world.org_b2.id)
    an_area = gid("Area", world.a.id)
    target_field = ["input", "targetId"]
    refusals = [
        Refusal(
            world.coordinator_a, {"kind": "GUIDES", "sourceId": b, "targetId": b2}, "FORBIDDEN"
        ),
        Refusal(world.member_a, {"kind": "SUPPORTS", "sourceId": a, "targetId": a2}, "FORBIDDEN"),
        Refusal(
            world.anonymous, {"kind": "GUIDES", "sourceId": a, "targetId": a2}, "UNAUTHENTICATED"
        ),
        Refusal(
            world.coordinator_a,
            {"kind": "GUIDES", "sourceId": a, "targetId": a},
            "VALIDATION",
            target_field,
        ),
        Refusal(
            world.coordinator_a,
            {"kind": "GUIDES", "sourceId": a, "targetId": an_area},
            "VALIDATION",
            target_field,
        ),
    ]

    await assert_refused(sessionmaker, *LINK_, "link", *refusals)


async def test_duplicate_link_is_a_conflict(world: World, sessionmaker: Sessionmaker) -> None:
    # given a link
    link = {
        "kind": "FUNDS",
        "sourceId": gid("Organization", world.org_a.id),
        "targetId": gid("Organization", world.org_b.id),
    }
    first = await call(world.coordinator_a, *LINK_, "link { kind }", **link)
    assert first["userErrors"] == []

    # when the same link is made again, then it is refused
    await assert_refused(
        sessionmaker,
        *LINK_,
        "link",
        Refusal(world.coordinator_a, link, "CONFLICT", ["input", "kind"]),
    )


# ---------------------------------------------------------------- reads, on both read paths


async def test_node_returns_an_organization_and_a_category(
    reader: Api, sessionmaker: Sessionmaker
) -> None:
    city, community = await make_chain(sessionmaker, "CITY", "DISTRICT")
    org = await make_org(
        sessionmaker,
        area=community,
        name="双流区妇联",
        kind="MASS_ORGANIZATION",
        serves={city.id: ["child_care"]},
    )
    async with sessionmaker() as s:
        category_id = await s.scalar(
            select(ServiceCategory.id).where(ServiceCategory.code == "child_care")
        )
    assert category_id is not None
    query = (
        "query($o: ID!, $c: ID!){ o: node(id: $o) { __typename id ... on Organization { name kind "
        "area { id } serviceAreas { area { id } categories { id code } } } } "
        "c: node(id: $c) { __typename id ... on ServiceCategory { code name } } }"
    )

    data = await reader.data(
        query, o=gid("Organization", org.id), c=gid("ServiceCategory", category_id)
    )

    assert data["o"] == {
        "__typename": "Organization",
        "id": gid("Organization", org.id),
        "name": "双流区妇联",
        "kind": "MASS_ORGANIZATION",
        "area": {"id": gid("Area", community.id)},
        "serviceAreas": [
            {
                "area": {"id": gid("Area", city.id)},
                "categories": [{"id": gid("ServiceCategory", category_id), "code": "child_care"}],
            }
        ],
    }
    assert data["c"] == {
        "__typename": "ServiceCategory",
        "id": gid("ServiceCategory", category_id),
        "code": "child_care",
        "name": "儿童关爱",
    }


async def test_service_categories_list_the_taxonomy(reader: Api) -> None:
    data = await reader.data("{ serviceCategories { id code name } }")

    codes = [c["code"] for c in data["serviceCategories"]]
    assert {"elderly_care", "health", "legal_aid"} <= set(codes)
    assert len(codes) == len(set(codes))
    assert {"code": "elderly_care", "name": "养老服务"} in [
        {"code": c["code"], "name": c["name"]} for c in data["serviceCategories"]
    ]


async def test_organizations_filter_by_kind_area_subtree_and_chinese_search(
    reader: Api, sessionmaker: Sessionmaker
) -> None:
    # given a city > district > street > community > grid, and organizations at several levels
    city, district, street, community, grid = await make_chain(
        sessionmaker, "CITY", "DISTRICT", "STREET", "COMMUNITY", "GRID"
    )
    other_district = await make_area(sessionmaker, level="DISTRICT", parent=city)
    in_grid = await make_org(sessionmaker, area=grid, name="网格志愿服务队", kind="VOLUNTEER_TEAM")
    in_community = await make_org(
        sessionmaker, area=community, name="社区党委", kind="PARTY_ORGANIZATION"
    )
    in_street = await make_org(
        sessionmaker, area=street, name="街道志愿者协会", kind="SOCIAL_ORGANIZATION"
    )
    elsewhere = await make_org(
        sessionmaker, area=other_district, name="区志愿服务队", kind="VOLUNTEER_TEAM"
    )
    query = (
        "query($kind: OrganizationKind, $area: ID, $search: String){ "
        "organizations(kind: $kind, areaId: $area, search: $search) "
        "{ totalCount edges { node { id name } } } }"
    )

    async def ids(**args: Any) -> list[str]:
        conn = (await reader.data(query, **args))["organizations"]
        assert conn["totalCount"] == len(conn["edges"])
        return [e["node"]["id"] for e in conn["edges"]]

    def org_ids(*orgs: Organization) -> list[str]:
        return [gid("Organization", o.id) for o in orgs]

    # then an organization in the grid counts under its community, district and city
    assert await ids(area=gid("Area", grid.id)) == org_ids(in_grid)
    assert await ids(area=gid("Area", community.id)) == org_ids(in_grid, in_community)
    assert await ids(area=gid("Area", district.id)) == org_ids(in_grid, in_community, in_street)
    assert await ids(area=gid("Area", city.id)) == org_ids(
        in_grid, in_community, in_street, elsewhere
    )
    # and kind and Chinese search narrow it down
    assert await ids(kind="VOLUNTEER_TEAM") == org_ids(in_grid, elsewhere)
    assert await ids(search="志愿") == org_ids(in_grid, in_street, elsewhere)
    assert await ids(search="志愿", area=gid("Area", district.id)) == org_ids(in_grid, in_street)
    assert await ids(
        search="志愿服务队", kind="VOLUNTEER_TEAM", area=gid("Area", other_district.id)
    ) == org_ids(elsewhere)
    assert await ids(search="党委") == org_ids(in_community)
    assert await ids(search="居委会") == []


async def test_organizations_search_by_credit_code(reader: Api, sessionmaker: Sessionmaker) -> None:
    area = await make_area(sessionmaker, level="CITY")
    org = await make_org(sessionmaker, area=area, name="登记过的")
    await make_org(sessionmaker, area=area, name="没登记的")
    async with sessionmaker() as s, s.begin():
        await s.execute(
            text("UPDATE organizations SET credit_code = :c WHERE id = :i"),
            {"c": CODE, "i": org.id},
        )

    data = await reader.data(
        "query($s: String){ organizations(search: $s) { edges { node { name creditCode } } } }",
        s=CODE.lower(),
    )

    assert data["organizations"]["edges"] == [{"node": {"name": "登记过的", "creditCode": CODE}}]


async def test_organizations_page_by_keyset(reader: Api, sessionmaker: Sessionmaker) -> None:
    area = await make_area(sessionmaker, level="COMMUNITY")
    orgs = [await make_org(sessionmaker, area=area, name=f"组织{i:02d}") for i in range(5)]
    query = (
        "query($after: String){ organizations(first: 2, after: $after) { totalCount "
        "pageInfo { hasNextPage hasPreviousPage endCursor } edges { cursor node { id } } } }"
    )

    first = (await reader.data(query))["organizations"]
    second = (await reader.data(query, after=first["pageInfo"]["endCursor"]))["organizations"]
    third = (await reader.data(query, after=second["pageInfo"]["endCursor"]))["organizations"]

    pages = [first, second, third]
    assert [[e["node"]["id"] for e in p["edges"]] for p in pages] == [
        [gid("Organization", o.id) for o in orgs[0:2]],
        [gid("Organization", o.id) for o in orgs[2:4]],
        [gid("Organization", orgs[4].id)],
    ]
    assert [p["pageInfo"]["hasNextPage"] for p in pages] == [True, True, False]
    assert [p["pageInfo"]["hasPreviousPage"] for p in pages] == [False, True, True]
    assert {p["totalCount"] for p in pages} == {5}
    assert third["pageInfo"]["endCursor"] == third["edges"][-1]["cursor"]


async def test_organizations_refuse_bad_arguments(reader: Api) -> None:
    too_many = await reader("{ organizations(first: 101) { totalCount } }")
    bad_cursor = await reader('{ organizations(after: "bm9wZQ==") { edges { node { id } } } }')
    bad_area = await reader('{ organizations(areaId: "T3JnYW5pemF0aW9uOjE=") { totalCount } }')

    assert too_many["data"] is None
    assert "100" in too_many["errors"][0]["message"]
    assert bad_cursor["data"] is None
    assert bad_cursor["errors"][0]["extensions"]["field"] == ["after"]
    assert bad_area["data"] is None
    assert bad_area["errors"][0]["extensions"] == {"code": "VALIDATION", "field": ["areaId"]}


async def test_organizations_under_an_unknown_area_is_not_found(reader: Api) -> None:
    body = await reader(
        "query($a: ID){ organizations(areaId: $a) { totalCount } }", a=gid("Area", 123_456)
    )

    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_anonymous_caller_reads_no_organizations(client: httpx.AsyncClient) -> None:
    body = await Api(client)("{ organizations { totalCount } }")

    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_nobody_claims_to_serve_areas_outside_their_reach(world: World) -> None:
    """Coverage is computed from service areas: a coordinator of community A cannot register an
    organization as serving community B, and a member cannot extend their own organization's
    service areas or move it under an organization of another community."""
    as_coordinator = await call(
        world.coordinator_a,
        *CREATE,
        ORG,
        name="阳光法律服务站",
        kind="SOCIAL_ORGANIZATION",
        areaId=gid("Area", world.grid_a.id),
        serviceAreas=[{"areaId": gid("Area", world.grid_b.id), "categoryCodes": ["legal_aid"]}],
    )
    as_member = await call(
        world.member_a,
        *UPDATE,
        ORG,
        id=gid("Organization", world.org_a2.id),
        serviceAreas=[{"areaId": gid("Area", world.b.id), "categoryCodes": ["elderly_care"]}],
    )
    foreign_parent = await call(
        world.coordinator_a,
        *UPDATE,
        ORG,
        id=gid("Organization", world.org_a2.id),
        parentId=gid("Organization", world.org_b.id),
    )

    for result, field in (
        (as_coordinator, ["input", "serviceAreas", "0", "areaId"]),
        (as_member, ["input", "serviceAreas", "0", "areaId"]),
        (foreign_parent, ["input", "parentId"]),
    ):
        assert [(e["code"], e["field"]) for e in result["userErrors"]] == [("FORBIDDEN", field)]
        assert result["organization"] is None

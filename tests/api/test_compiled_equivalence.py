"""Speed never changes an answer: every query here runs through the compiled SQL path and through
the strawberry resolvers, on the demo region, as an admin, a coordinator and a member, and the two
responses must be equal field by field."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import select

from bench.claims_lib.main import BOARD
from gridweave.app import create_app
from gridweave.db import Sessionmaker, unit_of_work
from gridweave.demo import load_demo
from gridweave.demo.projects import load_demo_projects
from gridweave.ids import encode_cursor
from gridweave.models import Agreement, Area, Claim, Organization, ServiceCategory, ServiceProject
from gridweave.settings import Settings
from tests.factories import gid, make_user, token_for

ORG_FIELDS = """
  id name kind creditCode __typename
  area { id name level }
  parent { id name }
  children { id name }
  serviceAreas { area { id name } categories { id code name } }
  links { kind since source { id name } target { id name kind } }
"""

QUERIES: list[tuple[str, dict[str, Any]]] = [
    (
        """query Dashboard($street: ID!) {
          node(id: $street) { __typename id ... on Area { name level households population
            vulnerableGroups { group count }
            children(first: 50) { totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
              edges { cursor node { id name code parent { name }
                organizations(first: 20) { totalCount edges { node { ...Org } } } } } } } }
        }
        fragment Org on Organization {"""
        + ORG_FIELDS
        + "}",
        {"street": "STREET"},
    ),
    (
        """query($kind: OrganizationKind, $q: String) {
          organizations(first: 100, kind: $kind, search: $q) { totalCount
            pageInfo { hasNextPage endCursor } edges { cursor node { id name kind creditCode } } } }""",
        {"kind": "SOCIAL_ORGANIZATION", "q": "社"},
    ),
    (
        '{ organizations(first: 7, search: "党") { totalCount edges { node { name parent { name } } } } }',
        {},
    ),
    (
        """query($area: ID) { organizations(areaId: $area, first: 30) { totalCount
            edges { node { ...on Organization { id name } links { kind } } } } }""",
        {"area": "COMMUNITY"},
    ),
    (
        """{ first: areas(level: GRID, first: 3) { totalCount pageInfo { hasNextPage endCursor }
            edges { node { id name neighbors { id name } parent { parent { name } } } } }
           none: areas(level: GRID, first: 0) { totalCount pageInfo { hasNextPage startCursor } edges { cursor } }
           __typename }""",
        {},
    ),
    (
        """query($after: String) { areas(first: 5, after: $after, search: "网格") {
            pageInfo { hasNextPage hasPreviousPage startCursor endCursor } edges { cursor node { name } } } }""",
        {"after": "CURSOR"},
    ),
    ("{ serviceCategories { id code name __typename } }", {}),
    (
        """query($org: ID!) { node(id: $org) { id ... on Organization {""" + ORG_FIELDS + "} } }",
        {"org": "ORG"},
    ),
    ("""query($id: ID!) { node(id: $id) { id __typename } }""", {"id": "MISSING_AREA"}),
    # An id of no type at all ("nope:1") is null on both paths.
    ("""query($id: ID!) { node(id: $id) { id __typename } }""", {"id": "bm9wZTox"}),
    (
        """query($a: ID!) { network(areaId: $a) { __typename nodes { id label type kind }
            edges { source target kind } } }""",
        {"a": "COMMUNITY"},
    ),
    (
        """query($a: ID!, $d: Int) { g: network(areaId: $a, depth: $d) {
            edges { kind to: target } nodes { __typename type id } } }""",
        {"a": "STREET", "d": 1},
    ),
    ("""query($a: ID!) { network(areaId: $a, depth: 0) { nodes { label } } }""", {"a": "STREET"}),
    # an organization's co-building agreements, as its dashboard lists them
    (
        """query($o: ID!) { node(id: $o) { ... on Organization { id name agreements { id title
            status startsOn endsOn terminatedOn terminationReason minActivitiesPerQuarter
            community { id name } partner { id name } __typename } } } }""",
        {"o": "PARTNER"},
    ),
]

PROJECT_FIELDS = """
  id __typename title description kind slots claimedSlots deadline status
  category { id code } area { id name } postedBy { id name }
  claims { id __typename slots status claimedAt rating
           report { summary hours beneficiaries completedOn __typename }
           claimant { id name } project { id status } }
"""
STREET_BOARD = (
    """query($a: ID, $after: String) { serviceProjects(areaId: $a, first: 10, after: $after) {
        totalCount __typename pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
        edges { cursor node { ...P } } } }
    fragment P on ServiceProject {"""
    + PROJECT_FIELDS
    + "}"
)
FILTERED = """query($s: ServiceProjectStatus, $c: String, $a: ID) {
  serviceProjects(status: $s, categoryCode: $c, areaId: $a, first: 30) {
    totalCount pageInfo { hasNextPage endCursor } edges { node { id status deadline
      category { code } claims { status rating report { hours beneficiaries } } } } } }"""
# The project board (serviceProjects, node() of projects and claims), read by viewers of every
# kind of area scope: each answer compiled and equal to the resolvers'.
BOARD_QUERIES: list[tuple[str, dict[str, Any]]] = [
    (STREET_BOARD, {"a": "STREET"}),
    (STREET_BOARD, {"a": "STREET", "after": "PROJECT_CURSOR"}),
    (STREET_BOARD, {}),  # everything the viewer reads
    (BOARD, {"area": "PROJECT_AREA", "first": 50}),
    # EXPIRED is decided when read: the filter and the status shown agree on both paths
    (FILTERED, {"s": "EXPIRED"}),
    (FILTERED, {"s": "PARTIALLY_CLAIMED", "a": "STREET"}),
    (FILTERED, {"c": "CATEGORY"}),
    (FILTERED, {"s": "VERIFIED", "c": "CATEGORY", "a": "PROJECT_AREA"}),
    (
        """{ serviceProjects(first: 0) { totalCount pageInfo { hasNextPage hasPreviousPage
            startCursor endCursor } edges { cursor } } }""",
        {},
    ),
    (
        """query($p: ID!, $c: ID!) {
          p: node(id: $p) { id __typename ... on ServiceProject { title status claims { id } } }
          c: node(id: $c) { id __typename ... on Claim { claimStatus: status claimedAt
            report { hours completedOn } project { id title } claimant { id name } } } }""",
        {"p": "PROJECT", "c": "CLAIM"},
    ),
]

# Answered by strawberry (not compiled), and still equal: a page size over the limit given in a
# variable, a malformed cursor, a directive.
PASSED_ON: list[tuple[str, dict[str, Any]]] = [
    ("""query($n: Int) { areas(first: $n) { totalCount } }""", {"n": 101}),
    ("""{ areas(first: 2, after: "bad") { totalCount } }""", {}),
    ("""query($x: Boolean!) { areas(first: 2) { totalCount @include(if: $x) } }""", {"x": True}),
    ("""query($a: ID!) { network(areaId: $a) { nodes { id } } }""", {"a": "MISSING_AREA"}),
    ("""query($a: ID!) { network(areaId: $a, depth: -1) { nodes { id } } }""", {"a": "STREET"}),
    # not compiled yet (the lead compiles them): joint meetings and agreements
    (
        """query($a: ID!) { jointMeetings(areaId: $a) { id name rotationPeriod startsOn
            area { id } members { joinedOn organization { id name } } convenerOn { id }
            sessions { heldOn convener { id } attendees { id } resolutions } satThisQuarter } }""",
        {"a": "STREET"},
    ),
    (
        """query($o: ID!) { node(id: $o) { ... on Organization { id agreements { id title status
            startsOn endsOn minActivitiesPerQuarter community { id } partner { id }
            jointMeeting { id } commitments { quantity unit category { code } }
            activitiesThisQuarter meetsMinimumThisQuarter } } } }""",
        {"o": "PARTNER"},
    ),
]


def _fill(variables: dict[str, Any], ids: dict[str, str]) -> dict[str, Any]:
    return {k: ids.get(v, v) if isinstance(v, str) else v for k, v in variables.items()}


@pytest.fixture
async def two_paths(
    settings: Settings, database_url: str
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient, Any]]:
    compiled_app = create_app(settings, database_url=database_url)
    plain_settings = settings.model_copy(update={"compiled_reads": False})
    plain_app = create_app(plain_settings, database_url=database_url)
    async with (
        LifespanManager(compiled_app) as c,
        LifespanManager(plain_app) as p,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=c.app), base_url="http://t") as cc,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=p.app), base_url="http://t") as pc,
    ):
        yield cc, pc, compiled_app.state.compiled_reads


async def _post(
    client: httpx.AsyncClient, token: str, query: str, variables: dict[str, Any]
) -> Any:
    r = await client.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 200, r.text
    return r.json()


async def _compare(
    two_paths: tuple[httpx.AsyncClient, httpx.AsyncClient, Any],
    token: str,
    queries: list[tuple[str, dict[str, Any]]],
    ids: dict[str, str],
) -> list[Any]:
    """Each query on both paths: compiled, and equal to the resolvers' answer (returned)."""
    compiled, plain, counters = two_paths
    answers = []
    for query, variables in queries:
        values = _fill(variables, ids)
        before = counters.answered
        fast = await _post(compiled, token, query, values)
        slow = await _post(plain, token, query, values)
        assert counters.answered == before + 1, f"not compiled: {query[:60]}"
        assert "errors" not in slow, slow
        assert fast == slow, query[:80]
        answers.append(fast["data"])
    return answers


async def _project_ids(sessionmaker: Sessionmaker, street_id: int) -> dict[str, Any]:
    """A demo project with a reported claim (its id, area, category and claimant), and the cursor
    of the street board's 10th project (the end of its first page)."""
    async with sessionmaker() as s:
        row = (
            await s.execute(
                select(Claim.id, Claim.claimant_id, ServiceProject.id, ServiceProject.area_id)
                .join(ServiceProject, ServiceProject.id == Claim.project_id)
                .where(Claim.report_summary.is_not(None))
                .order_by(Claim.id)
                .limit(1)
            )
        ).one()
        category = await s.scalar(
            select(ServiceCategory.code)
            .join(ServiceProject, ServiceProject.category_id == ServiceCategory.id)
            .where(ServiceProject.id == row[2])
        )
        street = await s.get(Area, street_id)
        assert street is not None
        newest = select(ServiceProject.id).where(ServiceProject.area_path.startswith(street.path))
        page_end = await s.scalar(newest.order_by(ServiceProject.id.desc()).offset(9).limit(1))
        other = await s.scalar(
            select(Area.id).where(Area.parent_id == street_id, Area.id != row[3]).limit(1)
        )
    return {
        "CLAIM": gid("Claim", row[0]),
        "PROJECT": gid("ServiceProject", row[2]),
        "PROJECT_AREA": gid("Area", row[3]),
        "CATEGORY": str(category),
        "PROJECT_CURSOR": encode_cursor(int(page_end or 0)),
        "claimant": row[1],
        "area": row[3],
        "other_area": other,
    }


async def test_compiled_and_resolver_paths_answer_alike(
    two_paths: tuple[httpx.AsyncClient, httpx.AsyncClient, Any],
    sessionmaker: Sessionmaker,
    settings: Settings,
) -> None:
    compiled, plain, counters = two_paths
    async with unit_of_work(sessionmaker) as s:
        demo = await load_demo(s, scale="region")
        await load_demo_projects(s, demo)
    ids = {
        "STREET": gid("Area", demo.street_id),
        "COMMUNITY": gid("Area", demo.community_id),
        "ORG": gid("Organization", demo.organization_id),
    }
    async with sessionmaker() as s:
        street = await s.get(Area, demo.street_id)
        org = await s.get(Organization, demo.organization_id)
        grids = select(Area.id).where(Area.level == "GRID").order_by(Area.id).limit(8)
        grid_ids = (await s.scalars(grids)).all()
    ids["CURSOR"] = encode_cursor(grid_ids[4])
    ids["MISSING_AREA"] = gid("Area", 10**9)
    async with sessionmaker() as s:
        partner = await s.scalar(select(Agreement.partner_id).order_by(Agreement.id).limit(1))
    ids["PARTNER"] = gid("Organization", int(partner or 0))
    users = [
        await make_user(sessionmaker, "ADMIN"),
        await make_user(sessionmaker, "COORDINATOR", area=street),
        await make_user(sessionmaker, "ORGANIZATION_MEMBER", organization=org),
    ]
    for user in users:
        token = token_for(settings, user)
        await _compare(two_paths, token, QUERIES, ids)
        for query, variables in PASSED_ON:
            before = counters.passed_on
            fast = await _post(compiled, token, query, _fill(variables, ids))
            slow = await _post(plain, token, query, _fill(variables, ids))
            assert counters.passed_on == before + 1
            assert fast == slow, query[:80]

    # the project board, for a viewer of each kind of area scope
    found = await _project_ids(sessionmaker, demo.street_id)
    ids.update({k: v for k, v in found.items() if isinstance(v, str)})
    async with sessionmaker() as s:
        claimant = await s.get(Organization, found["claimant"])
        area, other = await s.get(Area, found["area"]), await s.get(Area, found["other_area"])
    viewers = {
        "admin": users[0],
        "street coordinator": users[1],
        "claimant's member": await make_user(
            sessionmaker, "ORGANIZATION_MEMBER", organization=claimant
        ),
        "community evaluator": await make_user(sessionmaker, "EVALUATOR", area=area),
        "other community's coordinator": await make_user(sessionmaker, "COORDINATOR", area=other),
        "no grants": await make_user(sessionmaker, None),
    }
    seen = {
        name: await _compare(two_paths, token_for(settings, user), BOARD_QUERIES, ids)
        for name, user in viewers.items()
    }
    # not trivially equal: each viewer reads what its scope holds, and no more
    board = seen["admin"][0]["serviceProjects"]
    assert len(board["edges"]) == 10
    assert board["pageInfo"]["hasNextPage"]
    verified = seen["admin"][7]["serviceProjects"]["edges"]
    reports = [c["report"] for e in verified for c in e["node"]["claims"] if c["report"]]
    assert reports
    assert all(r["hours"] for r in reports)
    expired = seen["admin"][4]["serviceProjects"]["edges"]
    assert expired
    assert {e["node"]["status"] for e in expired} == {"EXPIRED"}
    assert seen["admin"][1]["serviceProjects"]["pageInfo"]["hasPreviousPage"]
    totals = {name: answers[2]["serviceProjects"]["totalCount"] for name, answers in seen.items()}
    assert totals["admin"] == totals["street coordinator"] > totals["community evaluator"] > 0
    assert totals["claimant's member"] == totals["community evaluator"]
    assert 0 < totals["other community's coordinator"] < totals["admin"]
    assert totals["no grants"] == 0
    assert seen["no grants"][-1] == {"p": None, "c": None}
    assert seen["community evaluator"][-1]["c"]["claimant"]["id"] == gid(
        "Organization", claimant.id
    )

"""Speed never changes an answer: every query here runs through the compiled SQL path and through
the strawberry resolvers, on the demo region, as an admin, a coordinator and a member, and the two
responses must be equal field by field."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import func, select

from bench.claims_lib.main import BOARD
from gridweave.app import create_app
from gridweave.db import Sessionmaker, unit_of_work
from gridweave.demo import load_demo
from gridweave.demo.meetings import Quarters
from gridweave.demo.projects import load_demo_projects
from gridweave.ids import decode_any, encode_cursor
from gridweave.models import (
    Agreement,
    Area,
    Claim,
    ConvenerRotation,
    JointMeeting,
    MeetingSession,
    Organization,
    RotationPeriod,
    ServiceCategory,
    ServiceProject,
)
from gridweave.services import activities, agreements, meetings
from gridweave.services.calendar import today
from gridweave.services.meetings import list_unengaged_units
from gridweave.settings import Settings
from tests.factories import admin_actor, gid, make_area, make_org, make_user, token_for

ORG_FIELDS = """
  id name kind creditCode __typename
  area { id name level }
  parent { id name }
  children { id name }
  serviceAreas { area { id name } categories { id code name } }
  links { kind since source { id name } target { id name kind } }
"""

# Days whose eve lies in another period, on the demo: the first days of the four past quarters
# (1 January, April, July and October in some order: month, quarter, half-year and year
# boundaries) and the last day a meeting's rotation changed (a member left: ranks close). Filled
# in by the test ("Q-1" is the last quarter's first day, "Q-1-1" the day before). The boundary
# test below walks two years of them on meetings built for it.
BOUNDARIES = ("Q-4", "Q-3", "Q-2", "Q-1", "LEFT")

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
    # the compliance dashboard: a street's joint meetings with members, their agreements and the
    # quarter's counts, sittings, the convener now, and the units in no meeting
    (
        """query Compliance($street: ID!) {
          jointMeetings(areaId: $street, first: 20) { __typename id name rotationPeriod startsOn
            area { id name } satThisQuarter lastSatOn convenerOn { id name }
            convenerSchedule(periods: 4) { startsOn endsOn organization { id name } }
            members { joinedOn organization { id name kind agreements { id title status
              minActivitiesPerQuarter activitiesThisQuarter meetsMinimumThisQuarter
              jointMeeting { id name } community { name }
              commitments { description quantity unit category { code } } } } }
            sessions { __typename id heldOn resolutions convener { id name } attendees { id } } }
          node(id: $street) { ... on Area { unengagedUnits(first: 5) { totalCount
            pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
            edges { cursor node { id name kind } } } } } }""",
        {"street": "STREET"},
    ),
    # pages: first, after (a meeting's id), no area (every meeting), an empty page; a cursor page
    # of unengaged units
    (
        """query($a: ID, $n: Int, $after: ID) { jointMeetings(areaId: $a, first: $n, after: $after) {
            id name } all: jointMeetings { id } none: jointMeetings(first: 0) { id }
            community: jointMeetings(areaId: $a, after: $after) { members { organization { id } } } }""",
        {"a": "STREET", "n": 3, "after": "MEETING2"},
    ),
    (
        """query($c: ID!, $after: String) { node(id: $c) { ... on Area {
            unengagedUnits(first: 2, after: $after) { totalCount pageInfo { hasNextPage endCursor }
              edges { node { id } } } } } }""",
        {"c": "STREET", "after": "UNENGAGED_CURSOR"},
    ),
    (
        """query($m: ID!) { node(id: $m) { id ... on JointMeeting { name members { joinedOn } } } }""",
        {"m": "MEETING2"},
    ),
    (
        """query($s: ID!) { node(id: $s) { __typename id ... on MeetingSession { heldOn
            convener { name } attendees { name } } } }""",
        {"s": "SESSION"},
    ),
    *(
        (
            """query($a: ID!, $before: Date, $on: Date) { jointMeetings(areaId: $a) { id
                b: convenerOn(on: $before) { id } c: convenerOn(on: $on) { id }
                sb: satThisQuarter(on: $before) s: satThisQuarter(on: $on)
            t: convenerSchedule(from: $before, periods: 3) { startsOn endsOn organization { id } }
                lb: lastSatOn(on: $before) l: lastSatOn(on: $on)
                members { organization { agreements { id
                  ab: activitiesThisQuarter(on: $before) a: activitiesThisQuarter(on: $on)
                  mb: meetsMinimumThisQuarter(on: $before) m: meetsMinimumThisQuarter(on: $on)
                } } } } }""",
            {"a": "STREET", "before": f"{day}-1", "on": day},
        )
        for day in BOUNDARIES
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
    # a date the Date scalar takes but the meeting refuses (before 1949-10-01)
    ("""{ jointMeetings(first: 1) { satThisQuarter(on: "1920-01-01") } }""", {}),
    # a schedule of no periods
    ("""{ jointMeetings(first: 1) { convenerSchedule(periods: 0) { startsOn } } }""", {}),
]


async def _meeting_ids(sessionmaker: Sessionmaker, street: Area | None) -> dict[str, str]:
    """Ids and days the meeting queries ask about: the second meeting, a sitting, the cursor of
    the second unengaged unit, and the boundary days (each with its eve, "<day>-1")."""
    assert street is not None
    async with sessionmaker() as s:
        meetings = (await s.scalars(select(JointMeeting.id).order_by(JointMeeting.id))).all()
        sitting = await s.scalar(select(MeetingSession.id).order_by(MeetingSession.id))
        first = select(func.min(ConvenerRotation.id)).group_by(ConvenerRotation.meeting_id)
        changes = select(ConvenerRotation.effective_from).where(ConvenerRotation.id.not_in(first))
        change_days = sorted((await s.scalars(changes)).all())
        units = await list_unengaged_units(
            s, area_path=street.path, on=today(), after_id=0, limit=2
        )
    assert len(meetings) > 2
    assert sitting is not None
    assert change_days
    assert len(units) == 2
    quarters = Quarters.around(today())
    boundaries = (*quarters.past, change_days[-1])
    days = dict(zip(BOUNDARIES, boundaries, strict=True))
    ids = {
        "MEETING2": gid("JointMeeting", meetings[1]),
        "SESSION": gid("MeetingSession", sitting),
        "UNENGAGED_CURSOR": encode_cursor(units[1].id),
    }
    for key, day in days.items():
        ids[key] = day.isoformat()
        ids[f"{key}-1"] = (day - timedelta(days=1)).isoformat()
    return ids


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
    ids.update(await _meeting_ids(sessionmaker, street))
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


async def _two_years_of_meetings(sm: Sessionmaker) -> tuple[Area, dict[str, int], list[date]]:
    """A community with a meeting of each rotation period, all with the same two years of
    changes (D joins, C leaves, D leaves while convening, E joins), sittings on quarter eves and
    starts, and two agreements whose force ends at a quarter boundary (one expires on 31 March,
    one is terminated on 1 April) with activities on both sides. Returns the community, the
    organizations by letter, and the days the rotations changed."""
    admin = await admin_actor(sm)
    community = await make_area(sm, level="COMMUNITY", name="两年社区")
    orgs = {
        k: (await make_org(sm, area=community, kind="CO_RESIDENT_UNIT", name=f"{k}单位")).id
        for k in "ABCDE"
    }
    changes = [
        (meetings.add_member, "D", date(2025, 5, 10)),
        (meetings.remove_member, "C", date(2026, 2, 20)),
        (meetings.remove_member, "D", date(2026, 8, 15)),
        (meetings.add_member, "E", date(2026, 11, 1)),
    ]
    async with unit_of_work(sm) as s:
        for period in RotationPeriod:
            m = await meetings.create_joint_meeting(
                s,
                actor=admin,
                name=f"{period.value}会议",
                area_id=community.id,
                rotation_period=period,
                member_ids=[orgs["A"], orgs["B"], orgs["C"]],
                starts_on=date(2025, 1, 10),
            )
            for change, who, on in changes:
                await change(s, actor=admin, meeting_id=m.id, organization_id=orgs[who], on=on)
            for held in (date(2025, 3, 31), date(2025, 4, 1), date(2025, 12, 31)):
                await meetings.record_session(
                    s, actor=admin, meeting_id=m.id, held_on=held, attendee_ids=[], resolutions=[]
                )
        for who, ends_on in (("A", date(2026, 3, 31)), ("B", date(2027, 12, 31))):
            await agreements.sign_agreement(
                s,
                actor=admin,
                title=f"{who}共建协议",
                community_id=community.id,
                partner_id=orgs[who],
                starts_on=date(2025, 1, 1),
                ends_on=ends_on,
            )
            for on in (date(2026, 3, 31), date(2026, 4, 1)):
                await activities.record_activity(
                    s,
                    actor=admin,
                    organization_id=orgs[who],
                    area_id=community.id,
                    category_code="volunteering",
                    on=on,
                    hours=Decimal(2),
                    beneficiaries=10,
                )
        terminated = await s.scalar(select(Agreement.id).where(Agreement.partner_id == orgs["B"]))
        await agreements.terminate_agreement(
            s, actor=admin, agreement_id=int(terminated or 0), reason="搬迁", on=date(2026, 4, 1)
        )
    return community, orgs, [on for _, _, on in changes]


def _days_around(changes: list[date], *, monthly: bool) -> list[date]:
    """Period starts with their eves: every quarter's first day from January 2025 to January
    2027 (with ``monthly`` every month's in 2025 too, from December 2024), the meetings' first
    day, and every change day."""
    months = [(2024 + (11 + n) // 12, (11 + n) % 12 + 1) for n in range(27)]
    firsts = [
        date(y, m, 1) for y, m in months if (m - 1) % 3 == 0 or (monthly and y * 100 + m < 202602)
    ]
    days = {d - timedelta(days=k) for d in (*firsts, date(2025, 1, 10), *changes) for k in (0, 1)}
    return sorted(days)


async def test_conveners_and_quarter_counts_agree_on_every_boundary(
    two_paths: tuple[httpx.AsyncClient, httpx.AsyncClient, Any],
    sessionmaker: Sessionmaker,
    settings: Settings,
) -> None:
    compiled, plain, counters = two_paths
    community, orgs, changes = await _two_years_of_meetings(sessionmaker)
    token = token_for(settings, await make_user(sessionmaker, "EVALUATOR"))
    monthly = _days_around(changes, monthly=True)
    quarterly = _days_around(changes, monthly=False)
    fields = {
        "convenerOn": "{ id }",
        "satThisQuarter": "",
        "lastSatOn": "",
        "activitiesThisQuarter": "",
        "meetsMinimumThisQuarter": "",
    }
    answers: dict[str, list[Any]] = {}
    for name, sub in fields.items():
        days = monthly if name == "convenerOn" else quarterly
        for chunk in range(0, len(days), 28):  # 28 aliases at a time (the alias limit is 30)
            part = days[chunk : chunk + 28]
            aliased = " ".join(
                f'd{i}: {name}(on: "{d.isoformat()}") {sub}' for i, d in enumerate(part)
            )
            if name in ("activitiesThisQuarter", "meetsMinimumThisQuarter"):
                body = f"members {{ organization {{ agreements {{ {aliased} }} }} }}"
            else:
                body = aliased
            query = f"query($a: ID!) {{ jointMeetings(areaId: $a) {{ rotationPeriod {body} }} }}"
            variables = {"a": gid("Area", community.id)}
            before = counters.answered
            fast = await _post(compiled, token, query, variables)
            slow = await _post(plain, token, query, variables)
            assert counters.answered == before + 1, f"not compiled: {name}"
            assert "errors" not in slow, slow
            assert fast == slow, (name, part)
            answers.setdefault(name, []).append(fast["data"]["jointMeetings"])

    # what a coordinator would see, on the compiled path: the quarterly meeting's conveners
    def convener(period: str, on: date) -> int | None:
        chunk, i = divmod(monthly.index(on), 28)
        meeting = next(m for m in answers["convenerOn"][chunk] if m["rotationPeriod"] == period)
        found = meeting[f"d{i}"]
        return None if found is None else decode_any(found["id"])[1]  # type: ignore[index]

    schedules = """query($a: ID!) { jointMeetings(areaId: $a) { rotationPeriod
        all: convenerSchedule(from: "2024-11-30", periods: 30) { ...T }
        late: convenerSchedule(from: "2026-08-15", periods: 2) { ...T }
        now: convenerSchedule { ...T } first: convenerSchedule(from: "2025-01-09", periods: 1) { ...T } } }
        fragment T on ConvenerTerm { startsOn endsOn organization { id name } }"""
    fast = await _post(compiled, token, schedules, variables)
    assert fast == await _post(plain, token, schedules, variables)
    late = next(m for m in fast["data"]["jointMeetings"] if m["rotationPeriod"] == "QUARTER")
    assert [(t["startsOn"], t["endsOn"], t["organization"]["name"]) for t in late["late"]] == [
        ("2026-07-01", "2026-08-14", "D单位"),  # D leaves while convening: A takes over that day
        ("2026-08-15", "2026-09-30", "A单位"),
        ("2026-10-01", "2026-12-31", "B单位"),  # E joins on 1 November: B goes on convening
    ]

    a, b, d = orgs["A"], orgs["B"], orgs["D"]
    assert convener("QUARTER", date(2025, 1, 1)) == a  # the first period, convened whole
    assert convener("QUARTER", date(2024, 12, 31)) is None
    assert [convener("QUARTER", x) for x in (date(2025, 3, 31), date(2025, 4, 1))] == [a, b]
    assert [convener("QUARTER", x) for x in (date(2026, 8, 14), date(2026, 8, 15))] == [d, a]
    assert [convener("YEAR", x) for x in (date(2025, 12, 31), date(2026, 1, 1))] == [a, b]
    assert convener("MONTH", date(2025, 2, 1)) == b

"""Read visibility is declared once (services/access.py READ_POLICIES) and both read paths obey it:
a ledger entry is visible to auditors and admins only, a service project to the readers of its
area (area_scope, and area_scope_sql for the compiled path: the two agree for every kind of
grant), and joint meetings to every signed-in user and to no one else, through node() and lists
on the compiled path and on the resolvers alike; the response cache never hands one viewer's
answer to another."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text

from gridweave.app import create_app
from gridweave.db import Sessionmaker, unit_of_work
from gridweave.models import Area, RoleGrant, RotationPeriod
from gridweave.security import issue_token
from gridweave.services import areas as area_svc
from gridweave.services import claims as claim_svc
from gridweave.services import meetings
from gridweave.services.access import area_scope, area_scope_sql, load_actor
from gridweave.settings import Settings
from tests.api.helpers import serve
from tests.factories import (
    Api,
    admin_actor,
    gid,
    make_area,
    make_chain,
    make_org,
    make_project,
    make_user,
    token_for,
)

ENTRY = """query($id: ID!) { node(id: $id) { __typename id
  ... on AuditEntry { action entityId hash previousHash at } } }"""


@pytest.fixture(params=["compiled", "strawberry", "compiled+cache"])
async def app_client(
    request: pytest.FixtureRequest, settings: Settings, database_url: str
) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    update = {
        "compiled": {},
        "strawberry": {"compiled_reads": False},
        "compiled+cache": {"response_cache": True},
    }[request.param]
    app = create_app(settings.model_copy(update=update), database_url=database_url)
    async with serve(app) as c:
        yield c, getattr(app.state, "compiled_reads", None)


async def test_only_ledger_readers_see_an_entry_on_every_path(
    app_client: tuple[httpx.AsyncClient, Any], sessionmaker: Sessionmaker, settings: Settings
) -> None:
    client, compiled = app_client
    city = await make_area(sessionmaker)
    admin = await admin_actor(sessionmaker)
    async with unit_of_work(sessionmaker) as s:
        await area_svc.update_area(s, actor=admin, area_id=city.id, name="改名")
    auditor = Api(client, token_for(settings, await make_user(sessionmaker, "AUDITOR")))
    coordinator = Api(client, token_for(settings, await make_user(sessionmaker, "COORDINATOR")))
    entry = gid("AuditEntry", 1)

    before = compiled.answered if compiled else 0
    seen = (await auditor.data(ENTRY, id=entry))["node"]
    hidden = (await coordinator.data(ENTRY, id=entry))["node"]
    again = (await auditor.data(ENTRY, id=entry))["node"]

    assert seen["__typename"] == "AuditEntry"
    assert seen["action"] == "updateArea"
    assert seen["entityId"] == gid("Area", city.id)
    assert len(seen["hash"]) == 64
    assert seen["previousHash"] is None
    assert seen["at"].endswith("+00:00")
    assert hidden is None
    assert again == seen
    if compiled is not None:
        assert compiled.answered == before + 3  # the policy is in the SQL, not a fallback


async def test_both_paths_give_an_auditor_the_same_entry(
    sessionmaker: Sessionmaker, settings: Settings, database_url: str
) -> None:
    city = await make_area(sessionmaker)
    admin = await admin_actor(sessionmaker)
    for name in ("一", "二"):
        async with unit_of_work(sessionmaker) as s:
            await area_svc.update_area(s, actor=admin, area_id=city.id, name=name)
    token = token_for(settings, await make_user(sessionmaker, "AUDITOR"))
    answers = []
    for compiled in (True, False):
        app = create_app(
            settings.model_copy(update={"compiled_reads": compiled}), database_url=database_url
        )
        async with serve(app) as c:
            answers.append(
                [
                    (await Api(c, token).data(ENTRY, id=gid("AuditEntry", i)))["node"]
                    for i in (1, 2, 3)
                ]
            )
    assert answers[0] == answers[1]
    assert answers[0][1]["previousHash"] == answers[0][0]["hash"]
    assert answers[0][2] is None


async def test_the_area_scope_in_sql_is_the_area_scope_in_python(
    sessionmaker: Sessionmaker,
) -> None:
    # given a city down to two communities, a grid in one, and viewers of every kind of grant
    city, district, street, a = await make_chain(
        sessionmaker, "CITY", "DISTRICT", "STREET", "COMMUNITY"
    )
    b = await make_area(sessionmaker, level="COMMUNITY", parent=street)
    grid = await make_area(sessionmaker, level="GRID", parent=a)
    in_grid, in_b = await make_org(sessionmaker, area=grid), await make_org(sessionmaker, area=b)
    viewers = [
        await make_user(sessionmaker, "ADMIN", area=b),
        await make_user(sessionmaker, "COORDINATOR"),
        await make_user(sessionmaker, "COORDINATOR", area=street),
        await make_user(sessionmaker, "EVALUATOR", area=a),
        await make_user(sessionmaker, "AUDITOR", area=district),
        await make_user(sessionmaker, "ORGANIZATION_MEMBER", organization=in_grid),
        await make_user(sessionmaker, "ORGANIZATION_MEMBER", organization=in_b),
        await make_user(sessionmaker, None),
    ]
    async with unit_of_work(sessionmaker) as s:  # two grants: a coordinator who is a member too
        s.add(RoleGrant(user_id=viewers[6].id, role="COORDINATOR", area_id=grid.id))
    async with sessionmaker() as s:
        paths = list((await s.scalars(select(Area.path).order_by(Area.id))).all())
        for viewer in viewers:
            actor = await load_actor(s, viewer.id)
            scope = await area_scope(s, actor)
            # when each area's path is tested by the SQL form
            rows = await s.execute(
                text(
                    f"SELECT p, {area_scope_sql('CAST(:u AS bigint)', 'p')}"
                    " FROM unnest(CAST(:paths AS text[])) p"
                ),
                {"u": viewer.id, "paths": paths},
            )
            # then it reads exactly the areas the Python scope covers
            assert {r[0]: r[1] for r in rows} == {p: scope.covers(p) for p in paths}, viewer.id
    assert scope.covers(city.path) is False  # the last viewer holds no grant: covers nothing


BOARD = """query($a: ID) { serviceProjects(areaId: $a) { totalCount edges { node { id title
  claims { id claimant { name } } } } } }"""
NODE = "query($id: ID!) { node(id: $id) { id ... on ServiceProject { title } } }"


async def two_communities_and_a_project(sm: Sessionmaker, *, slots: int = 1) -> tuple[Any, ...]:
    """A street with communities ``a`` and ``b``; a project 修路灯 posted in ``a``."""
    street, a = await make_chain(sm, "STREET", "COMMUNITY")
    b = await make_area(sm, level="COMMUNITY", parent=street)
    poster = await make_org(sm, area=a)
    project = await make_project(sm, area=a, poster=poster, slots=slots, title="修路灯")
    return street, a, b, poster, project


async def test_a_project_is_read_by_its_areas_readers_only_on_every_path(
    app_client: tuple[httpx.AsyncClient, Any], sessionmaker: Sessionmaker, settings: Settings
) -> None:
    client, compiled = app_client
    street, a, b, poster, project = await two_communities_and_a_project(sessionmaker)
    ours = Api(client, token_for(settings, await make_user(sessionmaker, "COORDINATOR", area=a)))
    theirs = Api(client, token_for(settings, await make_user(sessionmaker, "COORDINATOR", area=b)))
    member = Api(
        client,
        token_for(
            settings, await make_user(sessionmaker, "ORGANIZATION_MEMBER", organization=poster)
        ),
    )
    anonymous = Api(client)
    pid = gid("ServiceProject", project.id)

    before = compiled.answered if compiled else 0
    seen = [await api.data(BOARD, a=gid("Area", street.id)) for api in (ours, theirs, member)]
    nodes = [(await api.data(NODE, id=pid))["node"] for api in (ours, theirs, member)]
    refused = [await anonymous(q, **v) for q, v in ((BOARD, {}), (NODE, {"id": pid}))]

    totals = [x["serviceProjects"]["totalCount"] for x in seen]
    assert totals == [1, 0, 1]
    assert seen[0] == seen[2]
    assert seen[0]["serviceProjects"]["edges"][0]["node"]["title"] == "修路灯"
    assert nodes == [{"id": pid, "title": "修路灯"}, None, {"id": pid, "title": "修路灯"}]
    assert [r["data"] for r in refused] == [None, {"node": None}]
    assert refused[0]["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    if compiled is not None:
        assert compiled.answered == before + 6  # the scope is in the SQL, not a fallback


MEETINGS = """query($a: ID) { jointMeetings(areaId: $a, first: 5) { name convenerOn { name }
  members { organization { name agreements { status activitiesThisQuarter } } } } }"""


async def test_meetings_are_read_by_every_signed_in_user_and_refused_to_anyone_else_alike(
    sessionmaker: Sessionmaker, settings: Settings, database_url: str
) -> None:
    city = await make_area(sessionmaker)
    unit = await make_org(sessionmaker, area=city, kind="CO_RESIDENT_UNIT", name="医院")
    admin = await admin_actor(sessionmaker)
    async with unit_of_work(sessionmaker) as s:
        await meetings.create_joint_meeting(
            s,
            actor=admin,
            name="联席会议",
            area_id=city.id,
            rotation_period=RotationPeriod.QUARTER,
            member_ids=[unit.id],
            starts_on=date(2025, 1, 1),
        )
    evaluator = token_for(settings, await make_user(sessionmaker, "EVALUATOR"))
    gone = issue_token(settings, 10**9)  # a valid token of a user who no longer exists
    answers = []
    for compiled in (True, False):
        app = create_app(
            settings.model_copy(update={"compiled_reads": compiled}), database_url=database_url
        )
        async with serve(app) as c:
            seen = [
                await Api(c, token)(MEETINGS, a=gid("Area", city.id))
                for token in (evaluator, None, gone, "not-a-token")
            ]
            answers.append(seen)
            if compiled:
                assert app.state.compiled_reads.answered == 1  # the signed-in read
    assert answers[0] == answers[1]
    signed_in, *refused = answers[0]
    assert signed_in["data"]["jointMeetings"][0]["members"][0]["organization"]["name"] == "医院"
    for answer in refused:
        assert answer["data"] is None
        assert [e["extensions"]["code"] for e in answer["errors"]] == ["UNAUTHENTICATED"]


CLAIM_NODE = """query($id: ID!) { node(id: $id) { id ... on Claim { slots project { title }
  claimant { name } } } }"""
PAGE = """query($a: ID, $after: String) { serviceProjects(areaId: $a, first: 5, after: $after) {
  totalCount edges { cursor node { title claims { id } } } pageInfo { hasNextPage endCursor } } }"""


async def test_claims_and_crafted_pages_outside_the_scope_stay_unread_on_every_path(
    app_client: tuple[httpx.AsyncClient, Any], sessionmaker: Sessionmaker, settings: Settings
) -> None:
    client, _ = app_client
    street, a, b, _poster, project = await two_communities_and_a_project(sessionmaker, slots=3)
    team = await make_org(sessionmaker, area=a)
    async with unit_of_work(sessionmaker) as s:
        row = await claim_svc.claim(
            s, actor=await admin_actor(sessionmaker), project_id=project.id, claimant_id=team.id
        )
    theirs = Api(client, token_for(settings, await make_user(sessionmaker, "COORDINATOR", area=b)))
    ours = Api(client, token_for(settings, await make_user(sessionmaker, "COORDINATOR", area=a)))
    cid = gid("Claim", row.id)

    assert (await theirs.data(CLAIM_NODE, id=cid))["node"] is None
    assert (await ours.data(CLAIM_NODE, id=cid))["node"]["project"]["title"] == "修路灯"
    crafted = [
        None,
        gid("cursor", project.id + 1),
        gid("cursor", 2**63 - 1),
        gid("ServiceProject", project.id + 1),
        gid("cursor", 0),
        "Y3Vyc29yOi0x",  # cursor:-1
        "Y3Vyc29yOjAx",  # cursor:01
    ]
    for after in crafted:
        for area in (None, gid("Area", street.id), gid("Area", a.id)):
            got = await theirs(PAGE, a=area, after=after)
            page = (got.get("data") or {}).get("serviceProjects")
            assert page is None or (page["totalCount"], page["edges"]) == (0, []), (after, got)
            mine = await ours(PAGE, a=area, after=after)
            if mine.get("errors"):
                assert mine["data"] is None, mine
                assert after is not None
                assert mine["errors"][0]["extensions"]["code"] == "VALIDATION", mine
            else:
                titles = [e["node"]["title"] for e in mine["data"]["serviceProjects"]["edges"]]
                assert titles == (["修路灯"] if after in crafted[:3] else []), (after, mine)

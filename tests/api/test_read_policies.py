"""Read visibility is declared once (services/access.py READ_POLICIES) and both read paths obey it:
a ledger entry is visible to auditors and admins only, through node() on the compiled path and on
the resolvers alike; joint meetings to every signed-in user and to no one else, alike on both; and
the response cache never hands one viewer's answer to another."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import httpx
import pytest

from gridweave.app import create_app
from gridweave.db import Sessionmaker, unit_of_work
from gridweave.models import RotationPeriod
from gridweave.security import issue_token
from gridweave.services import areas as area_svc
from gridweave.services import meetings
from gridweave.settings import Settings
from tests.api.helpers import serve
from tests.factories import Api, admin_actor, gid, make_area, make_org, make_user, token_for

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

"""Joint meetings, agreements and service activities through GraphQL: the seven mutations (who
may, who may not, and that a refusal writes nothing), the reads with their compliance fields, on
both read paths (compiled SQL where it answers, strawberry's resolvers otherwise), and the cost
rule counting the unpaged ``jointMeetings`` list."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from graphql import parse

from gridweave.db import Sessionmaker
from gridweave.models import Area, Organization
from gridweave.schema.limits import measure_operations
from gridweave.schema.root import build_schema
from gridweave.services.calendar import today
from gridweave.services.rotation import quarter_bounds
from gridweave.settings import Settings
from tests.api.helpers import Refusal, assert_refused, call
from tests.factories import Api, gid, make_area, make_org, make_user, token_for
from tests.snapshot import changed, snapshot

MEETING = (
    "jointMeeting { id name rotationPeriod startsOn area { id } "
    "members { joinedOn organization { id name } } }"
)
AGREEMENT = (
    "agreement { id title status startsOn endsOn minActivitiesPerQuarter terminatedOn "
    "terminationReason community { id } partner { id } jointMeeting { id } "
    "commitments { description quantity unit category { code } } }"
)


@dataclass
class World:
    street: Area
    community: Area
    other: Area
    grid: Area
    units: list[Organization]
    outsider: Organization
    coordinator: Api
    street_coordinator: Api
    member: Api
    nobody: Api
    anonymous: Api


@pytest.fixture
async def world(client: httpx.AsyncClient, sessionmaker: Sessionmaker, settings: Settings) -> World:
    street = await make_area(sessionmaker, level="STREET", name="华阳街道")
    community = await make_area(sessionmaker, level="COMMUNITY", parent=street, name="阳光社区")
    other = await make_area(sessionmaker, level="COMMUNITY", parent=street, name="和平社区")
    grid = await make_area(sessionmaker, level="GRID", parent=community, name="一网格")
    units = [
        await make_org(sessionmaker, area=community, kind="CO_RESIDENT_UNIT", name="区人民医院"),
        await make_org(sessionmaker, area=grid, kind="CO_RESIDENT_UNIT", name="实验小学"),
        await make_org(sessionmaker, area=community, kind="CO_RESIDENT_UNIT", name="供电所"),
        await make_org(sessionmaker, area=grid, kind="CO_RESIDENT_UNIT", name="派出所"),
    ]
    outsider = await make_org(sessionmaker, area=other, kind="CO_RESIDENT_UNIT", name="邮政所")

    async def api(role: str, **grant: Any) -> Api:
        return Api(client, token_for(settings, await make_user(sessionmaker, role, **grant)))

    return World(
        street=street,
        community=community,
        other=other,
        grid=grid,
        units=units,
        outsider=outsider,
        coordinator=await api("COORDINATOR", area=community),
        street_coordinator=await api("COORDINATOR", area=street),
        member=await api("ORGANIZATION_MEMBER", organization=units[0]),
        nobody=await api("EVALUATOR", area=other),
        anonymous=Api(client),
    )


def ids(*orgs: Organization) -> list[str]:
    return [gid("Organization", o.id) for o in orgs]


async def create_meeting(w: World, **more: Any) -> Any:
    values: dict[str, Any] = {
        "name": "阳光社区党建联席会议",
        "areaId": gid("Area", w.community.id),
        "rotationPeriod": "QUARTER",
        "memberIds": ids(*w.units[:3]),
        "startsOn": "2025-01-01",
    }
    values.update(more)
    payload = await call(
        w.coordinator, "createJointMeeting", "CreateJointMeetingInput", MEETING, **values
    )
    assert payload["userErrors"] == [], payload
    return payload["jointMeeting"]


async def test_a_meeting_through_its_mutations(world: World) -> None:
    w = world
    a, b, c, d = w.units
    meeting = await create_meeting(w)
    assert [m["organization"]["name"] for m in meeting["members"]] == [
        "区人民医院",
        "实验小学",
        "供电所",
    ]
    assert {m["joinedOn"] for m in meeting["members"]} == {"2025-01-01"}

    joined = await call(
        w.coordinator,
        "addJointMeetingMember",
        "AddJointMeetingMemberInput",
        MEETING,
        jointMeetingId=meeting["id"],
        organizationId=gid("Organization", d.id),
    )
    assert joined["userErrors"] == []
    assert [m["organization"]["name"] for m in joined["jointMeeting"]["members"]][-1] == "派出所"
    assert joined["jointMeeting"]["members"][-1]["joinedOn"] == today().isoformat()

    left = await call(
        w.coordinator,
        "removeJointMeetingMember",
        "RemoveJointMeetingMemberInput",
        MEETING,
        jointMeetingId=meeting["id"],
        organizationId=gid("Organization", b.id),
    )
    assert [m["organization"]["name"] for m in left["jointMeeting"]["members"]] == [
        "区人民医院",
        "供电所",
        "派出所",
    ]

    sitting = await call(
        w.coordinator,
        "recordMeetingSession",
        "RecordMeetingSessionInput",
        "session { id heldOn convener { name } attendees { name } resolutions }",
        jointMeetingId=meeting["id"],
        heldOn="2025-04-01",
        attendeeIds=ids(a, b),
        resolutions=["通过本季度共建项目清单", "  确定走访安排 "],
    )
    assert sitting["userErrors"] == []
    assert sitting["session"]["convener"] == {"name": "实验小学"}  # B convened Q2 2025
    assert sorted(x["name"] for x in sitting["session"]["attendees"]) == ["区人民医院", "实验小学"]
    assert sitting["session"]["resolutions"] == ["通过本季度共建项目清单", "确定走访安排"]

    data = await w.member.data(
        """query($id: ID!) { node(id: $id) { ... on JointMeeting { name
            q1: convenerOn(on: "2025-03-31") { name } q2: convenerOn(on: "2025-04-01") { name }
            schedule: convenerSchedule(from: "2025-01-01", periods: 3) { startsOn endsOn organization { name } }
            sessions { heldOn convener { name } } lastSatOn satThisQuarter } } }""",
        id=meeting["id"],
    )
    node = data["node"]
    assert node["q1"] == {"name": "区人民医院"}
    assert node["q2"] == {"name": "实验小学"}
    assert node["schedule"] == [
        {"startsOn": "2025-01-01", "endsOn": "2025-03-31", "organization": {"name": "区人民医院"}},
        {"startsOn": "2025-04-01", "endsOn": "2025-06-30", "organization": {"name": "实验小学"}},
        {"startsOn": "2025-07-01", "endsOn": "2025-09-30", "organization": {"name": "供电所"}},
    ]
    assert node["sessions"] == [{"heldOn": "2025-04-01", "convener": {"name": "实验小学"}}]
    assert node["lastSatOn"] == "2025-04-01"
    assert node["satThisQuarter"] is False


async def test_an_agreement_through_its_mutations_and_its_quarter_count(
    world: World, sessionmaker: Sessionmaker, settings: Settings
) -> None:
    w = world
    partner = w.units[0]
    start = quarter_bounds(today())[0] - timedelta(days=200)
    signed = await call(
        w.coordinator,
        "signAgreement",
        "SignAgreementInput",
        AGREEMENT,
        title="阳光社区与区人民医院共驻共建协议",
        communityId=gid("Area", w.community.id),
        partnerId=gid("Organization", partner.id),
        startsOn=start.isoformat(),
        endsOn=(start + timedelta(days=730)).isoformat(),
        commitments=[
            {"description": "开放活动场地", "quantity": "120.50", "unit": "SQUARE_METERS"},
            {
                "description": "义诊",
                "quantity": "4",
                "unit": "ACTIVITIES",
                "categoryCode": "health",
            },
        ],
    )
    assert signed["userErrors"] == []
    agreement = signed["agreement"]
    assert agreement["status"] == "ACTIVE"
    assert agreement["minActivitiesPerQuarter"] == 1
    assert agreement["commitments"] == [
        {
            "description": "开放活动场地",
            "quantity": "120.50",
            "unit": "SQUARE_METERS",
            "category": None,
        },
        {
            "description": "义诊",
            "quantity": "4.00",
            "unit": "ACTIVITIES",
            "category": {"code": "health"},
        },
    ]

    # the partner's own member records activities on both sides of a quarter boundary
    boundary = quarter_bounds(today())[0]
    for on in (boundary - timedelta(days=1), boundary):
        recorded = await call(
            w.member,
            "recordServiceActivity",
            "RecordServiceActivityInput",
            "ok",
            organizationId=gid("Organization", partner.id),
            areaId=gid("Area", w.grid.id),
            categoryCode="health",
            occurredOn=on.isoformat(),
            hours="2.5",
            beneficiaries=30,
        )
        assert recorded == {"ok": True, "userErrors": []}

    query = """query($o: ID!, $before: Date, $after: Date) { node(id: $o) { ... on Organization {
        agreements { title status
          before: activitiesThisQuarter(on: $before) after: activitiesThisQuarter(on: $after)
          beforeMet: meetsMinimumThisQuarter(on: $before) } } } }"""
    data = await w.member.data(
        query,
        o=gid("Organization", partner.id),
        before=(boundary - timedelta(days=1)).isoformat(),
        after=boundary.isoformat(),
    )
    assert data["node"]["agreements"] == [
        {
            "title": "阳光社区与区人民医院共驻共建协议",
            "status": "ACTIVE",
            "before": 1,
            "after": 1,
            "beforeMet": True,
        }
    ]

    ended = await call(
        w.coordinator,
        "terminateAgreement",
        "TerminateAgreementInput",
        AGREEMENT,
        agreementId=agreement["id"],
        reason="单位搬迁",
    )
    assert ended["agreement"]["status"] == "TERMINATED"
    assert ended["agreement"]["terminatedOn"] == today().isoformat()
    assert ended["agreement"]["terminationReason"] == "单位搬迁"

    entries = await Api(
        w.member.client,
        token_for(settings, await make_user(sessionmaker, "AUDITOR")),
    ).data("{ auditLog(first: 10) { edges { node { action entityId } } } }")
    actions = [e["node"]["action"] for e in entries["auditLog"]["edges"]]
    assert actions == [
        "terminateAgreement",
        "recordServiceActivity",
        "recordServiceActivity",
        "signAgreement",
    ]


async def test_mutations_refuse_and_write_nothing(world: World, sessionmaker: Sessionmaker) -> None:
    w = world
    a, b, c, d = w.units
    meeting = await create_meeting(w)
    mid = meeting["id"]
    create = {
        "name": "会议",
        "areaId": gid("Area", w.community.id),
        "rotationPeriod": "YEAR",
        "memberIds": ids(a),
        "startsOn": "2025-01-01",
    }
    await assert_refused(
        sessionmaker,
        "createJointMeeting",
        "CreateJointMeetingInput",
        "jointMeeting",
        Refusal(w.anonymous, create, "UNAUTHENTICATED"),
        Refusal(w.nobody, create, "FORBIDDEN"),
        Refusal(w.member, create, "FORBIDDEN"),
        Refusal(
            w.coordinator,
            {**create, "areaId": gid("Organization", 1)},
            "VALIDATION",
            ["input", "areaId"],
        ),
        Refusal(
            w.coordinator,
            {**create, "memberIds": ids(a, w.outsider)},
            "VALIDATION",
            ["input", "memberIds", "1"],
        ),
        Refusal(
            w.coordinator,
            {**create, "memberIds": ids(a, a)},
            "VALIDATION",
            ["input", "memberIds", "1"],
        ),
        Refusal(
            w.coordinator,
            {**create, "memberIds": [gid("Area", 1)]},
            "VALIDATION",
            ["input", "memberIds", "0"],
        ),
        Refusal(w.coordinator, {**create, "memberIds": []}, "VALIDATION", ["input", "memberIds"]),
        Refusal(w.coordinator, {**create, "name": "x" * 201}, "VALIDATION", ["input", "name"]),
        Refusal(
            w.coordinator, {**create, "startsOn": "1900-01-01"}, "VALIDATION", ["input", "startsOn"]
        ),
    )
    member = {"jointMeetingId": mid, "organizationId": gid("Organization", d.id)}
    await assert_refused(
        sessionmaker,
        "addJointMeetingMember",
        "AddJointMeetingMemberInput",
        "jointMeeting",
        Refusal(w.anonymous, member, "UNAUTHENTICATED"),
        Refusal(w.nobody, member, "FORBIDDEN"),
        Refusal(w.member, member, "FORBIDDEN"),
        Refusal(
            w.coordinator,
            {**member, "organizationId": gid("Organization", a.id)},
            "CONFLICT",
            ["input", "organizationId"],
        ),
        Refusal(
            w.coordinator,
            {**member, "organizationId": gid("Organization", w.outsider.id)},
            "VALIDATION",
            ["input", "organizationId"],
        ),
        Refusal(
            w.coordinator,
            {**member, "jointMeetingId": gid("JointMeeting", 10**9)},
            "NOT_FOUND",
            ["input", "jointMeetingId"],
        ),
    )
    await assert_refused(
        sessionmaker,
        "removeJointMeetingMember",
        "RemoveJointMeetingMemberInput",
        "jointMeeting",
        Refusal(w.anonymous, member, "UNAUTHENTICATED"),
        Refusal(w.nobody, {**member, "organizationId": gid("Organization", a.id)}, "FORBIDDEN"),
        Refusal(w.coordinator, member, "NOT_FOUND", ["input", "organizationId"]),
    )
    sitting = {
        "jointMeetingId": mid,
        "heldOn": "2025-02-01",
        "attendeeIds": ids(a),
        "resolutions": ["通过"],
    }
    tomorrow = (today() + timedelta(days=1)).isoformat()
    await assert_refused(
        sessionmaker,
        "recordMeetingSession",
        "RecordMeetingSessionInput",
        "session",
        Refusal(w.anonymous, sitting, "UNAUTHENTICATED"),
        Refusal(w.nobody, sitting, "FORBIDDEN"),
        Refusal(w.member, sitting, "FORBIDDEN"),
        Refusal(w.coordinator, {**sitting, "heldOn": tomorrow}, "VALIDATION", ["input", "heldOn"]),
        Refusal(
            w.coordinator, {**sitting, "heldOn": "2024-12-31"}, "VALIDATION", ["input", "heldOn"]
        ),
        Refusal(
            w.coordinator,
            {**sitting, "attendeeIds": ids(a, d)},
            "VALIDATION",
            ["input", "attendeeIds", "1"],
        ),
        Refusal(
            w.coordinator,
            {**sitting, "resolutions": [""]},
            "VALIDATION",
            ["input", "resolutions", "0"],
        ),
    )
    sign = {
        "title": "共建协议",
        "communityId": gid("Area", w.community.id),
        "partnerId": gid("Organization", a.id),
        "startsOn": "2026-01-01",
        "endsOn": "2026-12-31",
    }
    await call(w.coordinator, "signAgreement", "SignAgreementInput", "agreement { id }", **sign)
    await assert_refused(
        sessionmaker,
        "signAgreement",
        "SignAgreementInput",
        "agreement",
        Refusal(w.anonymous, sign, "UNAUTHENTICATED"),
        Refusal(w.nobody, sign, "FORBIDDEN"),
        Refusal(w.member, sign, "FORBIDDEN"),
        Refusal(
            w.coordinator,
            {**sign, "startsOn": "2026-12-31", "endsOn": "2027-06-30"},
            "CONFLICT",
            ["input", "startsOn"],
        ),
        Refusal(w.coordinator, {**sign, "endsOn": "2025-12-31"}, "VALIDATION", ["input", "endsOn"]),
        Refusal(
            w.coordinator,
            {**sign, "communityId": gid("Area", w.grid.id)},
            "VALIDATION",
            ["input", "communityId"],
        ),
        Refusal(
            w.coordinator,
            {**sign, "partnerId": gid("Organization", b.id), "minActivitiesPerQuarter": -1},
            "VALIDATION",
            ["input", "minActivitiesPerQuarter"],
        ),
        Refusal(
            w.coordinator,
            {
                **sign,
                "partnerId": gid("Organization", b.id),
                "commitments": [{"description": "资金", "quantity": "0.001", "unit": "YUAN"}],
            },
            "VALIDATION",
            ["input", "commitments", "0", "quantity"],
        ),
        Refusal(
            w.coordinator,
            {
                **sign,
                "partnerId": gid("Organization", b.id),
                "commitments": [{"description": "资金", "quantity": "NaN", "unit": "YUAN"}],
            },
            "VALIDATION",
            ["input", "commitments", "0", "quantity"],
        ),
    )
    agreement_id = gid("Agreement", 1)
    end = {"agreementId": agreement_id, "reason": "合作结束"}
    await assert_refused(
        sessionmaker,
        "terminateAgreement",
        "TerminateAgreementInput",
        "agreement",
        Refusal(w.anonymous, end, "UNAUTHENTICATED"),
        Refusal(w.nobody, end, "FORBIDDEN"),
        Refusal(w.member, end, "FORBIDDEN"),
        Refusal(w.coordinator, {**end, "reason": " "}, "VALIDATION", ["input", "reason"]),
        Refusal(
            w.coordinator,
            {**end, "agreementId": gid("Agreement", 10**9)},
            "NOT_FOUND",
            ["input", "agreementId"],
        ),
    )
    activity = {
        "organizationId": gid("Organization", a.id),
        "areaId": gid("Area", w.community.id),
        "categoryCode": "health",
        "occurredOn": "2026-01-05",
        "hours": "1",
        "beneficiaries": 1,
    }
    for refusal in (
        Refusal(w.anonymous, activity, "UNAUTHENTICATED"),
        Refusal(w.nobody, activity, "FORBIDDEN", ["input", "organizationId"]),
        Refusal(
            w.member,
            {**activity, "organizationId": gid("Organization", b.id)},
            "FORBIDDEN",
            ["input", "organizationId"],
        ),
        Refusal(
            w.member,
            {**activity, "areaId": gid("Area", w.other.id)},
            "FORBIDDEN",
            ["input", "organizationId"],
        ),
        Refusal(
            w.member, {**activity, "categoryCode": "nope"}, "VALIDATION", ["input", "categoryCode"]
        ),
        Refusal(w.member, {**activity, "hours": "-1"}, "VALIDATION", ["input", "hours"]),
        Refusal(
            w.member, {**activity, "occurredOn": tomorrow}, "VALIDATION", ["input", "occurredOn"]
        ),
        Refusal(
            w.member, {**activity, "beneficiaries": -3}, "VALIDATION", ["input", "beneficiaries"]
        ),
    ):
        async with sessionmaker() as session:
            before = await snapshot(session)
        result = await call(
            refusal.caller,
            "recordServiceActivity",
            "RecordServiceActivityInput",
            "ok",
            **refusal.input,
        )
        assert result["ok"] is False
        errors = [(e["code"], e["field"]) for e in result["userErrors"]]
        assert errors == [(refusal.code, refusal.field)], refusal.input
        async with sessionmaker() as session:
            assert changed(before, await snapshot(session)) == []


# ---------------------------------------------------------------- reads, on both read paths


async def test_joint_meetings_of_a_subtree_in_pages(
    world: World, reader_client: httpx.AsyncClient, sessionmaker: Sessionmaker, settings: Settings
) -> None:
    w = world
    first = await create_meeting(w)
    second = await create_meeting(w, name="二号会议", memberIds=ids(w.units[1]))
    street_meeting = await call(
        w.street_coordinator,
        "createJointMeeting",
        "CreateJointMeetingInput",
        "jointMeeting { id }",
        name="华阳街道区域化党建联席会议",
        areaId=gid("Area", w.street.id),
        rotationPeriod="HALF_YEAR",
        memberIds=ids(w.units[0], w.outsider),
        startsOn="2025-07-01",
    )
    reader = Api(reader_client, token_for(settings, await make_user(sessionmaker, "EVALUATOR")))
    query = """query($a: ID, $n: Int, $after: ID) { jointMeetings(areaId: $a, first: $n, after: $after) {
        id name rotationPeriod area { name } members { organization { name } } } }"""

    community = await reader.data(query, a=gid("Area", w.community.id))
    street = await reader.data(query, a=gid("Area", w.street.id), n=2)
    rest = await reader.data(
        query, a=gid("Area", w.street.id), after=street["jointMeetings"][-1]["id"]
    )
    other = await reader.data(query, a=gid("Area", w.other.id))
    everywhere = await reader.data("{ jointMeetings { id } }")

    assert [m["id"] for m in community["jointMeetings"]] == [first["id"], second["id"]]
    assert [m["id"] for m in street["jointMeetings"]] == [first["id"], second["id"]]
    assert [m["id"] for m in rest["jointMeetings"]] == [street_meeting["jointMeeting"]["id"]]
    assert rest["jointMeetings"][0]["members"] == [
        {"organization": {"name": "区人民医院"}},
        {"organization": {"name": "邮政所"}},
    ]
    assert other["jointMeetings"] == []
    assert len(everywhere["jointMeetings"]) == 3
    bad = await reader(query, n=101)
    assert bad["errors"]


async def test_the_cost_rule_counts_the_unpaged_meeting_list(settings: Settings) -> None:
    schema = build_schema(settings)._schema
    one = "{ jointMeetings(first: 1) { id } }"
    unpaged = "{ jointMeetings { id } }"

    [small] = measure_operations(parse(one), schema).values()
    [large] = measure_operations(parse(unpaged), schema).values()

    assert small.cost == 2
    assert large.cost == 200  # a full page of 100 meetings, each with its id


async def test_compliance_answers_on_the_demo(
    reader_client: httpx.AsyncClient, sessionmaker: Sessionmaker, settings: Settings
) -> None:
    from gridweave.db import unit_of_work
    from gridweave.demo import load_demo

    async with unit_of_work(sessionmaker) as s:
        demo = await load_demo(s, scale="region")
    reader = Api(reader_client, token_for(settings, await make_user(sessionmaker, "EVALUATOR")))

    data = await reader.data(
        """query($street: ID!) {
          jointMeetings(areaId: $street) { name satThisQuarter lastSatOn convenerOn { name }
            members { organization { name agreements { status activitiesThisQuarter
              minActivitiesPerQuarter meetsMinimumThisQuarter commitments { quantity unit } } } } }
          node(id: $street) { ... on Area { unengagedUnits(first: 5) { totalCount edges { node { kind } } } } }
          network(areaId: $street, depth: 1) { edges { kind } } }""",
        street=gid("Area", demo.street_id),
    )

    meetings = data["jointMeetings"]
    assert len(meetings) == 14  # 13 communities and the street's regional meeting
    assert {m["satThisQuarter"] for m in meetings} == {True, False}
    assert all(m["lastSatOn"] for m in meetings)
    assert all(m["convenerOn"] for m in meetings)
    agreements = [
        a for m in meetings for x in m["members"] for a in x["organization"]["agreements"]
    ]
    assert {a["status"] for a in agreements} == {"ACTIVE", "EXPIRED", "TERMINATED", "DRAFT"}
    active = [a for a in agreements if a["status"] == "ACTIVE"]
    assert {a["meetsMinimumThisQuarter"] for a in active} == {True, False}
    unengaged = data["node"]["unengagedUnits"]
    assert unengaged["totalCount"] > 0
    assert {e["node"]["kind"] for e in unengaged["edges"]} == {"CO_RESIDENT_UNIT"}
    kinds = {e["kind"] for e in data["network"]["edges"]}
    assert {"MEMBER_OF", "AGREEMENT", "CONCURRENT_POST"} <= kinds
    assert date.fromisoformat(max(m["lastSatOn"] for m in meetings)) <= today()

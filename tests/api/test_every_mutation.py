"""Walks the served schema: every mutation but login refuses an anonymous caller (UNAUTHENTICATED)
and a signed-in user without any grant (FORBIDDEN or NOT_FOUND), whatever its input, and neither
call writes anything: every table of the metadata is compared, rows and content.

The calls name rows that exist (an area, organizations, a user), so that NOT_FOUND cannot stand in
for a missing role check. Every ID argument is resolved to a node type by the rules in
``id_type``; a new mutation whose ID fields they cannot place fails here, naming the field to add
to ``ID_TYPES``, and a node type with no row in ``World.ids`` fails naming the type to add."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx
import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLScalarType,
)
from sqlalchemy import text

from gridweave.db import Sessionmaker, unit_of_work
from gridweave.models import Agreement, ConvenerRotation, JointMeeting, JointMeetingMember
from gridweave.schema.root import build_schema
from gridweave.settings import Settings
from tests.factories import Api, gid, make_chain, make_org, make_user, token_for
from tests.snapshot import changed, snapshot

PUBLIC = {"login"}
SCALARS: dict[str, Any] = {
    "String": "x",
    "Int": 1,
    "Float": 1.0,
    "Boolean": True,
    "Date": "2026-01-01",
    "DateTime": "2026-01-01T00:00:00Z",
    "Decimal": "1",
}
# ID fields whose node type neither their name nor their mutation's name tells: "Input.field".
ID_TYPES = {
    "LinkOrganizationsInput.sourceId": "Organization",
    "LinkOrganizationsInput.targetId": "Organization",
    "UnlinkOrganizationsInput.sourceId": "Organization",
    "UnlinkOrganizationsInput.targetId": "Organization",
    "SetNeighborsInput.neighborIds": "Area",
    "CreateJointMeetingInput.memberIds": "Organization",
    "RecordMeetingSessionInput.attendeeIds": "Organization",
    "SignAgreementInput.communityId": "Area",
    "SignAgreementInput.partnerId": "Organization",
}


@dataclass
class World:
    """Rows that exist, by node type: the ids the walk passes."""

    ids: dict[str, list[int]]

    def gid(self, type_name: str, n: int = 0) -> str:
        assert type_name in self.ids, f"add a row of {type_name} to the walk's World"
        rows = self.ids[type_name]
        return gid(type_name, rows[n % len(rows)])


def id_type(mutation: str, input_name: str, field: str, node_types: set[str]) -> str:
    """The node type an ID field names: ``ID_TYPES``; else ``id`` and ``parentId`` name the
    mutation's own type (``updateArea`` -> Area); else ``fooId``/``fooIds`` name Foo."""
    key = f"{input_name}.{field}"
    if key in ID_TYPES:
        return ID_TYPES[key]
    if field in {"id", "parentId"}:
        named = [t for t in node_types if t in mutation[0].upper() + mutation[1:]]
        if named:
            return max(named, key=len)
    stem = field.removesuffix("s").removesuffix("Id")
    guess = stem[:1].upper() + stem[1:]
    assert guess in node_types, f"add {key} to ID_TYPES: which node type does it name?"
    return guess


def sample(
    t: GraphQLInputType, ident: Callable[[str, str], str], owner: str = "", field: str = ""
) -> Any:
    """A value of the input type, with every field filled in (required or not)."""
    if isinstance(t, GraphQLNonNull):
        return sample(t.of_type, ident, owner, field)
    if isinstance(t, GraphQLList):
        return [sample(t.of_type, ident, owner, field)]
    if isinstance(t, GraphQLEnumType):
        return next(iter(t.values))
    if isinstance(t, GraphQLScalarType):
        return ident(owner, field) if t.name == "ID" else SCALARS[t.name]
    assert isinstance(t, GraphQLInputObjectType)
    return {name: sample(f.type, ident, t.name, name) for name, f in t.fields.items()}


def mutations(settings: Settings) -> tuple[dict[str, GraphQLField], set[str]]:
    """The mutations to walk, by name, and the names of the node types."""
    schema = build_schema(settings)._schema
    assert schema.mutation_type is not None
    fields = {n: f for n, f in schema.mutation_type.fields.items() if n not in PUBLIC}
    node = schema.get_type("Node")
    assert node is not None
    node_types = {t.name for t in schema.get_implementations(node).objects}  # type: ignore[arg-type]
    return fields, node_types


async def call_every_mutation(
    api: Api, world: World, settings: Settings
) -> dict[str, list[dict[str, Any]]]:
    """Each mutation once, as ``api``'s user; its userErrors, by mutation name."""
    fields, node_types = mutations(settings)
    assert len(fields) >= 9
    answers = {}
    for name, field in sorted(fields.items()):
        input_type = field.args["input"].type

        def ident(owner: str, arg: str, name: str = name) -> str:
            return world.gid(id_type(name, owner, arg, node_types))

        query = (
            f"mutation($input: {input_type}) {{ {name}(input: $input) "
            "{ userErrors { code field message } } }"
        )
        body = await api(query, input=sample(input_type, ident))
        assert "errors" not in body, (name, body)
        answers[name] = body["data"][name]["userErrors"]
    return answers


@pytest.fixture
async def world(sessionmaker: Sessionmaker) -> World:
    city, district, community = await make_chain(sessionmaker, "CITY", "DISTRICT", "COMMUNITY")
    first = await make_org(sessionmaker, area=community)
    second = await make_org(sessionmaker, area=district)
    coordinator = await make_user(sessionmaker, "COORDINATOR", area=district)
    member = await make_user(sessionmaker, "ORGANIZATION_MEMBER", organization=first)
    async with unit_of_work(sessionmaker) as s:
        meeting = JointMeeting(
            name="联席会议",
            area_id=community.id,
            area_path=community.path,
            rotation_period="QUARTER",
            starts_on=date(2026, 1, 1),
        )
        s.add(meeting)
        await s.flush()
        s.add(
            JointMeetingMember(
                meeting_id=meeting.id, organization_id=first.id, joined_on=date(2026, 1, 1)
            )
        )
        s.add(
            ConvenerRotation(
                meeting_id=meeting.id,
                effective_from=date(2026, 1, 1),
                member_ids=[first.id],
                anchor=0,
            )
        )
        agreement = Agreement(
            title="共建协议",
            community_id=community.id,
            community_path=community.path,
            partner_id=first.id,
            starts_on=date(2026, 1, 1),
            ends_on=date(2027, 12, 31),
            min_activities_per_quarter=1,
        )
        s.add(agreement)
    return World(
        ids={
            "Area": [community.id, district.id, city.id],
            "Organization": [first.id, second.id],
            "User": [coordinator.id, member.id],
            "JointMeeting": [meeting.id],
            "Agreement": [agreement.id],
        }
    )


async def test_every_mutation_refuses_anonymous_callers_and_writes_nothing(
    client: httpx.AsyncClient, sessionmaker: Sessionmaker, settings: Settings, world: World
) -> None:
    async with sessionmaker() as s:
        before = await snapshot(s)

    answers = await call_every_mutation(Api(client), world, settings)

    for name, errors in answers.items():
        assert [e["code"] for e in errors] == ["UNAUTHENTICATED"], (name, errors)
    async with sessionmaker() as s:
        assert changed(before, await snapshot(s)) == []


async def test_every_mutation_refuses_a_user_without_grants_and_writes_nothing(
    client: httpx.AsyncClient, sessionmaker: Sessionmaker, settings: Settings, world: World
) -> None:
    # given a signed-in user who holds no role anywhere, and rows their calls will name
    nobody = Api(client, token_for(settings, await make_user(sessionmaker, None)))
    async with sessionmaker() as s:
        before = await snapshot(s)

    # when they call every mutation with every input field filled in
    answers = await call_every_mutation(nobody, world, settings)

    # then each refuses them by role (or as if the row did not exist), and nothing was written
    for name, errors in answers.items():
        assert len(errors) == 1, (name, errors)
        assert errors[0]["code"] in {"FORBIDDEN", "NOT_FOUND"}, (name, errors)
        assert errors[0]["message"], name
    async with sessionmaker() as s:
        assert changed(before, await snapshot(s)) == []


async def test_the_snapshot_sees_an_update_that_keeps_the_row_count(
    sessionmaker: Sessionmaker, world: World
) -> None:
    # the check above must be able to fail: an UPDATE changes no count, yet it is seen
    async with sessionmaker() as s:
        before = await snapshot(s)
    async with sessionmaker() as s, s.begin():
        await s.execute(text("UPDATE organizations SET name = name || '!'"))
    async with sessionmaker() as s:
        assert changed(before, await snapshot(s)) == ["organizations"]

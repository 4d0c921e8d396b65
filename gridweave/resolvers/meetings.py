"""Thin resolvers for joint meetings and their sessions."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Protocol

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from gridweave.ids import decode_id, decode_optional
from gridweave.models import JointMeeting as JointMeetingRow
from gridweave.models import RotationPeriod as PyRotationPeriod
from gridweave.resolvers.common import mutate
from gridweave.resolvers.nodes import EXTRA_NODE_RESOLVERS
from gridweave.schema.common import GqlInfo, Node, page_size
from gridweave.schema.meetings import (
    AddJointMeetingMemberInput,
    CreateJointMeetingInput,
    JointMeeting,
    JointMeetingPayload,
    MeetingSession,
    MeetingSessionPayload,
    RecordMeetingSessionInput,
    RemoveJointMeetingMemberInput,
)
from gridweave.schema.permissions import SignedIn
from gridweave.services import meetings as svc
from gridweave.services.access import Actor
from gridweave.services.areas import get_area

INPUT = "input"


def _meeting_id(value: strawberry.ID) -> int:
    return decode_id(value, "JointMeeting", field=[INPUT, "jointMeetingId"])


def _ids(values: list[strawberry.ID], type_name: str, field: str) -> list[int]:
    return [decode_id(v, type_name, field=[INPUT, field, str(i)]) for i, v in enumerate(values)]


async def joint_meetings(
    info: GqlInfo,
    area_id: strawberry.ID | None = None,
    first: int | None = None,
    after: strawberry.ID | None = None,
) -> list[JointMeeting]:
    limit = page_size(info, info.context.settings.max_page_size if first is None else first)
    async with info.context.sessionmaker() as session:
        area_pk = decode_optional(area_id, "Area", field=["areaId"])
        path = (await get_area(session, area_pk, field=["areaId"])).path if area_pk else None
        after_id = decode_optional(after, "JointMeeting", field=["after"]) or 0
        rows = await svc.list_meetings(
            session, actor=info.context.actor, area_path=path, after_id=after_id, limit=limit
        )
    return [JointMeeting.from_row(r) for r in rows]


async def create_joint_meeting(
    info: GqlInfo, input: CreateJointMeetingInput
) -> JointMeetingPayload:
    async def work(session: AsyncSession) -> JointMeetingPayload:
        meeting = await svc.create_joint_meeting(
            session,
            actor=info.context.actor,
            name=input.name,
            area_id=decode_id(input.area_id, "Area", field=[INPUT, "areaId"]),
            rotation_period=PyRotationPeriod(input.rotation_period.value),
            member_ids=_ids(input.member_ids, "Organization", "memberIds"),
            starts_on=input.starts_on,
        )
        return JointMeetingPayload(joint_meeting=JointMeeting.from_row(meeting))

    return await mutate(info, JointMeetingPayload, work)


class MembershipChange(Protocol):
    """services.meetings.add_member or remove_member."""

    def __call__(
        self, session: AsyncSession, *, actor: Actor | None, meeting_id: int, organization_id: int
    ) -> Awaitable[JointMeetingRow]: ...


async def _change_membership(
    info: GqlInfo,
    input: AddJointMeetingMemberInput | RemoveJointMeetingMemberInput,
    change: MembershipChange,
) -> JointMeetingPayload:
    async def work(session: AsyncSession) -> JointMeetingPayload:
        meeting = await change(
            session,
            actor=info.context.actor,
            meeting_id=_meeting_id(input.joint_meeting_id),
            organization_id=decode_id(
                input.organization_id, "Organization", field=[INPUT, "organizationId"]
            ),
        )
        return JointMeetingPayload(joint_meeting=JointMeeting.from_row(meeting))

    return await mutate(info, JointMeetingPayload, work)


async def add_joint_meeting_member(
    info: GqlInfo, input: AddJointMeetingMemberInput
) -> JointMeetingPayload:
    return await _change_membership(info, input, svc.add_member)


async def remove_joint_meeting_member(
    info: GqlInfo, input: RemoveJointMeetingMemberInput
) -> JointMeetingPayload:
    return await _change_membership(info, input, svc.remove_member)


async def record_meeting_session(
    info: GqlInfo, input: RecordMeetingSessionInput
) -> MeetingSessionPayload:
    async def work(session: AsyncSession) -> MeetingSessionPayload:
        sitting = await svc.record_session(
            session,
            actor=info.context.actor,
            meeting_id=_meeting_id(input.joint_meeting_id),
            held_on=input.held_on,
            attendee_ids=_ids(input.attendee_ids, "Organization", "attendeeIds"),
            resolutions=input.resolutions,
        )
        return MeetingSessionPayload(session=MeetingSession.from_row(sitting))

    return await mutate(info, MeetingSessionPayload, work)


async def _meeting_node(info: GqlInfo, pk: int) -> Node | None:
    row = await info.context.loaders.meetings.meeting.load(pk)
    return JointMeeting.from_row(row) if row else None


async def _session_node(info: GqlInfo, pk: int) -> Node | None:
    row = await info.context.loaders.meetings.session.load(pk)
    return MeetingSession.from_row(row) if row else None


EXTRA_NODE_RESOLVERS["JointMeeting"] = _meeting_node
EXTRA_NODE_RESOLVERS["MeetingSession"] = _session_node


@strawberry.type
class Queries:
    joint_meetings: list[JointMeeting] = strawberry.field(
        resolver=joint_meetings,
        permission_classes=[SignedIn],
        description=(
            "Joint meetings of the area and its subtree (all areas when omitted), by id. Pages:"
            " `first` (default and at most 100) meetings after the meeting whose id is `after`."
        ),
    )


@strawberry.type
class Mutations:
    create_joint_meeting: JointMeetingPayload = strawberry.mutation(resolver=create_joint_meeting)
    add_joint_meeting_member: JointMeetingPayload = strawberry.mutation(
        resolver=add_joint_meeting_member
    )
    remove_joint_meeting_member: JointMeetingPayload = strawberry.mutation(
        resolver=remove_joint_meeting_member
    )
    record_meeting_session: MeetingSessionPayload = strawberry.mutation(
        resolver=record_meeting_session
    )

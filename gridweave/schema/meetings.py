"""Joint meetings: members, convener rotation, sessions, and when the meeting last sat."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import strawberry

from gridweave.errors import ValidationFailed
from gridweave.ids import encode_id
from gridweave.models import RotationPeriod as PyRotationPeriod
from gridweave.schema.areas import Area
from gridweave.schema.common import GqlInfo, Node, UserError, described
from gridweave.schema.organizations import Organization
from gridweave.services import rotation
from gridweave.services.calendar import sane_date, today

RotationPeriod = PyRotationPeriod
strawberry.enum(RotationPeriod)
MAX_SCHEDULE_PERIODS = 120


@strawberry.type
class JointMeetingMember:
    joined_on: date
    organization_id: strawberry.Private[int]

    @strawberry.field
    async def organization(self, info: GqlInfo) -> Organization:
        return Organization.from_row(
            await info.context.loaders.organization.load(self.organization_id)
        )


@strawberry.type
class ConvenerTerm:
    starts_on: date
    ends_on: date
    organization_id: strawberry.Private[int]

    @strawberry.field
    async def organization(self, info: GqlInfo) -> Organization:
        return Organization.from_row(
            await info.context.loaders.organization.load(self.organization_id)
        )


@strawberry.type
class MeetingSession(Node):
    id: strawberry.ID
    held_on: date
    resolutions: list[str]
    pk: strawberry.Private[int]
    convener_id: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: Any) -> MeetingSession:
        return cls(
            id=strawberry.ID(encode_id("MeetingSession", row.id)),
            held_on=row.held_on,
            resolutions=list(row.resolutions),
            pk=row.id,
            convener_id=row.convener_id,
        )

    @described("The convener of the period containing the day it sat.")
    async def convener(self, info: GqlInfo) -> Organization:
        return Organization.from_row(await info.context.loaders.organization.load(self.convener_id))

    @strawberry.field
    async def attendees(self, info: GqlInfo) -> list[Organization]:
        ids = await info.context.loaders.meetings.attendees.load(self.pk)
        rows = await info.context.loaders.organization.load_many(ids)
        return [Organization.from_row(r) for r in rows if r is not None]


def schedule_periods(periods: int | None) -> int:
    """convenerSchedule's ``periods``: 1 to MAX_SCHEDULE_PERIODS, default 4."""
    count = 4 if periods is None else periods
    if not 1 <= count <= MAX_SCHEDULE_PERIODS:
        raise ValidationFailed(
            f"'periods' must be between 1 and {MAX_SCHEDULE_PERIODS}.", field=["periods"]
        )
    return count


def _as_of(on: date | None, field: str) -> date:
    return today() if on is None else sane_date(on, field=[field])


@strawberry.type
class JointMeeting(Node):
    id: strawberry.ID
    name: str
    rotation_period: RotationPeriod
    starts_on: date = strawberry.field(
        description="The first member convenes the period containing this day."
    )
    pk: strawberry.Private[int]
    area_id: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: Any) -> JointMeeting:
        return cls(
            id=strawberry.ID(encode_id("JointMeeting", row.id)),
            name=row.name,
            rotation_period=RotationPeriod(row.rotation_period),
            starts_on=row.starts_on,
            pk=row.id,
            area_id=row.area_id,
        )

    def _period(self) -> PyRotationPeriod:
        return PyRotationPeriod(self.rotation_period.value)

    async def _rotations(self, info: GqlInfo) -> list[rotation.Rotation]:
        rows = await info.context.loaders.meetings.rotations.load(self.pk)
        return [rotation.Rotation(r.effective_from, tuple(r.member_ids), r.anchor) for r in rows]

    @strawberry.field
    async def area(self, info: GqlInfo) -> Area:
        return Area.from_row(await info.context.loaders.area.load(self.area_id))

    @described("The current members, in convener order.")
    async def members(self, info: GqlInfo) -> list[JointMeetingMember]:
        loaders = info.context.loaders.meetings
        rows = await loaders.members.load(self.pk)
        rotations = await loaders.rotations.load(self.pk)
        order = {m: i for i, m in enumerate(rotations[-1].member_ids)} if rotations else {}
        ranked = sorted(rows, key=lambda r: order.get(r.organization_id, len(order)))
        return [
            JointMeetingMember(joined_on=r.joined_on, organization_id=r.organization_id)
            for r in ranked
        ]

    @described("The convener for the period that contains `on` (default today).")
    async def convener_on(self, info: GqlInfo, on: date | None = None) -> Organization | None:
        who = rotation.convener_on(self._period(), await self._rotations(info), _as_of(on, "on"))
        if who is None:
            return None
        row = await info.context.loaders.organization.load(who)
        return Organization.from_row(row) if row else None

    @described(
        "The next `periods` convener terms from `from` (default today), rotating through members."
        " Terms follow calendar periods (a change of members mid-period splits that period's"
        " term) and tile the calendar; `periods` is 1 to 120, default 4."
    )
    async def convener_schedule(
        self,
        info: GqlInfo,
        from_: Annotated[date | None, strawberry.argument(name="from")] = None,
        periods: int | None = None,
    ) -> list[ConvenerTerm]:
        count = schedule_periods(periods)
        terms = rotation.schedule(
            self._period(), await self._rotations(info), start=_as_of(from_, "from"), periods=count
        )
        return [
            ConvenerTerm(
                starts_on=t.starts_on, ends_on=t.ends_on, organization_id=t.organization_id
            )
            for t in terms
        ]

    @described("Its sittings, oldest first.")
    async def sessions(self, info: GqlInfo) -> list[MeetingSession]:
        rows = await info.context.loaders.meetings.sessions.load(self.pk)
        return [MeetingSession.from_row(r) for r in rows]

    @described(
        "Compliance: whether it sat in the quarter containing `on` (default today), on or before"
        " that day. The meeting sits every quarter (每季度)."
    )
    async def sat_this_quarter(self, info: GqlInfo, on: date | None = None) -> bool:
        day = _as_of(on, "on")
        start, _ = rotation.quarter_bounds(day)
        rows = await info.context.loaders.meetings.sessions.load(self.pk)
        return any(start <= r.held_on <= day for r in rows)

    @described("Compliance: the day of its latest sitting on or before `on` (default today).")
    async def last_sat_on(self, info: GqlInfo, on: date | None = None) -> date | None:
        day = _as_of(on, "on")
        rows = await info.context.loaders.meetings.sessions.load(self.pk)
        return max((r.held_on for r in rows if r.held_on <= day), default=None)


@strawberry.input
class CreateJointMeetingInput:
    name: str
    area_id: strawberry.ID
    rotation_period: RotationPeriod
    member_ids: list[strawberry.ID] = strawberry.field(
        description=(
            "Members in convener order; the first convenes the period that contains startsOn."
        )
    )
    starts_on: date


@strawberry.input
class AddJointMeetingMemberInput:
    joint_meeting_id: strawberry.ID
    organization_id: strawberry.ID


@strawberry.input
class RemoveJointMeetingMemberInput:
    joint_meeting_id: strawberry.ID
    organization_id: strawberry.ID


@strawberry.input
class RecordMeetingSessionInput:
    joint_meeting_id: strawberry.ID
    held_on: date
    attendee_ids: list[strawberry.ID]
    resolutions: list[str]


@strawberry.type
class JointMeetingPayload:
    joint_meeting: JointMeeting | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class MeetingSessionPayload:
    session: MeetingSession | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)

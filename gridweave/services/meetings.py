"""Joint meetings (联席会议): membership with its history, convener rotation, sessions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import sqlalchemy as sa
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from gridweave.errors import Conflict, DomainError, ErrorCode, NotFound, ValidationFailed
from gridweave.models import (
    ConvenerRotation,
    JointMeeting,
    JointMeetingMember,
    MeetingSession,
    MeetingSessionAttendee,
    Organization,
    OrganizationKind,
    RotationPeriod,
)
from gridweave.services import audit, rotation
from gridweave.services.access import Actor, require_actor, require_coordinator
from gridweave.services.areas import get_area
from gridweave.services.calendar import not_in_future, sane_date, today
from gridweave.services.subtree import in_subtree, in_subtree_sql
from gridweave.services.validation import clean_name, no_control_characters

INPUT = "input"
MAX_MEMBERS = 200
MAX_ATTENDEES = 200
MAX_RESOLUTIONS = 50
MAX_RESOLUTION_LENGTH = 2_000


def _invalid_state(message: str, field: Sequence[str]) -> DomainError:
    return DomainError(message, field=field, code=ErrorCode.INVALID_STATE)


async def get_meeting(
    session: AsyncSession, meeting_id: int, *, field: Sequence[str], lock: bool = False
) -> JointMeeting:
    """The meeting; with ``lock`` its row is locked, so membership changes and sessions of one
    meeting happen one at a time."""
    q = select(JointMeeting).where(JointMeeting.id == meeting_id)
    if lock:
        q = q.with_for_update()
    meeting = await session.scalar(q)
    if meeting is None:
        raise NotFound("No such joint meeting.", field=field)
    return meeting


async def load_rotations(session: AsyncSession, meeting_id: int) -> list[rotation.Rotation]:
    rows = await session.scalars(
        select(ConvenerRotation)
        .where(ConvenerRotation.meeting_id == meeting_id)
        .order_by(ConvenerRotation.id)
    )
    return [rotation.Rotation(r.effective_from, tuple(r.member_ids), r.anchor) for r in rows]


def _append_rotation(session: AsyncSession, meeting_id: int, r: rotation.Rotation) -> None:
    session.add(
        ConvenerRotation(
            meeting_id=meeting_id,
            effective_from=r.effective_from,
            member_ids=list(r.member_ids),
            anchor=r.anchor,
        )
    )


async def _organization_in_area(
    session: AsyncSession, organization_id: int, area_path: str, *, field: Sequence[str]
) -> Organization:
    org = await session.get(Organization, organization_id)
    if org is None:
        raise NotFound("No such organization.", field=field)
    if not org.area_path.startswith(area_path):
        raise ValidationFailed(
            "Members of a joint meeting are organizations located in the meeting's area.",
            field=field,
        )
    return org


async def create_joint_meeting(
    session: AsyncSession,
    *,
    actor: Actor | None,
    name: str,
    area_id: int,
    rotation_period: RotationPeriod,
    member_ids: Sequence[int],
    starts_on: date,
) -> JointMeeting:
    """Members are given in convener order; the first convenes the period containing
    ``starts_on``."""
    area = await get_area(session, area_id, field=[INPUT, "areaId"])
    actor = require_coordinator(actor, area.path, what="the meeting would sit")
    name = clean_name(name, field=[INPUT, "name"])
    sane_date(starts_on, field=[INPUT, "startsOn"])
    if not member_ids:
        raise ValidationFailed("Name at least one member.", field=[INPUT, "memberIds"])
    if len(member_ids) > MAX_MEMBERS:
        raise ValidationFailed(
            f"A joint meeting has at most {MAX_MEMBERS} members.", field=[INPUT, "memberIds"]
        )
    seen: set[int] = set()
    for i, org_id in enumerate(member_ids):
        field = [INPUT, "memberIds", str(i)]
        if org_id in seen:
            raise ValidationFailed("This organization is listed twice.", field=field)
        seen.add(org_id)
        await _organization_in_area(session, org_id, area.path, field=field)
    meeting = JointMeeting(
        name=name,
        area_id=area.id,
        area_path=area.path,
        rotation_period=rotation_period.value,
        starts_on=starts_on,
    )
    session.add(meeting)
    await session.flush()
    session.add_all(
        JointMeetingMember(meeting_id=meeting.id, organization_id=o, joined_on=starts_on)
        for o in member_ids
    )
    _append_rotation(session, meeting.id, rotation.first_rotation(starts_on, member_ids))
    await audit.record(
        session,
        actor,
        "createJointMeeting",
        f"JointMeeting:{meeting.id}",
        {
            "name": name,
            "area_id": area.id,
            "rotation_period": rotation_period.value,
            "member_ids": list(member_ids),
            "starts_on": starts_on.isoformat(),
        },
        area_path=area.path,
    )
    return meeting


async def _change_day(
    session: AsyncSession, meeting: JointMeeting, on: date | None
) -> tuple[date, list[rotation.Rotation]]:
    """The day a membership change takes effect (today unless the demo or a test says) and the
    rotation so far. A change may not reach back before the last one: the past stays as it was."""
    day = today() if on is None else on
    rotations = await load_rotations(session, meeting.id)
    if rotations and day < max(r.effective_from for r in rotations) and day >= meeting.starts_on:
        raise _invalid_state(
            "The rotation has changed since that day: changes cannot be back-dated.",
            [INPUT, "jointMeetingId"],
        )
    return day, rotations


async def _open_membership(
    session: AsyncSession, meeting_id: int, organization_id: int
) -> JointMeetingMember | None:
    return await session.scalar(
        select(JointMeetingMember).where(
            JointMeetingMember.meeting_id == meeting_id,
            JointMeetingMember.organization_id == organization_id,
            JointMeetingMember.left_on.is_(None),
        )
    )


async def add_member(
    session: AsyncSession,
    *,
    actor: Actor | None,
    meeting_id: int,
    organization_id: int,
    on: date | None = None,
) -> JointMeeting:
    """The organization joins the end of the rotation on ``on`` (default today)."""
    meeting = await get_meeting(session, meeting_id, field=[INPUT, "jointMeetingId"], lock=True)
    actor = require_coordinator(actor, meeting.area_path, what="this meeting sits")
    field = [INPUT, "organizationId"]
    await _organization_in_area(session, organization_id, meeting.area_path, field=field)
    if await _open_membership(session, meeting.id, organization_id) is not None:
        raise Conflict("This organization is a member already.", field=field)
    day, rotations = await _change_day(session, meeting, on)
    period = RotationPeriod(meeting.rotation_period)
    change = rotation.after_join(period, rotations, on=day, organization_id=organization_id)
    session.add(
        JointMeetingMember(meeting_id=meeting.id, organization_id=organization_id, joined_on=day)
    )
    _append_rotation(session, meeting.id, change)
    await audit.record(
        session,
        actor,
        "addJointMeetingMember",
        f"JointMeeting:{meeting.id}",
        {
            "organization_id": organization_id,
            "on": day.isoformat(),
            "order": list(change.member_ids),
        },
        area_path=meeting.area_path,
    )
    return meeting


async def remove_member(
    session: AsyncSession,
    *,
    actor: Actor | None,
    meeting_id: int,
    organization_id: int,
    on: date | None = None,
) -> JointMeeting:
    """The organization leaves on ``on`` (default today); the rotation closes ranks, and past
    terms and sessions stay as they were."""
    meeting = await get_meeting(session, meeting_id, field=[INPUT, "jointMeetingId"], lock=True)
    actor = require_coordinator(actor, meeting.area_path, what="this meeting sits")
    field = [INPUT, "organizationId"]
    membership = await _open_membership(session, meeting.id, organization_id)
    if membership is None:
        raise NotFound("This organization is not a member of the meeting.", field=field)
    others = await session.scalar(
        select(func.count())
        .select_from(JointMeetingMember)
        .where(
            JointMeetingMember.meeting_id == meeting.id,
            JointMeetingMember.left_on.is_(None),
            JointMeetingMember.organization_id != organization_id,
        )
    )
    if not others:
        raise _invalid_state(
            "This is the meeting's last member: a joint meeting keeps at least one.", field
        )
    day, rotations = await _change_day(session, meeting, on)
    period = RotationPeriod(meeting.rotation_period)
    change = rotation.after_leave(period, rotations, on=day, organization_id=organization_id)
    membership.left_on = max(day, membership.joined_on)
    _append_rotation(session, meeting.id, change)
    await audit.record(
        session,
        actor,
        "removeJointMeetingMember",
        f"JointMeeting:{meeting.id}",
        {
            "organization_id": organization_id,
            "on": day.isoformat(),
            "order": list(change.member_ids),
        },
        area_path=meeting.area_path,
    )
    return meeting


def _clean_resolutions(resolutions: Sequence[str]) -> list[str]:
    if len(resolutions) > MAX_RESOLUTIONS:
        raise ValidationFailed(
            f"A session records at most {MAX_RESOLUTIONS} resolutions.",
            field=[INPUT, "resolutions"],
        )
    cleaned = []
    for i, text in enumerate(resolutions):
        field = [INPUT, "resolutions", str(i)]
        value = no_control_characters(text, field=field).strip()
        if not value:
            raise ValidationFailed("A resolution cannot be empty.", field=field)
        if len(value) > MAX_RESOLUTION_LENGTH:
            raise ValidationFailed(
                f"A resolution is at most {MAX_RESOLUTION_LENGTH} characters.", field=field
            )
        cleaned.append(value)
    return cleaned


async def record_session(
    session: AsyncSession,
    *,
    actor: Actor | None,
    meeting_id: int,
    held_on: date,
    attendee_ids: Sequence[int],
    resolutions: Sequence[str],
) -> MeetingSession:
    """Its convener is the convener of the period containing ``held_on``; its attendees must
    have been members on that day."""
    meeting = await get_meeting(session, meeting_id, field=[INPUT, "jointMeetingId"], lock=True)
    actor = require_coordinator(actor, meeting.area_path, what="this meeting sits")
    not_in_future(held_on, field=[INPUT, "heldOn"], what="A session")
    if held_on < meeting.starts_on:
        raise ValidationFailed("The meeting had not started on that day.", field=[INPUT, "heldOn"])
    if len(attendee_ids) > MAX_ATTENDEES:
        raise ValidationFailed(
            f"A session records at most {MAX_ATTENDEES} attendees.", field=[INPUT, "attendeeIds"]
        )
    members_then = set(
        await session.scalars(
            select(JointMeetingMember.organization_id).where(
                JointMeetingMember.meeting_id == meeting.id,
                JointMeetingMember.joined_on <= held_on,
                JointMeetingMember.left_on.is_(None) | (JointMeetingMember.left_on > held_on),
            )
        )
    )
    seen: set[int] = set()
    for i, org_id in enumerate(attendee_ids):
        field = [INPUT, "attendeeIds", str(i)]
        if org_id in seen:
            raise ValidationFailed("This organization is listed twice.", field=field)
        seen.add(org_id)
        if org_id not in members_then:
            raise ValidationFailed("This organization was not a member on that day.", field=field)
    cleaned = _clean_resolutions(resolutions)
    rotations = await load_rotations(session, meeting.id)
    convener = rotation.convener_on(RotationPeriod(meeting.rotation_period), rotations, held_on)
    if convener is None:
        raise _invalid_state("The meeting had no convener on that day.", [INPUT, "heldOn"])
    sitting = MeetingSession(
        meeting_id=meeting.id, held_on=held_on, convener_id=convener, resolutions=cleaned
    )
    session.add(sitting)
    await session.flush()
    session.add_all(
        MeetingSessionAttendee(session_id=sitting.id, organization_id=o) for o in attendee_ids
    )
    await audit.record(
        session,
        actor,
        "recordMeetingSession",
        f"MeetingSession:{sitting.id}",
        {
            "joint_meeting_id": meeting.id,
            "held_on": held_on.isoformat(),
            "convener_id": convener,
            "attendee_ids": list(attendee_ids),
            "resolutions": cleaned,
        },
        area_path=meeting.area_path,
    )
    return sitting


async def list_meetings(
    session: AsyncSession,
    *,
    actor: Actor | None,
    area_path: str | None,
    after_id: int,
    limit: int,
) -> Sequence[JointMeeting]:
    """Meetings of the area at ``area_path`` and its subtree (all when None), by id."""
    require_actor(actor)
    q = select(JointMeeting).where(JointMeeting.id > after_id)
    if area_path is not None:
        q = q.where(in_subtree(JointMeeting.area_path, area_path))
    return (await session.scalars(q.order_by(JointMeeting.id).limit(limit))).all()


def unengaged_units_sql(org: str, area_path: str, on: str) -> str:
    """Co-resident units located in the subtree at ``area_path`` that belong to no joint meeting
    on ``on``: the gap a coordinator closes by inviting them. SQL text over the organizations row
    at alias ``org`` (``area_path`` and ``on`` are SQL expressions), written once for the
    resolvers, the coverage report and the compiled read path."""
    in_a_meeting = (
        f"SELECT 1 FROM joint_meeting_members jm WHERE jm.organization_id = {org}.id"
        f" AND jm.joined_on <= {on} AND (jm.left_on IS NULL OR jm.left_on > {on})"
    )
    return (
        f"({in_subtree_sql(f'{org}.area_path', area_path)}"
        f" AND {org}.kind = '{OrganizationKind.CO_RESIDENT_UNIT.value}'"
        f" AND NOT EXISTS ({in_a_meeting}))"
    )


def unengaged_units_condition(area_path: str, on: date) -> sa.TextClause:
    """The same as a condition on ``organizations`` (not aliased)."""
    return sa.text(unengaged_units_sql("organizations", ":path", ":on")).bindparams(
        sa.bindparam("path", area_path, type_=sa.Text), sa.bindparam("on", on, type_=sa.Date)
    )


async def list_unengaged_units(
    session: AsyncSession, *, area_path: str, on: date, after_id: int, limit: int
) -> Sequence[Organization]:
    q = select(Organization).where(
        unengaged_units_condition(area_path, on), Organization.id > after_id
    )
    return (await session.scalars(q.order_by(Organization.id).limit(limit))).all()


async def count_unengaged_units(session: AsyncSession, *, area_path: str, on: date) -> int:
    q = select(func.count()).select_from(Organization)
    return int(await session.scalar(q.where(unengaged_units_condition(area_path, on))) or 0)

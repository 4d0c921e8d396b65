"""Joint meeting services called directly: creating, members joining and leaving over two years
(with the convener history kept), sessions, and every refusal (which writes nothing)."""

from __future__ import annotations

from datetime import date, timedelta
from functools import partial
from typing import Any

import pytest
from sqlalchemy import select

from gridweave.db import Sessionmaker
from gridweave.errors import ErrorCode
from gridweave.models import (
    AuditEntry,
    JointMeetingMember,
    MeetingSession,
    MeetingSessionAttendee,
    Organization,
    RotationPeriod,
)
from gridweave.services import meetings as svc
from gridweave.services import rotation
from gridweave.services.access import Actor
from gridweave.services.calendar import today
from tests.factories import coordinator_of, make_area, make_chain, make_org, member_of
from tests.services.helpers import Call, expect_refusal, run

refused = expect_refusal


class World:
    """A street with a community, three units in it, one unit elsewhere and a coordinator."""

    def __init__(self, **kw: Any) -> None:
        self.__dict__.update(kw)

    street: Any
    community: Any
    other: Any
    units: list[Organization]
    outsider: Organization
    coordinator: Actor


async def world(sm: Sessionmaker) -> World:
    _, street, community = await make_chain(sm, "CITY", "STREET", "COMMUNITY")
    other = await make_area(sm, level="COMMUNITY", parent=street)
    grid = await make_area(sm, level="GRID", parent=community)
    units = [
        await make_org(sm, area=community, kind="CO_RESIDENT_UNIT", name="甲单位"),
        await make_org(sm, area=grid, kind="CO_RESIDENT_UNIT", name="乙单位"),
        await make_org(sm, area=community, kind="PARTY_ORGANIZATION", name="丙党支部"),
        await make_org(sm, area=grid, kind="CO_RESIDENT_UNIT", name="丁单位"),
        await make_org(sm, area=community, kind="SOCIAL_ORGANIZATION", name="戊协会"),
    ]
    outsider = await make_org(sm, area=other, kind="CO_RESIDENT_UNIT")
    return World(
        street=street,
        community=community,
        other=other,
        units=units,
        outsider=outsider,
        coordinator=await coordinator_of(sm, community),
    )


COORDINATOR: Any = object()


def create(w: World, actor: Actor | None = COORDINATOR, **more: Any) -> Call:
    """create_joint_meeting by ``actor`` (default the community's coordinator)."""
    values: dict[str, Any] = {
        "name": "社区党建联席会议",
        "area_id": w.community.id,
        "rotation_period": RotationPeriod.QUARTER,
        "member_ids": [u.id for u in w.units[:3]],
        "starts_on": date(2025, 1, 1),
    }
    values.update(more)
    return lambda s: svc.create_joint_meeting(
        s, actor=w.coordinator if actor is COORDINATOR else actor, **values
    )


async def conveners(sm: Sessionmaker, meeting_id: int, *days: date) -> list[int | None]:
    async with sm() as s:
        meeting = await svc.get_meeting(s, meeting_id, field=[])
        rotations = await svc.load_rotations(s, meeting_id)
    period = RotationPeriod(meeting.rotation_period)
    return [rotation.convener_on(period, rotations, d) for d in days]


async def test_create_then_two_years_of_changes_keep_the_history(
    sessionmaker: Sessionmaker,
) -> None:
    w = await world(sessionmaker)
    a, b, c, d, e = (u.id for u in w.units)
    meeting = await run(sessionmaker, create(w))
    change = partial(svc.add_member, actor=w.coordinator, meeting_id=meeting.id)
    leave = partial(svc.remove_member, actor=w.coordinator, meeting_id=meeting.id)
    quarters = [date(y, m, 15) for y in (2025, 2026) for m in (1, 4, 7, 10)] + [date(2027, 1, 15)]

    assert await conveners(sessionmaker, meeting.id, *quarters[:4]) == [a, b, c, a]

    # D joins in May 2025, C leaves in February 2026, D (convening) leaves in August 2026,
    # E joins in November 2026
    await run(sessionmaker, lambda s: change(s, organization_id=d, on=date(2025, 5, 10)))
    await run(sessionmaker, lambda s: leave(s, organization_id=c, on=date(2026, 2, 20)))
    await run(sessionmaker, lambda s: leave(s, organization_id=d, on=date(2026, 8, 15)))
    await run(sessionmaker, lambda s: change(s, organization_id=e, on=date(2026, 11, 1)))

    assert await conveners(sessionmaker, meeting.id, *quarters) == [a, b, c, d, a, b, d, b, e]
    assert await conveners(sessionmaker, meeting.id, date(2026, 8, 14), date(2026, 8, 15)) == [d, a]
    async with sessionmaker() as s:
        rows = (
            await s.execute(
                select(JointMeetingMember.organization_id, JointMeetingMember.left_on)
                .where(JointMeetingMember.meeting_id == meeting.id)
                .order_by(JointMeetingMember.id)
            )
        ).all()
        actions = (await s.scalars(select(AuditEntry.action).order_by(AuditEntry.id))).all()
    assert [tuple(r) for r in rows] == [
        (a, None),
        (b, None),
        (c, date(2026, 2, 20)),
        (d, date(2026, 8, 15)),
        (e, None),
    ]
    assert actions == [
        "createJointMeeting",
        "addJointMeetingMember",
        "removeJointMeetingMember",
        "removeJointMeetingMember",
        "addJointMeetingMember",
    ]


async def test_create_refusals(sessionmaker: Sessionmaker) -> None:
    w = await world(sessionmaker)
    ids = [u.id for u in w.units]
    cases: list[tuple[Call, ErrorCode, list[str] | None]] = [
        (create(w, actor=None), ErrorCode.UNAUTHENTICATED, None),
        (create(w, actor=await coordinator_of(sessionmaker, w.other)), ErrorCode.FORBIDDEN, None),
        (create(w, actor=await member_of(sessionmaker, w.units[0])), ErrorCode.FORBIDDEN, None),
        (create(w, area_id=10**9), ErrorCode.NOT_FOUND, ["input", "areaId"]),
        (create(w, name="  "), ErrorCode.VALIDATION, ["input", "name"]),
        (create(w, member_ids=[]), ErrorCode.VALIDATION, ["input", "memberIds"]),
        (
            create(w, member_ids=[ids[0], ids[1], ids[0]]),
            ErrorCode.VALIDATION,
            ["input", "memberIds", "2"],
        ),
        (
            create(w, member_ids=[ids[0], w.outsider.id]),
            ErrorCode.VALIDATION,
            ["input", "memberIds", "1"],
        ),
        (create(w, member_ids=[ids[0], 10**9]), ErrorCode.NOT_FOUND, ["input", "memberIds", "1"]),
        (create(w, member_ids=list(range(1, 202))), ErrorCode.VALIDATION, ["input", "memberIds"]),
        (create(w, starts_on=date(1900, 1, 1)), ErrorCode.VALIDATION, ["input", "startsOn"]),
    ]
    for call, code, field in cases:
        error = await refused(sessionmaker, call)
        assert (error.code, error.field if field else None) == (code, field)


async def test_membership_refusals(sessionmaker: Sessionmaker) -> None:
    w = await world(sessionmaker)
    a, b, c, d, _ = (u.id for u in w.units)
    meeting = await run(sessionmaker, create(w, member_ids=[a, b]))

    def add(org: int, actor: Actor | None = w.coordinator, **kw: Any) -> Call:
        return lambda s: svc.add_member(
            s, actor=actor, meeting_id=meeting.id, organization_id=org, **kw
        )

    def remove(org: int, actor: Actor | None = w.coordinator, **kw: Any) -> Call:
        return lambda s: svc.remove_member(
            s, actor=actor, meeting_id=meeting.id, organization_id=org, **kw
        )

    org_field = ["input", "organizationId"]
    await run(sessionmaker, remove(b, on=date(2026, 3, 1)))
    cases: list[tuple[Call, ErrorCode, list[str] | None]] = [
        (add(c, actor=None), ErrorCode.UNAUTHENTICATED, None),
        (add(c, actor=await coordinator_of(sessionmaker, w.other)), ErrorCode.FORBIDDEN, None),
        (add(c, actor=await member_of(sessionmaker, w.units[0])), ErrorCode.FORBIDDEN, None),
        (add(a), ErrorCode.CONFLICT, org_field),
        (add(w.outsider.id), ErrorCode.VALIDATION, org_field),
        (add(10**9), ErrorCode.NOT_FOUND, org_field),
        (add(c, on=date(2026, 2, 1)), ErrorCode.INVALID_STATE, ["input", "jointMeetingId"]),
        (
            lambda s: svc.add_member(s, actor=w.coordinator, meeting_id=10**9, organization_id=c),
            ErrorCode.NOT_FOUND,
            ["input", "jointMeetingId"],
        ),
        (remove(b), ErrorCode.NOT_FOUND, org_field),
        (remove(d), ErrorCode.NOT_FOUND, org_field),
        (remove(a), ErrorCode.INVALID_STATE, org_field),
        (remove(a, actor=await coordinator_of(sessionmaker, w.other)), ErrorCode.FORBIDDEN, None),
    ]
    for call, code, field in cases:
        error = await refused(sessionmaker, call)
        assert (error.code, error.field if field else None) == (code, field)


async def test_a_member_may_rejoin_after_leaving(sessionmaker: Sessionmaker) -> None:
    w = await world(sessionmaker)
    a, b, c = (u.id for u in w.units[:3])
    meeting = await run(sessionmaker, create(w))
    await run(
        sessionmaker,
        lambda s: svc.remove_member(
            s, actor=w.coordinator, meeting_id=meeting.id, organization_id=b, on=date(2025, 6, 1)
        ),
    )
    await run(
        sessionmaker,
        lambda s: svc.add_member(
            s, actor=w.coordinator, meeting_id=meeting.id, organization_id=b, on=date(2025, 9, 1)
        ),
    )

    # Q2 2025: B until 31 May, then C; Q3: A; Q4: C; then B (at the end of the order)
    assert await conveners(
        sessionmaker,
        meeting.id,
        date(2025, 5, 31),
        date(2025, 6, 1),
        date(2025, 7, 1),
        date(2025, 10, 1),
        date(2026, 1, 1),
    ) == [b, c, a, c, b]


async def test_sessions_take_the_convener_of_their_period_and_keep_it(
    sessionmaker: Sessionmaker,
) -> None:
    w = await world(sessionmaker)
    a, b, c, d, _ = (u.id for u in w.units)
    meeting = await run(sessionmaker, create(w, starts_on=date(2025, 1, 10)))

    def sit(
        on: date,
        attendees: list[int],
        resolutions: list[str] | None = None,
        *,
        actor: Actor | None = w.coordinator,
        meeting_id: int = meeting.id,
    ) -> Call:
        return lambda s: svc.record_session(
            s,
            actor=actor,
            meeting_id=meeting_id,
            held_on=on,
            attendee_ids=attendees,
            resolutions=["通过年度共建项目清单"] if resolutions is None else resolutions,
        )

    first = await run(sessionmaker, sit(date(2025, 3, 31), [a, b, c]))
    second = await run(sessionmaker, sit(date(2025, 4, 1), [a, b]))
    # B leaves while convening; a later session in the same quarter has C as convener
    await run(
        sessionmaker,
        lambda s: svc.remove_member(
            s, actor=w.coordinator, meeting_id=meeting.id, organization_id=b, on=date(2025, 5, 1)
        ),
    )
    third = await run(sessionmaker, sit(date(2025, 5, 2), [a, c], []))

    async with sessionmaker() as s:
        rows = (await s.scalars(select(MeetingSession).order_by(MeetingSession.id))).all()
        attendees = (
            await s.scalars(
                select(MeetingSessionAttendee.organization_id)
                .where(MeetingSessionAttendee.session_id == first.id)
                .order_by(MeetingSessionAttendee.organization_id)
            )
        ).all()
    assert [(r.id, r.convener_id) for r in rows] == [(first.id, a), (second.id, b), (third.id, c)]
    assert rows[0].resolutions == ["通过年度共建项目清单"]
    assert list(attendees) == sorted([a, b, c])

    held = ["input", "heldOn"]
    attendee = ["input", "attendeeIds"]
    cases: list[tuple[Call, ErrorCode, list[str] | None]] = [
        (sit(today() + timedelta(days=1), [a]), ErrorCode.VALIDATION, held),
        (sit(date(2025, 1, 9), [a]), ErrorCode.VALIDATION, held),
        (sit(date(1900, 1, 1), [a]), ErrorCode.VALIDATION, held),
        (sit(date(2025, 6, 1), [a, b]), ErrorCode.VALIDATION, [*attendee, "1"]),
        (sit(date(2025, 6, 1), [d]), ErrorCode.VALIDATION, [*attendee, "0"]),
        (sit(date(2025, 6, 1), [a, a]), ErrorCode.VALIDATION, [*attendee, "1"]),
        (
            sit(date(2025, 6, 1), [a], ["ok", " "]),
            ErrorCode.VALIDATION,
            ["input", "resolutions", "1"],
        ),
        (
            sit(date(2025, 6, 1), [a], ["x" * 2001]),
            ErrorCode.VALIDATION,
            ["input", "resolutions", "0"],
        ),
        (sit(date(2025, 6, 1), [a], ["x"] * 51), ErrorCode.VALIDATION, ["input", "resolutions"]),
        (
            sit(date(2025, 6, 1), [a], ["bad\x00"]),
            ErrorCode.VALIDATION,
            ["input", "resolutions", "0"],
        ),
        (sit(date(2025, 6, 1), [a], actor=None), ErrorCode.UNAUTHENTICATED, None),
        (
            sit(date(2025, 6, 1), [a], actor=await coordinator_of(sessionmaker, w.other)),
            ErrorCode.FORBIDDEN,
            None,
        ),
        (
            sit(date(2025, 6, 1), [a], actor=await member_of(sessionmaker, w.units[0])),
            ErrorCode.FORBIDDEN,
            None,
        ),
        (
            sit(date(2025, 6, 1), [a], meeting_id=10**9),
            ErrorCode.NOT_FOUND,
            ["input", "jointMeetingId"],
        ),
    ]
    for call, code, field in cases:
        error = await refused(sessionmaker, call)
        assert (error.code, error.field if field else None) == (code, field)


@pytest.mark.parametrize("period", list(RotationPeriod))
async def test_every_period_kind_starts_with_the_first_member(
    sessionmaker: Sessionmaker, period: RotationPeriod
) -> None:
    w = await world(sessionmaker)
    meeting = await run(sessionmaker, create(w, rotation_period=period, starts_on=date(2026, 2, 2)))
    a, b = w.units[0].id, w.units[1].id
    first_day, last_day = rotation.period_bounds(period, date(2026, 2, 2))

    assert await conveners(
        sessionmaker,
        meeting.id,
        first_day - timedelta(days=1),
        first_day,
        last_day,
        last_day + timedelta(days=1),
    ) == [None, a, a, b]

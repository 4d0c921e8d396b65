"""Co-building agreements through the service: exact commitments, status from the dates, the
overlap rule (also under a race), termination, the quarterly count, and every refusal."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from functools import partial
from typing import Any

import anyio
import pytest
from sqlalchemy import select

from gridweave.db import Sessionmaker, unit_of_work
from gridweave.errors import DomainError, ErrorCode
from gridweave.models import (
    Agreement,
    AgreementStatus,
    AuditEntry,
    Commitment,
    CommitmentUnit,
    RotationPeriod,
)
from gridweave.services import activities, meetings
from gridweave.services import agreements as svc
from gridweave.services.access import Actor
from gridweave.services.agreements import CommitmentSpec, status_on
from tests.factories import coordinator_of, make_area, make_chain, make_org, member_of
from tests.services.helpers import Call, expect_refusal, run

refused = expect_refusal
COORDINATOR: Any = object()


class World:
    def __init__(self, **kw: Any) -> None:
        self.__dict__.update(kw)

    street: Any
    community: Any
    grid: Any
    partner: Any
    other_partner: Any
    coordinator: Actor


async def world(sm: Sessionmaker) -> World:
    _, street, community = await make_chain(sm, "CITY", "STREET", "COMMUNITY")
    grid = await make_area(sm, level="GRID", parent=community)
    return World(
        street=street,
        community=community,
        grid=grid,
        partner=await make_org(sm, area=community, kind="CO_RESIDENT_UNIT", name="区医院"),
        other_partner=await make_org(sm, area=community, kind="CO_RESIDENT_UNIT", name="实验小学"),
        coordinator=await coordinator_of(sm, community),
    )


def sign(w: World, actor: Actor | None = COORDINATOR, **more: Any) -> Call:
    values: dict[str, Any] = {
        "title": "社区与区医院共建协议",
        "community_id": w.community.id,
        "partner_id": w.partner.id,
        "starts_on": date(2026, 1, 1),
        "ends_on": date(2026, 12, 31),
    }
    values.update(more)
    return lambda s: svc.sign_agreement(
        s, actor=w.coordinator if actor is COORDINATOR else actor, **values
    )


def test_status_follows_the_dates() -> None:
    dates = {"starts_on": date(2026, 1, 1), "ends_on": date(2026, 12, 31), "terminated_on": None}
    assert status_on(**dates, on=date(2025, 12, 31)) is AgreementStatus.DRAFT
    assert status_on(**dates, on=date(2026, 1, 1)) is AgreementStatus.ACTIVE
    assert status_on(**dates, on=date(2026, 12, 31)) is AgreementStatus.ACTIVE
    assert status_on(**dates, on=date(2027, 1, 1)) is AgreementStatus.EXPIRED
    dates["terminated_on"] = date(2026, 6, 1)
    assert status_on(**dates, on=date(2026, 3, 1)) is AgreementStatus.TERMINATED


async def test_signing_keeps_exact_commitments_and_the_default_minimum(
    sessionmaker: Sessionmaker,
) -> None:
    w = await world(sessionmaker)
    specs = [
        CommitmentSpec("活动场地", Decimal("120.50"), CommitmentUnit.SQUARE_METERS),
        CommitmentSpec("共建资金", Decimal("0.10"), CommitmentUnit.YUAN),
        CommitmentSpec("义诊", Decimal("12"), CommitmentUnit.ACTIVITIES, "health"),
    ]

    agreement = await run(sessionmaker, sign(w, commitments=specs))

    async with sessionmaker() as s:
        row = await s.get(Agreement, agreement.id)
        commitments = (await s.scalars(select(Commitment).order_by(Commitment.position))).all()
        entry = await s.scalar(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(1))
    assert row is not None
    assert row.min_activities_per_quarter == 1
    assert [(c.description, c.quantity, c.unit) for c in commitments] == [
        ("活动场地", Decimal("120.50"), "SQUARE_METERS"),
        ("共建资金", Decimal("0.10"), "YUAN"),
        ("义诊", Decimal("12.00"), "ACTIVITIES"),
    ]
    assert commitments[2].category_id is not None
    assert entry is not None
    assert entry.action == "signAgreement"
    assert entry.summary["commitments"][1]["quantity"] == "0.10"


async def test_no_two_agreements_in_force_on_one_day(sessionmaker: Sessionmaker) -> None:
    w = await world(sessionmaker)
    await run(sessionmaker, sign(w))

    # overlapping by one day, inside, around: refused
    for starts_on, ends_on in (
        (date(2026, 12, 31), date(2027, 6, 30)),
        (date(2026, 3, 1), date(2026, 4, 1)),
        (date(2025, 1, 1), date(2028, 1, 1)),
    ):
        error = await refused(sessionmaker, sign(w, starts_on=starts_on, ends_on=ends_on))
        assert (error.code, error.field) == (ErrorCode.CONFLICT, ["input", "startsOn"])

    # the day after, another partner, another community: fine
    await run(sessionmaker, sign(w, starts_on=date(2027, 1, 1), ends_on=date(2027, 12, 31)))
    await run(sessionmaker, sign(w, partner_id=w.other_partner.id))
    other = await make_area(sessionmaker, level="COMMUNITY", parent=w.street)
    await run(
        sessionmaker,
        sign(w, community_id=other.id, actor=await coordinator_of(sessionmaker, w.street)),
    )


async def test_termination_frees_the_days_after_it(sessionmaker: Sessionmaker) -> None:
    w = await world(sessionmaker)
    agreement = await run(sessionmaker, sign(w))
    terminate = partial(
        svc.terminate_agreement, actor=w.coordinator, agreement_id=agreement.id, reason="单位搬迁"
    )
    await run(sessionmaker, lambda s: terminate(s, on=date(2026, 7, 1)))

    error = await refused(
        sessionmaker, sign(w, starts_on=date(2026, 6, 30), ends_on=date(2026, 12, 31))
    )
    assert error.code is ErrorCode.CONFLICT
    await run(sessionmaker, sign(w, starts_on=date(2026, 7, 1), ends_on=date(2026, 12, 31)))

    # terminated twice, or once expired: refused
    error = await refused(sessionmaker, lambda s: terminate(s, on=date(2026, 8, 1)))
    assert (error.code, error.field) == (ErrorCode.INVALID_STATE, ["input", "agreementId"])
    old = await run(
        sessionmaker,
        sign(
            w, partner_id=w.other_partner.id, starts_on=date(2020, 1, 1), ends_on=date(2020, 12, 31)
        ),
    )
    error = await refused(
        sessionmaker,
        lambda s: svc.terminate_agreement(s, actor=w.coordinator, agreement_id=old.id, reason="x"),
    )
    assert error.code is ErrorCode.INVALID_STATE


async def test_two_signings_at_once_exactly_one_wins(sessionmaker: Sessionmaker) -> None:
    w = await world(sessionmaker)
    outcomes: list[str] = []
    both_checked = anyio.Event()
    checked = 0
    original = svc._check_no_overlap

    async def check_then_wait(*args: Any) -> None:
        nonlocal checked
        await original(*args)
        checked += 1
        if checked == 2:
            both_checked.set()
        with anyio.move_on_after(5):
            await both_checked.wait()

    async def attempt(starts_on: date) -> None:
        try:
            async with unit_of_work(sessionmaker) as s:
                await sign(w, starts_on=starts_on)(s)
            outcomes.append("signed")
        except DomainError as e:
            outcomes.append(str(e.code))

    # both pass the service's own check before either writes: the constraint decides
    mp = pytest.MonkeyPatch()
    mp.setattr(svc, "_check_no_overlap", check_then_wait)
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(attempt, date(2026, 1, 1))
            tg.start_soon(attempt, date(2026, 2, 1))
    finally:
        mp.undo()

    assert sorted(outcomes) == ["CONFLICT", "signed"]
    async with sessionmaker() as s:
        assert len((await s.scalars(select(Agreement.id))).all()) == 1


async def test_sign_and_terminate_refusals(sessionmaker: Sessionmaker) -> None:
    w = await world(sessionmaker)
    inside = await make_org(sessionmaker, area=w.community, kind="CO_RESIDENT_UNIT")
    meeting = await run(
        sessionmaker,
        lambda s: meetings.create_joint_meeting(
            s,
            actor=w.coordinator,
            name="联席会议",
            area_id=w.community.id,
            rotation_period=RotationPeriod.QUARTER,
            member_ids=[inside.id],
            starts_on=date(2026, 1, 1),
        ),
    )
    other = await make_area(sessionmaker, level="COMMUNITY", parent=w.street)

    def spec(**kw: Any) -> list[CommitmentSpec]:
        values: dict[str, Any] = {
            "description": "场地",
            "quantity": Decimal("1"),
            "unit": CommitmentUnit.SQUARE_METERS,
        }
        values.update(kw)
        return [CommitmentSpec(**values)]

    c0 = ["input", "commitments", "0"]
    cases: list[tuple[Call, ErrorCode, list[str] | None]] = [
        (sign(w, actor=None), ErrorCode.UNAUTHENTICATED, None),
        (sign(w, actor=await member_of(sessionmaker, w.partner)), ErrorCode.FORBIDDEN, None),
        (sign(w, actor=await coordinator_of(sessionmaker, other)), ErrorCode.FORBIDDEN, None),
        (sign(w, community_id=10**9), ErrorCode.NOT_FOUND, ["input", "communityId"]),
        (sign(w, community_id=w.grid.id), ErrorCode.VALIDATION, ["input", "communityId"]),
        (sign(w, partner_id=10**9), ErrorCode.NOT_FOUND, ["input", "partnerId"]),
        (sign(w, title=" "), ErrorCode.VALIDATION, ["input", "title"]),
        (sign(w, ends_on=date(2026, 1, 1)), ErrorCode.VALIDATION, ["input", "endsOn"]),
        (sign(w, ends_on=date(2025, 1, 1)), ErrorCode.VALIDATION, ["input", "endsOn"]),
        (sign(w, starts_on=date(1800, 1, 1)), ErrorCode.VALIDATION, ["input", "startsOn"]),
        (sign(w, ends_on=date(9999, 1, 1)), ErrorCode.VALIDATION, ["input", "endsOn"]),
        (
            sign(w, min_activities_per_quarter=-1),
            ErrorCode.VALIDATION,
            ["input", "minActivitiesPerQuarter"],
        ),
        (
            sign(w, min_activities_per_quarter=1001),
            ErrorCode.VALIDATION,
            ["input", "minActivitiesPerQuarter"],
        ),
        (sign(w, joint_meeting_id=10**9), ErrorCode.NOT_FOUND, ["input", "jointMeetingId"]),
        (sign(w, joint_meeting_id=meeting.id), ErrorCode.VALIDATION, ["input", "jointMeetingId"]),
        (
            sign(w, commitments=spec(quantity=Decimal("1.005"))),
            ErrorCode.VALIDATION,
            [*c0, "quantity"],
        ),
        (
            sign(w, commitments=spec(quantity=Decimal("-1"))),
            ErrorCode.VALIDATION,
            [*c0, "quantity"],
        ),
        (
            sign(w, commitments=spec(quantity=Decimal("NaN"))),
            ErrorCode.VALIDATION,
            [*c0, "quantity"],
        ),
        (
            sign(w, commitments=spec(quantity=Decimal("1e13"))),
            ErrorCode.VALIDATION,
            [*c0, "quantity"],
        ),
        (
            sign(w, commitments=spec(quantity=Decimal("1.5"), unit=CommitmentUnit.PEOPLE)),
            ErrorCode.VALIDATION,
            [*c0, "quantity"],
        ),
        (
            sign(w, commitments=spec(category_code="nope")),
            ErrorCode.VALIDATION,
            [*c0, "categoryCode"],
        ),
        (sign(w, commitments=spec(description="")), ErrorCode.VALIDATION, [*c0, "description"]),
        (sign(w, commitments=spec() * 51), ErrorCode.VALIDATION, ["input", "commitments"]),
    ]
    for call, code, field in cases:
        error = await refused(sessionmaker, call)
        assert (error.code, error.field if field else None) == (code, field), (code, field)

    agreement = await run(sessionmaker, sign(w, joint_meeting_id=None))

    def terminate(actor: Actor | None = w.coordinator, **kw: Any) -> Call:
        values: dict[str, Any] = {"agreement_id": agreement.id, "reason": "合作结束"}
        values.update(kw)
        return lambda s: svc.terminate_agreement(s, actor=actor, **values)

    for call, code, field in [
        (terminate(actor=None), ErrorCode.UNAUTHENTICATED, None),
        (terminate(actor=await member_of(sessionmaker, w.partner)), ErrorCode.FORBIDDEN, None),
        (terminate(agreement_id=10**9), ErrorCode.NOT_FOUND, ["input", "agreementId"]),
        (terminate(reason="  "), ErrorCode.VALIDATION, ["input", "reason"]),
        (terminate(reason="x" * 2001), ErrorCode.VALIDATION, ["input", "reason"]),
    ]:
        error = await refused(sessionmaker, call)
        assert (error.code, error.field if field else None) == (code, field)


async def test_a_meeting_of_the_community_binds_its_members(sessionmaker: Sessionmaker) -> None:
    w = await world(sessionmaker)
    street_coordinator = await coordinator_of(sessionmaker, w.street)
    regional = await run(
        sessionmaker,
        lambda s: meetings.create_joint_meeting(
            s,
            actor=street_coordinator,
            name="区域化党建联席会议",
            area_id=w.street.id,
            rotation_period=RotationPeriod.YEAR,
            member_ids=[w.partner.id],
            starts_on=date(2026, 1, 1),
        ),
    )

    # a street's meeting covers its communities; its member may sign under it
    agreement = await run(sessionmaker, sign(w, joint_meeting_id=regional.id))
    assert agreement.joint_meeting_id == regional.id
    # but not a partner outside the meeting
    error = await refused(
        sessionmaker, sign(w, partner_id=w.other_partner.id, joint_meeting_id=regional.id)
    )
    assert (error.code, error.field) == (ErrorCode.VALIDATION, ["input", "jointMeetingId"])


async def test_the_quarter_count_puts_31_march_and_1_april_apart(
    sessionmaker: Sessionmaker,
) -> None:
    w = await world(sessionmaker)
    agreement = await run(
        sessionmaker, sign(w, starts_on=date(2026, 2, 1), min_activities_per_quarter=2)
    )
    care = await run(
        sessionmaker,
        lambda s: activities.category_id_for_code(s, "elderly_care", field=[]),
    )

    street_coordinator = await coordinator_of(sessionmaker, w.street)

    async def did(on: date, area: Any = None, org: Any = None) -> None:
        await run(
            sessionmaker,
            lambda s: activities.record_activity(
                s,
                actor=street_coordinator,
                organization_id=(org or w.partner).id,
                area_id=(area or w.grid).id,
                category_id=care,
                on=on,
                hours=Decimal("1"),
                beneficiaries=3,
            ),
        )

    await did(date(2026, 1, 31))  # before the agreement started: not counted
    await did(date(2026, 3, 31))
    await did(date(2026, 4, 1))
    await did(date(2026, 4, 2), area=w.community)
    await did(date(2026, 4, 3), org=w.other_partner)  # someone else: not counted
    await did(date(2026, 4, 4), area=w.street)  # above the community: not counted

    async def count(on: date) -> int:
        async with sessionmaker() as s:
            row = await s.get(Agreement, agreement.id)
            return await svc.activities_in_quarter(s, row, on=on)

    assert await count(date(2026, 3, 31)) == 1
    assert await count(date(2026, 1, 1)) == 1
    assert await count(date(2026, 4, 1)) == 2
    assert await count(date(2026, 6, 30)) == 2
    assert await count(date(2025, 12, 31)) == 0

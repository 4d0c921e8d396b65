"""Co-building agreements (共建协议): signing, termination, status and the quarterly minimum."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from asyncpg.exceptions import ExclusionViolationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from gridweave.errors import Conflict, DomainError, ErrorCode, NotFound, ValidationFailed
from gridweave.models import (
    Agreement,
    AgreementStatus,
    AreaLevel,
    Commitment,
    CommitmentUnit,
    JointMeetingMember,
    Organization,
)
from gridweave.services import audit
from gridweave.services.access import Actor, require_coordinator
from gridweave.services.activities import category_id_for_code, count_activities, exact_decimal
from gridweave.services.areas import get_area
from gridweave.services.calendar import sane_date, today
from gridweave.services.meetings import get_meeting
from gridweave.services.rotation import quarter_bounds
from gridweave.services.validation import clean_name, no_control_characters

INPUT = "input"
MAX_COMMITMENTS = 50
MAX_QUANTITY = Decimal("1000000000000")
MAX_MIN_ACTIVITIES = 1000
MAX_REASON_LENGTH = 2_000
COMMUNITY_LEVELS = {AreaLevel.COMMUNITY.value, AreaLevel.STREET.value}
WHOLE_UNITS = {CommitmentUnit.PEOPLE, CommitmentUnit.ACTIVITIES}


@dataclass(frozen=True, slots=True)
class CommitmentSpec:
    description: str
    quantity: Decimal
    unit: CommitmentUnit
    category_code: str | None = None


def status_on(
    *, starts_on: date, ends_on: date, terminated_on: date | None, on: date
) -> AgreementStatus:
    if terminated_on is not None:
        return AgreementStatus.TERMINATED
    if on < starts_on:
        return AgreementStatus.DRAFT
    if on > ends_on:
        return AgreementStatus.EXPIRED
    return AgreementStatus.ACTIVE


def last_day_in_force(*, ends_on: date, terminated_on: date | None) -> date:
    """An agreement is in force through ``ends_on``, or until the day before its termination."""
    if terminated_on is None:
        return ends_on
    return min(ends_on, terminated_on - timedelta(days=1))


def quarter_window(
    *, starts_on: date, ends_on: date, terminated_on: date | None, on: date
) -> tuple[date, date] | None:
    """The days of the quarter containing ``on`` on which the agreement was in force (None when
    there are none): the activities counted against its quarterly minimum."""
    q_start, q_end = quarter_bounds(on)
    lo = max(q_start, starts_on)
    hi = min(q_end, last_day_in_force(ends_on=ends_on, terminated_on=terminated_on))
    return (lo, hi) if lo <= hi else None


async def activities_in_quarter(session: AsyncSession, agreement: Any, *, on: date) -> int:
    """The partner's activities in the community (its subtree) in the quarter containing ``on``,
    on days the agreement was in force."""
    window = quarter_window(
        starts_on=agreement.starts_on,
        ends_on=agreement.ends_on,
        terminated_on=agreement.terminated_on,
        on=on,
    )
    if window is None:
        return 0
    return await count_activities(
        session,
        start=window[0],
        end=window[1],
        area_path=agreement.community_path,
        organization_id=agreement.partner_id,
    )


async def _commitment_rows(
    session: AsyncSession, commitments: Sequence[CommitmentSpec]
) -> list[dict[str, Any]]:
    if len(commitments) > MAX_COMMITMENTS:
        raise ValidationFailed(
            f"An agreement lists at most {MAX_COMMITMENTS} commitments.",
            field=[INPUT, "commitments"],
        )
    rows = []
    for i, c in enumerate(commitments):
        field = [INPUT, "commitments", str(i)]
        category_id = None
        if c.category_code is not None:
            category_id = await category_id_for_code(
                session, c.category_code, field=[*field, "categoryCode"]
            )
        description = clean_name(c.description, field=[*field, "description"], max_length=500)
        quantity = exact_decimal(
            c.quantity,
            field=[*field, "quantity"],
            label="A quantity",
            places=0 if c.unit in WHOLE_UNITS else 2,
            maximum=MAX_QUANTITY,
        )
        rows.append(
            {
                "position": i,
                "category_id": category_id,
                "description": description,
                "quantity": quantity,
                "unit": c.unit.value,
            }
        )
    return rows


async def sign_agreement(
    session: AsyncSession,
    *,
    actor: Actor | None,
    title: str,
    community_id: int,
    partner_id: int,
    starts_on: date,
    ends_on: date,
    joint_meeting_id: int | None = None,
    min_activities_per_quarter: int | None = None,
    commitments: Sequence[CommitmentSpec] = (),
) -> Agreement:
    """A community's coordinators sign for it. One community and partner never hold two
    agreements in force on the same day (checked here, and by the exclusion constraint)."""
    community = await get_area(session, community_id, field=[INPUT, "communityId"])
    actor = require_coordinator(actor, community.path, what="the agreement would be signed")
    if community.level not in COMMUNITY_LEVELS:
        raise ValidationFailed(
            "Agreements are signed by a community (or a street).", field=[INPUT, "communityId"]
        )
    title = clean_name(title, field=[INPUT, "title"])
    partner = await session.get(Organization, partner_id)
    if partner is None:
        raise NotFound("No such organization.", field=[INPUT, "partnerId"])
    sane_date(starts_on, field=[INPUT, "startsOn"])
    sane_date(ends_on, field=[INPUT, "endsOn"])
    if ends_on <= starts_on:
        raise ValidationFailed("An agreement ends after it starts.", field=[INPUT, "endsOn"])
    minimum = 1 if min_activities_per_quarter is None else min_activities_per_quarter
    if not 0 <= minimum <= MAX_MIN_ACTIVITIES:
        raise ValidationFailed(
            f"The minimum lies between 0 and {MAX_MIN_ACTIVITIES} activities a quarter.",
            field=[INPUT, "minActivitiesPerQuarter"],
        )
    if joint_meeting_id is not None:
        await _check_meeting(session, joint_meeting_id, community.path, partner_id, starts_on)
    rows = await _commitment_rows(session, commitments)
    await _check_no_overlap(session, community.id, partner_id, starts_on, ends_on)
    agreement = Agreement(
        title=title,
        community_id=community.id,
        community_path=community.path,
        partner_id=partner_id,
        joint_meeting_id=joint_meeting_id,
        starts_on=starts_on,
        ends_on=ends_on,
        min_activities_per_quarter=minimum,
    )
    session.add(agreement)
    try:
        await session.flush()
    except IntegrityError as e:
        if isinstance(getattr(e.orig, "__cause__", None), ExclusionViolationError):
            raise _overlap() from e
        raise
    session.add_all(Commitment(agreement_id=agreement.id, **r) for r in rows)
    await audit.record(
        session,
        actor,
        "signAgreement",
        f"Agreement:{agreement.id}",
        {
            "title": title,
            "community_id": community.id,
            "partner_id": partner_id,
            "joint_meeting_id": joint_meeting_id,
            "starts_on": starts_on.isoformat(),
            "ends_on": ends_on.isoformat(),
            "min_activities_per_quarter": minimum,
            "commitments": [{**r, "quantity": str(r["quantity"])} for r in rows],
        },
        area_path=community.path,
    )
    return agreement


def _overlap() -> Conflict:
    return Conflict(
        "This community already has an agreement with this partner for some of these days.",
        field=[INPUT, "startsOn"],
    )


async def _check_meeting(
    session: AsyncSession, meeting_id: int, community_path: str, partner_id: int, on: date
) -> None:
    field = [INPUT, "jointMeetingId"]
    meeting = await get_meeting(session, meeting_id, field=field)
    if not community_path.startswith(meeting.area_path):
        raise ValidationFailed("That joint meeting does not cover this community.", field=field)
    member = await session.scalar(
        select(JointMeetingMember.id).where(
            JointMeetingMember.meeting_id == meeting_id,
            JointMeetingMember.organization_id == partner_id,
            JointMeetingMember.left_on.is_(None),
        )
    )
    if member is None:
        raise ValidationFailed("The partner is not a member of that joint meeting.", field=field)


async def _check_no_overlap(
    session: AsyncSession, community_id: int, partner_id: int, starts_on: date, ends_on: date
) -> None:
    rows = await session.execute(
        select(Agreement.starts_on, Agreement.ends_on, Agreement.terminated_on).where(
            Agreement.community_id == community_id, Agreement.partner_id == partner_id
        )
    )
    for other_start, other_end, terminated_on in rows:
        last = last_day_in_force(ends_on=other_end, terminated_on=terminated_on)
        if other_start <= last and other_start <= ends_on and starts_on <= last:
            raise _overlap()


async def get_agreement(
    session: AsyncSession, agreement_id: int, *, field: Sequence[str], lock: bool = False
) -> Agreement:
    q = select(Agreement).where(Agreement.id == agreement_id)
    if lock:
        q = q.with_for_update()
    agreement = await session.scalar(q)
    if agreement is None:
        raise NotFound("No such agreement.", field=field)
    return agreement


async def terminate_agreement(
    session: AsyncSession,
    *,
    actor: Actor | None,
    agreement_id: int,
    reason: str,
    on: date | None = None,
) -> Agreement:
    """Ends the agreement from ``on`` (default today): it was in force until the day before."""
    agreement = await get_agreement(session, agreement_id, field=[INPUT, "agreementId"], lock=True)
    actor = require_coordinator(actor, agreement.community_path, what="the agreement was signed")
    day = today() if on is None else on
    status = status_on(
        starts_on=agreement.starts_on,
        ends_on=agreement.ends_on,
        terminated_on=agreement.terminated_on,
        on=day,
    )
    if status in (AgreementStatus.TERMINATED, AgreementStatus.EXPIRED):
        raise DomainError(
            f"This agreement is {status.value.lower()} already.",
            field=[INPUT, "agreementId"],
            code=ErrorCode.INVALID_STATE,
        )
    text = no_control_characters(reason, field=[INPUT, "reason"]).strip()
    if not text:
        raise ValidationFailed("Give a reason for ending the agreement.", field=[INPUT, "reason"])
    if len(text) > MAX_REASON_LENGTH:
        raise ValidationFailed(
            f"The reason is at most {MAX_REASON_LENGTH} characters.", field=[INPUT, "reason"]
        )
    agreement.terminated_on = day
    agreement.termination_reason = text
    await audit.record(
        session,
        actor,
        "terminateAgreement",
        f"Agreement:{agreement.id}",
        {"terminated_on": day.isoformat(), "reason": text},
        area_path=agreement.community_path,
    )
    return agreement

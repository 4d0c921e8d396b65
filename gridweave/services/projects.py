"""Service projects and claiming (项目认领): post, cancel, claim, withdraw, report, verify, and
the reads behind ``serviceProjects``, ``ServiceProject.claims`` and ``node()``.

Every write on a project's places locks the project row first (``FOR UPDATE``), so claims and
withdrawals on one project queue and each sees the places the last one left; the database backs
each rule on its own (the counting trigger, ``claimed_slots <= slots``, one live claim per
claimant), and a constraint that catches what the checks missed is answered with the same code
the check would have given."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, NoReturn
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Row,
    Select,
    and_,
    exists,
    false,
    func,
    insert,
    literal_column,
    or_,
    select,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import Label

from gridweave.errors import DomainError, ErrorCode, Forbidden, NotFound, ValidationFailed
from gridweave.models import (
    Area,
    Claim,
    ClaimStatus,
    Organization,
    Role,
    ServiceCategory,
    ServiceProject,
    ServiceProjectKind,
    ServiceProjectStatus,
)
from gridweave.models.activities import ActivitySource
from gridweave.models.projects import MAX_SLOTS, REGION_TIMEZONE, status_sql
from gridweave.services import activities, audit
from gridweave.services.access import (
    Actor,
    AreaScope,
    area_scope,
    require_coordinator,
    require_role,
)
from gridweave.services.subtree import in_subtree
from gridweave.services.validation import clean_name, no_control_characters

INPUT = "input"
MAX_DESCRIPTION = 4_000
MAX_TEXT = 2_000
MAX_HOURS = Decimal("10000")
MAX_BENEFICIARIES = 1_000_000
MAX_DEADLINE_YEARS = 5
_TZ = ZoneInfo(REGION_TIMEZONE)

#: Which event each ledger action is, for subscribers.
EVENT_ACTIONS = {
    "postServiceProject": "POSTED",
    "claimServiceProject": "CLAIMED",
    "withdrawClaim": "WITHDRAWN",
    "reportCompletion": "COMPLETED",
    "verifyClaim": "VERIFIED",
    "cancelServiceProject": "CANCELLED",
}

STATUS: Label[str] = literal_column(status_sql()).label("status")
PROJECT_COLUMNS = (
    ServiceProject.id,
    ServiceProject.title,
    ServiceProject.description,
    ServiceProject.kind,
    ServiceProject.category_id,
    ServiceProject.area_id,
    ServiceProject.area_path,
    ServiceProject.posted_by_id,
    ServiceProject.slots,
    ServiceProject.claimed_slots,
    ServiceProject.deadline,
    ServiceProject.created_at,
    STATUS,
)
CLAIM_COLUMNS = (
    Claim.id,
    Claim.project_id,
    Claim.claimant_id,
    Claim.slots,
    Claim.status,
    Claim.claimed_at,
    Claim.report_summary,
    Claim.report_hours,
    Claim.report_beneficiaries,
    Claim.completed_on,
    Claim.rating,
    ServiceProject.area_path,
)
_TAKES_NO_CLAIMS = {
    ServiceProjectStatus.CANCELLED,
    ServiceProjectStatus.EXPIRED,
    ServiceProjectStatus.COMPLETED,
    ServiceProjectStatus.VERIFIED,
}
#: Constraints that catch what a check missed (a concurrent write): the answer the check gives.
_CONSTRAINT_REFUSALS = {
    "uq_claims_one_live_per_claimant": (
        ErrorCode.ALREADY_CLAIMED,
        "This organization already holds a claim on this project.",
        "claimantId",
    ),
    "ck_service_projects_claimed_within_slots": (
        ErrorCode.NO_SLOTS_LEFT,
        "No places are left on this project.",
        "projectId",
    ),
    "ck_claims_project_takes_claims": (
        ErrorCode.INVALID_STATE,
        "This project takes no more claims (cancelled or past its deadline).",
        "projectId",
    ),
    "ck_claims_valid_transition": (
        ErrorCode.INVALID_STATE,
        "This claim has just changed: reload it and try again.",
        "claimId",
    ),
}


def region_today() -> date:
    return datetime.now(_TZ).date()


def require_claimer(actor: Actor | None) -> Actor:
    """Claims, withdrawals and reports are made by organization members or coordinators."""
    return require_role(actor, Role.ORGANIZATION_MEMBER, Role.COORDINATOR)


def require_community(actor: Actor | None) -> Actor:
    """Posting, cancelling and verifying are the community's (its coordinators')."""
    return require_role(actor, Role.COORDINATOR)


def require_acts_for(actor: Actor, org_path: str, org_id: int, *, field: Sequence[str]) -> None:
    """Only the claimant's members, or coordinators of its home area, act for it."""
    if not (actor.member_of(org_id) or actor.coordinates(org_path)):
        raise Forbidden("You may act only for your own organization.", field=field)


# ---- reads -------------------------------------------------------------------------------------


def scope_condition(scope: AreaScope, column: Any) -> ColumnElement[bool]:
    """``column`` (an area path) lies where ``scope`` reads."""
    if scope.prefixes is None:
        return and_(True)
    terms: list[ColumnElement[bool]] = [in_subtree(column, p) for p in scope.prefixes]
    if scope.exact:
        terms.append(column.in_(sorted(scope.exact)))
    return or_(*terms) if terms else false()


@dataclass(frozen=True, slots=True)
class ProjectFilter:
    scope: AreaScope
    area_path: str | None = None
    status: ServiceProjectStatus | None = None
    category_id: int | None = None

    def apply(self, q: Select[Any]) -> Select[Any]:
        if not self.scope.everywhere:
            q = q.where(scope_condition(self.scope, ServiceProject.area_path))
        if self.area_path is not None:
            q = q.where(in_subtree(ServiceProject.area_path, self.area_path))
        if self.status is not None:
            q = q.where(literal_column(status_sql()) == self.status.value)
        if self.category_id is not None:
            q = q.where(ServiceProject.category_id == self.category_id)
        return q


async def category_id(session: AsyncSession, code: str, *, field: Sequence[str]) -> int:
    found = await session.scalar(select(ServiceCategory.id).where(ServiceCategory.code == code))
    if found is None:
        raise ValidationFailed(f"Unknown service category '{code[:64]}'.", field=field)
    return int(found)


async def list_projects(
    session: AsyncSession, flt: ProjectFilter, *, before_id: int | None, limit: int
) -> Sequence[Row[Any]]:
    """Newest first, keyset-paged on descending ids."""
    base: Any = select(*PROJECT_COLUMNS)
    q = flt.apply(base)
    if before_id is not None:
        q = q.where(ServiceProject.id < before_id)
    rows: Sequence[Row[Any]] = (
        await session.execute(q.order_by(ServiceProject.id.desc()).limit(limit))
    ).all()
    return rows


async def count_projects(session: AsyncSession, flt: ProjectFilter) -> int:
    q = flt.apply(select(func.count()).select_from(ServiceProject))
    return int(await session.scalar(q) or 0)


async def project_rows(session: AsyncSession, ids: Sequence[int]) -> dict[int, Any]:
    rows = await session.execute(select(*PROJECT_COLUMNS).where(ServiceProject.id.in_(ids)))
    return {r.id: r for r in rows}


async def claim_rows(session: AsyncSession, ids: Sequence[int]) -> dict[int, Any]:
    q = select(*CLAIM_COLUMNS).join(ServiceProject, ServiceProject.id == Claim.project_id)
    return {r.id: r for r in await session.execute(q.where(Claim.id.in_(ids)))}


async def claims_of_projects(
    session: AsyncSession, project_ids: Sequence[int]
) -> dict[int, list[Any]]:
    """Every claim of each project (withdrawn ones too), oldest first."""
    q = (
        select(*CLAIM_COLUMNS)
        .join(ServiceProject, ServiceProject.id == Claim.project_id)
        .where(Claim.project_id.in_(project_ids))
        .order_by(Claim.project_id, Claim.id)
    )
    found: dict[int, list[Any]] = {pk: [] for pk in project_ids}
    for r in await session.execute(q):
        found[r.project_id].append(r)
    return found


# ---- writes ------------------------------------------------------------------------------------


def _refuse_constraint(e: IntegrityError) -> NoReturn:
    """A constraint caught a lost race: answer as the check would have."""
    name = getattr(getattr(e.orig, "__cause__", None), "constraint_name", None)
    refusal = _CONSTRAINT_REFUSALS.get(str(name))
    if refusal is None:
        raise e
    code, message, field = refusal
    raise DomainError(message, code=code, field=[INPUT, field]) from e


async def _flush(session: AsyncSession) -> None:
    """Flush, answering a constraint that caught a lost race as the check would have."""
    try:
        await session.flush()
    except IntegrityError as e:
        _refuse_constraint(e)


def _refuse_state(status: str, *, doing: str, field: str) -> NoReturn:
    raise DomainError(
        f"This project is {status.lower().replace('_', ' ')}: it {doing}.",
        code=ErrorCode.INVALID_STATE,
        field=[INPUT, field],
    )


def _clean_text(value: str, *, field: list[str], max_length: int, label: str) -> str:
    cleaned = no_control_characters(value, field=field).strip()
    if not cleaned:
        raise ValidationFailed(f"{label} cannot be empty.", field=field)
    if len(cleaned) > max_length:
        raise ValidationFailed(f"{label} is longer than {max_length} characters.", field=field)
    return cleaned


async def _locked_project(session: AsyncSession, project_id: int, *, field: Sequence[str]) -> Any:
    """The project row, locked until the transaction ends, with its status."""
    row = (
        await session.execute(
            select(*PROJECT_COLUMNS, ServiceProject.reported_claims)
            .where(ServiceProject.id == project_id)
            .with_for_update(of=ServiceProject)
        )
    ).first()
    if row is None:
        raise NotFound("No such service project.", field=field)
    return row


async def post_project(
    session: AsyncSession,
    *,
    actor: Actor | None,
    title: str,
    description: str,
    kind: ServiceProjectKind,
    category_code: str,
    area_id: int,
    posted_by_id: int,
    slots: int | None = None,
    deadline: date | None = None,
) -> int:
    """A community posts a need; returns the new project's id."""
    require_community(actor)
    area = await session.get(Area, area_id)
    if area is None:
        raise NotFound("No such area.", field=[INPUT, "areaId"])
    actor = require_coordinator(actor, area.path, what="the project would be posted")
    poster = await session.get(Organization, posted_by_id)
    if poster is None:
        raise NotFound("No such organization.", field=[INPUT, "postedById"])
    if not (area.path.startswith(poster.area_path) or actor.coordinates(poster.area_path)):
        raise Forbidden(
            "The posting organization must be based in this area, above it, or in your areas.",
            field=[INPUT, "postedById"],
        )
    title = clean_name(title, field=[INPUT, "title"])
    description = _clean_text(
        description,
        field=[INPUT, "description"],
        max_length=MAX_DESCRIPTION,
        label="The description",
    )
    places = 1 if slots is None else slots
    if not 1 <= places <= MAX_SLOTS:
        raise ValidationFailed(
            f"A project has between 1 and {MAX_SLOTS:,} places.", field=[INPUT, "slots"]
        )
    today = region_today()
    if deadline is not None and not today <= deadline <= today + timedelta(
        days=366 * MAX_DEADLINE_YEARS
    ):
        raise ValidationFailed(
            f"The deadline must be between today and {MAX_DEADLINE_YEARS} years from now.",
            field=[INPUT, "deadline"],
        )
    category = await category_id(
        session,
        no_control_characters(category_code, field=[INPUT, "categoryCode"]),
        field=[INPUT, "categoryCode"],
    )
    project = ServiceProject(
        title=title,
        description=description,
        kind=kind.value,
        category_id=category,
        area_id=area.id,
        area_path=area.path,
        posted_by_id=poster.id,
        slots=places,
        deadline=deadline,
    )
    session.add(project)
    await _flush(session)
    await audit.record(
        session,
        actor,
        "postServiceProject",
        f"ServiceProject:{project.id}",
        {
            "title": title,
            "kind": kind.value,
            "category": category_code,
            "area_id": area.id,
            "posted_by_id": poster.id,
            "slots": places,
            "deadline": deadline.isoformat() if deadline else None,
        },
        area_path=area.path,
    )
    return project.id


async def cancel_project(
    session: AsyncSession, *, actor: Actor | None, project_id: int, reason: str
) -> int:
    require_community(actor)
    project = await _locked_project(session, project_id, field=[INPUT, "projectId"])
    actor = require_coordinator(actor, project.area_path, what="this project was posted")
    reason = _clean_text(reason, field=[INPUT, "reason"], max_length=MAX_TEXT, label="The reason")
    status = ServiceProjectStatus(project.status)
    if status in {
        ServiceProjectStatus.CANCELLED,
        ServiceProjectStatus.COMPLETED,
        ServiceProjectStatus.VERIFIED,
    }:
        _refuse_state(status, doing="cannot be cancelled", field="projectId")
    row = await session.get(ServiceProject, project_id)
    assert row is not None
    row.cancelled_at = datetime.now(UTC)
    row.cancel_reason = reason
    await audit.record(
        session,
        actor,
        "cancelServiceProject",
        f"ServiceProject:{project_id}",
        {"reason": reason, "status_before": status.value},
        area_path=project.area_path,
    )
    return project_id


async def claim(
    session: AsyncSession,
    *,
    actor: Actor | None,
    project_id: int,
    claimant_id: int,
    slots: int | None = None,
) -> int:
    """``claimant`` takes ``slots`` places (default 1) on the project; returns the claim's id.

    Everything is checked on a plain read first; then one INSERT takes the places: the counting
    trigger locks the project row, and the check ``claimed_slots <= slots`` refuses a place that
    a concurrent claim took in between (answered NO_SLOTS_LEFT, like the check before it). So the
    project row stays locked only for that insert, the ledger entry and the commit: claims on one
    project queue for three round trips, not for the whole request."""
    actor = require_claimer(actor)
    places = 1 if slots is None else slots
    if not 1 <= places <= MAX_SLOTS:
        raise ValidationFailed(
            f"A claim takes between 1 and {MAX_SLOTS:,} places.", field=[INPUT, "slots"]
        )
    claimant = await session.get(Organization, claimant_id)
    if claimant is None:
        raise NotFound("No such organization.", field=[INPUT, "claimantId"])
    require_acts_for(actor, claimant.area_path, claimant.id, field=[INPUT, "claimantId"])
    scope = await area_scope(session, actor)
    held = exists().where(
        Claim.project_id == ServiceProject.id,
        Claim.claimant_id == claimant_id,
        Claim.status != ClaimStatus.WITHDRAWN.value,
    )
    row = (
        await session.execute(
            select(*PROJECT_COLUMNS, held.label("held")).where(ServiceProject.id == project_id)
        )
    ).first()
    if row is None or not scope.covers(row.area_path):
        raise NotFound("No such service project.", field=[INPUT, "projectId"])
    status = ServiceProjectStatus(row.status)
    if status in _TAKES_NO_CLAIMS:
        _refuse_state(status, doing="takes no claims", field="projectId")
    if row.held:
        raise DomainError(
            "This organization already holds a claim on this project.",
            code=ErrorCode.ALREADY_CLAIMED,
            field=[INPUT, "claimantId"],
        )
    if row.claimed_slots + places > row.slots:
        left = row.slots - row.claimed_slots
        raise DomainError(
            "No places are left on this project."
            if left == 0
            else f"Only {left} place(s) are left on this project.",
            code=ErrorCode.NO_SLOTS_LEFT,
            field=[INPUT, "slots" if left else "projectId"],
        )
    try:
        claim_id = await session.scalar(
            insert(Claim)
            .values(project_id=project_id, claimant_id=claimant_id, slots=places)
            .returning(Claim.id)
        )
    except IntegrityError as e:
        _refuse_constraint(e)
    assert claim_id is not None
    await audit.record(
        session,
        actor,
        "claimServiceProject",
        f"Claim:{claim_id}",
        {"project_id": project_id, "claimant_id": claimant_id, "slots": places},
        area_path=row.area_path,
    )
    return int(claim_id)


async def _claim_for_change(
    session: AsyncSession, actor: Actor, claim_id: int
) -> tuple[Claim, Row[Any]]:
    """The claim and its project, both locked (project first, the order claims take), or
    NOT_FOUND when the actor may not read it."""
    project_id = await session.scalar(select(Claim.project_id).where(Claim.id == claim_id))
    if project_id is None:
        raise NotFound("No such claim.", field=[INPUT, "claimId"])
    project = await _locked_project(session, project_id, field=[INPUT, "claimId"])
    scope = await area_scope(session, actor)
    if not scope.covers(project.area_path):
        raise NotFound("No such claim.", field=[INPUT, "claimId"])
    found = (
        await session.execute(select(Claim).where(Claim.id == claim_id).with_for_update())
    ).scalar_one()
    return found, project


def _refuse_claim_state(found: Claim, *, doing: str) -> NoReturn:
    raise DomainError(
        f"This claim is {found.status.lower()}: it {doing}.",
        code=ErrorCode.INVALID_STATE,
        field=[INPUT, "claimId"],
    )


async def withdraw(session: AsyncSession, *, actor: Actor | None, claim_id: int) -> int:
    """The claimant gives its places back; returns the claim's id."""
    actor = require_claimer(actor)
    found, project = await _claim_for_change(session, actor, claim_id)
    claimant = await session.get(Organization, found.claimant_id)
    assert claimant is not None
    require_acts_for(actor, claimant.area_path, claimant.id, field=[INPUT, "claimId"])
    if found.status != ClaimStatus.ACTIVE.value:
        _refuse_claim_state(found, doing="cannot be withdrawn")
    found.status = ClaimStatus.WITHDRAWN.value
    found.withdrawn_at = datetime.now(UTC)
    await _flush(session)
    await audit.record(
        session,
        actor,
        "withdrawClaim",
        f"Claim:{claim_id}",
        {"project_id": found.project_id, "claimant_id": found.claimant_id, "slots": found.slots},
        area_path=project.area_path,
    )
    return claim_id


async def report_completion(
    session: AsyncSession,
    *,
    actor: Actor | None,
    claim_id: int,
    summary: str,
    hours: Decimal,
    beneficiaries: int,
    completed_on: date,
) -> int:
    """The claimant reports delivery; the report becomes a service activity in this same
    transaction. Returns the claim's id."""
    actor = require_claimer(actor)
    summary = _clean_text(
        summary, field=[INPUT, "summary"], max_length=MAX_TEXT, label="The summary"
    )
    hours = activities.exact_decimal(
        hours, field=[INPUT, "hours"], label="Hours", places=2, maximum=MAX_HOURS
    )
    if not 0 <= beneficiaries <= MAX_BENEFICIARIES:
        raise ValidationFailed(
            f"Beneficiaries must be between 0 and {MAX_BENEFICIARIES:,}.",
            field=[INPUT, "beneficiaries"],
        )
    found, project = await _claim_for_change(session, actor, claim_id)
    claimant = await session.get(Organization, found.claimant_id)
    assert claimant is not None
    require_acts_for(actor, claimant.area_path, claimant.id, field=[INPUT, "claimId"])
    if project.status == ServiceProjectStatus.CANCELLED.value:
        _refuse_state(project.status, doing="takes no reports", field="claimId")
    if found.status != ClaimStatus.ACTIVE.value:
        _refuse_claim_state(found, doing="cannot be reported again")
    claimed_on = found.claimed_at.astimezone(_TZ).date()
    if not claimed_on <= completed_on <= region_today():
        raise ValidationFailed(
            "The completion date must lie between the claim's date and today.",
            field=[INPUT, "completedOn"],
        )
    now = datetime.now(UTC)
    found.status = ClaimStatus.COMPLETED.value
    found.report_summary = summary
    found.report_hours = hours
    found.report_beneficiaries = beneficiaries
    found.completed_on = completed_on
    found.reported_at = now
    await _flush(session)
    await activities.record_activity(
        session,
        actor=actor,
        organization_id=found.claimant_id,
        area_id=project.area_id,
        category_id=project.category_id,
        on=completed_on,
        hours=hours,
        beneficiaries=beneficiaries,
        source=ActivitySource.CLAIM,
        source_id=claim_id,
    )
    await audit.record(
        session,
        actor,
        "reportCompletion",
        f"Claim:{claim_id}",
        {
            "project_id": found.project_id,
            "hours": str(hours),
            "beneficiaries": beneficiaries,
            "completed_on": completed_on.isoformat(),
        },
        area_path=project.area_path,
    )
    return claim_id


async def verify(session: AsyncSession, *, actor: Actor | None, claim_id: int, rating: int) -> int:
    """The posting community confirms a reported claim and rates it 1-5."""
    actor = require_community(actor)
    if not 1 <= rating <= 5:
        raise ValidationFailed("A rating is from 1 to 5.", field=[INPUT, "rating"])
    found, project = await _claim_for_change(session, actor, claim_id)
    require_coordinator(actor, project.area_path, what="this project was posted")
    if found.status != ClaimStatus.COMPLETED.value:
        _refuse_claim_state(found, doing="has no report to verify")
    found.status = ClaimStatus.VERIFIED.value
    found.rating = rating
    found.verified_at = datetime.now(UTC)
    await _flush(session)
    await audit.record(
        session,
        actor,
        "verifyClaim",
        f"Claim:{claim_id}",
        {"project_id": found.project_id, "rating": rating},
        area_path=project.area_path,
    )
    return claim_id

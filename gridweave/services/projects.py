"""Service projects (项目认领): posting and cancelling, the reads behind ``serviceProjects``,
``ServiceProject.claims`` and ``node()``, and what the writes on claims share
(:mod:`gridweave.services.claims`: claim, withdraw, report, verify).

Every write on a project's places takes the project row's lock, so claims and withdrawals on one
project queue and each sees the places the last one left; the database backs each rule on its own
(the counting trigger, ``claimed_slots <= slots``, one live claim per claimant), and a constraint
that catches what the checks missed is answered with the same code the check would have given."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, NoReturn
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Row,
    Select,
    and_,
    false,
    func,
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
    Organization,
    Role,
    ServiceCategory,
    ServiceProject,
    ServiceProjectKind,
    ServiceProjectStatus,
)
from gridweave.models.projects import MAX_SLOTS, REGION_TIMEZONE, status_sql
from gridweave.services import audit
from gridweave.services.access import (
    Actor,
    AreaScope,
    require_coordinator,
    require_role,
)
from gridweave.services.subtree import in_subtree
from gridweave.services.validation import clean_name, no_control_characters

INPUT = "input"
MAX_DESCRIPTION = 4_000
MAX_TEXT = 2_000
MAX_DEADLINE_YEARS = 5
REGION_TZ = ZoneInfo(REGION_TIMEZONE)

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
    return datetime.now(REGION_TZ).date()


def require_community(actor: Actor | None) -> Actor:
    """Posting, cancelling and verifying are the community's (its coordinators')."""
    return require_role(actor, Role.COORDINATOR)


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


def refuse_constraint(e: IntegrityError) -> NoReturn:
    """A constraint caught a lost race: answer as the check would have."""
    name = getattr(getattr(e.orig, "__cause__", None), "constraint_name", None)
    refusal = _CONSTRAINT_REFUSALS.get(str(name))
    if refusal is None:
        raise e
    code, message, field = refusal
    raise DomainError(message, code=code, field=[INPUT, field]) from e


async def flush_refusing(session: AsyncSession) -> None:
    """Flush, answering a constraint that caught a lost race as the check would have."""
    try:
        await session.flush()
    except IntegrityError as e:
        refuse_constraint(e)


def refuse_state(status: str, *, doing: str, field: str) -> NoReturn:
    raise DomainError(
        f"This project is {status.lower().replace('_', ' ')}: it {doing}.",
        code=ErrorCode.INVALID_STATE,
        field=[INPUT, field],
    )


def clean_text(value: str, *, field: list[str], max_length: int, label: str) -> str:
    cleaned = no_control_characters(value, field=field).strip()
    if not cleaned:
        raise ValidationFailed(f"{label} cannot be empty.", field=field)
    if len(cleaned) > max_length:
        raise ValidationFailed(f"{label} is longer than {max_length} characters.", field=field)
    return cleaned


async def locked_project(session: AsyncSession, project_id: int, *, field: Sequence[str]) -> Any:
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
    description = clean_text(
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
    await flush_refusing(session)
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
    project = await locked_project(session, project_id, field=[INPUT, "projectId"])
    actor = require_coordinator(actor, project.area_path, what="this project was posted")
    reason = clean_text(reason, field=[INPUT, "reason"], max_length=MAX_TEXT, label="The reason")
    status = ServiceProjectStatus(project.status)
    if status in {
        ServiceProjectStatus.CANCELLED,
        ServiceProjectStatus.COMPLETED,
        ServiceProjectStatus.VERIFIED,
    }:
        refuse_state(status, doing="cannot be cancelled", field="projectId")
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

"""Claims on service projects (认领): claim, withdraw, report completion, verify.

A claim is checked on one plain read (the claimant and the project, with whether the claimant
already holds a live claim), then one statement locks the project row, inserts the claim and
appends its ledger entry: the counting trigger and the check ``claimed_slots <= slots`` refuse a
place that a concurrent claim took in between (answered NO_SLOTS_LEFT, like the check before it).
That statement is the claim's only write, so it runs as its own transaction (the resolver's
``one_write``; :func:`claim` works inside a wider transaction too): the project row stays locked
while PostgreSQL runs it and commits, and the claims queued on a popular project wait for that
alone, not for a round trip to the server process and back. Withdrawals,
reports and verifications lock the project row first (``FOR UPDATE``), then the claim."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, NoReturn

from sqlalchemy import (
    BigInteger,
    Row,
    Select,
    bindparam,
    exists,
    literal,
    literal_column,
    select,
    text,
    true,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from gridweave.errors import DomainError, ErrorCode, Forbidden, NotFound, ValidationFailed
from gridweave.models import (
    Claim,
    ClaimStatus,
    Organization,
    Role,
    ServiceProject,
    ServiceProjectStatus,
)
from gridweave.models.activities import ActivitySource
from gridweave.models.projects import MAX_SLOTS
from gridweave.services import activities, audit
from gridweave.services.access import Actor, area_scope, require_coordinator, require_role
from gridweave.services.projects import (
    CLAIM_COLUMNS,
    INPUT,
    MAX_TEXT,
    PROJECT_COLUMNS,
    REGION_TZ,
    clean_text,
    flush_refusing,
    locked_project,
    refuse_constraint,
    refuse_state,
    region_today,
    require_community,
)

MAX_HOURS = Decimal("10000")
MAX_BENEFICIARIES = 1_000_000
_TAKES_NO_CLAIMS = {
    ServiceProjectStatus.CANCELLED,
    ServiceProjectStatus.EXPIRED,
    ServiceProjectStatus.COMPLETED,
    ServiceProjectStatus.VERIFIED,
}


def require_claimer(actor: Actor | None) -> Actor:
    """Claims, withdrawals and reports are made by organization members or coordinators."""
    return require_role(actor, Role.ORGANIZATION_MEMBER, Role.COORDINATOR)


def require_acts_for(actor: Actor, org_path: str, org_id: int, *, field: Sequence[str]) -> None:
    """Only the claimant's members, or coordinators of its home area, act for it."""
    if not (actor.member_of(org_id) or actor.coordinates(org_path)):
        raise Forbidden("You may act only for your own organization.", field=field)


def _claim_facts() -> Select[Any]:
    """One row, whatever exists: the claimant's home area (null: no such organization) and the
    project with ``held`` (the claimant already holds a live claim on it); the project's columns
    are null when there is no such project. Built once: these statements are made per claim."""
    claimant_id = bindparam("claimant_id", type_=BigInteger)
    held = exists().where(
        Claim.project_id == ServiceProject.id,
        Claim.claimant_id == claimant_id,
        Claim.status != ClaimStatus.WITHDRAWN.value,
    )
    project = (
        select(*PROJECT_COLUMNS, held.label("held"))
        .where(ServiceProject.id == bindparam("project_id", type_=BigInteger))
        .subquery("p")
    )
    claimant = select(Organization.area_path).where(Organization.id == claimant_id)
    one = select(literal(1).label("one")).subquery("one")
    return select(
        claimant.scalar_subquery().label("claimant_path"),
        literal_column("nextval('claims_id_seq')").label("new_id"),
        *project.c,
    ).select_from(one.outerjoin(project, true()))


_CLAIM_FACTS = _claim_facts()
_CLAIM_ENTITY = "'Claim:' || claim.id"
_CLAIMED = ", ".join(c.name for c in CLAIM_COLUMNS if c.table is Claim.__table__)
#: The claim and its ledger entry, locks in the order every write on a project takes them: the
#: project row first (the lock the counting trigger's UPDATE needs, taken before the insert),
#: then the ledger's (``audit_append`` is called on the new row: LATERAL). The trigger and the
#: constraints refuse what a concurrent claim took since the read. The row is the new claim as
#: ``claim_rows`` reads it (the area path given, not looked up), with the ledger's columns.
_WRITE_CLAIM = text(
    "WITH project AS (SELECT id FROM service_projects WHERE id = :project_id FOR NO KEY UPDATE),"
    " claim AS (INSERT INTO claims (id, project_id, claimant_id, slots)"
    " SELECT CAST(:claim_id AS bigint), id, CAST(:claimant_id AS bigint), CAST(:slots AS integer)"
    f" FROM project RETURNING {_CLAIMED})"
    f" SELECT claim.*, CAST(:area_path AS text) AS area_path,"
    f" {audit.PendingEntry.COLUMNS.format(alias='entry')} FROM claim,"
    f" LATERAL {audit.PendingEntry.CALL.format(entity=_CLAIM_ENTITY)} AS entry"
).bindparams(*audit.PendingEntry.BINDS)


async def claim(
    session: AsyncSession,
    *,
    actor: Actor | None,
    project_id: int,
    claimant_id: int,
    slots: int | None = None,
) -> Row[Any]:
    """``claimant`` takes ``slots`` places (default 1) on the project; returns the new claim as
    :func:`~gridweave.services.projects.claim_rows` reads it."""
    actor = require_claimer(actor)
    places = 1 if slots is None else slots
    if not 1 <= places <= MAX_SLOTS:
        raise ValidationFailed(
            f"A claim takes between 1 and {MAX_SLOTS:,} places.", field=[INPUT, "slots"]
        )
    row = (
        await session.execute(_CLAIM_FACTS, {"project_id": project_id, "claimant_id": claimant_id})
    ).one()
    if row.claimant_path is None:
        raise NotFound("No such organization.", field=[INPUT, "claimantId"])
    require_acts_for(actor, row.claimant_path, claimant_id, field=[INPUT, "claimantId"])
    scope = await area_scope(session, actor)
    if row.id is None or not scope.covers(row.area_path):
        raise NotFound("No such service project.", field=[INPUT, "projectId"])
    status = ServiceProjectStatus(row.status)
    if status in _TAKES_NO_CLAIMS:
        refuse_state(status, doing="takes no claims", field="projectId")
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
    entry = audit.pending_entry(
        actor=actor,
        action="claimServiceProject",
        entity_id=f"Claim:{row.new_id}",
        summary={"project_id": project_id, "claimant_id": claimant_id, "slots": places},
        area_path=row.area_path,
    )
    params = {
        "project_id": project_id,
        "claim_id": row.new_id,
        "claimant_id": claimant_id,
        "slots": places,
        "area_path": row.area_path,
    }
    try:
        new = (await session.execute(_WRITE_CLAIM, params | entry.params)).one()
    except IntegrityError as e:
        refuse_constraint(e)
    entry.appended(new)
    return new


async def _claim_for_change(
    session: AsyncSession, actor: Actor, claim_id: int
) -> tuple[Claim, Row[Any]]:
    """The claim and its project, both locked (project first, the order claims take), or
    NOT_FOUND when the actor may not read it."""
    project_id = await session.scalar(select(Claim.project_id).where(Claim.id == claim_id))
    if project_id is None:
        raise NotFound("No such claim.", field=[INPUT, "claimId"])
    project = await locked_project(session, project_id, field=[INPUT, "claimId"])
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
    await flush_refusing(session)
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
    summary = clean_text(
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
        refuse_state(project.status, doing="takes no reports", field="claimId")
    if found.status != ClaimStatus.ACTIVE.value:
        _refuse_claim_state(found, doing="cannot be reported again")
    claimed_on = found.claimed_at.astimezone(REGION_TZ).date()
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
    await flush_refusing(session)
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
    await flush_refusing(session)
    await audit.record(
        session,
        actor,
        "verifyClaim",
        f"Claim:{claim_id}",
        {"project_id": found.project_id, "rating": rating},
        area_path=project.area_path,
    )
    return claim_id

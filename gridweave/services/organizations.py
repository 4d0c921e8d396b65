"""Organizations: profiles, hierarchy, the areas and categories they serve, and their links."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import delete, exists, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from gridweave.errors import Conflict, Forbidden, NotFound, ValidationFailed
from gridweave.models import (
    Area,
    LinkKind,
    Organization,
    OrganizationKind,
    OrganizationLink,
    OrganizationLinkProposal,
    OrganizationServiceArea,
    ServiceCategory,
)
from gridweave.services import audit
from gridweave.services.access import Actor, require_actor, require_coordinator
from gridweave.services.areas import get_area
from gridweave.services.validation import clean_name, valid_credit_code

INPUT = "input"
HIERARCHY_LOCK = 7_301_995  # serializes parent changes, so no two moves build a loop together


@dataclass(frozen=True, slots=True)
class ServiceAreaSpec:
    area_id: int
    category_codes: Sequence[str]


async def get_organization(
    session: AsyncSession, organization_id: int, *, field: Sequence[str]
) -> Organization:
    org = await session.get(Organization, organization_id)
    if org is None:
        raise NotFound("No such organization.", field=field)
    return org


def require_org_editor(actor: Actor | None, org: Organization) -> Actor:
    """Its coordinators (by home area) and its own members may edit an organization."""
    actor = require_actor(actor)
    if actor.coordinates(org.area_path) or actor.member_of(org.id):
        return actor
    raise Forbidden("You may edit only your own organization or those in the areas you coordinate.")


def check_parent_reach(
    actor: Actor, *, home_path: str, parent_path: str, field: Sequence[str]
) -> None:
    """A parent lies in the organization's own chain of areas (its area or one above) or in the
    actor's scope."""
    if not (home_path.startswith(parent_path) or actor.coordinates(parent_path)):
        raise Forbidden(
            "That parent is based outside this organization's areas and outside yours.",
            field=field,
        )


def check_service_area_reach(
    actor: Actor, *, home_path: str, area_path: str, field: Sequence[str]
) -> None:
    """A served area lies within the organization's home area or the actor's scope (coverage is
    computed from these rows: nobody may claim the whole city)."""
    if not (area_path.startswith(home_path) or actor.coordinates(area_path)):
        raise Forbidden(
            "This area lies outside the organization's own area and outside yours.", field=field
        )


async def _check_credit_code(
    session: AsyncSession, code: str | None, *, except_id: int | None = None
) -> str | None:
    if code is None or not code.strip():
        return None
    value = valid_credit_code(code, field=[INPUT, "creditCode"])
    q = select(Organization.id).where(Organization.credit_code == value)
    if except_id is not None:
        q = q.where(Organization.id != except_id)
    if await session.scalar(q) is not None:
        raise Conflict(
            "Another organization is registered with this credit code.", field=[INPUT, "creditCode"]
        )
    return value


async def _check_parent(
    session: AsyncSession, actor: Actor, parent_id: int, *, home_path: str, child_id: int | None
) -> None:
    """The parent must exist, lie in the organization's own chain of areas (its area or one above)
    or in the actor's scope, and must not be the organization itself or one of its descendants.
    The hierarchy lock makes two crossing moves (A under B, B under A) queue, not both pass."""
    parent = await get_organization(session, parent_id, field=[INPUT, "parentId"])
    check_parent_reach(
        actor, home_path=home_path, parent_path=parent.area_path, field=[INPUT, "parentId"]
    )
    if child_id is None:
        return
    await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": HIERARCHY_LOCK})
    ancestors = text(
        "WITH RECURSIVE up(id, parent_id) AS ("
        " SELECT id, parent_id FROM organizations WHERE id = :start"
        " UNION SELECT o.id, o.parent_id FROM organizations o JOIN up ON o.id = up.parent_id)"
        " SELECT 1 FROM up WHERE id = :child LIMIT 1"
    )
    if await session.scalar(ancestors, {"start": parent_id, "child": child_id}):
        raise ValidationFailed(
            "That parent belongs to this organization already: the hierarchy would loop.",
            field=[INPUT, "parentId"],
        )


async def _resolve_service_areas(
    session: AsyncSession, actor: Actor, home_path: str, specs: Sequence[ServiceAreaSpec]
) -> list[tuple[int, int]]:
    """Categories by code; each area must exist and lie within the organization's home area or
    the actor's scope (coverage is computed from these rows: nobody may claim the whole city)."""
    codes = {c for s in specs for c in s.category_codes}
    rows = await session.execute(
        select(ServiceCategory.code, ServiceCategory.id).where(ServiceCategory.code.in_(codes))
    )
    by_code: dict[str, int] = dict(rows.all())
    area_ids = {s.area_id for s in specs}
    rows = await session.execute(select(Area.id, Area.path).where(Area.id.in_(area_ids)))
    paths: dict[int, str] = {row.id: row.path for row in rows}
    pairs: list[tuple[int, int]] = []
    for i, spec in enumerate(specs):
        field = [INPUT, "serviceAreas", str(i)]
        path = paths.get(spec.area_id)
        if path is None:
            raise NotFound("No such area.", field=[*field, "areaId"])
        check_service_area_reach(
            actor, home_path=home_path, area_path=path, field=[*field, "areaId"]
        )
        if not spec.category_codes:
            raise ValidationFailed(
                "Name at least one service category.", field=[*field, "categoryCodes"]
            )
        for j, code in enumerate(spec.category_codes):
            if code not in by_code:
                raise ValidationFailed(
                    f"Unknown service category '{code}'.", field=[*field, "categoryCodes", str(j)]
                )
            pairs.append((spec.area_id, by_code[code]))
    return list(dict.fromkeys(pairs))


async def _replace_service_areas(
    session: AsyncSession, org_id: int, pairs: Sequence[tuple[int, int]]
) -> None:
    await session.execute(
        delete(OrganizationServiceArea).where(OrganizationServiceArea.organization_id == org_id)
    )
    if pairs:
        await session.execute(
            insert(OrganizationServiceArea),
            [{"organization_id": org_id, "area_id": a, "category_id": c} for a, c in pairs],
        )


async def create_organization(
    session: AsyncSession,
    *,
    actor: Actor | None,
    name: str,
    kind: OrganizationKind,
    area_id: int,
    parent_id: int | None = None,
    credit_code: str | None = None,
    service_areas: Sequence[ServiceAreaSpec] | None = None,
) -> Organization:
    area = await get_area(session, area_id, field=[INPUT, "areaId"])
    actor = require_coordinator(actor, area.path, what="the organization would be based")
    name = clean_name(name, field=[INPUT, "name"])
    code = await _check_credit_code(session, credit_code)
    if parent_id is not None:
        await _check_parent(session, actor, parent_id, home_path=area.path, child_id=None)
    pairs = await _resolve_service_areas(session, actor, area.path, service_areas or [])
    org = Organization(
        name=name,
        kind=kind.value,
        credit_code=code,
        area_id=area.id,
        area_path=area.path,
        parent_id=parent_id,
    )
    session.add(org)
    await session.flush()
    await _replace_service_areas(session, org.id, pairs)
    await audit.record(
        session,
        actor,
        "createOrganization",
        f"Organization:{org.id}",
        {
            "name": name,
            "kind": kind.value,
            "area_id": area.id,
            "parent_id": parent_id,
            "credit_code": code,
            "service_areas": pairs,
        },
        area_path=org.area_path,
    )
    return org


async def update_organization(
    session: AsyncSession,
    *,
    actor: Actor | None,
    organization_id: int,
    name: str | None = None,
    parent_id: int | None = None,
    credit_code: str | None = None,
    service_areas: Sequence[ServiceAreaSpec] | None = None,
) -> Organization:
    org = await get_organization(session, organization_id, field=[INPUT, "id"])
    actor = require_org_editor(actor, org)
    changes: dict[str, object] = {}
    if name is not None:
        changes["name"] = clean_name(name, field=[INPUT, "name"])
    if credit_code is not None:
        changes["credit_code"] = await _check_credit_code(session, credit_code, except_id=org.id)
    if parent_id is not None and parent_id != org.parent_id:
        if not actor.coordinates(org.area_path):
            raise Forbidden(
                "Only a coordinator of its area can move an organization to another parent.",
                field=[INPUT, "parentId"],
            )
        await _check_parent(session, actor, parent_id, home_path=org.area_path, child_id=org.id)
        changes["parent_id"] = parent_id
    for key, value in changes.items():
        setattr(org, key, value)
    if service_areas is not None:
        pairs = await _resolve_service_areas(session, actor, org.area_path, service_areas)
        await _replace_service_areas(session, org.id, pairs)
        changes["service_areas"] = pairs
    await audit.record(
        session,
        actor,
        "updateOrganization",
        f"Organization:{org.id}",
        changes,
        area_path=org.area_path,
    )
    return org


def speaks_for(actor: Actor, org: Organization) -> bool:
    """May consent for ``org``: its own members and the coordinators of its home area."""
    return actor.coordinates(org.area_path) or actor.member_of(org.id)


def _link_key(kind: LinkKind, source_id: int, target_id: int) -> tuple[Any, ...]:
    return (
        OrganizationLink.kind == kind.value,
        OrganizationLink.source_id == source_id,
        OrganizationLink.target_id == target_id,
    )


def _proposal_key(kind: LinkKind, source_id: int, target_id: int) -> tuple[Any, ...]:
    return (
        OrganizationLinkProposal.kind == kind.value,
        OrganizationLinkProposal.source_id == source_id,
        OrganizationLinkProposal.target_id == target_id,
    )


def _link_summary(row: OrganizationLink | OrganizationLinkProposal) -> dict[str, Any]:
    return {
        "kind": row.kind,
        "source_id": row.source_id,
        "target_id": row.target_id,
        "since": row.since.isoformat() if row.since else None,
    }


async def link_organizations(
    session: AsyncSession,
    *,
    actor: Actor | None,
    kind: LinkKind,
    source_id: int,
    target_id: int,
    since: date | None = None,
) -> OrganizationLink | OrganizationLinkProposal:
    """Record a tie once both ends have consented (README, "Links between organizations").

    Whoever speaks for both ends (a coordinator over both, a member of one who coordinates the
    other's area, ...) records it at once. Whoever speaks for the source only proposes it: the
    proposal is returned and no tie exists yet. Whoever speaks for the target then confirms it
    by making the same call, which records the tie. The target's side cannot start one: nobody
    can put another organization's name on their own."""
    source = await get_organization(session, source_id, field=[INPUT, "sourceId"])
    target = await get_organization(session, target_id, field=[INPUT, "targetId"])
    actor = require_actor(actor)
    for_source, for_target = speaks_for(actor, source), speaks_for(actor, target)
    if not (for_source or for_target):
        raise Forbidden(
            "You may link only your own organization or those in the areas you coordinate."
        )
    if source_id == target_id:
        raise ValidationFailed(
            "An organization cannot be linked to itself.", field=[INPUT, "targetId"]
        )
    if await session.scalar(select(exists().where(*_link_key(kind, source_id, target_id)))):
        raise Conflict("These organizations are already linked this way.", field=[INPUT, "kind"])
    proposal = await session.scalar(
        select(OrganizationLinkProposal)
        .where(*_proposal_key(kind, source_id, target_id))
        .with_for_update()
    )
    if for_source and not for_target:
        if proposal is not None:
            raise Conflict(
                "This link is proposed already: it waits for the consent of the other "
                "organization (one of its members or a coordinator of its area).",
                field=[INPUT, "kind"],
            )
        proposal = OrganizationLinkProposal(
            kind=kind.value,
            source_id=source_id,
            target_id=target_id,
            since=since,
            proposed_by=actor.user_id,
        )
        session.add(proposal)
        await audit.record(
            session,
            actor,
            "proposeLink",
            f"Organization:{source_id}",
            _link_summary(proposal),
            area_path=source.area_path,
        )
        return proposal
    if not for_source and proposal is None:
        raise Forbidden(
            "A link is proposed from the source's side first; yours can then confirm it."
        )
    consent: dict[str, Any] = {"by": "one caller for both ends"}
    if proposal is not None:
        since = since or proposal.since
        consent = {"proposed_by": proposal.proposed_by, "confirmed_by": actor.user_id}
        await session.delete(proposal)
    link = OrganizationLink(kind=kind.value, source_id=source_id, target_id=target_id, since=since)
    session.add(link)
    await audit.record(
        session,
        actor,
        "linkOrganizations",
        f"Organization:{source_id}",
        {**_link_summary(link), "consent": consent},
        area_path=source.area_path,
    )
    return link


async def unlink_organizations(
    session: AsyncSession,
    *,
    actor: Actor | None,
    kind: LinkKind,
    source_id: int,
    target_id: int,
) -> OrganizationLink | OrganizationLinkProposal:
    """Remove a tie, or withdraw (or decline) a proposed one: a tie lasts only while both ends
    consent, so whoever speaks for either end may end it. Returns what was removed."""
    source = await get_organization(session, source_id, field=[INPUT, "sourceId"])
    target = await get_organization(session, target_id, field=[INPUT, "targetId"])
    actor = require_actor(actor)
    if not (speaks_for(actor, source) or speaks_for(actor, target)):
        raise Forbidden(
            "You may unlink only your own organization or those in the areas you coordinate."
        )
    row: OrganizationLink | OrganizationLinkProposal | None = await session.scalar(
        select(OrganizationLink).where(*_link_key(kind, source_id, target_id)).with_for_update()
    )
    action = "unlinkOrganizations"
    if row is None:
        row = await session.scalar(
            select(OrganizationLinkProposal)
            .where(*_proposal_key(kind, source_id, target_id))
            .with_for_update()
        )
        action = "withdrawLinkProposal"
    if row is None:
        raise NotFound("These organizations are not linked this way.", field=[INPUT, "kind"])
    await session.delete(row)
    await audit.record(
        session,
        actor,
        action,
        f"Organization:{source_id}",
        _link_summary(row),
        area_path=source.area_path,
    )
    return row

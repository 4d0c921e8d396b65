"""Service activities: what organizations did where. Every later count reads this table
(agreements' quarterly minimum, coverage's visit frequency, volunteer recognition)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal, InvalidOperation

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from gridweave.errors import Forbidden, NotFound, ValidationFailed
from gridweave.models import Area, AreaLevel, Organization, OrganizationServiceArea, ServiceCategory
from gridweave.models.activities import ActivitySource, ServiceActivity
from gridweave.models.areas import LEVEL_ORDER
from gridweave.services import audit
from gridweave.services.access import Actor, require_actor
from gridweave.services.areas import get_area
from gridweave.services.calendar import not_in_future
from gridweave.services.organizations import get_organization
from gridweave.services.subtree import in_subtree

INPUT = "input"
MAX_HOURS = Decimal("100000")
MAX_BENEFICIARIES = 1_000_000
_COMMUNITY = LEVEL_ORDER.index(AreaLevel.COMMUNITY)


def exact_decimal(
    value: Decimal, *, field: Sequence[str], label: str, places: int, maximum: Decimal
) -> Decimal:
    """A finite, non-negative decimal with at most ``places`` decimal places, up to ``maximum``."""
    try:
        finite = value.is_finite()
        exponent = value.normalize().as_tuple().exponent
    except (InvalidOperation, AttributeError) as e:
        raise ValidationFailed(f"{label} must be a number.", field=field) from e
    if not finite:
        raise ValidationFailed(f"{label} must be a number.", field=field)
    if value < 0:
        raise ValidationFailed(f"{label} cannot be negative.", field=field)
    if value > maximum:
        raise ValidationFailed(f"{label} cannot exceed {maximum}.", field=field)
    if isinstance(exponent, int) and exponent < -places:
        raise ValidationFailed(
            f"{label} has more than {places} decimal places.",
            field=field,
        )
    return value


async def category_id_for_code(session: AsyncSession, code: str, *, field: Sequence[str]) -> int:
    category_id = await session.scalar(
        select(ServiceCategory.id).where(ServiceCategory.code == code[:64])
    )
    if category_id is None:
        raise ValidationFailed(f"Unknown service category '{code[:64]}'.", field=field)
    return int(category_id)


async def may_record_for(
    session: AsyncSession, actor: Actor, org: Organization, area: Area
) -> bool:
    """Coordinators of the area may record anyone's activity there. An organization's members may
    record their own organization's activity where it is (its home area and below, and the areas
    above its home down from its community) or where it serves (a served area and below)."""
    if actor.coordinates(area.path):
        return True
    if not actor.member_of(org.id):
        return False
    if area.path.startswith(org.area_path):
        return True
    at_or_below_community = LEVEL_ORDER.index(AreaLevel(area.level)) >= _COMMUNITY
    if org.area_path.startswith(area.path) and at_or_below_community:
        return True
    served = await session.scalars(
        select(Area.path)
        .join(OrganizationServiceArea, OrganizationServiceArea.area_id == Area.id)
        .where(OrganizationServiceArea.organization_id == org.id)
        .distinct()
    )
    return any(area.path.startswith(p) for p in served)


async def record_activity(
    session: AsyncSession,
    *,
    actor: Actor | None,
    organization_id: int,
    area_id: int,
    category_id: int | None = None,
    category_code: str | None = None,
    on: date,
    hours: Decimal,
    beneficiaries: int,
    source: ActivitySource = ActivitySource.RECORDED,
    source_id: int | None = None,
    field_prefix: Sequence[str] = (INPUT,),
) -> ServiceActivity:
    """Record what ``organization_id`` did in ``area_id`` on ``on``, and its ledger entry.

    With ``source=RECORDED`` (recordServiceActivity) the actor must coordinate the area or be a
    member of the organization acting within its reach (``may_record_for``). Other sources are
    written by services that authorized the caller themselves: a claim's completion report passes
    ``source=CLAIM, source_id=claim.id`` (unique: one activity per claim) and only the values are
    checked here. The category is given by id or by code (``categoryCode`` in userErrors either
    way). ``field_prefix`` names the input the values came from, for userErrors."""
    actor = require_actor(actor)
    prefix = list(field_prefix)
    org = await get_organization(session, organization_id, field=[*prefix, "organizationId"])
    area = await get_area(session, area_id, field=[*prefix, "areaId"])
    if source is ActivitySource.RECORDED and not await may_record_for(session, actor, org, area):
        raise Forbidden(
            "You may record only your own organization's activities, in areas it is in or serves.",
            field=[*prefix, "organizationId"],
        )
    if source is ActivitySource.CLAIM and source_id is None:
        raise ValidationFailed("A claim's activity needs the claim's id.", field=prefix)
    if category_code is not None:
        category_id = await category_id_for_code(
            session, category_code, field=[*prefix, "categoryCode"]
        )
    if category_id is None or await session.get(ServiceCategory, category_id) is None:
        raise NotFound("No such service category.", field=[*prefix, "categoryCode"])
    not_in_future(on, field=[*prefix, "occurredOn"], what="An activity")
    exact_decimal(hours, field=[*prefix, "hours"], label="Hours", places=2, maximum=MAX_HOURS)
    if not 0 <= beneficiaries <= MAX_BENEFICIARIES:
        raise ValidationFailed(
            f"Beneficiaries must lie between 0 and {MAX_BENEFICIARIES}.",
            field=[*prefix, "beneficiaries"],
        )
    activity = ServiceActivity(
        organization_id=org.id,
        area_id=area.id,
        area_path=area.path,
        category_id=category_id,
        occurred_on=on,
        hours=hours,
        beneficiaries=beneficiaries,
        source=source.value,
        source_id=source_id,
        recorded_by=actor.user_id,
    )
    session.add(activity)
    await session.flush()
    await audit.record(
        session,
        actor,
        "recordServiceActivity",
        f"ServiceActivity:{activity.id}",
        {
            "organization_id": org.id,
            "area_id": area.id,
            "category_id": category_id,
            "occurred_on": on.isoformat(),
            "hours": str(hours),
            "beneficiaries": beneficiaries,
            "source": source.value,
            "source_id": source_id,
        },
        area_path=area.path,
    )
    return activity


async def count_activities(
    session: AsyncSession,
    *,
    start: date,
    end: date,
    area_path: str | None = None,
    category_id: int | None = None,
    organization_id: int | None = None,
) -> int:
    """Activities with ``start <= occurred_on <= end`` (both inclusive), in the subtree at
    ``area_path`` (when given), in one category and by one organization (when given). Only the
    filters given appear in the SQL, so each query gets the plan of its own index."""
    q = select(func.count()).select_from(ServiceActivity)
    q = q.where(ServiceActivity.occurred_on >= start, ServiceActivity.occurred_on <= end)
    if area_path is not None:
        q = q.where(in_subtree(ServiceActivity.area_path, area_path))
    if category_id is not None:
        q = q.where(ServiceActivity.category_id == category_id)
    if organization_id is not None:
        q = q.where(ServiceActivity.organization_id == organization_id)
    return int(await session.scalar(q) or 0)

"""Areas: the administrative tree down to grids and buildings, and grid adjacency."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import delete, exists, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from gridweave.errors import Conflict, ErrorCode, Forbidden, NotFound, ValidationFailed
from gridweave.models import (
    Area,
    AreaLevel,
    AreaNeighbor,
    Organization,
    OrganizationServiceArea,
    RoleGrant,
)
from gridweave.models.areas import LEVEL_ORDER, VULNERABLE_COLUMNS
from gridweave.services import audit
from gridweave.services.access import Actor, require_actor, require_coordinator
from gridweave.services.validation import clean_code, clean_name, non_negative

INPUT = "input"


#: Levels that may be the root of a tree: a unit with its own government (a city, a district or
#: county, a street or township) runs a deployment; a community, grid, courtyard or building
#: always lies inside one.
ROOT_LEVELS = frozenset({AreaLevel.CITY, AreaLevel.DISTRICT, AreaLevel.STREET})
#: Above any area on earth (the largest city proper has about 25 million people).
MAX_AREA_POPULATION = 100_000_000
#: Vulnerable-group counts and what each cannot exceed: people among the population, households
#: among the households (an elderly person living alone is a household of one).
GROUP_CEILINGS = {
    "elderly_living_alone": "households",
    "left_behind_children": "population",
    "disabled_households": "households",
    "hardship_households": "households",
    "mobile_population": "population",
}


def allowed_child_levels(parent: AreaLevel) -> set[AreaLevel]:
    """Levels descend one step at a time; a building may also sit directly under a grid."""
    idx = LEVEL_ORDER.index(parent)
    allowed = {LEVEL_ORDER[idx + 1]} if idx + 1 < len(LEVEL_ORDER) else set()
    if parent is AreaLevel.GRID:
        allowed.add(AreaLevel.BUILDING)
    return allowed


def check_child_level(parent: AreaLevel, level: AreaLevel, *, field: Sequence[str]) -> None:
    if level not in allowed_child_levels(parent):
        raise ValidationFailed(f"A {level.value} cannot sit under a {parent.value}.", field=field)


def require_area_creator(actor: Actor | None, parent_path: str | None) -> Actor:
    """Who may create an area under the area at ``parent_path`` (None: a top-level area)."""
    if parent_path is None:
        if not require_actor(actor).is_admin:
            raise Forbidden("Only an administrator can create a top-level area.")
        return require_actor(actor)
    return require_coordinator(actor, parent_path, what="the new area would be")


@dataclass(frozen=True, slots=True)
class AreaCounts:
    households: int | None = None
    population: int | None = None
    vulnerable: Mapping[str, int] | None = None


def _check_counts(counts: AreaCounts, current: Mapping[str, int]) -> dict[str, int]:
    """The counts given, checked against each other and against the area's ``current`` counts
    (zeros for a new area): households never above the population, each vulnerable group never
    above the people or households it is counted among."""
    values: dict[str, int] = {}
    fields: dict[str, list[str]] = {}
    for key in ("households", "population"):
        fields[key] = [INPUT, key]
        v = non_negative(getattr(counts, key), field=fields[key], label=key.capitalize())
        if v is not None:
            values[key] = v
    for i, (group, count) in enumerate((counts.vulnerable or {}).items()):
        column = VULNERABLE_COLUMNS[group]
        fields[column] = [INPUT, "vulnerableGroups", str(i), "count"]
        non_negative(count, field=fields[column], label="A count")
        values[column] = count
    if not values:
        return values  # a rename leaves older figures alone, plausible or not
    merged = {**current, **values}
    if merged["population"] > MAX_AREA_POPULATION:
        raise ValidationFailed(
            f"A population above {MAX_AREA_POPULATION:,} is not plausible for one area.",
            field=fields["population"],
        )
    pairs = [("households", "population"), *GROUP_CEILINGS.items()]
    for part, whole in pairs:
        if merged[part] > merged[whole]:
            # Point at the figure the caller gave: the part if given, else the whole.
            field = fields[part] if part in values else fields[whole]
            raise ValidationFailed(
                f"{_LABELS[part]} ({merged[part]:,}) cannot exceed {_LABELS[whole].lower()} "
                f"({merged[whole]:,}).",
                field=field,
            )
    return values


_LABELS = {
    "households": "Households",
    "population": "Population",
    "elderly_living_alone": "Elderly living alone",
    "left_behind_children": "Left-behind children",
    "disabled_households": "Disabled households",
    "hardship_households": "Hardship households",
    "mobile_population": "Mobile population",
}
_COUNT_COLUMNS = tuple(_LABELS)


async def get_area(session: AsyncSession, area_id: int, *, field: Sequence[str]) -> Area:
    area = await session.get(Area, area_id)
    if area is None:
        raise NotFound("No such area.", field=field)
    return area


async def _check_code_free(
    session: AsyncSession, code: str, *, except_id: int | None = None
) -> None:
    q = select(Area.id).where(Area.code == code)
    if except_id is not None:
        q = q.where(Area.id != except_id)
    if await session.scalar(q) is not None:
        raise Conflict(f"Another area already has the code {code}.", field=[INPUT, "code"])


async def create_area(
    session: AsyncSession,
    *,
    actor: Actor | None,
    name: str,
    level: AreaLevel,
    parent_id: int | None = None,
    code: str | None = None,
    counts: AreaCounts = AreaCounts(),
) -> Area:
    if parent_id is None:
        require_area_creator(actor, None)
        if level not in ROOT_LEVELS:
            raise ValidationFailed(
                f"A {level.value} always lies inside another area: give its parentId.",
                field=[INPUT, "parentId"],
            )
        parent_path = "/"
    else:
        parent = await get_area(session, parent_id, field=[INPUT, "parentId"])
        require_area_creator(actor, parent.path)
        check_child_level(AreaLevel(parent.level), level, field=[INPUT, "level"])
        parent_path = parent.path
    name = clean_name(name, field=[INPUT, "name"])
    code = clean_code(code, field=[INPUT, "code"])
    if code:
        await _check_code_free(session, code)
    values = _check_counts(counts, dict.fromkeys(_COUNT_COLUMNS, 0))
    new_id = int(await session.scalar(text("SELECT nextval('areas_id_seq')")) or 0)
    area = Area(
        id=new_id,
        name=name,
        code=code,
        level=level.value,
        parent_id=parent_id,
        path=f"{parent_path}{new_id}/",
        **{"households": 0, "population": 0, **values},
    )
    for column in VULNERABLE_COLUMNS.values():
        setattr(area, column, values.get(column, 0))
    session.add(area)
    await audit.record(
        session,
        actor,
        "createArea",
        f"Area:{new_id}",
        {"name": name, "level": level.value, "parent_id": parent_id, "code": code, **values},
        area_path=area.path,
    )
    return area


async def update_area(
    session: AsyncSession,
    *,
    actor: Actor | None,
    area_id: int,
    name: str | None = None,
    code: str | None = None,
    counts: AreaCounts = AreaCounts(),
) -> Area:
    area = await get_area(session, area_id, field=[INPUT, "id"])
    require_coordinator(actor, area.path, what="this area is")
    changes: dict[str, object] = {}
    if name is not None:
        changes["name"] = clean_name(name, field=[INPUT, "name"])
    if code is not None:
        new_code = clean_code(code, field=[INPUT, "code"])
        if new_code:
            await _check_code_free(session, new_code, except_id=area.id)
        changes["code"] = new_code
    changes.update(_check_counts(counts, {c: getattr(area, c) for c in _COUNT_COLUMNS}))
    for key, value in changes.items():
        setattr(area, key, value)
    await audit.record(
        session, actor, "updateArea", f"Area:{area.id}", changes, area_path=area.path
    )
    return area


async def delete_area(session: AsyncSession, *, actor: Actor | None, area_id: int) -> int:
    area = await get_area(session, area_id, field=[INPUT, "id"])
    require_coordinator(actor, area.path, what="this area is")
    if await session.scalar(select(exists().where(Area.parent_id == area_id))):
        raise ValidationFailed(
            "This area still has sub-areas: delete them first.",
            field=[INPUT, "id"],
            code=ErrorCode.INVALID_STATE,
        )
    if await session.scalar(select(exists().where(Organization.area_id == area_id))):
        raise ValidationFailed(
            "Organizations are still based in this area: move them first.",
            field=[INPUT, "id"],
            code=ErrorCode.INVALID_STATE,
        )
    if await session.scalar(select(exists().where(OrganizationServiceArea.area_id == area_id))):
        raise ValidationFailed(
            "Organizations still serve this area: change their service areas first.",
            field=[INPUT, "id"],
            code=ErrorCode.INVALID_STATE,
        )
    if await session.scalar(select(exists().where(RoleGrant.area_id == area_id))):
        raise ValidationFailed(
            "Users still hold roles limited to this area: change their roles first.",
            field=[INPUT, "id"],
            code=ErrorCode.INVALID_STATE,
        )
    await session.execute(
        delete(AreaNeighbor).where(
            (AreaNeighbor.area_id == area_id) | (AreaNeighbor.neighbor_id == area_id)
        )
    )
    await session.delete(area)
    await audit.record(
        session,
        actor,
        "deleteArea",
        f"Area:{area_id}",
        {"name": area.name, "level": area.level},
        area_path=area.path,
    )
    return area_id


async def set_neighbors(
    session: AsyncSession, *, actor: Actor | None, area_id: int, neighbor_ids: Sequence[int]
) -> Area:
    """Replace an area's neighbours; adjacency is kept symmetric."""
    area = await get_area(session, area_id, field=[INPUT, "areaId"])
    require_coordinator(actor, area.path, what="this area is")
    wanted = list(dict.fromkeys(neighbor_ids))
    if area_id in wanted:
        raise ValidationFailed("An area cannot neighbour itself.", field=[INPUT, "neighborIds"])
    rows = (
        await session.execute(select(Area.id, Area.level, Area.path).where(Area.id.in_(wanted)))
    ).all()
    found = {r.id: r for r in rows}
    for i, nid in enumerate(wanted):
        row = found.get(nid)
        field = [INPUT, "neighborIds", str(i)]
        if row is None:
            raise NotFound("No such area.", field=field)
        if row.level != area.level:
            raise ValidationFailed(
                f"Neighbours must be of the same level ({area.level}).", field=field
            )
        require_coordinator(actor, row.path, what="a neighbouring area is")
    dropped = (
        await session.execute(
            select(Area.path)
            .join(AreaNeighbor, AreaNeighbor.neighbor_id == Area.id)
            .where(AreaNeighbor.area_id == area_id, Area.id.not_in(wanted))
        )
    ).scalars()
    for path in dropped:
        require_coordinator(actor, path, what="a neighbour this would remove is")
    await session.execute(
        delete(AreaNeighbor).where(
            (AreaNeighbor.area_id == area_id) | (AreaNeighbor.neighbor_id == area_id)
        )
    )
    if wanted:
        pairs = [{"area_id": area_id, "neighbor_id": n} for n in wanted]
        pairs += [{"area_id": n, "neighbor_id": area_id} for n in wanted]
        await session.execute(insert(AreaNeighbor), pairs)
    await audit.record(
        session,
        actor,
        "setNeighbors",
        f"Area:{area_id}",
        {"neighbor_ids": wanted},
        area_path=area.path,
    )
    return area

"""Thin resolvers for areas: decode ids, call a service, map the result."""

from __future__ import annotations

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from gridweave.errors import ValidationFailed
from gridweave.ids import decode_cursor, decode_id, decode_optional
from gridweave.models import AreaLevel as PyAreaLevel
from gridweave.resolvers.common import mutate
from gridweave.schema.areas import (
    Area,
    AreaConnection,
    AreaPayload,
    CreateAreaInput,
    DeleteInput,
    DeletePayload,
    SetNeighborsInput,
    UpdateAreaInput,
    VulnerableGroupCountInput,
)
from gridweave.schema.common import AreaLevel, GqlInfo, page_size
from gridweave.schema.permissions import SignedIn
from gridweave.services import areas as svc
from gridweave.services import listing

INPUT = "input"


def _counts(
    households: int | None, population: int | None, groups: list[VulnerableGroupCountInput] | None
) -> svc.AreaCounts:
    vulnerable: dict[str, int] | None = None
    if groups is not None:
        vulnerable = {}
        for i, g in enumerate(groups):
            if g.group.value in vulnerable:
                raise ValidationFailed(
                    "Each group may be given once.",
                    field=[INPUT, "vulnerableGroups", str(i), "group"],
                )
            vulnerable[g.group.value] = g.count
    return svc.AreaCounts(households=households, population=population, vulnerable=vulnerable)


async def areas(
    info: GqlInfo,
    level: AreaLevel | None = None,
    parent_id: strawberry.ID | None = None,
    search: str | None = None,
    first: int | None = None,
    after: str | None = None,
) -> AreaConnection:
    limit = page_size(info, first)
    after_id = decode_cursor(after)
    flt = listing.AreaFilter(
        level=level.value if level else None,
        parent_id=decode_optional(parent_id, "Area", field=["parentId"]),
        search=search,
    )
    sm = info.context.sessionmaker
    async with sm() as session:
        rows = await listing.list_areas(session, flt, after_id=after_id, limit=limit + 1)

    async def total() -> int:
        async with sm() as s:
            return await listing.count_areas(s, flt)

    return AreaConnection.build(rows, Area.from_row, limit=limit, after_id=after_id, total=total)


async def create_area(info: GqlInfo, input: CreateAreaInput) -> AreaPayload:
    async def work(session: AsyncSession) -> AreaPayload:
        area = await svc.create_area(
            session,
            actor=info.context.actor,
            name=input.name,
            level=PyAreaLevel(input.level.value),
            parent_id=decode_optional(input.parent_id, "Area", field=[INPUT, "parentId"]),
            code=input.code,
            counts=_counts(input.households, input.population, input.vulnerable_groups),
        )
        return AreaPayload(area=Area.from_row(area))

    return await mutate(info, AreaPayload, work)


async def update_area(info: GqlInfo, input: UpdateAreaInput) -> AreaPayload:
    async def work(session: AsyncSession) -> AreaPayload:
        area = await svc.update_area(
            session,
            actor=info.context.actor,
            area_id=decode_id(input.id, "Area", field=[INPUT, "id"]),
            name=input.name,
            code=input.code,
            counts=_counts(input.households, input.population, input.vulnerable_groups),
        )
        return AreaPayload(area=Area.from_row(area))

    return await mutate(info, AreaPayload, work)


async def delete_area(info: GqlInfo, input: DeleteInput) -> DeletePayload:
    async def work(session: AsyncSession) -> DeletePayload:
        await svc.delete_area(
            session,
            actor=info.context.actor,
            area_id=decode_id(input.id, "Area", field=[INPUT, "id"]),
        )
        return DeletePayload(deleted_id=input.id)

    return await mutate(info, DeletePayload, work)


async def set_neighbors(info: GqlInfo, input: SetNeighborsInput) -> AreaPayload:
    async def work(session: AsyncSession) -> AreaPayload:
        area = await svc.set_neighbors(
            session,
            actor=info.context.actor,
            area_id=decode_id(input.area_id, "Area", field=[INPUT, "areaId"]),
            neighbor_ids=[
                decode_id(n, "Area", field=[INPUT, "neighborIds", str(i)])
                for i, n in enumerate(input.neighbor_ids)
            ],
        )
        return AreaPayload(area=Area.from_row(area))

    return await mutate(info, AreaPayload, work)


@strawberry.type
class Queries:
    areas: AreaConnection = strawberry.field(resolver=areas, permission_classes=[SignedIn])


@strawberry.type
class Mutations:
    create_area: AreaPayload = strawberry.mutation(resolver=create_area)
    update_area: AreaPayload = strawberry.mutation(resolver=update_area)
    delete_area: DeletePayload = strawberry.mutation(resolver=delete_area)
    set_neighbors: AreaPayload = strawberry.mutation(resolver=set_neighbors)

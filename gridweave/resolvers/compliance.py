"""Compliance lists a dashboard reads (the coverage issue turns them into gaps)."""

from __future__ import annotations

from gridweave.ids import decode_cursor
from gridweave.schema.common import GqlInfo, page_size
from gridweave.schema.organizations import Organization, OrganizationConnection
from gridweave.services import meetings as svc
from gridweave.services.calendar import today


async def unengaged_units(
    info: GqlInfo, area_path: str, *, first: int | None, after: str | None
) -> OrganizationConnection:
    limit = page_size(info, first)
    after_id = decode_cursor(after)
    day = today()
    sm = info.context.sessionmaker
    async with sm() as session:
        rows = await svc.list_unengaged_units(
            session, area_path=area_path, on=day, after_id=after_id, limit=limit + 1
        )

    async def total() -> int:
        async with sm() as s:
            return await svc.count_unengaged_units(s, area_path=area_path, on=day)

    return OrganizationConnection.build(
        rows, Organization.from_row, limit=limit, after_id=after_id, total=total
    )

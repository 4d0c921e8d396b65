"""``node(id)``: every Node type, with the same visibility as the field it stands for."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import strawberry

from gridweave.ids import decode_any
from gridweave.schema.areas import Area
from gridweave.schema.common import GqlInfo, Node
from gridweave.schema.organizations import Organization, ServiceCategory
from gridweave.schema.permissions import SignedIn


async def node(info: GqlInfo, id: strawberry.ID) -> Node | None:
    decoded = decode_any(id)
    if decoded is None:
        return None
    type_name, pk = decoded
    loaders = info.context.loaders
    if type_name == "Area":
        row = await loaders.area.load(pk)
        return Area.from_row(row) if row else None
    if type_name == "Organization":
        row = await loaders.organization.load(pk)
        return Organization.from_row(row) if row else None
    if type_name == "ServiceCategory":
        row = await loaders.category.load(pk)
        return ServiceCategory.from_row(row) if row else None
    resolver = EXTRA_NODE_RESOLVERS.get(type_name)
    return await resolver(info, pk) if resolver else None


NodeResolver = Callable[[GqlInfo, int], Awaitable[Node | None]]
# Other modules register their Node types here (User, AuditEntry, ...).
EXTRA_NODE_RESOLVERS: dict[str, NodeResolver] = {}


@strawberry.type
class Queries:
    node: Node | None = strawberry.field(resolver=node, permission_classes=[SignedIn])

from __future__ import annotations

import anyio
import strawberry

from gridweave.ids import decode_id
from gridweave.schema.common import GqlInfo
from gridweave.schema.network import Network
from gridweave.schema.permissions import SignedIn
from gridweave.services.network import area_network


async def network(info: GqlInfo, area_id: strawberry.ID, depth: int | None = None) -> Network:
    ctx = info.context
    async with ctx.sessionmaker() as session:
        g = await area_network(
            session,
            actor=ctx.actor,
            area_id=decode_id(area_id, "Area", field=["areaId"]),
            depth=depth,
            max_nodes=ctx.settings.max_network_nodes,
        )
    return await anyio.to_thread.run_sync(Network.from_graph, g)


@strawberry.type
class Queries:
    network: Network = strawberry.field(
        resolver=network,
        permission_classes=[SignedIn],
        description=(
            "The organizations of an area's subtree (down to `depth` levels below it, default "
            "all) and their ties."
        ),
    )

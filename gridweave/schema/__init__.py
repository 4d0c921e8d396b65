"""The served schema: root types assembled from the resolvers, plus the endpoint's limits."""

from __future__ import annotations

import strawberry

from gridweave.resolvers import areas, network, nodes, organizations
from gridweave.schema.areas import AreaConnection
from gridweave.schema.inputs import AreaPayload, DeletePayload, LinkPayload, OrganizationPayload
from gridweave.schema.network import Network
from gridweave.schema.organizations import OrganizationConnection, ServiceCategory
from gridweave.schema.permissions import SignedIn
from gridweave.schema.common import Node
from gridweave.settings import Settings

SIGNED_IN = [SignedIn()]


@strawberry.type
class Query:
    node: Node | None = strawberry.field(resolver=nodes.node, permission_classes=[SignedIn])
    service_categories: list[ServiceCategory] = strawberry.field(
        resolver=organizations.service_categories, permission_classes=[SignedIn]
    )
    areas: AreaConnection = strawberry.field(resolver=areas.areas, permission_classes=[SignedIn])
    organizations: OrganizationConnection = strawberry.field(
        resolver=organizations.organizations, permission_classes=[SignedIn]
    )
    network: Network = strawberry.field(
        resolver=network.network,
        permission_classes=[SignedIn],
        description=(
            "The organizations of an area's subtree (down to `depth` levels below it, default "
            "all) and their ties."
        ),
    )


@strawberry.type
class Mutation:
    create_area: AreaPayload = strawberry.mutation(resolver=areas.create_area)
    update_area: AreaPayload = strawberry.mutation(resolver=areas.update_area)
    delete_area: DeletePayload = strawberry.mutation(resolver=areas.delete_area)
    set_neighbors: AreaPayload = strawberry.mutation(resolver=areas.set_neighbors)
    create_organization: OrganizationPayload = strawberry.mutation(
        resolver=organizations.create_organization
    )
    update_organization: OrganizationPayload = strawberry.mutation(
        resolver=organizations.update_organization
    )
    link_organizations: LinkPayload = strawberry.mutation(
        resolver=organizations.link_organizations
    )


def build_schema(settings: Settings) -> strawberry.Schema:
    return strawberry.Schema(query=Query, mutation=Mutation)

"""The served schema: root types assembled from the resolvers, plus the endpoint's limits."""

from __future__ import annotations

import logging
from typing import Any

import strawberry
from graphql import (
    ASTValidationRule,
    GraphQLError,
    NoSchemaIntrospectionCustomRule,
    specified_rules,
)

from gridweave.resolvers import areas, network, nodes, organizations
from gridweave.resolvers import audit as audit_resolvers
from gridweave.resolvers import users as user_resolvers
from gridweave.schema.areas import AreaConnection
from gridweave.schema.audit import AuditEntryConnection
from gridweave.schema.common import Node
from gridweave.schema.inputs import AreaPayload, DeletePayload, LinkPayload, OrganizationPayload
from gridweave.schema.limits import query_limits_rule, schema_extensions, strawberry_config
from gridweave.schema.network import Network
from gridweave.schema.organizations import OrganizationConnection, ServiceCategory
from gridweave.schema.permissions import ReadsLedger, SignedIn
from gridweave.schema.users import LoginPayload, User, UserPayload
from gridweave.settings import Settings

log = logging.getLogger(__name__)


@strawberry.type
class Query:
    node: Node | None = strawberry.field(resolver=nodes.node, permission_classes=[SignedIn])
    me: User | None = strawberry.field(
        resolver=user_resolvers.me, description="The signed-in user; null when anonymous."
    )
    audit_log: AuditEntryConnection = strawberry.field(
        resolver=audit_resolvers.audit_log,
        permission_classes=[SignedIn, ReadsLedger],
        description="The ledger, newest entry first; `entityId` narrows it to one entity.",
    )
    audit_chain_valid: bool = strawberry.field(
        resolver=audit_resolvers.audit_chain_valid,
        permission_classes=[SignedIn, ReadsLedger],
        description="True when every audit entry's hash matches its content and its predecessor.",
    )
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
    login: LoginPayload = strawberry.mutation(
        resolver=user_resolvers.login,
        description="Sign in: the one thing anonymous callers may do.",
    )
    create_user: UserPayload = strawberry.mutation(resolver=user_resolvers.create_user)
    grant_role: UserPayload = strawberry.mutation(resolver=user_resolvers.grant_role)
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
    link_organizations: LinkPayload = strawberry.mutation(resolver=organizations.link_organizations)


class GridweaveSchema(strawberry.Schema):
    def process_errors(self, errors: list[GraphQLError], execution_context: Any = None) -> None:
        """Refusals and validation errors are answers, not incidents: the masking extension logs
        the unexpected ones with their request id."""
        for error in errors:
            log.debug("graphql error: %s", error.message)


def build_schema(settings: Settings) -> GridweaveSchema:
    return GridweaveSchema(
        query=Query,
        mutation=Mutation,
        extensions=schema_extensions(settings),
        config=strawberry_config(settings),
    )


def validation_rules(settings: Settings) -> list[type[ASTValidationRule]]:
    """The rules strawberry applies, for paths that validate a document themselves."""
    rules: list[type[ASTValidationRule]] = [
        *specified_rules,
        query_limits_rule(
            max_depth=settings.max_depth,
            max_aliases=settings.max_aliases,
            max_cost=settings.max_cost,
            page_size=settings.max_page_size,
        ),
    ]
    if not settings.introspection_enabled:
        rules.append(NoSchemaIntrospectionCustomRule)
    return rules

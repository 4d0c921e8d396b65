"""The served schema: each domain's root fields (declared beside their resolvers in
``resolvers/<domain>.py``) merged into Query and Mutation, plus the endpoint's limits.

Adding a domain: write ``resolvers/<domain>.py`` with ``Queries``/``Mutations`` classes and list
them in ``QUERIES``/``MUTATIONS`` below."""

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
from strawberry.tools import merge_types

from gridweave.ops.instrument import MetricsExtension
from gridweave.resolvers import (
    agreements,
    areas,
    audit,
    coverage,
    meetings,
    network,
    nodes,
    organizations,
    procurement,
    projects,
    users,
)
from gridweave.schema.common import SCALAR_OVERRIDES
from gridweave.schema.limits import (
    input_bounds,
    input_bounds_rule,
    query_limits_rule,
    schema_extensions,
    strawberry_config,
)
from gridweave.settings import Settings

log = logging.getLogger(__name__)

QUERIES: tuple[type, ...] = (
    nodes.Queries,
    users.Queries,
    audit.Queries,
    organizations.CategoryQueries,
    areas.Queries,
    organizations.Queries,
    network.Queries,
    procurement.Queries,
    meetings.Queries,
    projects.Queries,
    coverage.Queries,
)
MUTATIONS: tuple[type, ...] = (
    users.Mutations,
    areas.Mutations,
    organizations.Mutations,
    procurement.Mutations,
    meetings.Mutations,
    agreements.Mutations,
    projects.Mutations,
)
SUBSCRIPTIONS: tuple[type, ...] = (projects.Subscriptions,)

Query = merge_types("Query", QUERIES)
Mutation = merge_types("Mutation", MUTATIONS)
Subscription = merge_types("Subscription", SUBSCRIPTIONS)


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
        subscription=Subscription,
        extensions=[*schema_extensions(settings), MetricsExtension],
        config=strawberry_config(settings),
        scalar_overrides=SCALAR_OVERRIDES,
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
        input_bounds_rule(input_bounds(settings)),
    ]
    if not settings.introspection_enabled:
        rules.append(NoSchemaIntrospectionCustomRule)
    return rules

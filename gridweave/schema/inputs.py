"""Mutation inputs and payloads for areas and organizations."""

from __future__ import annotations

from datetime import date

import strawberry

from gridweave.schema.areas import Area
from gridweave.schema.common import (
    AreaLevel,
    LinkKind,
    OrganizationKind,
    UserError,
    VulnerableGroup,
)
from gridweave.schema.organizations import Organization, OrganizationLink


@strawberry.input
class VulnerableGroupCountInput:
    group: VulnerableGroup
    count: int


@strawberry.input
class CreateAreaInput:
    name: str
    level: AreaLevel
    code: str | None = None
    parent_id: strawberry.ID | None = None
    households: int | None = None
    population: int | None = None
    vulnerable_groups: list[VulnerableGroupCountInput] | None = None


@strawberry.input
class UpdateAreaInput:
    id: strawberry.ID
    name: str | None = None
    code: str | None = None
    households: int | None = None
    population: int | None = None
    vulnerable_groups: list[VulnerableGroupCountInput] | None = None


@strawberry.input
class DeleteInput:
    id: strawberry.ID


@strawberry.input
class SetNeighborsInput:
    area_id: strawberry.ID
    neighbor_ids: list[strawberry.ID]


@strawberry.input
class ServiceAreaInput:
    area_id: strawberry.ID
    category_codes: list[str]


@strawberry.input
class CreateOrganizationInput:
    name: str
    kind: OrganizationKind
    area_id: strawberry.ID
    parent_id: strawberry.ID | None = None
    credit_code: str | None = None
    service_areas: list[ServiceAreaInput] | None = None


@strawberry.input
class UpdateOrganizationInput:
    id: strawberry.ID
    name: str | None = None
    parent_id: strawberry.ID | None = None
    credit_code: str | None = None
    service_areas: list[ServiceAreaInput] | None = strawberry.field(
        default=None, description="Replaces the service areas when given."
    )


@strawberry.input
class LinkOrganizationsInput:
    kind: LinkKind
    source_id: strawberry.ID
    target_id: strawberry.ID
    since: date | None = None


@strawberry.type
class AreaPayload:
    area: Area | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class DeletePayload:
    deleted_id: strawberry.ID | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class OrganizationPayload:
    organization: Organization | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class LinkPayload:
    link: OrganizationLink | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)

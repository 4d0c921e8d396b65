"""User, RoleGrant, and the sign-in and user-management inputs and payloads."""

from __future__ import annotations

from typing import TYPE_CHECKING

import strawberry

from gridweave.ids import encode_id
from gridweave.models import Role
from gridweave.schema.areas import Area
from gridweave.schema.common import GqlInfo, Node, UserError
from gridweave.schema.organizations import Organization

if TYPE_CHECKING:
    from gridweave.models import RoleGrant as RoleGrantRow
    from gridweave.services.users import UserRecord


async def _grant_area(root: RoleGrant, info: GqlInfo) -> Area | None:
    if root.area_id is None:
        return None
    row = await info.context.loaders.area.load(root.area_id)
    return Area.from_row(row) if row else None


async def _grant_organization(root: RoleGrant, info: GqlInfo) -> Organization | None:
    if root.organization_id is None:
        return None
    row = await info.context.loaders.organization.load(root.organization_id)
    return Organization.from_row(row) if row else None


@strawberry.type
class RoleGrant:
    # The Python enum: schema.common registers it as the GraphQL enum Role.
    role: Role
    area: Area | None = strawberry.field(
        resolver=_grant_area,
        description="The area the role is limited to (with its sub-areas); null means everywhere.",
    )
    organization: Organization | None = strawberry.field(
        resolver=_grant_organization,
        description="For ORGANIZATION_MEMBER: the organization the user acts for.",
    )
    area_id: strawberry.Private[int | None]
    organization_id: strawberry.Private[int | None]

    @classmethod
    def from_row(cls, row: RoleGrantRow) -> RoleGrant:
        return cls(role=Role(row.role), area_id=row.area_id, organization_id=row.organization_id)


@strawberry.type
class User(Node):
    id: strawberry.ID
    email: str
    display_name: str
    roles: list[RoleGrant]
    pk: strawberry.Private[int]

    @classmethod
    def from_record(cls, record: UserRecord) -> User:
        user = record.user
        return cls(
            id=strawberry.ID(encode_id("User", user.id)),
            email=user.email,
            display_name=user.display_name,
            roles=[RoleGrant.from_row(g) for g in record.grants],
            pk=user.id,
        )


@strawberry.input
class LoginInput:
    email: str
    password: str


@strawberry.input
class RoleGrantInput:
    role: Role
    area_id: strawberry.ID | None = None
    organization_id: strawberry.ID | None = None


@strawberry.input
class CreateUserInput:
    email: str
    display_name: str
    password: str
    roles: list[RoleGrantInput]


@strawberry.input
class GrantRoleInput:
    user_id: strawberry.ID
    grant: RoleGrantInput


@strawberry.type
class LoginPayload:
    token: str | None = strawberry.field(
        default=None, description="A bearer token: send it as `Authorization: Bearer <token>`."
    )
    user: User | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class UserPayload:
    user: User | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)

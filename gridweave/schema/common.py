"""Types every part of the schema uses: Node, PageInfo, UserError, the enums, page arguments."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from enum import Enum
from typing import Any, TypeVar, cast

import strawberry
from strawberry.types import Info

from gridweave import models
from gridweave.context import Context
from gridweave.errors import DomainError
from gridweave.errors import ErrorCode as PyErrorCode
from gridweave.ids import encode_cursor
from gridweave.paging import page_limit

GqlInfo = Info[Context, None]

# The models' enums are the GraphQL enums (strawberry.enum registers a class in place).
ErrorCode = PyErrorCode
AreaLevel = models.AreaLevel
OrganizationKind = models.OrganizationKind
LinkKind = models.LinkKind
Role = models.Role
for _enum in (ErrorCode, AreaLevel, OrganizationKind, LinkKind, Role):
    strawberry.enum(_enum)

F = TypeVar("F", bound=Callable[..., Any])


def described(text: str) -> Callable[[F], F]:
    """``@described(...)``, typed so that mypy keeps the resolver's type."""
    return cast(Callable[[F], F], strawberry.field(description=text))


@strawberry.enum
class VulnerableGroup(Enum):
    ELDERLY_LIVING_ALONE = "ELDERLY_LIVING_ALONE"
    LEFT_BEHIND_CHILDREN = "LEFT_BEHIND_CHILDREN"
    DISABLED_HOUSEHOLDS = "DISABLED_HOUSEHOLDS"
    HARDSHIP_HOUSEHOLDS = "HARDSHIP_HOUSEHOLDS"
    MOBILE_POPULATION = "MOBILE_POPULATION"


@strawberry.interface(description="An object with a global id.")
class Node:
    id: strawberry.ID


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class UserError:
    field: list[str] | None = strawberry.field(
        description='Path to the input field at fault, e.g. ["input", "amount"].'
    )
    code: ErrorCode
    message: str

    @classmethod
    def from_error(cls, error: DomainError) -> UserError:
        return cls(field=error.field, code=error.code, message=error.message)


def page_size(info: GqlInfo, first: int | None) -> int:
    return page_limit(first, info.context.settings.max_page_size)


def page_info(pks: Sequence[int], *, has_next: bool, has_previous: bool) -> PageInfo:
    return PageInfo(
        has_next_page=has_next,
        has_previous_page=has_previous,
        start_cursor=encode_cursor(pks[0]) if pks else None,
        end_cursor=encode_cursor(pks[-1]) if pks else None,
    )


def trim(rows: Sequence[Any], limit: int) -> tuple[Sequence[Any], bool]:
    """Pages are fetched with one extra row to tell whether another page follows."""
    return rows[:limit], len(rows) > limit

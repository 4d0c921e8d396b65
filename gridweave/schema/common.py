"""Types every part of the schema uses: Node, PageInfo, UserError, the enums, page arguments."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from enum import Enum
from typing import Any, TypeVar, cast

import strawberry
from strawberry.schema.types.base_scalars import wrap_parser
from strawberry.types import Info
from strawberry.types.scalar import ScalarDefinition

from gridweave import models
from gridweave.context import Context
from gridweave.errors import DomainError
from gridweave.errors import ErrorCode as PyErrorCode
from gridweave.ids import encode_cursor
from gridweave.paging import page_limit
from gridweave.services.validation import MAX_DATE, MIN_DATE

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


def _in_range(day: dt.date, text: str) -> None:
    if not MIN_DATE <= day <= MAX_DATE:
        raise ValueError(
            f"Dates must lie between {MIN_DATE.isoformat()} and {MAX_DATE.isoformat()}."
        )


def _date(text: str) -> dt.date:
    day = dt.date.fromisoformat(text)
    _in_range(day, text)
    return day


def _datetime(text: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(text)
    _in_range(moment.date(), text)
    return moment


def _isoformat(value: dt.date) -> str:
    return value.isoformat()


#: strawberry's Date and DateTime, refusing input outside MIN_DATE..MAX_DATE (as a GraphQL
#: validation error: 'Value cannot represent a Date: "9999-12-31". Dates must lie between ...').
SCALAR_OVERRIDES: dict[object, ScalarDefinition] = {
    dt.date: ScalarDefinition(
        name="Date",
        description="Date (isoformat), 1900-01-01 to 2200-12-31",
        specified_by_url=None,
        serialize=_isoformat,
        parse_value=wrap_parser(_date, "Date"),
        parse_literal=None,
        origin=dt.date,
    ),
    dt.datetime: ScalarDefinition(
        name="DateTime",
        description="Date with time (isoformat), 1900 to 2200",
        specified_by_url=None,
        serialize=_isoformat,
        parse_value=wrap_parser(_datetime, "DateTime"),
        parse_literal=None,
        origin=dt.datetime,
    ),
}


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

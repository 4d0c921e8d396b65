"""Filtered, keyset-paged listings for the top-level ``areas`` and ``organizations`` queries.

Each optional argument is a ``Filter``, defined once: the resolvers apply it here with the
argument's value, and the compiled read path renders the same SQLAlchemy expression with the value
as a statement parameter (gridweave/compiled/render.py). A filter that is not given adds nothing to
the SQL on either path, so neither path carries ``($k IS NULL OR ...)`` conditions that a generic
plan cannot simplify."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, FromClause, Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from gridweave.models import Area, Organization, ServiceCategory
from gridweave.services.subtree import in_subtree
from gridweave.services.validation import no_control_characters


def uncased(term: str) -> bool:
    """True for Chinese characters and digits only: there ILIKE and LIKE match the same names,
    and LIKE is a third faster (no case folding of every name)."""
    return all("\u3400" <= c <= "\u9fff" or c.isdigit() for c in term)


def like_pattern(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def name_contains(column: Any, term: str) -> Any:
    pattern = like_pattern(term)
    return column.like(pattern) if uncased(term) else column.ilike(pattern)


Condition = Callable[[FromClause, Hashable, Mapping[str, Any]], ColumnElement[bool]]


@dataclass(frozen=True, slots=True)
class Filter:
    """One optional argument of a listing.

    ``variant(value)`` is None when the value does not filter (absent, blank) and otherwise names
    the shape of SQL it needs; ``values(value)`` are the statement's values for it, by name; and
    ``condition(table, variant, params)`` is the expression over those params (Python values
    here, bound parameters on the compiled path). ``variant`` raises a DomainError for a value
    the API refuses."""

    variant: Callable[[Any], Hashable | None]
    values: Callable[[Any], dict[str, Any]]
    condition: Condition


def _given(value: Any) -> Hashable | None:
    return None if value is None else True


def equals(column: str) -> Filter:
    return Filter(
        variant=_given,
        values=lambda v: {"v": v},
        condition=lambda t, _, p: t.c[column] == p["v"],
    )


def search_term(value: str | None) -> str | None:
    if value is None:
        return None
    no_control_characters(value, field=["search"])
    return value.strip() or None


def search(code_column: str, *, upper: bool) -> Filter:
    """The name contains the term (LIKE for Chinese-only terms), or the code equals it."""

    def variant(value: str | None) -> Hashable | None:
        term = search_term(value)
        if term is None:
            return None
        return "plain" if uncased(term) else "folded"

    def values(value: str) -> dict[str, Any]:
        term = search_term(value) or ""
        return {"pattern": like_pattern(term), "code": term.upper() if upper else term}

    def condition(t: FromClause, shape: Hashable, p: Mapping[str, Any]) -> ColumnElement[bool]:
        name = t.c.name.like(p["pattern"]) if shape == "plain" else t.c.name.ilike(p["pattern"])
        matches: ColumnElement[bool] = name | (t.c[code_column] == p["code"])
        return matches

    return Filter(variant=variant, values=values, condition=condition)


def _in_area(t: FromClause, _: Hashable, p: Mapping[str, Any]) -> ColumnElement[bool]:
    path = select(Area.path).where(Area.id == p["v"]).scalar_subquery()
    return in_subtree(t.c.area_path, path)


AREA_FILTERS: Mapping[str, Filter] = {
    "level": equals("level"),
    "parentId": equals("parent_id"),
    "search": search("code", upper=False),
}
ORGANIZATION_FILTERS: Mapping[str, Filter] = {
    "kind": equals("kind"),
    # Located in the area's subtree (the area's path is read once, as an InitPlan).
    "areaId": Filter(variant=_given, values=lambda v: {"v": v}, condition=_in_area),
    "search": search("credit_code", upper=True),
}


def conditions(
    table: FromClause, filters: Mapping[str, Filter], given: Mapping[str, Any]
) -> list[ColumnElement[bool]]:
    out = []
    for name, value in given.items():
        f = filters[name]
        shape = f.variant(value)
        if shape is not None:
            out.append(f.condition(table, shape, f.values(value)))
    return out


@dataclass(frozen=True, slots=True)
class AreaFilter:
    level: str | None = None
    parent_id: int | None = None
    search: str | None = None

    def __post_init__(self) -> None:
        AREA_FILTERS["search"].variant(self.search)

    def apply(self, q: Select[Any]) -> Select[Any]:
        given = {"level": self.level, "parentId": self.parent_id, "search": self.search}
        return q.where(*conditions(Area.__table__, AREA_FILTERS, given))


@dataclass(frozen=True, slots=True)
class OrganizationFilter:
    kind: str | None = None
    area_id: int | None = None
    search: str | None = None

    def __post_init__(self) -> None:
        ORGANIZATION_FILTERS["search"].variant(self.search)

    def apply(self, q: Select[Any]) -> Select[Any]:
        given = {"kind": self.kind, "areaId": self.area_id, "search": self.search}
        return q.where(*conditions(Organization.__table__, ORGANIZATION_FILTERS, given))


async def list_areas(
    session: AsyncSession, flt: AreaFilter, *, after_id: int, limit: int
) -> Sequence[Any]:
    q = flt.apply(select(Area.__table__)).where(Area.id > after_id).order_by(Area.id).limit(limit)
    rows: Sequence[Any] = (await session.execute(q)).all()
    return rows


async def count_areas(session: AsyncSession, flt: AreaFilter) -> int:
    q = flt.apply(select(func.count()).select_from(Area))
    return int(await session.scalar(q) or 0)


async def list_organizations(
    session: AsyncSession, flt: OrganizationFilter, *, after_id: int, limit: int
) -> Sequence[Any]:
    q = (
        flt.apply(select(Organization.__table__))
        .where(Organization.id > after_id)
        .order_by(Organization.id)
        .limit(limit)
    )
    rows: Sequence[Any] = (await session.execute(q)).all()
    return rows


async def count_organizations(session: AsyncSession, flt: OrganizationFilter) -> int:
    q = flt.apply(select(func.count()).select_from(Organization))
    return int(await session.scalar(q) or 0)


async def list_categories(session: AsyncSession) -> Sequence[Any]:
    q = select(ServiceCategory.id, ServiceCategory.code, ServiceCategory.name)
    return (await session.execute(q.order_by(ServiceCategory.id))).all()

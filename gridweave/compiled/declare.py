"""What the compiled read path answers, declared per GraphQL object type: how each field becomes
SQL over a row alias. One walker (walker.Compiler) turns the declarations into one statement;
adding a type means writing its declaration (types_*.py) and its equivalence queries.

A field's SQL is a function ``(compiler, selection, row_alias) -> sql``; the helpers below cover
the usual shapes (a column, an object by foreign key, a list, a keyset connection)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import FromClause
from strawberry.utils.str_converters import to_camel_case

from gridweave.compiled.sqljson import gid

if TYPE_CHECKING:
    from gridweave.compiled.selection import Selection
    from gridweave.compiled.walker import Compiler, Rows

FieldSql = Callable[["Compiler", "Selection", str], str]


@dataclass(frozen=True, slots=True)
class ObjectType:
    """``table``: where rows of this type live (for objects by id and ``node()``); ``node``: a
    Node type whose global id is "Name:pk"."""

    name: str
    fields: Mapping[str, FieldSql]
    table: str | None = None
    node: bool = False
    interfaces: tuple[str, ...] = field(default=())

    @property
    def type_names(self) -> set[str]:
        return {self.name, *self.interfaces, *(("Node",) if self.node else ())}


def column(name: str) -> FieldSql:
    return lambda c, s, t: f"{t}.{name}"


# strawberry's DateTime is Python's isoformat() of a UTC datetime: microseconds only when non-zero.
_ISO = 'YYYY-MM-DD"T"HH24:MI:SS'


def utc_datetime(name: str) -> FieldSql:
    """A timestamptz column as strawberry prints it (whatever the session's time zone)."""

    def sql(c: Compiler, s: Selection, t: str) -> str:
        utc = f"({t}.{name} AT TIME ZONE 'UTC')"
        return (
            f"to_char({utc}, CASE WHEN extract(microseconds FROM {utc})::bigint % 1000000 = 0"
            f" THEN '{_ISO}+00:00' ELSE '{_ISO}.US+00:00' END)"
        )

    return sql


def const(sql: str) -> FieldSql:
    return lambda c, s, t: sql


def global_id(type_name: str) -> FieldSql:
    return lambda c, s, t: gid(type_name, f"{t}.id")


def one(type_name: str, foreign_key: str) -> FieldSql:
    """The object whose primary key is this row's ``foreign_key`` (null when there is none)."""
    return lambda c, s, t: c.one(type_name, s, f"{t}.{foreign_key}")


def many(type_name: str, source: Callable[[str, str], str], order: str = "id") -> FieldSql:
    """An unpaged list: ``source(row, item)`` is the ``FROM ... WHERE ...`` of its items."""
    return lambda c, s, t: c.many(type_name, s, lambda x: source(t, x), order)


def paged(type_name: str, rows: Callable[[Compiler, Selection, str], Rows]) -> FieldSql:
    """A keyset connection (``first``/``after``) over ``rows``."""
    return lambda c, s, t: c.connection(s, type_name, rows(c, s, t))


def scalars(api_type: Any, table: FromClause) -> dict[str, FieldSql]:
    """Every plain field of a strawberry type that is a column of ``table`` under the same name:
    the column map is read off the API type rather than written a second time."""
    out: dict[str, FieldSql] = {}
    for f in api_type.__strawberry_definition__.fields:
        if f.base_resolver is None and f.python_name != "id" and f.python_name in table.c:
            out[f.graphql_name or to_camel_case(f.python_name)] = column(f.python_name)
    return out

"""The one walker: turns a query's selections and the type declarations into SQL.

Each object becomes ``json_build_object(...)`` over a row alias; lists and connections become
correlated subqueries with ``json_agg``. Argument values are statement parameters ($2, $3, ...;
$1 is the viewer's user id). A filter that a request's arguments leave out is not compiled at all:
the statement is built per *signature* (which optional filters are active, and in which shape),
recorded as switches that the endpoint evaluates on each request's variables."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from graphql import (
    FragmentDefinitionNode,
    GraphQLEnumType,
    GraphQLInterfaceType,
    GraphQLSchema,
    SelectionSetNode,
    ValueNode,
)
from sqlalchemy import BigInteger, Boolean, FromClause, Text, bindparam, true
from sqlalchemy.sql.elements import BindParameter

from gridweave.compiled.declare import ObjectType
from gridweave.compiled.render import render
from gridweave.compiled.selection import Binder, Fallback, Selection, Variables, collect, value_of
from gridweave.compiled.sqljson import cursor, json_list, json_object
from gridweave.errors import DomainError
from gridweave.ids import MAX_PK, decode_cursor, decode_newest_first_cursor
from gridweave.paging import page_limit
from gridweave.services import calendar
from gridweave.services.access import read_policy
from gridweave.services.listing import Filter

Decoder = Callable[[Any], Any]
_CASTS = {bool: "boolean", int: "bigint", str: "text"}
_TYPES: dict[str, Any] = {"boolean": Boolean(), "bigint": BigInteger(), "text": Text()}


def refused(fn: Callable[[Variables], Any]) -> Binder:
    """A binder whose DomainError (a value the API refuses) hands the request to strawberry,
    which answers with that error in GraphQL's shape."""

    def bound(variables: Variables) -> Any:
        try:
            return fn(variables)
        except DomainError as e:
            raise Fallback(f"refused: {e.message}", uncompiled=False) from e

    return bound


def _same(value: Any) -> Any:
    return value


@dataclass(frozen=True, slots=True)
class _Argument:
    """One filter argument of a field: its value in a request's variables, decoded."""

    filter: Filter
    node: ValueNode
    decode: Decoder

    def value(self, variables: Variables) -> Any:
        return self.decode(value_of(self.node, variables))

    def variant(self, variables: Variables) -> Hashable | None:
        return self.filter.variant(self.value(variables))

    def values(self, variables: Variables) -> dict[str, Any]:
        return self.filter.values(self.value(variables))

    def binder(self, key: str) -> Callable[[Variables], Any]:
        return lambda variables: self.values(variables)[key]


@dataclass(frozen=True, slots=True)
class Rows:
    """What a list or connection ranges over: a table and a condition on its alias. ``fenced``
    keeps the planner from walking the primary key in id order while it filters a subtree (it
    cannot estimate a correlated path range): it reads the subtree by the path index, then
    sorts. ``newest_first``: pages run on descending ids, ``after`` (0 for none) moving back to
    smaller ones."""

    table: str
    where: Callable[[str], str]
    fenced: bool = False
    newest_first: bool = False

    def order(self, t: str) -> str:
        return f"{t}.id DESC" if self.newest_first else f"{t}.id"

    def page(self, t: str, after: str, limit: str, *, columns: str = "*") -> str:
        keyset = (
            f"{t}.id <= coalesce(nullif({after}, 0) - 1, {MAX_PK})"
            if self.newest_first
            else f"{t}.id > {after}"
        )
        rows = f"SELECT {columns} FROM {self.table} {t} WHERE {self.where(t)} AND {keyset}"
        if self.fenced:
            rows = f"SELECT * FROM ({rows} OFFSET 0) {t}"
        return f"({rows} ORDER BY {self.order(t)} LIMIT {limit})"


class Compiler:
    def __init__(
        self,
        schema: GraphQLSchema,
        types: Mapping[str, ObjectType],
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: Variables,
        *,
        max_page_size: int,
        max_network_nodes: int,
    ) -> None:
        self.schema = schema
        self.types = types
        self.fragments = fragments
        self.variables = variables
        self.max_page_size = max_page_size
        self.max_network_nodes = max_network_nodes
        self.binders: list[Binder] = []
        self.switches: list[Binder] = []
        self.guards: list[str] = []
        self.ctes: list[str] = []
        self.per_viewer = False
        self._today: str | None = None
        node = schema.get_type("Node")
        assert isinstance(node, GraphQLInterfaceType)
        self.node_interface = node
        self._n = 0

    # ------------------------------------------------------------------ parameters
    def param(self, binder: Binder, cast: str) -> str:
        self.binders.append(binder)
        return f"${len(self.binders) + 1}::{cast}"  # $1 is the viewer's user id

    def today(self) -> str:
        """Today in China Standard Time (services.calendar.today), computed per request like the
        resolvers' today: one parameter however many fields ask."""
        if self._today is None:
            self._today = self.param(lambda v: calendar.today(), "date")
        return self._today

    def switch(self, fn: Callable[[Variables], Hashable]) -> Any:
        """A decision about the statement's shape, taken on this request's variables and
        recorded so that a request deciding otherwise gets a statement of its own."""
        guarded = refused(fn)
        self.switches.append(guarded)
        return guarded(self.variables)

    def alias(self, prefix: str) -> str:
        self._n += 1
        return f"{prefix}{self._n}"

    def fields(self, sel: Selection, *types: str) -> list[Selection]:
        return collect(sel.selection_sets, set(types), self.fragments)

    def enum(self, type_name: str) -> Decoder:
        """Checks a value against the schema's enum (the compiled path keeps no copy)."""
        enum_type = self.schema.get_type(type_name)
        assert isinstance(enum_type, GraphQLEnumType), type_name
        allowed = frozenset(enum_type.values)

        def decode(value: Any) -> Any:
            if value is not None and value not in allowed:
                raise Fallback(f"not a {type_name}", uncompiled=False)
            return value

        return decode

    # ------------------------------------------------------------------ visibility
    def visible(self, type_name: str, t: str) -> str:
        """The viewer's read policy for rows of ``type_name`` at alias ``t``, as SQL."""
        policy = read_policy(type_name)
        if not policy.compiled:
            raise Fallback(f"{type_name}: visibility is answered by the resolvers")
        if policy.per_viewer:
            self.per_viewer = True
        return policy.sql("$1::bigint", t)

    # ------------------------------------------------------------------ objects and lists
    def object(self, type_name: str, sets: list[SelectionSetNode], t: str) -> str:
        declared = self.types[type_name]
        pairs: list[tuple[str, str]] = []
        for s in collect(sets, declared.type_names, self.fragments):
            if s.name == "__typename":
                pairs.append((s.key, f"'{type_name}'"))
                continue
            field_sql = declared.fields.get(s.name)
            if field_sql is None:
                raise Fallback(f"{type_name}.{s.name}")
            pairs.append((s.key, field_sql(self, s, t)))
        return json_object(pairs)

    def _where_visible(self, type_name: str, t: str) -> str:
        cond = self.visible(type_name, t)
        return "" if cond == "TRUE" else f" AND {cond}"

    def one(self, type_name: str, s: Selection, pk_sql: str) -> str:
        declared = self.types[type_name]
        x = self.alias("x")
        return (
            f"(SELECT {self.object(type_name, s.selection_sets, x)} FROM {declared.table} {x}"
            f" WHERE {x}.id = {pk_sql}{self._where_visible(type_name, x)})"
        )

    def many(
        self, type_name: str, s: Selection, source: Callable[[str], str], order: str = "id"
    ) -> str:
        x = self.alias("x")
        return json_list(
            self.object(type_name, s.selection_sets, x),
            source(x) + self._where_visible(type_name, x),
            f"{x}.{order}",
        )

    # ------------------------------------------------------------------ filters
    def filtered(
        self,
        s: Selection,
        table: FromClause,
        filters: Mapping[str, Filter],
        decoders: Mapping[str, Decoder],
    ) -> Callable[[str], str]:
        """The active filters among ``s``'s arguments, as a condition on a row alias."""
        parts: list[tuple[Filter, Hashable, dict[str, BindParameter[Any]]]] = []
        placeholders: dict[str, str] = {}
        for name, f in filters.items():
            node = s.arguments.get(name)
            if node is None:
                continue
            arg = _Argument(f, node, decoders.get(name, _same))
            shape = self.switch(arg.variant)
            if shape is None:
                continue
            params: dict[str, BindParameter[Any]] = {}
            for key, example in refused(arg.values)(self.variables).items():
                cast = _CASTS[type(example)]
                bound = self.alias("gw")
                placeholders[bound] = self.param(refused(arg.binder(key)), cast)
                params[key] = bindparam(bound, type_=_TYPES[cast])
            parts.append((f, shape, params))

        def where(t: str) -> str:
            alias: FromClause = table.alias(t)
            conds = [f.condition(alias, shape, p) for f, shape, p in parts] or [true()]
            return " AND ".join(f"({render(c, placeholders, alias_of=t)})" for c in conds)

        return where

    # ------------------------------------------------------------------ connections
    def connection(self, s: Selection, node_type: str, rows: Rows) -> str:
        first_node, after_node = s.arguments.get("first"), s.arguments.get("after")
        size = self.max_page_size
        first = self.param(refused(lambda v: page_limit(value_of(first_node, v), size)), "int")
        decode = decode_newest_first_cursor if rows.newest_first else decode_cursor
        after = self.param(refused(lambda v: decode(value_of(after_node, v)) or 0), "bigint")
        if self._where_visible(node_type, "t"):
            inner = rows.where
            rows = replace(rows, where=lambda t: inner(t) + self._where_visible(node_type, t))
        pairs: list[tuple[str, str]] = []
        for f in self.fields(s, f"{node_type}Connection"):
            if f.name == "edges":
                pairs.append((f.key, self._edges(f, rows, node_type, first, after)))
            elif f.name == "pageInfo":
                pairs.append((f.key, self._page_info(f, rows, first, after)))
            elif f.name == "totalCount":
                t = self.alias("t")
                pairs.append(
                    (f.key, f"(SELECT count(*) FROM {rows.table} {t} WHERE {rows.where(t)})")
                )
            elif f.name == "__typename":
                pairs.append((f.key, f"'{node_type}Connection'"))
            else:
                raise Fallback(f"{node_type}Connection.{f.name}")
        return json_object(pairs)

    def _edges(self, s: Selection, rows: Rows, node_type: str, first: str, after: str) -> str:
        t = self.alias("t")
        pairs: list[tuple[str, str]] = []
        for f in self.fields(s, f"{node_type}Edge"):
            if f.name == "cursor":
                pairs.append((f.key, cursor(f"{t}.id")))
            elif f.name == "node":
                pairs.append((f.key, self.object(node_type, f.selection_sets, t)))
            elif f.name == "__typename":
                pairs.append((f.key, f"'{node_type}Edge'"))
            else:
                raise Fallback(f"{node_type}Edge.{f.name}")
        return json_list(
            json_object(pairs), f"FROM {rows.page(t, after, first)} {t}", rows.order(t)
        )

    def _page_info(self, s: Selection, rows: Rows, first: str, after: str) -> str:
        t, q = self.alias("t"), self.alias("q")
        in_page = f"FILTER (WHERE {q}.rn <= {first})"
        start, end = ("max", "min") if rows.newest_first else ("min", "max")
        values = {
            "hasNextPage": f"count(*) > {first}",
            "hasPreviousPage": f"{after} > 0",
            "startCursor": cursor(f"{start}({q}.id) {in_page}"),
            "endCursor": cursor(f"{end}({q}.id) {in_page}"),
            "__typename": "'PageInfo'",
        }
        pairs = []
        for f in self.fields(s, "PageInfo"):
            if f.name not in values:
                raise Fallback(f"PageInfo.{f.name}")
            pairs.append((f.key, values[f.name]))
        return (
            f"(SELECT {json_object(pairs)} FROM (SELECT {t}.id,"
            f" row_number() OVER (ORDER BY {rows.order(t)}) AS rn"
            f" FROM {rows.page(t, after, f'{first} + 1', columns='id')} {t}) {q})"
        )

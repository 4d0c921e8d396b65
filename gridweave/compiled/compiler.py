"""Turns a query's selections into one SQL statement whose single value is the response JSON.

Each GraphQL object becomes ``json_build_object(...)`` over a row alias; lists and connections
become correlated subqueries with ``json_agg``. Argument values are bound as parameters, so one
compiled statement serves every set of variables. Semantics mirror the strawberry resolvers
exactly (keyset pages on ascending ids, totals without the cursor, the same filters)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from graphql import DocumentNode, FragmentDefinitionNode, SelectionSetNode, ValueNode

from gridweave.compiled import binders as bind
from gridweave.compiled.network import network_sql
from gridweave.compiled.selection import (
    Binder,
    Fallback,
    Selection,
    collect,
    fragments_of,
    pick_operation,
)
from gridweave.compiled.sqljson import cursor, gid, json_list, json_object
from gridweave.services.subtree import in_subtree_sql

AREA_SCALARS = {
    "name": "name",
    "code": "code",
    "level": "level",
    "households": "households",
    "population": "population",
}
ORG_SCALARS = {"name": "name", "kind": "kind", "creditCode": "credit_code"}
CATEGORY_SCALARS = {"code": "code", "name": "name"}
VULNERABLE = [
    ("ELDERLY_LIVING_ALONE", "elderly_living_alone"),
    ("LEFT_BEHIND_CHILDREN", "left_behind_children"),
    ("DISABLED_HOUSEHOLDS", "disabled_households"),
    ("HARDSHIP_HOUSEHOLDS", "hardship_households"),
    ("MOBILE_POPULATION", "mobile_population"),
]
_PLACEHOLDER = re.compile(r"\$(\d+)::")


@dataclass(frozen=True, slots=True)
class CompiledQuery:
    sql: str
    binders: tuple[Binder, ...]
    used: tuple[int, ...]

    def params(self, user_id: int, variables: bind.Variables) -> list[Any]:
        """Every binder runs (each argument is checked as strawberry would), but only the values
        the statement mentions are passed."""
        values = [b(variables) for b in self.binders]
        return [user_id, *(values[i] for i in self.used)]


@dataclass(frozen=True, slots=True)
class Rows:
    """What a connection pages over: a table and a condition on its alias. ``fenced`` keeps the
    planner from walking the primary key in id order while it filters a subtree (it cannot
    estimate a correlated path range): it reads the subtree by the path index, then sorts."""

    table: str
    where: Callable[[str], str]
    fenced: bool = False

    def page(self, t: str, after: str, limit: str, *, columns: str = "*") -> str:
        rows = f"SELECT {columns} FROM {self.table} {t} WHERE {self.where(t)} AND {t}.id > {after}"
        if self.fenced:
            rows = f"SELECT * FROM ({rows} OFFSET 0) {t}"
        return f"({rows} ORDER BY {t}.id LIMIT {limit})"


def name_contains_sql(column: str, pattern: str, plain: str) -> str:
    """services.listing.name_contains, decided per request by a parameter."""
    return f"(CASE WHEN {plain} THEN {column} LIKE {pattern} ELSE {column} ILIKE {pattern} END)"


class Compiler:
    def __init__(
        self,
        fragments: dict[str, FragmentDefinitionNode],
        *,
        max_network_nodes: int = 20_000,
        max_page_size: int = 100,
    ) -> None:
        self.fragments = fragments
        self.max_page_size = max_page_size
        self.max_network_nodes = max_network_nodes
        self.binders: list[Binder] = []
        self.guards: list[str] = []
        self._n = 0

    def param(self, binder: Binder, cast: str) -> str:
        self.binders.append(binder)
        return f"${len(self.binders) + 1}::{cast}"  # $1 is the caller's user id

    def alias(self, prefix: str) -> str:
        self._n += 1
        return f"{prefix}{self._n}"

    def fields(self, sel: Selection, *types: str) -> list[Selection]:
        return collect(sel.selection_sets, set(types), self.fragments)

    # ------------------------------------------------------------------ objects
    def area(self, sets: list[SelectionSetNode], a: str) -> str:
        pairs: list[tuple[str, str]] = []
        for s in collect(sets, {"Area", "Node"}, self.fragments):
            pairs.append((s.key, self.area_field(s, a)))
        return json_object(pairs)

    def area_field(self, s: Selection, a: str) -> str:
        if s.name in AREA_SCALARS:
            return f"{a}.{AREA_SCALARS[s.name]}"
        simple: dict[str, Callable[[], str]] = {
            "id": lambda: gid("Area", f"{a}.id"),
            "__typename": lambda: "'Area'",
            "vulnerableGroups": lambda: self.vulnerable(s, a),
            "parent": lambda: self.area_by_id(s.selection_sets, f"{a}.parent_id"),
            "neighbors": lambda: self.neighbors(s, a),
            "children": lambda: self.connection(
                s, Rows("areas", lambda t: f"{t}.parent_id = {a}.id"), "Area", self.area
            ),
            "organizations": lambda: self.area_organizations(s, a),
        }
        if s.name not in simple:
            raise Fallback(f"Area.{s.name}")
        return simple[s.name]()

    def vulnerable(self, s: Selection, a: str) -> str:
        items = []
        for group, column in VULNERABLE:
            pairs = []
            for f in self.fields(s, "VulnerableGroupCount"):
                value = {
                    "group": f"'{group}'",
                    "count": f"{a}.{column}",
                    "__typename": "'VulnerableGroupCount'",
                }.get(f.name)
                if value is None:
                    raise Fallback(f"VulnerableGroupCount.{f.name}")
                pairs.append((f.key, value))
            items.append(json_object(pairs))
        return f"json_build_array({', '.join(items)})"

    def area_by_id(self, sets: list[SelectionSetNode], pk_sql: str) -> str:
        x = self.alias("a")
        return f"(SELECT {self.area(sets, x)} FROM areas {x} WHERE {x}.id = {pk_sql})"

    def neighbors(self, s: Selection, a: str) -> str:
        n, x = self.alias("n"), self.alias("a")
        return json_list(
            self.area(s.selection_sets, x),
            f"FROM area_neighbors {n} JOIN areas {x} ON {x}.id = {n}.neighbor_id"
            f" WHERE {n}.area_id = {a}.id",
            f"{x}.id",
        )

    def area_organizations(self, s: Selection, a: str) -> str:
        kind = self.param(bind.enum(s.arguments.get("kind"), bind.ORG_KINDS), "text")
        return self.connection(
            s,
            Rows(
                "organizations",
                lambda t: (
                    f"{in_subtree_sql(f'{t}.area_path', f'{a}.path')}"
                    f" AND ({kind} IS NULL OR {t}.kind = {kind})"
                ),
                fenced=True,
            ),
            "Organization",
            self.organization,
        )

    def organization(self, sets: list[SelectionSetNode], o: str) -> str:
        pairs = [
            (s.key, self.org_field(s, o))
            for s in collect(sets, {"Organization", "Node"}, self.fragments)
        ]
        return json_object(pairs)

    def org_field(self, s: Selection, o: str) -> str:
        if s.name in ORG_SCALARS:
            return f"{o}.{ORG_SCALARS[s.name]}"
        simple: dict[str, Callable[[], str]] = {
            "id": lambda: gid("Organization", f"{o}.id"),
            "__typename": lambda: "'Organization'",
            "area": lambda: self.area_by_id(s.selection_sets, f"{o}.area_id"),
            "parent": lambda: self.org_by_id(s.selection_sets, f"{o}.parent_id"),
            "children": lambda: self.org_children(s, o),
            "serviceAreas": lambda: self.service_areas(s, o),
            "links": lambda: self.links(s, o),
        }
        if s.name not in simple:
            raise Fallback(f"Organization.{s.name}")
        return simple[s.name]()

    def org_by_id(self, sets: list[SelectionSetNode], pk_sql: str) -> str:
        x = self.alias("o")
        return (
            f"(SELECT {self.organization(sets, x)} FROM organizations {x} WHERE {x}.id = {pk_sql})"
        )

    def org_children(self, s: Selection, o: str) -> str:
        x = self.alias("o")
        return json_list(
            self.organization(s.selection_sets, x),
            f"FROM organizations {x} WHERE {x}.parent_id = {o}.id",
            f"{x}.id",
        )

    def category(self, sets: list[SelectionSetNode], c: str) -> str:
        pairs: list[tuple[str, str]] = []
        for s in collect(sets, {"ServiceCategory", "Node"}, self.fragments):
            if s.name in CATEGORY_SCALARS:
                pairs.append((s.key, f"{c}.{CATEGORY_SCALARS[s.name]}"))
            elif s.name == "id":
                pairs.append((s.key, gid("ServiceCategory", f"{c}.id")))
            elif s.name == "__typename":
                pairs.append((s.key, "'ServiceCategory'"))
            else:
                raise Fallback(f"ServiceCategory.{s.name}")
        return json_object(pairs)

    def service_areas(self, s: Selection, o: str) -> str:
        g = self.alias("g")
        pairs: list[tuple[str, str]] = []
        for f in self.fields(s, "ServiceArea"):
            if f.name == "area":
                pairs.append((f.key, self.area_by_id(f.selection_sets, f"{g}.area_id")))
            elif f.name == "categories":
                c = self.alias("c")
                pairs.append(
                    (
                        f.key,
                        json_list(
                            self.category(f.selection_sets, c),
                            f"FROM service_categories {c} WHERE {c}.id = ANY({g}.cats)",
                            f"{c}.id",
                        ),
                    )
                )
            elif f.name == "__typename":
                pairs.append((f.key, "'ServiceArea'"))
            else:
                raise Fallback(f"ServiceArea.{f.name}")
        return json_list(
            json_object(pairs),
            f"FROM (SELECT area_id, array_agg(category_id ORDER BY category_id) AS cats"
            f" FROM organization_service_areas WHERE organization_id = {o}.id"
            f" GROUP BY area_id) {g}",
            f"{g}.area_id",
        )

    def links(self, s: Selection, o: str) -> str:
        ln = self.alias("l")
        pairs: list[tuple[str, str]] = []
        plain = {"kind": f"{ln}.kind", "since": f"{ln}.since", "__typename": "'OrganizationLink'"}
        for f in self.fields(s, "OrganizationLink"):
            if f.name in plain:
                pairs.append((f.key, plain[f.name]))
            elif f.name in ("source", "target"):
                pairs.append((f.key, self.org_by_id(f.selection_sets, f"{ln}.{f.name}_id")))
            else:
                raise Fallback(f"OrganizationLink.{f.name}")
        return json_list(
            json_object(pairs),
            f"FROM organization_links {ln}"
            f" WHERE {ln}.source_id = {o}.id OR {ln}.target_id = {o}.id",
            f"{ln}.id",
        )

    # ------------------------------------------------------------------ connections
    def connection(
        self,
        s: Selection,
        rows: Rows,
        node_type: str,
        node_obj: Callable[[list[SelectionSetNode], str], str],
    ) -> str:
        first = self.param(bind.first(s.arguments.get("first"), self.max_page_size), "int")
        after = self.param(bind.after(s.arguments.get("after")), "bigint")
        pairs: list[tuple[str, str]] = []
        for f in self.fields(s, f"{node_type}Connection"):
            if f.name == "edges":
                pairs.append((f.key, self.edges(f, rows, node_type, node_obj, first, after)))
            elif f.name == "pageInfo":
                pairs.append((f.key, self.page_info(f, rows, first, after)))
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

    def edges(
        self,
        s: Selection,
        rows: Rows,
        node_type: str,
        node_obj: Callable[[list[SelectionSetNode], str], str],
        first: str,
        after: str,
    ) -> str:
        t = self.alias("t")
        pairs: list[tuple[str, str]] = []
        for f in self.fields(s, f"{node_type}Edge"):
            if f.name == "cursor":
                pairs.append((f.key, cursor(f"{t}.id")))
            elif f.name == "node":
                pairs.append((f.key, node_obj(f.selection_sets, t)))
            elif f.name == "__typename":
                pairs.append((f.key, f"'{node_type}Edge'"))
            else:
                raise Fallback(f"{node_type}Edge.{f.name}")
        return json_list(json_object(pairs), f"FROM {rows.page(t, after, first)} {t}", f"{t}.id")

    def page_info(self, s: Selection, rows: Rows, first: str, after: str) -> str:
        t, q = self.alias("t"), self.alias("q")
        in_page = f"FILTER (WHERE {q}.rn <= {first})"
        values = {
            "hasNextPage": f"count(*) > {first}",
            "hasPreviousPage": f"{after} > 0",
            "startCursor": cursor(f"min({q}.id) {in_page}"),
            "endCursor": cursor(f"max({q}.id) {in_page}"),
            "__typename": "'PageInfo'",
        }
        pairs = []
        for f in self.fields(s, "PageInfo"):
            if f.name not in values:
                raise Fallback(f"PageInfo.{f.name}")
            pairs.append((f.key, values[f.name]))
        return (
            f"(SELECT {json_object(pairs)} FROM (SELECT {t}.id, row_number() OVER (ORDER BY {t}.id)"
            f" AS rn FROM {rows.page(t, after, f'{first} + 1', columns='id')} {t}) {q})"
        )

    # ------------------------------------------------------------------ root fields
    def root_field(self, s: Selection) -> str:
        handlers: dict[str, Callable[[Selection], str]] = {
            "areas": self.root_areas,
            "organizations": self.root_organizations,
            "serviceCategories": self.root_categories,
            "node": self.root_node,
            "network": lambda sel: network_sql(self, sel),
            "__typename": lambda _: "'Query'",
        }
        if s.name not in handlers:
            raise Fallback(f"Query.{s.name}")
        return handlers[s.name](s)

    def search(
        self, node: ValueNode | None, *, code_column: str, upper: bool
    ) -> Callable[[str], str]:
        """``search``: the name contains the term, or the code equals it (listing.py's rule)."""
        pattern = self.param(bind.search_pattern(node), "text")
        term = self.param(bind.search_term(node, upper=upper), "text")
        plain = self.param(bind.search_uncased(node), "boolean")
        return lambda t: (
            f"({pattern} IS NULL OR {name_contains_sql(f'{t}.name', pattern, plain)}"
            f" OR {t}.{code_column} = {term})"
        )

    def root_areas(self, s: Selection) -> str:
        args = s.arguments
        level = self.param(bind.enum(args.get("level"), bind.AREA_LEVELS), "text")
        parent = self.param(bind.global_id(args.get("parentId"), "Area"), "bigint")
        search = self.search(args.get("search"), code_column="code", upper=False)

        def where(t: str) -> str:
            return (
                f"({level} IS NULL OR {t}.level = {level})"
                f" AND ({parent} IS NULL OR {t}.parent_id = {parent}) AND {search(t)}"
            )

        return self.connection(s, Rows("areas", where), "Area", self.area)

    def root_organizations(self, s: Selection) -> str:
        args = s.arguments
        kind = self.param(bind.enum(args.get("kind"), bind.ORG_KINDS), "text")
        area = self.param(bind.global_id(args.get("areaId"), "Area"), "bigint")
        search = self.search(args.get("search"), code_column="credit_code", upper=True)
        self.guards.append(f"({area} IS NULL OR EXISTS (SELECT 1 FROM areas WHERE id = {area}))")

        area_path = f"(SELECT path FROM areas WHERE id = {area})"

        def where(t: str) -> str:
            return (
                f"({kind} IS NULL OR {t}.kind = {kind})"
                f" AND ({area} IS NULL OR {in_subtree_sql(f'{t}.area_path', area_path)})"
                f" AND {search(t)}"
            )

        return self.connection(s, Rows("organizations", where), "Organization", self.organization)

    def root_categories(self, s: Selection) -> str:
        c = self.alias("c")
        return json_list(
            self.category(s.selection_sets, c), f"FROM service_categories {c}", f"{c}.id"
        )

    def root_node(self, s: Selection) -> str:
        node_id = s.arguments.get("id")
        type_name = self.param(bind.node_type(node_id), "text")
        pk = self.param(bind.node_pk(node_id), "bigint")
        a, o, c = self.alias("a"), self.alias("o"), self.alias("c")
        return (
            f"CASE {type_name}"
            f" WHEN 'Area' THEN (SELECT {self.area(s.selection_sets, a)} FROM areas {a}"
            f" WHERE {a}.id = {pk})"
            f" WHEN 'Organization' THEN (SELECT {self.organization(s.selection_sets, o)}"
            f" FROM organizations {o} WHERE {o}.id = {pk})"
            f" WHEN 'ServiceCategory' THEN (SELECT {self.category(s.selection_sets, c)}"
            f" FROM service_categories {c} WHERE {c}.id = {pk}) END"
        )


def compile_query(
    doc: DocumentNode,
    operation_name: str | None,
    *,
    max_network_nodes: int = 20_000,
    max_page_size: int = 100,
) -> CompiledQuery:
    """Raises Fallback for anything the compiled path does not cover."""
    operation = pick_operation(doc, operation_name)
    compiler = Compiler(
        fragments_of(doc), max_network_nodes=max_network_nodes, max_page_size=max_page_size
    )
    root = collect([operation.selection_set], {"Query"}, compiler.fragments)
    data = json_object([(s.key, compiler.root_field(s)) for s in root])
    guards = " AND ".join(["EXISTS (SELECT 1 FROM users WHERE id = $1::bigint)", *compiler.guards])
    sql = f"SELECT CASE WHEN {guards} THEN json_build_object('data', {data})::text END"
    return _drop_unused(sql, compiler.binders)


def _drop_unused(sql: str, binders: list[Binder]) -> CompiledQuery:
    """Number the parameters the statement really uses ($1, the user id, stays first);
    PostgreSQL refuses parameters a statement never mentions."""
    used = sorted({int(n) for n in _PLACEHOLDER.findall(sql)} - {1})
    renumber = {old: new for new, old in enumerate(used, start=2)}
    sql = _PLACEHOLDER.sub(lambda m: f"${renumber.get(int(m.group(1)), 1)}::", sql)
    return CompiledQuery(sql=sql, binders=tuple(binders), used=tuple(old - 2 for old in used))

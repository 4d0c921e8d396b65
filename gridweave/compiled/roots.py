"""Compiled root fields of Query. Each returns the SQL of its value; ``node`` fields are compiled
together (see ``nodes``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphql import print_ast

from gridweave.compiled.network import network_sql
from gridweave.compiled.selection import Fallback, Selection, Variables, value_of
from gridweave.compiled.types_meetings import joint_meetings
from gridweave.compiled.walker import Compiler, Rows, refused
from gridweave.ids import decode_any, decode_optional
from gridweave.models import Area as AreaRow
from gridweave.models import Organization as OrganizationRow
from gridweave.models.projects import status_sql
from gridweave.services.listing import AREA_FILTERS, ORGANIZATION_FILTERS
from gridweave.services.subtree import in_subtree_sql
from gridweave.services.validation import no_control_characters


def _area_id(name: str) -> Callable[[Any], int | None]:
    return lambda v: decode_optional(None if v is None else str(v), "Area", field=[name])


def areas(c: Compiler, s: Selection) -> str:
    decoders = {"level": c.enum("AreaLevel"), "parentId": _area_id("parentId")}
    where = c.filtered(s, AreaRow.__table__, AREA_FILTERS, decoders)
    return c.connection(s, "Area", Rows("areas", where))


def organizations(c: Compiler, s: Selection) -> str:
    node = s.arguments.get("areaId")
    area = _area_id("areaId")
    in_area = c.switch(lambda v: area(value_of(node, v)) is not None)
    if in_area:
        # The resolver answers NOT_FOUND for a missing area: hand that case to it.
        pk = c.param(refused(lambda v: area(value_of(node, v))), "bigint")
        c.guards.append(f"EXISTS (SELECT 1 FROM areas WHERE id = {pk})")
    decoders = {"kind": c.enum("OrganizationKind"), "areaId": area}
    where = c.filtered(s, OrganizationRow.__table__, ORGANIZATION_FILTERS, decoders)
    # Within an area the page is read by the path index and then sorted (fenced): a generic
    # plan would otherwise walk the primary key and filter every organization before the area's
    # (tests/api/test_plans.py).
    return c.connection(s, "Organization", Rows("organizations", where, fenced=in_area))


def _given(
    c: Compiler, s: Selection, name: str, decode: Callable[[Any], Any], cast: str = "text"
) -> str | None:
    """The parameter of an optional argument that this request gives (a refused value hands the
    request to the resolvers, which answer with the error); None when it is not given."""
    node = s.arguments.get(name)
    if not c.switch(lambda v: decode(value_of(node, v)) is not None):
        return None
    return c.param(refused(lambda v: decode(value_of(node, v))), cast)


def service_projects(c: Compiler, s: Selection) -> str:
    """The project board: the area's subtree, newest first; the viewer's area scope is added
    by the walker. A missing area or an unknown category is answered by the resolvers (their
    refusals), as is any value they refuse."""
    conditions: list[Callable[[str], str]] = []
    pk = _given(c, s, "areaId", _area_id("areaId"), "bigint")
    if pk is not None:
        c.guards.append(f"EXISTS (SELECT 1 FROM areas WHERE id = {pk})")
        path = f"(SELECT path FROM areas WHERE id = {pk})"
        conditions.append(lambda t: in_subtree_sql(f"{t}.area_path", path))
    status = _given(c, s, "status", c.enum("ServiceProjectStatus"))
    if status is not None:
        conditions.append(lambda t: f"{status_sql(t)} = {status}")
    code = _given(c, s, "categoryCode", _category_code)
    if code is not None:
        c.guards.append(f"EXISTS (SELECT 1 FROM service_categories WHERE code = {code})")
        category = f"(SELECT id FROM service_categories WHERE code = {code})"
        conditions.append(lambda t: f"{t}.category_id = {category}")
    rows = Rows(
        "service_projects",
        lambda t: " AND ".join(cond(t) for cond in conditions) or "TRUE",
        fenced=pk is not None,
        newest_first=True,
    )
    return c.connection(s, "ServiceProject", rows)


def _category_code(value: Any) -> str | None:
    return None if value is None else no_control_characters(str(value), field=["categoryCode"])


def service_categories(c: Compiler, s: Selection) -> str:
    return c.many("ServiceCategory", s, lambda x: f"FROM service_categories {x}")


def nodes(c: Compiler, group: list[Selection]) -> list[str]:
    """``node(id)`` fields with the same sub-selection share one subquery over the array of their
    ids, so thirty aliases cost one small statement part, not thirty (planning time grows with
    the statement's size). Returns each field's SQL, in order."""
    ids = [s.arguments.get("id") for s in group]
    last: list[Any] = [None, None]  # the variables last decoded, and their ids

    def decoded(v: Variables) -> list[tuple[str, int] | None]:
        """Decoded once per request (three binders ask), not once per binder."""
        if last[0] is not v:
            last[:] = [v, [decode_any(str(value_of(n, v))) for n in ids]]
        result: list[tuple[str, int] | None] = last[1]
        return result

    wanted = c.switch(lambda v: frozenset(d[0] for d in decoded(v) if d is not None))
    node_types = {t.name for t in c.schema.get_implementations(c.node_interface).objects}
    known = sorted(t for t in wanted if t in node_types)
    missing = [t for t in known if t not in c.types or not c.types[t].node]
    if missing:
        raise Fallback(f"node() of {missing[0]}")
    kinds = c.param(refused(lambda v: [d[0] if d else None for d in decoded(v)]), "text[]")
    pks = c.param(refused(lambda v: [d[1] if d else None for d in decoded(v)]), "bigint[]")
    u = c.alias("u")
    like = Selection(group[0].key, group[0].name, {}, group[0].selection_sets)
    branches = "".join(f" WHEN '{t}' THEN {c.one(t, like, f'{u}.pk')}" for t in known)
    value = f"CASE {u}.t{branches} END" if branches else "NULL::json"
    cte = c.alias("nodes")
    c.ctes.append(
        f"{cte} AS (SELECT coalesce((SELECT json_agg({value} ORDER BY {u}.n)"
        f" FROM unnest({kinds}, {pks}) WITH ORDINALITY AS {u}(t, pk, n)), '[]'::json) AS v)"
    )
    return [f"(SELECT v -> {i} FROM {cte})" for i in range(len(group))]


def shape(s: Selection) -> str:
    """Node fields of one shape: the same sub-selection, whatever their ids."""
    return "".join(print_ast(x) for x in s.selection_sets)


ROOTS: dict[str, Callable[[Compiler, Selection], str]] = {
    "areas": areas,
    "organizations": organizations,
    "serviceCategories": service_categories,
    "serviceProjects": service_projects,
    "network": network_sql,
    "jointMeetings": joint_meetings,
    "__typename": lambda c, s: "'Query'",
}

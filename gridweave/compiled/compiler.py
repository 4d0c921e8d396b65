"""Compiles a query document into one SQL statement whose single value is the response JSON.

Semantics mirror the strawberry resolvers exactly (keyset pages on ascending ids, or descending
for newest-first lists, totals without the cursor, the same filters, the same read policies);
tests/api/test_compiled_equivalence.py holds the two paths to that."""

from __future__ import annotations

import re
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any

from graphql import DocumentNode, GraphQLSchema, OperationDefinitionNode

from gridweave.compiled import roots
from gridweave.compiled.declare import ObjectType
from gridweave.compiled.selection import (
    Binder,
    Fallback,
    Selection,
    Variables,
    collect,
    fragments_of,
)
from gridweave.compiled.sqljson import json_object
from gridweave.compiled.types_agreements import TYPES as AGREEMENT_TYPES
from gridweave.compiled.types_areas import TYPES as AREA_TYPES
from gridweave.compiled.types_audit import TYPES as AUDIT_TYPES
from gridweave.compiled.types_meetings import TYPES as MEETING_TYPES
from gridweave.compiled.types_organizations import TYPES as ORGANIZATION_TYPES
from gridweave.compiled.types_projects import TYPES as PROJECT_TYPES
from gridweave.compiled.walker import Compiler

DECLARED: dict[str, ObjectType] = {
    t.name: t
    for t in (
        *AREA_TYPES,
        *ORGANIZATION_TYPES,
        *AUDIT_TYPES,
        *AGREEMENT_TYPES,
        *MEETING_TYPES,
        *PROJECT_TYPES,
    )
}
ROOT_FIELDS = frozenset({*roots.ROOTS, "node"})
# Built whole by the walker (connections), by a root's own SQL (network) or by the field that
# holds them (Area.vulnerableGroups).
GENERIC_TYPES = frozenset(
    {"PageInfo", "Network", "NetworkNode", "NetworkEdge", "VulnerableGroupCount"}
)
# Reachable from a compiled root but answered by the resolvers, each with its reason: a document
# asking for one of these goes to strawberry whole (logged once and counted, see endpoint.py).
# "Type" alone covers all of a type's fields.
NOT_COMPILED: dict[str, str] = {
    "Query.me": "the viewer's own account: one row, read once per session",
    "Query.auditLog": "newest-first ledger pages for auditors; not a dashboard read",
    "Query.auditChainValid": "recomputes every hash: CPU work, not a query",
    "AuditEntry.actor": "who may see a user needs both users' grants (services.users.may_see)",
    "User": "per-viewer visibility that needs both users' grants (services.users.may_see)",
    "RoleGrant": "reached only through User",
    # Purchased services (issue 11): per-viewer, per-row rules (services/access.py BidRule,
    # ReviewRule) not declared for the compiled path yet; the resolvers answer them.
    "Query.procurementCalls": "calls for bids: a short public list, not a dashboard read",
    "Organization.trackRecord": "performance results: per-viewer rules (ReviewRule)",
    "ProcurementCall": "its bids and ranking need per-row bid and score rules (BidRule)",
    "Bid": "per-row visibility and blind-review stand-ins (BidRule, may_identify_bidder)",
    "Review": "per-row visibility (ReviewRule) and evaluator stand-ins",
    "Query.coverage": "an analysis (search, flow) run in a worker thread, not one SQL read",
}
_PLACEHOLDER = re.compile(r"\$(\d+)::")


@dataclass(frozen=True, slots=True)
class CompiledQuery:
    sql: str
    binders: tuple[Binder, ...]
    used: tuple[int, ...]
    per_viewer: bool = False

    def params(self, user_id: int, variables: Variables) -> list[Any]:
        """Every binder runs (each argument is checked as strawberry would), but only the values
        the statement mentions are passed."""
        values = [b(variables) for b in self.binders]
        return [user_id, *(values[i] for i in self.used)]


@dataclass(frozen=True, slots=True)
class Compiled:
    """A statement and the switches that chose its shape (see walker.Compiler.switch)."""

    query: CompiledQuery
    switches: tuple[Binder, ...]

    def signature(self, variables: Variables) -> tuple[Hashable, ...]:
        return tuple(s(variables) for s in self.switches)


def compile_query(
    schema: GraphQLSchema,
    doc: DocumentNode,
    operation: OperationDefinitionNode,
    variables: Variables,
    *,
    max_network_nodes: int = 20_000,
    max_page_size: int = 100,
    types: Mapping[str, ObjectType] = DECLARED,
) -> Compiled:
    """Raises Fallback for anything the compiled path does not cover."""
    c = Compiler(
        schema,
        types,
        fragments_of(doc),
        variables,
        max_page_size=max_page_size,
        max_network_nodes=max_network_nodes,
    )
    fields = collect([operation.selection_set], {"Query"}, c.fragments)
    values = _root_values(c, fields)
    data = json_object([(s.key, values[s.key]) for s in fields])
    guards = " AND ".join(["EXISTS (SELECT 1 FROM users WHERE id = $1::bigint)", *c.guards])
    with_ctes = f"WITH {', '.join(c.ctes)} " if c.ctes else ""
    sql = f"{with_ctes}SELECT CASE WHEN {guards} THEN json_build_object('data', {data})::text END"
    return Compiled(_drop_unused(sql, c.binders, c.per_viewer), tuple(c.switches))


def _root_values(c: Compiler, fields: list[Selection]) -> dict[str, str]:
    values: dict[str, str] = {}
    groups: dict[str, list[Selection]] = {}
    for s in fields:
        if s.name == "node":
            groups.setdefault(roots.shape(s), []).append(s)
        elif s.name in roots.ROOTS:
            values[s.key] = roots.ROOTS[s.name](c, s)
        else:
            raise Fallback(f"Query.{s.name}")
    for group in groups.values():
        for s, sql in zip(group, roots.nodes(c, group), strict=True):
            values[s.key] = sql
    return values


def _drop_unused(sql: str, binders: list[Binder], per_viewer: bool) -> CompiledQuery:
    """Number the parameters the statement really uses ($1, the user id, stays first);
    PostgreSQL refuses parameters a statement never mentions."""
    used = sorted({int(n) for n in _PLACEHOLDER.findall(sql)} - {1})
    renumber = {old: new for new, old in enumerate(used, start=2)}
    sql = _PLACEHOLDER.sub(lambda m: f"${renumber.get(int(m.group(1)), 1)}::", sql)
    return CompiledQuery(
        sql=sql,
        binders=tuple(binders),
        used=tuple(old - 2 for old in used),
        per_viewer=per_viewer,
    )

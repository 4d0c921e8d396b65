"""No silent slow path: the dashboard's hot queries are answered by the compiled read path, every
field reachable from a compiled root is either compiled or listed in NOT_COMPILED with its reason,
and a document that falls back is logged once (naming the field) and counted."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from graphql import GraphQLList, GraphQLNonNull, GraphQLObjectType, GraphQLSchema, get_named_type

from bench.claims_lib.main import BOARD
from bench.meetings_lib.queries import MEETINGS_DASHBOARD
from bench.readpath_lib.queries import GRIDWEAVE_DASHBOARD, GRIDWEAVE_NETWORK, GRIDWEAVE_SEARCH
from gridweave.compiled.compiler import DECLARED, GENERIC_TYPES, NOT_COMPILED, ROOT_FIELDS
from gridweave.compiled.endpoint import CompiledReads
from gridweave.schema.root import build_schema, validation_rules
from gridweave.settings import Settings
from tests.factories import gid

README = Path(__file__).resolve().parents[2] / "README.md"


def _readme_blocks() -> list[str]:
    return re.findall(r"```graphql\n(.*?)```", README.read_text(), flags=re.S)


def readme_first_query() -> str:
    """The first query (not mutation) block of the README: what a new user runs first."""
    blocks = _readme_blocks()
    return next(b for b in blocks if not b.lstrip().startswith(("mutation", "subscription")))


def readme_query(name: str) -> str:
    return next(b for b in _readme_blocks() if b.lstrip().startswith(f"query {name}"))


MUST_COMPILE: list[tuple[str, str, dict[str, object]]] = [
    ("bench dashboard", GRIDWEAVE_DASHBOARD, {"street": gid("Area", 3)}),
    (
        "bench search",
        GRIDWEAVE_SEARCH,
        {"kind": "SOCIAL_ORGANIZATION", "search": "社", "first": 100},
    ),
    ("bench network", GRIDWEAVE_NETWORK, {"area": gid("Area", 4)}),
    ("README first query", readme_first_query(), {}),
    (
        "dashboard with agreements",
        GRIDWEAVE_DASHBOARD.replace(
            "id name kind", "id name kind agreements { title status community { name } }", 1
        ),
        {"street": gid("Area", 3)},
    ),
    ("bench project board", BOARD, {"area": gid("Area", 5), "first": 50}),
    ("README compliance query", readme_query("Compliance"), {"street": gid("Area", 3)}),
    ("bench meetings dashboard", MEETINGS_DASHBOARD, {"area": gid("Area", 3), "first": 20}),
    (
        "bench meetings dashboard, next page",
        MEETINGS_DASHBOARD,
        {"area": gid("Area", 3), "after": gid("JointMeeting", 20)},
    ),
    (
        "a meeting by id",
        """query($m: ID!) { node(id: $m) { ... on JointMeeting { name
            convenerOn(on: "2026-03-31") { name } satThisQuarter(on: "2026-04-01") } } }""",
        {"m": gid("JointMeeting", 1)},
    ),
]


@pytest.fixture(scope="module")
def reads() -> CompiledReads:
    settings = Settings(secret_key="x" * 40)
    return CompiledReads(build_schema(settings)._schema, validation_rules(settings))


@pytest.mark.parametrize(
    ("name", "query", "variables"), MUST_COMPILE, ids=[m[0] for m in MUST_COMPILE]
)
def test_hot_queries_are_compiled(
    reads: CompiledReads, name: str, query: str, variables: dict[str, object]
) -> None:
    reason = reads.explain(query, variables)
    assert reason is None, f"{name} falls back to the resolvers because of {reason}"


def test_an_uncompiled_field_in_a_hot_query_is_named(reads: CompiledReads) -> None:
    query = GRIDWEAVE_DASHBOARD.replace("id name kind", "id name kind children { id } __x: id", 1)
    assert reads.explain(query, {"street": gid("Area", 3)}) is None  # still all compiled
    with_user = "{ me { id } areas(first: 1) { totalCount } }"
    assert reads.explain(with_user) == "Query.me"
    entry = gid("AuditEntry", 1)
    ledger = f'{{ node(id: "{entry}") {{ ... on AuditEntry {{ action actor {{ id }} }} }} }}'
    assert reads.explain(ledger) == "AuditEntry.actor"


def _named_object(t: object) -> GraphQLObjectType | None:
    while isinstance(t, GraphQLNonNull | GraphQLList):
        t = t.of_type
    named = get_named_type(t)  # type: ignore[arg-type]
    return named if isinstance(named, GraphQLObjectType) else None


def test_every_field_reachable_from_a_compiled_root_is_compiled_or_listed() -> None:
    schema: GraphQLSchema = build_schema(Settings(secret_key="x" * 40))._schema
    query = schema.query_type
    assert query is not None
    node = schema.get_type("Node")
    todo: list[GraphQLObjectType] = list(schema.get_implementations(node).objects)  # type: ignore[arg-type]
    missing: list[str] = []
    for name, f in query.fields.items():
        if name in ROOT_FIELDS:
            t = _named_object(f.type)
            if t is not None:
                todo.append(t)
        elif f"Query.{name}" not in NOT_COMPILED:
            missing.append(f"Query.{name}")
    seen: set[str] = set()
    while todo:
        t = todo.pop()
        if t.name in seen or t.name in NOT_COMPILED:
            continue
        seen.add(t.name)
        connection = t.name.endswith(("Connection", "Edge"))
        if t.name not in DECLARED and not connection and t.name not in GENERIC_TYPES:
            missing.append(t.name)
            continue
        for fname, f in t.fields.items():
            key = f"{t.name}.{fname}"
            declared = t.name in DECLARED and fname in DECLARED[t.name].fields
            if not (declared or connection or t.name in GENERIC_TYPES or key in NOT_COMPILED):
                missing.append(key)
            elif key not in NOT_COMPILED:
                child = _named_object(f.type)
                if child is not None:
                    todo.append(child)
    assert missing == [], "neither compiled nor listed in NOT_COMPILED (with a reason)"
    assert {"Area", "Organization", "ServiceArea", "OrganizationLink", "Claim"} <= seen


async def test_a_fallback_is_logged_once_and_counted(
    reads: CompiledReads, caplog: pytest.LogCaptureFixture
) -> None:
    prepared = reads.prepare("query Mine { me { id } }", None)
    assert prepared is not None
    caplog.set_level(logging.INFO, logger="gridweave.compiled.endpoint")
    for _ in range(3):
        with pytest.raises(Exception, match="Query.me"):
            reads.statement(prepared, {})
    logged = [r for r in caplog.records if "slow path" in r.getMessage()]
    assert len(logged) == 1
    assert "Query.me" in logged[0].getMessage()
    assert "Mine" in logged[0].getMessage()
    assert reads.fallbacks["Query.me"] == 1

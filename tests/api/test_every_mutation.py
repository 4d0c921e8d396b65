"""Walks the served schema: every mutation but login refuses an anonymous caller with an
UNAUTHENTICATED userError and writes nothing, whatever its input."""

from __future__ import annotations

from typing import Any

import httpx
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLScalarType,
)
from sqlalchemy import func, select

from gridweave.db import Sessionmaker
from gridweave.models import AuditEntry
from gridweave.schema.root import build_schema
from gridweave.settings import Settings
from tests.factories import Api, gid

PUBLIC = {"login"}
SCALARS: dict[str, Any] = {
    "ID": gid("Area", 1),
    "String": "x",
    "Int": 1,
    "Float": 1.0,
    "Boolean": True,
    "Date": "2026-01-01",
    "DateTime": "2026-01-01T00:00:00Z",
    "Decimal": "1",
}


def sample(t: GraphQLInputType) -> Any:
    """A value of the input type, with every field filled in (required or not)."""
    if isinstance(t, GraphQLNonNull):
        return sample(t.of_type)
    if isinstance(t, GraphQLList):
        return [sample(t.of_type)]
    if isinstance(t, GraphQLEnumType):
        return next(iter(t.values))
    if isinstance(t, GraphQLScalarType):
        return SCALARS[t.name]
    assert isinstance(t, GraphQLInputObjectType)
    return {name: sample(f.type) for name, f in t.fields.items()}


async def test_every_mutation_refuses_anonymous_callers_and_writes_nothing(
    client: httpx.AsyncClient, sessionmaker: Sessionmaker, settings: Settings
) -> None:
    mutation = build_schema(settings)._schema.mutation_type
    assert mutation is not None
    names = sorted(set(mutation.fields) - PUBLIC)
    assert len(names) >= 9

    for name in names:
        field = mutation.fields[name]
        input_type = field.args["input"].type
        query = (
            f"mutation($input: {input_type}) {{ {name}(input: $input) "
            "{ userErrors { code field message } } }"
        )
        body = await Api(client)(query, input=sample(input_type))

        assert "errors" not in body, (name, body)
        errors = body["data"][name]["userErrors"]
        assert [e["code"] for e in errors] == ["UNAUTHENTICATED"], name

    async with sessionmaker() as s:
        assert await s.scalar(select(func.count()).select_from(AuditEntry)) == 0

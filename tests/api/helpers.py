"""What the GraphQL tests share: a client of an app served the way a server runs it, mutations
called by name, and the check that a refused mutation answers with one userError and writes
nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, NamedTuple

import httpx
from asgi_lifespan import LifespanManager
from starlette.applications import Starlette

from gridweave.db import Sessionmaker
from tests.factories import Api
from tests.snapshot import changed, snapshot

ERRORS = "userErrors { field code message }"


@asynccontextmanager
async def serve(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of ``app``, with its lifespan (startup and shutdown) run around it."""
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c


def mutation(name: str, input_type: str, selection: str) -> str:
    """The document of mutation ``name``, asking for ``selection`` and the userErrors."""
    return f"mutation($input: {input_type}!) {{ {name}(input: $input) {{ {selection} {ERRORS} }} }}"


async def call(api: Api, name: str, input_type: str, selection: str, /, **input: Any) -> Any:
    """Mutation ``name`` with ``input``; its payload (the GraphQL request itself must succeed)."""
    data = await api.data(mutation(name, input_type, selection), input=input)
    return data[name]


class Refusal(NamedTuple):
    """A call a mutation must refuse: who calls, with what input, and the one userError expected
    (its code, and the field it points at, if any)."""

    caller: Api
    input: dict[str, Any]
    code: str
    field: list[str] | None = None


async def assert_refused(
    sm: Sessionmaker,
    name: str,
    input_type: str,
    payload_field: str,
    *refusals: Refusal,
) -> None:
    """For each refusal, one after the other: mutation ``name`` answers with exactly that one
    userError, a null ``payload_field``, and leaves every table exactly as it was (rows and
    content: see tests/snapshot.py)."""
    selection = (
        payload_field if payload_field == "deletedId" else f"{payload_field} {{ __typename }}"
    )
    for refusal in refusals:
        async with sm() as s:
            before = await snapshot(s)
        result = await call(refusal.caller, name, input_type, selection, **refusal.input)
        errors = [(e["code"], e["field"]) for e in result["userErrors"]]
        assert errors == [(refusal.code, refusal.field)], (refusal.input, result)
        assert result["userErrors"][0]["message"]
        assert result[payload_field] is None
        async with sm() as s:
            after = await snapshot(s)
        assert changed(before, after) == [], (refusal.input, "a refused mutation wrote")

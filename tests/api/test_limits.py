"""The endpoint's limits, proven on a tiny schema and a tiny app: no database needed.

Run alone with ``pytest tests/api/test_limits.py -p no:cacheprovider --noconftest``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import AsyncIterator
from typing import Any, cast

import httpx
import pytest
import strawberry
from asgi_correlation_id import correlation_id
from graphql import get_introspection_query, parse
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import Message, Scope
from strawberry.asgi import GraphQL
from strawberry.extensions.validation_cache import _get_validate_cache

from gridweave.errors import Forbidden
from gridweave.middleware import BodySizeLimit, RequestTimeout, RequireJson
from gridweave.schema.limits import (
    QUERY_CACHE_SIZE,
    measure_operations,
    schema_extensions,
    strawberry_config,
)
from gridweave.settings import Settings

# --- a tiny schema: a recursive list type and a connection type -----------------------------


@strawberry.type
class Node:
    name: str

    @strawberry.field
    def children(self, first: int | None = None) -> list[Node]:
        return [Node(name=f"{self.name}.{i}") for i in range(min(first or 2, 3))]

    @strawberry.field
    def boom(self) -> str:
        raise RuntimeError("connection string postgres://secret@db leaked")

    @strawberry.field
    def refused(self) -> str:
        raise Forbidden("You may not see this area", field=["areaId"])


@strawberry.type
class AreaEdge:
    node: Area


@strawberry.type
class AreaConnection:
    edges: list[AreaEdge]


@strawberry.type
class Area:
    name: str

    @strawberry.field
    def children(self, first: int | None = None) -> AreaConnection:
        return AreaConnection(edges=[])


@strawberry.type
class Query:
    @strawberry.field
    def root(self) -> Node:
        return Node(name="root")

    @strawberry.field
    def areas(self, first: int | None = None) -> AreaConnection:
        return AreaConnection(edges=[AreaEdge(node=Area(name="north"))])


@strawberry.type
class Mutation:
    @strawberry.mutation
    def touch(self) -> str:
        return "touched"


def make_schema(settings: Settings | None = None) -> strawberry.Schema:
    settings = settings or Settings()
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        extensions=schema_extensions(settings),
        config=strawberry_config(settings),
    )


SETTINGS = Settings()
SCHEMA = make_schema(SETTINGS)


def nested(levels: int, leaf: str = "name", first: int | str | None = 1) -> str:
    """``levels`` nested ``children(first: ...)`` selections around ``leaf``."""
    args = f"(first: {first})" if first is not None else ""
    query = leaf
    for _ in range(levels):
        query = f"children{args} {{ {query} }}"
    return query


async def errors_of(query: str, schema: strawberry.Schema = SCHEMA, **kwargs: Any) -> list[str]:
    result = await schema.execute(query, **kwargs)
    return [error.message for error in result.errors or ()]


# --- limits ---------------------------------------------------------------------------------


async def test_normal_query_passes() -> None:
    query = "{ root { name children(first: 10) { name children(first: 10) { name } } } }"
    result = await SCHEMA.execute(query)
    assert result.errors is None
    assert result.data is not None
    assert result.data["root"]["children"][0]["name"] == "root.0"


async def test_depth_20_is_refused_naming_depth() -> None:
    # root + 19 nested children = 20 levels of fields with selections.
    query = f"{{ root {{ {nested(19)} }} }}"
    messages = await errors_of(query)
    assert messages == [f"Query depth 20 exceeds the limit of {SETTINGS.max_depth}"]


async def test_depth_at_the_limit_passes() -> None:
    query = f"{{ root {{ {nested(SETTINGS.max_depth - 1)} }} }}"
    assert await errors_of(query) == []


async def test_depth_counts_through_fragments() -> None:
    query = (
        f"query Deep {{ root {{ ...Kids }} }} fragment Kids on Node {{ {nested(14)} }}"
        # a cycle must not hang the rule (graphql-core reports it)
        " fragment A on Node { ...B } fragment B on Node { ...A }"
    )
    messages = await errors_of(query)
    assert f"Query depth 15 in operation 'Deep' exceeds the limit of {SETTINGS.max_depth}" in (
        messages
    )


async def test_500_aliases_are_refused_naming_aliases() -> None:
    aliases = " ".join(f"a{i}: name" for i in range(500))
    messages = await errors_of(f"{{ root {{ {aliases} }} }}")
    assert messages == [f"Too many aliases (500 > {SETTINGS.max_aliases})"]


async def test_aliases_hidden_in_fragments_count() -> None:
    aliases = " ".join(f"a{i}: name" for i in range(20))
    query = f"{{ root {{ ...F c: children {{ ...F }} }} }} fragment F on Node {{ {aliases} }}"
    messages = await errors_of(query)
    assert messages == [f"Too many aliases (41 > {SETTINGS.max_aliases})"]


async def test_first_100_nested_four_deep_is_refused_naming_cost() -> None:
    query = """{
      areas(first: 100) { edges { node { name
        children(first: 100) { edges { node { name
          children(first: 100) { edges { node { name
            children(first: 100) { edges { node { name } } }
          } } }
        } } }
      } } }
    }"""
    messages = await errors_of(query)
    # innermost children: 100 * (1 + edges 1 + node 1 + name 1) = 400; each level up:
    # 100 * (1 + 1 + 1 + name 1 + the level below) -> 40,400 -> 4,040,400 -> 404,040,400
    assert messages == [f"Query cost 404,040,400 exceeds the limit of {SETTINGS.max_cost:,}"]


async def test_first_above_the_page_size_is_refused_naming_page_size() -> None:
    messages = await errors_of("{ areas(first: 500) { edges { node { name } } } }")
    assert messages == [
        f"Argument 'first' of field 'areas' is 500, above the page size limit of "
        f"{SETTINGS.max_page_size}"
    ]


async def test_cost_formula_on_list_fields() -> None:
    # children(first: 100) x4 under root: 1 * (1 + 100 * (1 + 100 * (1 + 100 * (1 + 100 * 1))))
    query = f"{{ root {{ {nested(4, first=100)} }} }}"
    messages = await errors_of(query)
    assert messages == [f"Query cost 201,010,101 exceeds the limit of {SETTINGS.max_cost:,}"]
    # Two levels of 100 stay under the default limit.
    assert await errors_of(f"{{ root {{ {nested(2, first=100)} }} }}") == []


async def test_cost_counts_variables_and_missing_first_as_a_full_page() -> None:
    with_variables = f"query($n: Int) {{ root {{ {nested(3, first='$n')} }} }}"
    assert any(m.startswith("Query cost ") for m in await errors_of(with_variables))
    # `first` omitted on a field that declares it: a full page (100) too.
    assert any(
        m.startswith("Query cost ")
        for m in await errors_of(f"{{ root {{ {nested(3, first=None)} }} }}")
    )
    # The same nesting with small literal pages passes.
    assert await errors_of(f"{{ root {{ {nested(3, first=5)} }} }}") == []


def test_measure_operations_follows_fragments_once_per_selection_set() -> None:
    document = parse(
        """
        query Q { root { ...F ...F ... on Node { ...F x: name } } }
        fragment F on Node { a: name children(first: 3) { name } }
        """
    )
    [measure] = measure_operations(document, SCHEMA._schema).values()
    # root: 1 + (F: a 1 + children 3 * (1 + 1) = 7) + x 1 = 9; depth: root > children > name
    assert (measure.depth, measure.aliases, measure.cost) == (2, 2, 9)


async def test_fragment_fan_out_is_measured_in_linear_time() -> None:
    # strawberry's own depth and alias limiters walk this in 2**n steps.
    n = 60
    fragments = " ".join(f"fragment F{i} on Node {{ ...F{i + 1} ...F{i + 1} }}" for i in range(n))
    query = f"{{ root {{ ...F0 }} }} {fragments} fragment F{n} on Node {{ name }}"
    started = time.perf_counter()
    result = await SCHEMA.execute(query)
    assert time.perf_counter() - started < 2
    assert result.errors is None


async def test_too_many_tokens_are_refused_naming_tokens() -> None:
    names = " ".join(["name"] * (SETTINGS.max_tokens + 10))
    messages = await errors_of(f"{{ root {{ {names} }} }}")
    assert len(messages) == 1
    assert f"more than {SETTINGS.max_tokens} tokens" in messages[0]


async def test_validation_cache_hits_with_factories() -> None:
    cache = cast("functools._lru_cache_wrapper[Any]", _get_validate_cache(QUERY_CACHE_SIZE))
    query = "{ root { name children(first: 3) { name } } }"
    await SCHEMA.execute(query)
    before = cache.cache_info().hits
    await SCHEMA.execute(query)
    assert cache.cache_info().hits == before + 1


# --- introspection and suggestions ----------------------------------------------------------


async def test_introspection_refused_when_disabled() -> None:
    schema = make_schema(Settings(introspection=False))
    messages = await errors_of("{ __schema { queryType { name } } }", schema)
    assert messages
    assert all("introspection has been disabled" in message for message in messages)
    assert "'__schema'" in messages[0]
    # __typename is not introspection of the schema and stays allowed.
    assert await errors_of("{ root { __typename } }", schema) == []


async def test_full_introspection_query_passes_the_limits_when_enabled() -> None:
    schema = make_schema(Settings(introspection=True))
    query = get_introspection_query(
        descriptions=True,
        specified_by_url=True,
        directive_is_repeatable=True,
        schema_description=True,
        input_value_deprecation=True,
    )
    result = await schema.execute(query)
    assert result.errors is None


async def test_no_field_suggestions() -> None:
    messages = await errors_of("{ root { nam } }")
    assert messages == ["Cannot query field 'nam' on type 'Node'."]


# --- errors ---------------------------------------------------------------------------------


async def test_unexpected_error_is_masked_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="gridweave.errors")
    token = correlation_id.set("req-123")
    try:
        result = await SCHEMA.execute("{ root { name boom } }")
    finally:
        correlation_id.reset(token)
    assert result.errors is not None
    [error] = result.errors
    assert error.message == "Unexpected error. Request id: req-123"
    assert "secret" not in str(error.formatted)
    assert error.extensions == {"code": "INTERNAL_SERVER_ERROR", "requestId": "req-123"}
    assert error.path == ["root", "boom"]
    records = [r for r in caplog.records if r.name == "gridweave.errors"]
    assert len(records) == 1
    assert "req-123" in records[0].getMessage()
    assert records[0].exc_info is not None
    assert isinstance(records[0].exc_info[1], RuntimeError)
    assert getattr(records[0], "request_id", None) == "req-123"


async def test_unexpected_error_without_correlation_id_gets_a_fresh_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="gridweave.errors")
    result = await SCHEMA.execute("{ root { boom } }")
    assert result.errors is not None
    message = result.errors[0].message
    assert message.startswith("Unexpected error. Request id: ")
    request_id = message.rsplit(" ", 1)[1]
    assert len(request_id) == 32
    assert any(request_id in r.getMessage() for r in caplog.records)


async def test_domain_error_passes_with_code() -> None:
    result = await SCHEMA.execute("{ root { name refused } }")
    assert result.errors is not None
    [error] = result.errors
    assert error.message == "You may not see this area"
    assert error.extensions == {"code": "FORBIDDEN", "field": ["areaId"]}
    assert error.formatted["extensions"] == {"code": "FORBIDDEN", "field": ["areaId"]}


async def test_validation_errors_are_not_masked() -> None:
    messages = await errors_of('{ root { children(first: "x") { name } } }')
    assert messages == ['Int cannot represent non-integer value: "x"']


# --- middleware -----------------------------------------------------------------------------

MAX_BYTES = 1_000


async def echo(request: Request) -> JSONResponse:
    body = await request.body()
    return JSONResponse({"received": len(body)})


def make_app() -> Starlette:
    graphql = GraphQL(SCHEMA, allow_queries_via_get=False, graphql_ide="graphiql")
    return Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            Route("/echo", echo, methods=["POST"]),
        ],
        middleware=[
            Middleware(BodySizeLimit, max_bytes=MAX_BYTES),
            Middleware(RequireJson, path="/graphql"),
        ],
    )


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=make_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


async def test_json_post_is_served(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", json={"query": "{ root { name } }"})
    assert response.status_code == 200
    assert response.json() == {"data": {"root": {"name": "root"}}}
    response = await client.post(
        "/graphql",
        content=b'{"query": "{ root { name } }"}',
        headers={"content-type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 200


async def test_body_over_content_length_limit_is_413(client: httpx.AsyncClient) -> None:
    query = "{ root { " + "name " * 400 + "} }"
    response = await client.post("/graphql", json={"query": query})
    assert response.status_code == 413
    assert response.json() == {
        "errors": [{"message": f"Request body larger than {MAX_BYTES} bytes"}]
    }


async def test_streamed_body_over_limit_is_413(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b" " * 100

    for path in ("/graphql", "/echo"):
        response = await client.post(
            path, content=chunks(), headers={"content-type": "application/json"}
        )
        assert "content-length" not in response.request.headers
        assert response.status_code == 413, path
        assert response.json() == {
            "errors": [{"message": f"Request body larger than {MAX_BYTES} bytes"}]
        }


async def test_streamed_body_under_limit_passes(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(5):
            yield b"x" * 100

    response = await client.post("/echo", content=chunks())
    assert response.status_code == 200
    assert response.json() == {"received": 500}


async def test_invalid_content_length_is_400() -> None:
    app = BodySizeLimit(make_app(), max_bytes=MAX_BYTES)
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope: Scope = {
        "type": "http",
        "method": "POST",
        "path": "/graphql",
        "headers": [(b"content-length", b"12abc"), (b"content-type", b"application/json")],
    }
    await app(scope, receive, send)
    assert sent[0]["status"] == 400


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"query=%7B+root+%7B+name+%7D+%7D", "application/x-www-form-urlencoded"),
        (b'{"query": "{ root { name } }"}', "text/plain"),
        (
            b'--b\r\nContent-Disposition: form-data; name="query"\r\n\r\n{ root }\r\n--b--',
            "multipart/form-data; boundary=b",
        ),
        (b'{"query": "{ root { name } }"}', None),
    ],
)
async def test_non_json_post_is_415(
    client: httpx.AsyncClient, content: bytes, content_type: str | None
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = await client.post("/graphql", content=content, headers=headers)
    assert response.status_code == 415
    assert response.json() == {"errors": [{"message": "Content-Type must be application/json"}]}


async def test_form_post_elsewhere_is_not_touched(client: httpx.AsyncClient) -> None:
    response = await client.post("/echo", data={"a": "b"})
    assert response.status_code == 200


async def test_form_mutation_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql/", data={"query": "mutation { touch }"})
    assert response.status_code == 415


async def test_batched_request_is_400(client: httpx.AsyncClient) -> None:
    # strawberry's default (batching_config=None): plain-text 400 "Batching is not enabled".
    body = [{"query": "{ root { name } }"}, {"query": "{ root { name } }"}]
    response = await client.post("/graphql", json=body)
    assert response.status_code == 400
    assert response.text == "Batching is not enabled"


async def test_queries_via_get_are_refused(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql", params={"query": "{ root { name } }"})
    assert response.status_code == 400
    response = await client.get("/graphql", headers={"accept": "text/html"})
    assert response.status_code == 200
    assert "text/html" in response.headers["content-type"]


async def test_a_request_running_past_its_time_is_stopped_with_503() -> None:
    async def slow(request: Request) -> JSONResponse:
        await asyncio.sleep(5)
        return JSONResponse({"data": {}})

    async def quick(request: Request) -> JSONResponse:
        return JSONResponse({"data": {"ok": True}})

    app = Starlette(
        routes=[Route("/slow", slow), Route("/quick", quick)],
        middleware=[Middleware(RequestTimeout, seconds=0.2)],
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as client:
        stopped = await client.get("/slow")
        answered = await client.get("/quick")

    assert stopped.status_code == 503
    assert "longer than 0.2 s" in stopped.json()["errors"][0]["message"]
    assert answered.json() == {"data": {"ok": True}}

"""Every string and list a request carries is bounded, as a literal and as a variable, before any
SQL runs; LIKE wildcards in a search are plain characters; a document with several operations
needs an operationName; global ids and cursors are accepted only as the server prints them."""

from __future__ import annotations

import base64
import logging
from typing import Any

import httpx
import pytest
from graphql import parse

from gridweave.app import create_app
from gridweave.db import Sessionmaker
from gridweave.schema.bounds import InputBounds, value_problem, variable_bound_errors
from gridweave.settings import Settings
from tests.api.helpers import serve
from tests.factories import Api, gid, make_area, make_org, make_user, token_for

ORGS = "query($s: String) { organizations(search: $s, first: 5) { totalCount edges { node { name } } } }"
CREATE_ORG = "mutation($i: CreateOrganizationInput!) { createOrganization(input: $i) { organization { id } userErrors { code field message } } }"


def bounds_error(body: dict[str, Any]) -> dict[str, Any]:
    """The one top-level error of a request refused by the bounds (no data at all)."""
    assert body.get("data") is None, body
    codes = [e.get("extensions", {}).get("code") for e in body["errors"]]
    assert "VALIDATION" in codes, body
    error: dict[str, Any] = body["errors"][codes.index("VALIDATION")]
    return error


@pytest.fixture
async def resolver_api(settings: Settings, database_url: str, sessionmaker: Sessionmaker) -> Any:
    """An ADMIN on an app whose reads all go through strawberry (the compiled path applies the
    literal rule through validation_rules(); its variables are the lead's to wire)."""
    app = create_app(
        settings.model_copy(update={"compiled_reads": False}), database_url=database_url
    )
    user = await make_user(sessionmaker, "ADMIN")
    async with serve(app) as client:
        yield Api(client, token_for(settings, user))


async def test_a_long_search_literal_is_refused_on_both_read_paths(
    reader: Api, settings: Settings
) -> None:
    term = "a%_" * 34  # 102 characters, one past GRIDWEAVE_MAX_SEARCH_LENGTH's 100

    body = await reader(f'{{ organizations(search: "{term}") {{ totalCount }} }}')

    error = bounds_error(body)
    assert "102 characters" in error["message"]
    assert "'search'" in error["message"]
    assert error["extensions"]["limit"] == settings.max_search_length


async def test_a_long_search_variable_is_refused_on_both_read_paths(reader: Api) -> None:
    body = await reader(ORGS, s="a%_" * 80_000)

    assert "240,000 characters" in bounds_error(body)["message"]


async def test_a_search_variable_used_in_a_fragment_gets_the_search_limit(
    resolver_api: Api,
) -> None:
    query = "query($s: String) { ...F } fragment F on Query { areas(search: $s) { totalCount } }"

    body = await resolver_api(query, s="x" * 101)

    assert "101 characters" in bounds_error(body)["message"]


async def test_33000_category_codes_never_reach_postgresql(
    resolver_api: Api, sessionmaker: Sessionmaker, caplog: pytest.LogCaptureFixture
) -> None:
    city = await make_area(sessionmaker, level="CITY")
    service_area = {"areaId": gid("Area", city.id), "categoryCodes": ["a"] * 33_000}

    with caplog.at_level(logging.INFO):
        body = await resolver_api(
            CREATE_ORG,
            i={
                "name": "x",
                "kind": "SOCIAL_ORGANIZATION",
                "areaId": gid("Area", city.id),
                "serviceAreas": [service_area],
            },
        )

    assert "33,000 items" in bounds_error(body)["message"]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_many_short_lists_are_bounded_together(
    resolver_api: Api, sessionmaker: Sessionmaker, settings: Settings
) -> None:
    city = await make_area(sessionmaker, level="CITY")
    service_areas = [
        {"areaId": gid("Area", city.id), "categoryCodes": ["elderly_care"] * 200} for _ in range(30)
    ]

    body = await resolver_api(
        CREATE_ORG,
        i={
            "name": "x",
            "kind": "SOCIAL_ORGANIZATION",
            "areaId": gid("Area", city.id),
            "serviceAreas": service_areas,
        },
    )

    error = bounds_error(body)
    assert "together" in error["message"]
    assert error["extensions"]["limit"] == settings.max_input_items


async def test_a_long_list_literal_and_a_long_text_literal_are_refused(reader: Api) -> None:
    ids = ", ".join(f'"{gid("Area", i)}"' for i in range(1, 202))
    long_list = await reader(
        f'mutation {{ setNeighbors(input: {{areaId: "{gid("Area", 1)}", neighborIds: [{ids}]}}) {{ area {{ id }} }} }}'
    )
    long_text = await reader(f'{{ areas(parentId: "{"Q" * 5001}") {{ totalCount }} }}')

    assert "201 items" in bounds_error(long_list)["message"]
    assert "5,001 characters" in bounds_error(long_text)["message"]


async def test_like_wildcards_in_a_search_are_plain_characters(
    reader: Api, sessionmaker: Sessionmaker
) -> None:
    city = await make_area(sessionmaker, level="CITY")
    for name in ("百分之100%社区", "A_B服务队", "AxB服务队", "back\\slash队"):
        await make_org(sessionmaker, area=city, name=name)

    async def names(term: str) -> list[str]:
        data = await reader.data(ORGS, s=term)
        return sorted(e["node"]["name"] for e in data["organizations"]["edges"])

    assert await names("%") == ["百分之100%社区"]
    assert await names("_") == ["A_B服务队"]
    assert await names("\\") == ["back\\slash队"]
    assert await names("A%B") == []


def test_value_problem_walks_deep_values_without_recursion() -> None:
    def nested(levels: int) -> Any:
        value: Any = "x"
        for _ in range(levels):
            value = [value]
        return value

    fine, counted = value_problem(nested(4_000), InputBounds())
    refused, _ = value_problem(nested(100_000), InputBounds())

    assert (fine, counted) == (None, 4_000)
    assert refused is not None
    assert "together" in refused.message


def test_variable_bound_errors_is_the_function_the_compiled_path_calls() -> None:
    doc = parse("query($s: String, $n: [ID!]) { areas(search: $s) { totalCount } }")
    operation = doc.definitions[0]
    bounds = InputBounds(max_list_length=3)

    fine = variable_bound_errors(doc, operation, {"s": "x" * 100, "n": ["a"] * 3}, bounds)  # type: ignore[arg-type]
    long = variable_bound_errors(doc, operation, {"s": "x" * 101}, bounds)  # type: ignore[arg-type]
    many = variable_bound_errors(doc, operation, {"n": ["a"] * 4}, bounds)  # type: ignore[arg-type]
    nul = variable_bound_errors(doc, operation, {"s": "a\x00"}, bounds)  # type: ignore[arg-type]

    assert fine == []
    assert [e.extensions["code"] for e in long + many + nul] == ["VALIDATION"] * 3  # type: ignore[index]


# ---------------------------------------------------------------- operations and ids


async def test_several_operations_without_an_operation_name_are_refused(
    client: httpx.AsyncClient, sessionmaker: Sessionmaker, settings: Settings
) -> None:
    token = token_for(settings, await make_user(sessionmaker, "ADMIN"))
    query = "query A { __typename } query B { me { id } }"

    refused = await Api(client, token)(query)
    r = await client.post(
        "/graphql",
        json={"query": query, "operationName": "B"},
        headers={"Authorization": f"Bearer {token}"},
    )

    assert refused["data"] is None
    assert refused["errors"][0]["message"] == (
        "Must provide operation name if query contains multiple operations."
    )
    assert r.json()["data"]["me"]["id"]


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    "spelling",
    ["Area: {pk}", "Area:0{pk}", "Area:+{pk}", "Area:{pk} ", "Area:{arabic}", "{canonical}=="],
    ids=["space", "leading-zero", "plus", "trailing-space", "other-digits", "extra-padding"],
)
async def test_non_canonical_global_ids_are_not_ids(
    reader: Api, sessionmaker: Sessionmaker, spelling: str
) -> None:
    city = await make_area(sessionmaker, level="CITY")
    arabic = "".join(chr(0x0660 + int(d)) for d in str(city.id))
    raw = spelling.format(pk=city.id, arabic=arabic, canonical=gid("Area", city.id))
    alias = raw if spelling.startswith("{canonical}") else _b64(raw)

    found = await reader.data("query($id: ID!) { node(id: $id) { id } }", id=alias)
    canonical = await reader.data(
        "query($id: ID!) { node(id: $id) { id } }", id=gid("Area", city.id)
    )
    listed = await reader("query($p: ID) { areas(parentId: $p) { totalCount } }", p=alias)

    assert found["node"] is None
    assert canonical["node"] == {"id": gid("Area", city.id)}
    assert "not the id of" in listed["errors"][0]["message"]


async def test_a_non_canonical_cursor_is_refused(reader: Api, sessionmaker: Sessionmaker) -> None:
    await make_area(sessionmaker, level="CITY")
    cursor = _b64("cursor:01")

    body = await reader(f'{{ areas(after: "{cursor}") {{ totalCount }} }}')

    assert "cursor is not valid" in body["errors"][0]["message"]


async def test_the_bounds_hold_for_anonymous_callers_too(client: httpx.AsyncClient) -> None:
    body = await Api(client)(
        'mutation($e: String!) { login(input: {email: $e, password: "x"}) { token } }',
        e="a" * 5_001,
    )

    assert "5,001 characters" in bounds_error(body)["message"]

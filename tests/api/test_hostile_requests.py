"""What a hostile probe tried: schema hints in production, malformed bodies, unstorable text, an
int32-sized depth. Each is an answer (400, or a GraphQL error), never a 500 or a traceback."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from gridweave.app import create_app
from gridweave.db import Sessionmaker
from gridweave.settings import Settings
from tests.api.helpers import serve
from tests.factories import Api, gid, make_area, make_org, make_user, token_for

LOGIN = "mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) { token userErrors { code } } }"


@pytest.fixture
async def production(settings: Settings, database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(
        settings.model_copy(update={"environment": "production"}), database_url=database_url
    )
    async with serve(app) as client:
        yield client


# ---------------------------------------------------------------- item 4: no schema hints

HINTED = [
    ("{ areas(firs: 2) { totalCount } }", {}, "argument"),
    ("{ area { id } }", {}, "field"),
    ("query($x: Usr) { me { id } }", {}, "type"),
    ("{ areas(level: CIT) { totalCount } }", {}, "enum literal"),
    ("query($l: AreaLevel) { areas(level: $l) { totalCount } }", {"l": "CIT"}, "enum variable"),
    ('mutation { login(input: {emai: "a", password: "b"}) { token } }', {}, "input field literal"),
    (
        "mutation($i: LoginInput!) { login(input: $i) { token } }",
        {"i": {"emai": "a", "password": "b"}},
        "input field variable",
    ),
    ("{ me }", {}, "selection"),
    ("{ network { nodes { id } } }", {}, "required argument"),
]


@pytest.mark.parametrize(("query", "variables", "kind"), HINTED, ids=[h[2] for h in HINTED])
async def test_production_gives_no_schema_hints(
    production: httpx.AsyncClient,
    sessionmaker: Sessionmaker,
    settings: Settings,
    query: str,
    variables: dict[str, Any],
    kind: str,
) -> None:
    token = token_for(settings, await make_user(sessionmaker, "ADMIN"))

    for caller in (Api(production), Api(production, token)):
        body = await caller(query, **variables)
        messages = " ".join(e["message"] for e in body["errors"])

        assert body.get("data") is None
        assert "Did you mean" not in messages
        # Neither the required input field (email), nor the required argument (areaId).
        assert "'email'" not in messages
        assert "areaId" not in messages


async def test_development_keeps_the_hints(client: httpx.AsyncClient) -> None:
    body = await Api(client)("{ areas(level: CIT) { totalCount } }")

    assert "Did you mean the enum value 'CITY'?" in body["errors"][0]["message"]


# ---------------------------------------------------------------- item 5: malformed requests


@pytest.mark.parametrize(
    "body",
    [
        b'{"query": "{ __typename }\xff"}',
        b'"{ __typename }"',
        b"42",
        b"null",
        b'{"query": "{ __typename }", "operationName": 5}',
        b'{"query": "mutation { login(input: {email: \\"\\ud800\\", password: \\"x\\"}) { token } }"}',
        b'{"query": "{ __typename }", "variables": {"e": "\\udfff"}}',
    ],
    ids=[
        "0xff",
        "string",
        "number",
        "null",
        "operation-name",
        "surrogate-query",
        "surrogate-variable",
    ],
)
async def test_malformed_bodies_are_400(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture, body: bytes
) -> None:
    with caplog.at_level(logging.WARNING):
        r = await client.post(
            "/graphql", content=body, headers={"content-type": "application/json"}
        )

    assert r.status_code == 400
    assert r.text  # strawberry answers its 400s in plain text
    assert not caplog.records


@pytest.mark.parametrize(
    ("email", "password"),
    [("a\x00@example.org", "long enough password"), ("a@example.org", "pass\x00word-long")],
    ids=["nul-email", "nul-password"],
)
async def test_nul_in_login_fields_is_a_validation_error_without_a_traceback(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture, email: str, password: str
) -> None:
    def quoted(text: str) -> str:
        return '"' + text.replace("\x00", "\\u0000") + '"'

    literal = (
        LOGIN.replace("($e: String!, $p: String!)", "")
        .replace("$e", quoted(email))
        .replace("$p", quoted(password))
    )

    with caplog.at_level(logging.WARNING):
        as_variables = await Api(client)(LOGIN, e=email, p=password)
        as_literals = await Api(client)(literal)

    for body in (as_variables, as_literals):
        assert body["data"] is None
        assert body["errors"][0]["extensions"]["code"] == "VALIDATION"
        assert "NUL" in body["errors"][0]["message"]
    assert not caplog.records


async def test_an_int32_depth_on_the_resolver_path_is_the_whole_subtree(
    settings: Settings,
    database_url: str,
    sessionmaker: Sessionmaker,
    caplog: pytest.LogCaptureFixture,
) -> None:
    city = await make_area(sessionmaker, level="CITY")
    district = await make_area(sessionmaker, level="DISTRICT", parent=city)
    await make_org(sessionmaker, area=district)
    app = create_app(
        settings.model_copy(update={"compiled_reads": False}), database_url=database_url
    )
    token = token_for(settings, await make_user(sessionmaker, "ADMIN"))
    query = (
        "query($a: ID!, $d: Int) { network(areaId: $a, depth: $d) { nodes { id } edges { kind } } }"
    )

    async with serve(app) as client:
        api = Api(client, token)
        with caplog.at_level(logging.WARNING):
            deepest = await api.data(query, a=gid("Area", city.id), d=2_147_483_647)
        whole = await api.data(query, a=gid("Area", city.id), d=None)
        literal = await api.data(
            f'{{ network(areaId: "{gid("Area", city.id)}", depth: 2147483647) {{ nodes {{ id }} }} }}'
        )

    assert deepest == whole
    assert len(deepest["network"]["nodes"]) == 3
    assert len(literal["network"]["nodes"]) == 3
    assert not caplog.records

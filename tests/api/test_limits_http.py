"""The limits hold on the served endpoint too, for a signed-in caller, whichever read path would
have answered: each hostile query is refused with a message that names its limit."""

from __future__ import annotations

import httpx
import pytest

from gridweave.db import Sessionmaker
from gridweave.settings import Settings
from tests.factories import Api, gid, make_area, make_user, token_for


def nested(levels: int) -> str:
    inner = "id"
    for _ in range(levels):
        inner = f"children(first: 100) {{ edges {{ node {{ {inner} }} }} }}"
    return f"{{ areas(first: 100) {{ edges {{ node {{ {inner} }} }} }} }}"


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("{ areas { edges { node { " + "parent { " * 20 + "id" + " }" * 20 + " } } } }", "depth"),
        ("{ " + " ".join(f"a{i}: __typename" for i in range(500)) + " }", "aliases"),
        (nested(3), "cost"),
    ],
)
async def test_hostile_queries_are_refused_naming_the_limit(
    client: httpx.AsyncClient,
    sessionmaker: Sessionmaker,
    settings: Settings,
    query: str,
    words: str,
) -> None:
    user = await make_user(sessionmaker, "ADMIN")

    body = await Api(client, token_for(settings, user))(query)

    assert body.get("data") is None
    assert words in body["errors"][0]["message"].lower()


async def test_oversized_body_and_form_posts_are_refused(client: httpx.AsyncClient) -> None:
    big = await client.post("/graphql", json={"query": "{ __typename }", "pad": "x" * 300_000})
    form = await client.post("/graphql", data={"query": "{ __typename }"})
    get_mutation = await client.get("/graphql", params={"query": "mutation { __typename }"})

    assert big.status_code == 413
    assert form.status_code == 415
    assert get_mutation.status_code in (400, 405)


async def test_the_compiled_read_path_keeps_the_same_limits_and_errors(
    client: httpx.AsyncClient, sessionmaker: Sessionmaker, settings: Settings
) -> None:
    """The compiled path answers reads without strawberry: the token limit, bad input and
    database-side surprises must still end as the resolvers would answer them."""
    city = await make_area(sessionmaker, level="CITY")
    api = Api(client, token_for(settings, await make_user(sessionmaker, "ADMIN")))

    too_long = await api("{ " + " ".join(["areas(first: 1) { totalCount }"] * 300) + " }")
    nul = await api("query($q: String) { areas(search: $q) { totalCount } }", q="a\u0000b")
    deep = await api(
        "query($a: ID!) { network(areaId: $a, depth: 2147483647) { nodes { id } } }",
        a=gid("Area", city.id),
    )

    assert "tokens" in too_long["errors"][0]["message"]
    assert nul["errors"][0]["extensions"]["code"] == "VALIDATION"
    assert deep["data"]["network"]["nodes"] == [{"id": gid("Area", city.id)}]


DASHBOARD = (
    "query($street: ID!) { node(id: $street) { ... on Area { id name children(first: 50) {"
    " totalCount edges { node { id name households organizations(first: 20) { totalCount edges {"
    " node { id name kind parent { id name } serviceAreas { area { id name } categories { code"
    " name } } links { kind source { id name } target { id name } } } } } } } } } } }"
)
RECURSIVE_LINKS = (
    "{ organizations(first: 5) { edges { node { links { target { links { source {"
    " links { target { links { kind } } } } } } } } } } }"
)


async def test_lists_nested_in_lists_of_their_own_kind_are_counted_as_full_pages(
    client: httpx.AsyncClient, sessionmaker: Sessionmaker, settings: Settings
) -> None:
    """links > target > links > ... has no bound the schema knows: refused by the cost rule,
    while a dashboard that nests different lists (service areas > categories) still passes."""
    city = await make_area(sessionmaker, level="CITY")
    api = Api(client, token_for(settings, await make_user(sessionmaker, "ADMIN")))

    recursive = await api(RECURSIVE_LINKS)
    dashboard = await api(DASHBOARD, street=gid("Area", city.id))

    assert "cost" in recursive["errors"][0]["message"]
    assert "errors" not in dashboard

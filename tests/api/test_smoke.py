from __future__ import annotations

import httpx

from gridweave.db import Sessionmaker
from gridweave.settings import Settings
from tests.factories import Api, gid, make_area, make_chain, make_user, token_for


async def test_signed_in_user_lists_areas_with_children(
    client: httpx.AsyncClient, sessionmaker: Sessionmaker, settings: Settings
) -> None:
    city, district = await make_chain(sessionmaker, "CITY", "DISTRICT")
    await make_area(sessionmaker, level="DISTRICT", parent=city)
    user = await make_user(sessionmaker, "COORDINATOR", area=city)
    api = Api(client, token_for(settings, user))

    data = await api.data(
        "query($p: ID){ areas(parentId: $p, first: 10) { totalCount edges { node { id level "
        "parent { id } children { totalCount } } } } }",
        p=gid("Area", city.id),
    )

    assert data["areas"]["totalCount"] == 2
    nodes = [e["node"] for e in data["areas"]["edges"]]
    assert nodes[0]["id"] == gid("Area", district.id)
    assert {n["parent"]["id"] for n in nodes} == {gid("Area", city.id)}
    assert all(n["level"] == "DISTRICT" for n in nodes)


async def test_anonymous_caller_reads_nothing(client: httpx.AsyncClient) -> None:
    body = await Api(client)("{ areas(first: 5) { totalCount } }")
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"

"""The response cache is shared by nothing: each process keeps its own, and a change made through
any process empties every process's cache through PostgreSQL LISTEN/NOTIFY."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import date
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from gridweave.app import create_app
from gridweave.compiled.cache import ResponseCache
from gridweave.db import Sessionmaker
from gridweave.settings import Settings
from tests.factories import Api, gid, make_area, make_user, token_for

CHILDREN = "query($id: ID!) { node(id: $id) { ... on Area { children { totalCount edges { node { name } } } } } }"
CREATE = (
    'mutation($p: ID!) { createArea(input: {name: "新区", level: DISTRICT, parentId: $p})'
    " { area { id } userErrors { code } } }"
)


@pytest.fixture
async def two_processes(
    settings: Settings, database_url: str
) -> AsyncIterator[list[tuple[httpx.AsyncClient, Any]]]:
    cached = settings.model_copy(update={"response_cache": True})
    async with AsyncExitStack() as stack:
        pairs = []
        for _ in range(2):
            app = create_app(cached, database_url=database_url)
            manager = await stack.enter_async_context(LifespanManager(app))
            client = await stack.enter_async_context(
                httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=manager.app), base_url="http://t"
                )
            )
            await asyncio.wait_for(app.state.listener.connected.wait(), 10)
            pairs.append((client, app))
        yield pairs


async def _wait_for(predicate: Any, seconds: float = 5.0) -> None:
    for _ in range(int(seconds / 0.02)):
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached in time")


async def test_a_change_in_one_process_empties_the_other_processes_cache(
    two_processes: list[tuple[httpx.AsyncClient, Any]],
    sessionmaker: Sessionmaker,
    settings: Settings,
) -> None:
    (client_a, app_a), (client_b, _) = two_processes
    city = await make_area(sessionmaker, level="CITY")
    admin = token_for(settings, await make_user(sessionmaker, "ADMIN"))
    reader_a, writer_b = Api(client_a, admin), Api(client_b, admin)
    cache_a = app_a.state.compiled_reads.cache

    first = await reader_a.data(CHILDREN, id=gid("Area", city.id))
    again = await reader_a.data(CHILDREN, id=gid("Area", city.id))
    assert cache_a.hits == 1
    assert again == first

    generation = cache_a.generation
    created = await writer_b.data(CREATE, p=gid("Area", city.id))
    assert created["createArea"]["userErrors"] == []
    await _wait_for(lambda: cache_a.generation > generation)
    after = await reader_a.data(CHILDREN, id=gid("Area", city.id))

    assert first["node"]["children"]["totalCount"] == 0
    assert after["node"]["children"]["totalCount"] == 1
    assert after["node"]["children"]["edges"][0]["node"]["name"] == "新区"


async def test_nothing_is_reused_while_the_listener_is_down(
    two_processes: list[tuple[httpx.AsyncClient, Any]],
    sessionmaker: Sessionmaker,
    settings: Settings,
) -> None:
    (client_a, app_a), _ = two_processes
    city = await make_area(sessionmaker, level="CITY")
    reader = Api(client_a, token_for(settings, await make_user(sessionmaker, "ADMIN")))
    await app_a.state.listener.stop()
    app_a.state.listener.connected.clear()

    await reader.data(CHILDREN, id=gid("Area", city.id))
    await reader.data(CHILDREN, id=gid("Area", city.id))

    assert app_a.state.compiled_reads.cache.hits == 0


def test_a_read_that_began_before_a_change_is_not_stored() -> None:
    cache = ResponseCache()
    generation = cache.generation
    cache.on_change({"action": "updateArea"})

    cache.put("k", 1, b"old answer", generation=generation)

    assert cache.get("k", 1) is None


def test_a_known_answer_is_not_served_to_a_user_not_yet_seen() -> None:
    cache = ResponseCache()
    cache.put("k", 1, b"answer", generation=cache.generation)

    assert cache.get("k", 1) == b"answer"
    assert cache.get("k", 2) is None


def test_a_new_day_forgets_every_answer() -> None:
    # given an answer read on the last day of a project's deadline (its status still OPEN)
    day = [date(2026, 12, 1)]
    cache = ResponseCache(today=lambda: day[0])
    cache.put("board", 1, b"OPEN", generation=cache.generation)
    read_yesterday = cache.generation
    assert cache.get("board", 1) == b"OPEN"

    # when the day turns in China Standard Time
    day[0] = date(2026, 12, 2)

    # then neither that answer nor one read before midnight is served (it may be EXPIRED now)
    assert cache.get("board", 1) is None
    cache.put("board", 1, b"OPEN", generation=read_yesterday)
    assert cache.get("board", 1) is None

"""A sign-in flood, through GraphQL over HTTP: the gate's line is bounded (the overflow is told at
once to try again), the flooding address is throttled in the database, and the owner of the
flooded account signs in from another address all the while."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from gridweave.app import create_app
from gridweave.db import Sessionmaker
from gridweave.gate import Gate, GateFull
from gridweave.settings import Settings
from tests.factories import PASSWORD, Api, make_user

LOGIN = (
    "mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) {"
    " token userErrors { field code message } } }"
)
ATTACKER = "198.51.100.7"
OWNER = "203.0.113.20"


@asynccontextmanager
async def clients(
    settings: Settings, database_url: str, *addresses: str
) -> AsyncIterator[list[Api]]:
    """One app, and an anonymous GraphQL client of it from each of ``addresses``."""
    app = create_app(settings, database_url=database_url)
    async with LifespanManager(app) as manager:
        made = [
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=manager.app, client=(a, 40000)),
                base_url="http://testserver",
            )
            for a in addresses
        ]
        try:
            yield [Api(c) for c in made]
        finally:
            for c in made:
                await c.aclose()


def outcome(body: dict[str, Any]) -> str:
    login = body["data"]["login"]
    return "token" if login["token"] else login["userErrors"][0]["code"]


async def test_a_flood_is_turned_away_and_the_owner_still_signs_in(
    settings: Settings, database_url: str, sessionmaker: Sessionmaker
) -> None:
    # given an account, and a process that verifies one sign-in at a time with two waiting
    await make_user(sessionmaker, "AUDITOR", email="ann@example.org")
    # (a wait long enough never to run out here: the line's bound alone turns the flood away)
    settings = settings.model_copy(
        update={"login_concurrency": 1, "login_queue": 2, "login_queue_wait_seconds": 120}
    )

    async with clients(settings, database_url, ATTACKER, OWNER) as (attacker, owner):
        # when one address sends wrong sign-ins for the account, three waves of ten at once
        flood = []
        for wave in range(3):
            flood += await asyncio.gather(
                *(attacker(LOGIN, e="ann@example.org", p=f"guess {wave} {i}") for i in range(10))
            )

        # and then the owner signs in from their own address
        mine = await owner(LOGIN, e="ann@example.org", p=PASSWORD)
        theirs = await attacker(LOGIN, e="ann@example.org", p=PASSWORD)

    # then most of each wave was told at once to try again (one at work, two in line), the
    # address was locked once it had used up its failures, and the owner got in while the
    # address, even with the right password, did not
    outcomes = [outcome(b) for b in flood]
    assert set(outcomes) <= {"TRY_AGAIN", "UNAUTHENTICATED"}
    assert all(outcomes[w * 10 : w * 10 + 10].count("TRY_AGAIN") >= 7 for w in range(3))
    assert outcomes.count("UNAUTHENTICATED") == settings.login_max_failures
    busy = next(b for b in flood if outcome(b) == "TRY_AGAIN")["data"]["login"]["userErrors"]
    assert "try again" in busy[0]["message"]
    assert outcome(mine) == "token"
    assert outcome(theirs) == "TRY_AGAIN"


async def test_the_gate_bounds_its_line_and_its_wait() -> None:
    gate = Gate(concurrency=1, queue=1, wait_seconds=0.2)
    holding = asyncio.Event()
    release = asyncio.Event()

    async def hold() -> None:
        async with gate.enter():
            holding.set()
            await release.wait()

    async def wait_turn() -> str:
        try:
            async with gate.enter():
                return "entered"
        except GateFull:
            return "turned away"

    holder = asyncio.create_task(hold())
    await holding.wait()
    waiter = asyncio.create_task(wait_turn())
    await asyncio.sleep(0)
    assert gate.waiting == 1

    # the line is full: the next is turned away at once (without waiting a single turn of the
    # event loop); the waiter gives up after its wait
    third = asyncio.create_task(wait_turn())
    await asyncio.sleep(0)
    assert third.done()
    assert third.result() == "turned away"
    assert gate.waiting == 1
    assert await waiter == "turned away"

    # once the holder leaves, a newcomer enters
    release.set()
    await holder
    assert await wait_turn() == "entered"
    assert gate.waiting == 0


@pytest.mark.parametrize("address", ["2001:db8::1", "unknown"])
async def test_any_client_address_is_a_throttle_key(
    settings: Settings, database_url: str, sessionmaker: Sessionmaker, address: str
) -> None:
    await make_user(sessionmaker, "AUDITOR", email="ann@example.org")
    async with clients(settings, database_url, address) as (api,):
        assert outcome(await api(LOGIN, e="ann@example.org", p=PASSWORD)) == "token"

"""Faults of a whole class, not of one request: a document whose fragments fan out exponentially
is walked in linear time, and a database that drops every connection costs only the requests in
flight at that moment, on both read paths."""

from __future__ import annotations

import asyncio
from typing import Any

import anyio
import asyncpg
import httpx
import pytest
from graphql import OperationDefinitionNode, parse
from sqlalchemy import text

from gridweave.app import create_app
from gridweave.compiled.selection import collect, fragments_of
from gridweave.db import Sessionmaker, asyncpg_dsn, make_engine
from gridweave.settings import Settings
from tests.api.helpers import serve
from tests.factories import gid, make_area, make_chain, make_org, make_project, make_user, token_for


def fan_out(n: int) -> str:
    """``F0 { ...F1 ...F1 }``, ``F1 { ...F2 ...F2 }``...: valid, and 2^n spreads if not deduped."""
    spreads = " ".join(f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(n))
    return f"query {{ ...F0 }} {spreads} fragment F{n} on Query {{ __typename }}"


async def test_fragment_fan_out_is_walked_once() -> None:
    doc = parse(fan_out(60))
    op = next(d for d in doc.definitions if isinstance(d, OperationDefinitionNode))
    with anyio.fail_after(10):  # a hang guard, not a performance goal: 2^60 walks never end
        fields = await anyio.to_thread.run_sync(
            lambda: collect([op.selection_set], {"Query"}, fragments_of(doc))
        )
    assert [f.name for f in fields] == ["__typename"]


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "strawberry"])
async def test_a_fan_out_document_is_answered_and_the_process_stays_responsive(
    compiled: bool, settings: Settings, database_url: str, sessionmaker: Sessionmaker
) -> None:
    token = token_for(settings, await make_user(sessionmaker, "COORDINATOR"))
    app = create_app(
        settings.model_copy(update={"compiled_reads": compiled}), database_url=database_url
    )
    async with serve(app) as client:
        with anyio.fail_after(30):
            r, health = await asyncio.gather(
                client.post(
                    "/graphql",
                    json={"query": fan_out(30)},
                    headers={"Authorization": f"Bearer {token}"},
                ),
                client.get("/healthz"),
            )
    assert health.status_code == 200
    assert r.status_code == 200
    assert r.json() == {"data": {"__typename": "Query"}}


async def _terminate_backends(database_url: str) -> int:
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        killed = await conn.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            " AND application_name = 'gridweave'"
        )
        return int(killed)
    finally:
        await conn.close()


QUERIES = [
    "{ areas(first: 2) { totalCount edges { node { name } } } }",
    "query($id: ID!) { node(id: $id) { ... on Area { name children { totalCount } } } }",
    "{ serviceCategories { code } }",
]


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "strawberry"])
async def test_lost_connections_cost_only_the_requests_in_flight(
    compiled: bool, settings: Settings, database_url: str, sessionmaker: Sessionmaker
) -> None:
    city = await make_area(sessionmaker)
    token = token_for(settings, await make_user(sessionmaker, "COORDINATOR"))
    app = create_app(
        settings.model_copy(update={"compiled_reads": compiled}), database_url=database_url
    )
    headers = {"Authorization": f"Bearer {token}"}

    async def ask(client: httpx.AsyncClient, i: int) -> tuple[int, Any]:
        r = await client.post(
            "/graphql",
            json={"query": QUERIES[i % len(QUERIES)], "variables": {"id": gid("Area", city.id)}},
            headers=headers,
        )
        return r.status_code, r.json() if r.status_code == 200 else r.text

    def ok(answer: tuple[int, Any]) -> bool:
        status, body = answer
        return status == 200 and "errors" not in body

    async with serve(app) as client:
        warm = await asyncio.gather(*(ask(client, i) for i in range(24)))  # fill the pool
        assert all(ok(a) for a in warm), warm
        # Mid-run: terminate every backend while a burst is in flight. Those may fail...
        burst = asyncio.gather(*(ask(client, i) for i in range(24)))
        await asyncio.sleep(0)
        assert await _terminate_backends(database_url) > 0
        in_flight = await burst
        assert all(a[0] in (200, 503) for a in in_flight), in_flight  # never a bare 500
        # ...and after it, none does: the dead connections are not handed out again.
        after = [await ask(client, i) for i in range(30)]
        after += await asyncio.gather(*(ask(client, i) for i in range(30)))
    failed = [a for a in after if not ok(a)]
    assert failed == [], f"{len(failed)} of {len(after)} requests failed after the restart"


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "strawberry"])
async def test_the_first_request_after_every_connection_was_killed_succeeds(
    compiled: bool, settings: Settings, database_url: str, sessionmaker: Sessionmaker
) -> None:
    """Not only once the dust settled: the very next request, whichever connection it takes.
    A killed backend sends its FATAL error a moment before it closes the socket; a connection
    checked out in between is not yet closed for asyncpg."""
    city = await make_area(sessionmaker)
    token = token_for(settings, await make_user(sessionmaker, "COORDINATOR"))
    app = create_app(
        settings.model_copy(update={"compiled_reads": compiled}), database_url=database_url
    )
    headers = {"Authorization": f"Bearer {token}"}
    variables = {"id": gid("Area", city.id)}

    async def ask(i: int) -> tuple[int, str]:
        r = await client.post(
            "/graphql", json={"query": QUERIES[i % 3], "variables": variables}, headers=headers
        )
        return r.status_code, r.text

    failed = []
    async with serve(app) as client:
        for i in range(12):
            assert all(s == 200 for s, _ in await asyncio.gather(*(ask(j) for j in range(6))))
            assert await _terminate_backends(database_url) > 0
            status, body = await ask(i)
            if status != 200 or '"errors"' in body:
                failed.append((status, body))
    assert failed == [], f"{len(failed)} of 12 first requests failed: {failed[:1]}"


async def test_a_connection_found_closed_at_checkout_retires_the_whole_pool(
    settings: Settings, database_url: str
) -> None:
    """After a restart, asyncpg reads each connection's close at its own moment: the first one
    found closed must also retire the others, which look alive but whose backends are gone, so
    the request's next checkout is not handed one of them (what made CI fail once)."""
    engine = make_engine(database_url, settings)
    try:
        first, second = await engine.connect(), await engine.connect()
        pids = [await c.scalar(text("SELECT pg_backend_pid()")) for c in (first, second)]
        await first.close()
        await second.close()
        killer = await asyncpg.connect(asyncpg_dsn(database_url))
        try:
            # With a timeout, pg_terminate_backend waits until the backend has exited.
            assert await killer.fetchval("SELECT pg_terminate_backend($1, 10000)", pids[0])
            await asyncio.sleep(0.1)  # the event loop reads the first connection's close
        finally:
            await killer.close()
        # The second backend is alive here, standing in for one whose close is not read yet.
        async with engine.connect() as a, engine.connect() as b:
            now = [await c.scalar(text("SELECT pg_backend_pid()")) for c in (a, b)]
        assert set(now).isdisjoint(pids), (pids, now)
    finally:
        await engine.dispose()


async def test_the_first_claim_after_every_connection_was_killed_is_made(
    settings: Settings, database_url: str, sessionmaker: Sessionmaker
) -> None:
    """The claim's fast path reads the actor on the claim's own connection: a dead one is met
    there, before anything is written, and the claim is tried once more on a new one."""
    _, community = await make_chain(sessionmaker, "STREET", "COMMUNITY")
    poster = await make_org(sessionmaker, area=community)
    project = await make_project(sessionmaker, area=community, poster=poster, slots=20)
    claimant = await make_org(sessionmaker, area=community)
    token = token_for(settings, await make_user(sessionmaker, "COORDINATOR"))
    app = create_app(settings, database_url=database_url)
    headers = {"Authorization": f"Bearer {token}"}
    claim = (
        "mutation($p: ID!, $c: ID!) { claimServiceProject(input: {projectId: $p, claimantId: $c})"
        " { claim { id } userErrors { code } } }"
    )
    withdraw = "mutation($c: ID!) { withdrawClaim(input: {claimId: $c}) { userErrors { code } } }"
    variables = {"p": gid("ServiceProject", project.id), "c": gid("Organization", claimant.id)}
    async with serve(app) as client:

        async def post(query: str, **kw: Any) -> Any:
            r = await client.post(
                "/graphql", json={"query": query, "variables": kw}, headers=headers
            )
            assert r.status_code == 200, r.text
            return r.json()

        for _ in range(8):
            warm = await asyncio.gather(
                *(post(QUERIES[j % 3], id=gid("Area", community.id)) for j in range(6))
            )
            assert all("errors" not in a for a in warm)
            assert await _terminate_backends(database_url) > 0
            made = await post(claim, **variables)
            assert made.get("errors") is None, made
            payload = made["data"]["claimServiceProject"]
            assert payload["userErrors"] == [], payload
            undone = await post(withdraw, c=payload["claim"]["id"])
            assert undone["data"]["withdrawClaim"]["userErrors"] == []
    assert app.state.compiled_reads.claims.answered == 8

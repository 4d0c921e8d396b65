"""``serviceProjectEvents`` over graphql-transport-ws, with two real server processes on the
loopback: a claim on one reaches a subscriber on the other (through PostgreSQL NOTIFY), and a
subscriber scoped to another community hears nothing of it. Then the WebSocket limits, each as a
client meets it: unacknowledged, idle, too many subscriptions, too many connections, an expiring
token; and a slow consumer dropped by the fan-out instead of buffered."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, suppress
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from gridweave.db import Sessionmaker, unit_of_work
from gridweave.security import issue_token
from gridweave.services import claims as claim_svc
from gridweave.services.access import AreaScope
from gridweave.settings import Settings
from gridweave.subscriptions import ProjectEvents
from tests.factories import (
    admin_actor,
    gid,
    make_area,
    make_chain,
    make_org,
    make_project,
    make_user,
    token_for,
)

SUBSCRIBE = """subscription($area: ID!) { serviceProjectEvents(areaId: $area) {
  kind at project { id status claimedSlots area { name } claims { claimant { name } } }
  claim { id status } } }"""
CLAIM = (
    "mutation($p: ID!, $c: ID!) { claimServiceProject(input: {projectId: $p, claimantId: $c})"
    " { claim { id } userErrors { code } } }"
)
LIMITS = {
    "GRIDWEAVE_WS_INIT_TIMEOUT_SECONDS": "1",
    "GRIDWEAVE_WS_IDLE_SECONDS": "1.5",
    "GRIDWEAVE_WS_MAX_SUBSCRIPTIONS": "2",
    "GRIDWEAVE_WS_MAX_CONNECTIONS": "4",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(database_url: str, settings: Settings, **env: str) -> tuple[subprocess.Popen[bytes], str]:
    """``gridweave serve`` in a process of its own, and its base URL."""
    port = free_port()
    environment = {
        **os.environ,
        "DATABASE_URL": database_url,
        "GRIDWEAVE_SECRET_KEY": settings.signing_key(),
        "GRIDWEAVE_LOG_LEVEL": "WARNING",
        **env,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "gridweave.cli", "serve", "--port", str(port)],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    return proc, f"http://127.0.0.1:{port}"


def wait_ready(proc: subprocess.Popen[bytes], url: str) -> None:
    deadline = time.monotonic() + 90
    while True:
        if proc.poll() is not None:
            raise RuntimeError(proc.stderr.read().decode() if proc.stderr else "exited")
        with suppress(httpx.HTTPError):
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        if time.monotonic() > deadline:
            raise RuntimeError("the server did not start")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def servers(database_url: str, settings: Settings) -> Iterator[tuple[str, str]]:
    """Two processes, started side by side: the first with small WebSocket limits, the second
    with the defaults."""
    started = [start(database_url, settings, **LIMITS), start(database_url, settings)]
    try:
        for proc, url in started:
            wait_ready(proc, url)
        yield started[0][1], started[1][1]
    finally:
        for proc, _ in started:
            proc.terminate()
        for proc, _ in started:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


@asynccontextmanager
async def ws(base: str, token: str | None) -> AsyncIterator[ClientConnection]:
    """A graphql-transport-ws connection, acknowledged when ``token`` is given."""
    url = base.replace("http", "ws", 1) + "/graphql"
    async with connect(url, subprotocols=["graphql-transport-ws"]) as conn:  # type: ignore[list-item]
        if token is not None:
            await send(
                conn, {"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}
            )
            assert (await receive(conn))["type"] == "connection_ack"
        yield conn


async def send(conn: ClientConnection, message: dict[str, Any]) -> None:
    await conn.send(orjson.dumps(message).decode())


async def receive(conn: ClientConnection, seconds: float = 10) -> dict[str, Any]:
    message: dict[str, Any] = orjson.loads(await asyncio.wait_for(conn.recv(), seconds))
    return message


async def subscribe(conn: ClientConnection, op: str, area: Any) -> None:
    await send(
        conn,
        {
            "id": op,
            "type": "subscribe",
            "payload": {"query": SUBSCRIBE, "variables": {"area": gid("Area", area.id)}},
        },
    )


async def closed_with(conn: ClientConnection, seconds: float = 5) -> int | None:
    with suppress(ConnectionClosed):
        while True:
            await asyncio.wait_for(conn.recv(), seconds)
    return conn.close_code


async def post(base: str, token: str, query: str, **variables: Any) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=base, timeout=20) as c:
        r = await c.post(
            "/graphql",
            json={"query": query, "variables": variables},
            headers={"Authorization": f"Bearer {token}"},
        )
    body: dict[str, Any] = r.json()
    return body


async def test_a_claim_on_one_process_reaches_a_subscriber_on_the_other(
    servers: tuple[str, str], sessionmaker: Sessionmaker, settings: Settings
) -> None:
    one, two = servers
    street, here = await make_chain(sessionmaker, "STREET", "COMMUNITY")
    there = await make_area(sessionmaker, level="COMMUNITY", parent=street, name="对面社区")
    poster = await make_org(sessionmaker, area=here, name="居委会")
    team = await make_org(sessionmaker, area=here, name="志愿队")
    far_team = await make_org(sessionmaker, area=there)
    project = await make_project(sessionmaker, area=here, poster=poster, slots=3)
    far_project = await make_project(sessionmaker, area=there, poster=poster)
    watcher = token_for(settings, await make_user(sessionmaker, "COORDINATOR", area=here))
    neighbour = token_for(settings, await make_user(sessionmaker, "COORDINATOR", area=there))
    admin = token_for(settings, await make_user(sessionmaker, "ADMIN"))

    async with ws(one, watcher) as mine, ws(one, neighbour) as theirs:
        await subscribe(mine, "1", street)  # the street: sees only what it may read (here)
        await subscribe(theirs, "1", street)  # the street: sees only its own community
        await asyncio.sleep(0.5)  # the subscriptions are registered before anything happens

        # when a claim is made on the other process
        claimed = await post(
            two, admin, CLAIM, p=gid("ServiceProject", project.id), c=gid("Organization", team.id)
        )
        claim_id = claimed["data"]["claimServiceProject"]["claim"]["id"]

        # then the subscriber on this one receives it, with the project as it now stands
        message = await receive(mine)
        assert (message["type"], message["id"]) == ("next", "1"), message
        event = message["payload"]["data"]["serviceProjectEvents"]
        assert event["kind"] == "CLAIMED"
        assert event["claim"] == {"id": claim_id, "status": "ACTIVE"}
        assert event["project"]["id"] == gid("ServiceProject", project.id)
        assert event["project"]["status"] == "PARTIALLY_CLAIMED"
        assert event["project"]["claimedSlots"] == 1
        assert event["project"]["claims"] == [{"claimant": {"name": "志愿队"}}]
        assert datetime.fromisoformat(event["at"]) <= datetime.now(UTC)

        # and the other community's coordinator hears nothing of it: their first event is the
        # claim in their own community, made afterwards
        await post(
            two,
            admin,
            CLAIM,
            p=gid("ServiceProject", far_project.id),
            c=gid("Organization", far_team.id),
        )
        first = (await receive(theirs))["payload"]["data"]["serviceProjectEvents"]
        assert first["project"]["id"] == gid("ServiceProject", far_project.id)
        with pytest.raises(TimeoutError):
            await receive(mine, seconds=1.0)  # nor does the watcher hear the far claim

    # a coordinator asking for an area wholly outside their reach is refused outright
    async with ws(two, neighbour) as conn:
        await subscribe(conn, "x", here)
        refusal = await receive(conn)
        assert refusal["type"] in {"next", "error"}
        errors = refusal["payload"]["errors"] if refusal["type"] == "next" else refusal["payload"]
        assert errors[0]["extensions"]["code"] == "FORBIDDEN"


async def gauge(base: str, name: str, expected: float) -> float:
    """The process's gauge ``name``, once it reads ``expected`` (or after 5 s)."""
    found = -1.0
    for _ in range(50):
        async with httpx.AsyncClient(base_url=base, timeout=10) as c:
            text = (await c.get("/metrics")).text
        found = sum(
            s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
            if s.name == name
        )
        if found == expected:
            break
        await asyncio.sleep(0.1)
    return found


async def test_subscribers_of_one_area_scope_share_one_execution(
    servers: tuple[str, str], sessionmaker: Sessionmaker, settings: Settings
) -> None:
    one, two = servers
    _, here = await make_chain(sessionmaker, "STREET", "COMMUNITY")
    poster = await make_org(sessionmaker, area=here)
    team = await make_org(sessionmaker, area=here, name="共享队")
    project = await make_project(sessionmaker, area=here, poster=poster, slots=2)
    first = token_for(settings, await make_user(sessionmaker, "COORDINATOR", area=here))
    second = token_for(settings, await make_user(sessionmaker, "COORDINATOR", area=here))
    admin = token_for(settings, await make_user(sessionmaker, "ADMIN"))
    executions = "gridweave_shared_subscription_executions"

    # two coordinators of one community, on two connections, with the same document
    async with ws(two, first) as a, ws(two, second) as b:
        await subscribe(a, "1", here)
        await subscribe(b, "7", here)
        assert await gauge(two, executions, 1) == 1

        claimed = await post(
            one, admin, CLAIM, p=gid("ServiceProject", project.id), c=gid("Organization", team.id)
        )

        got_a, got_b = await receive(a), await receive(b)
        assert (got_a["id"], got_b["id"]) == ("1", "7")
        assert got_a["payload"] == got_b["payload"]
        event = got_a["payload"]["data"]["serviceProjectEvents"]
        assert event["claim"]["id"] == claimed["data"]["claimServiceProject"]["claim"]["id"]
    assert await gauge(two, executions, 0) == 0


async def test_websocket_limits(
    servers: tuple[str, str], sessionmaker: Sessionmaker, settings: Settings
) -> None:
    one, _ = servers
    area = await make_area(sessionmaker)
    user = await make_user(sessionmaker, "COORDINATOR", area=area)
    token = token_for(settings, user)

    # no connection_init in time: closed
    async with ws(one, None) as conn:
        assert await closed_with(conn) == 4408
    # acknowledged but never subscribing: closed as idle
    async with ws(one, token) as conn:
        assert await closed_with(conn) == 4408
    # a third subscription on one connection is refused; the first two go on
    async with ws(one, token) as conn:
        for op in ("1", "2", "3"):
            await subscribe(conn, op, area)
        refused = await receive(conn)
        assert (refused["id"], refused["type"]) == ("3", "error")
    # a fifth connection to the process is refused while four are open
    async with ws(one, token) as a, ws(one, token) as b, ws(one, token) as c:
        for conn in (a, b, c):
            await subscribe(conn, "1", area)
        async with ws(one, token) as d:
            await subscribe(d, "1", area)
            url = one.replace("http", "ws", 1) + "/graphql"
            async with connect(url, subprotocols=["graphql-transport-ws"]) as e:  # type: ignore[list-item]
                assert await closed_with(e) == 1013
    # a token that expires while connected closes the connection when it does
    ttl = settings.token_ttl_seconds
    short = issue_token(settings, user.id, now=datetime.now(UTC) - timedelta(seconds=ttl - 2))
    async with ws(one, short) as conn:
        await subscribe(conn, "1", area)
        started = time.monotonic()
        assert await closed_with(conn, seconds=6) == 4401
        assert time.monotonic() - started < 5


async def test_a_slow_consumer_is_dropped_and_the_others_keep_their_events(
    sessionmaker: Sessionmaker,
) -> None:
    street, community = await make_chain(sessionmaker, "STREET", "COMMUNITY")
    poster = await make_org(sessionmaker, area=community)
    admin = await admin_actor(sessionmaker)
    project = await make_project(sessionmaker, area=community, poster=poster, slots=10)
    claims = []
    for _ in range(5):
        org = await make_org(sessionmaker, area=community)
        async with unit_of_work(sessionmaker) as s:
            row = await claim_svc.claim(s, actor=admin, project_id=project.id, claimant_id=org.id)
            claims.append(row.id)
    hub = ProjectEvents(sessionmaker, max_pending=3)
    slow = hub.open(area_path=street.path, scope=AreaScope(None))
    fast = hub.open(area_path=street.path, scope=AreaScope(None))
    elsewhere = hub.open(area_path=community.path + "999/", scope=AreaScope(None))
    batch = [
        {"action": "claimServiceProject", "entity": f"Claim:{c}", "area": community.path}
        for c in claims
    ]

    await hub._dispatch(batch[:3])  # both keep up with three
    assert [e["claim"].id async for e in take(fast, 3)] == claims[:3]
    await hub._dispatch(batch[3:])  # the slow one never read: it is dropped

    assert slow.overflowed
    assert not fast.overflowed
    assert [e["claim"].id async for e in take(fast, 2)] == claims[3:]
    assert len([e async for e in slow]) == 3  # what it had, then the end
    assert elsewhere.queue.empty()
    assert hub.subscriber_count == 2  # fast and elsewhere


async def take(stream: Any, n: int) -> AsyncIterator[Any]:
    for _ in range(n):
        yield await asyncio.wait_for(stream.__anext__(), 5)


async def test_graphiql_sends_its_headers_when_its_websocket_connects(
    client: httpx.AsyncClient,
) -> None:
    """GraphiQL's own fetcher sends the Headers tab as the connection_init payload (the browser
    test in tests/ops runs a subscription from the page)."""
    page = await client.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert "/static/gridweave-graphiql.js" in page.text
    script = await client.get("/static/gridweave-graphiql.js")
    assert "subscriptionUrl" in script.text
    assert "isHeadersEditorEnabled: true" in script.text

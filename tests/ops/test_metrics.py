"""/metrics, as Prometheus reads it: each kind of traffic moves its own series, and production
serves it only behind a token."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gridweave.app import create_app
from gridweave.db import Sessionmaker
from gridweave.ops import metrics
from gridweave.settings import Settings
from tests.api.helpers import serve
from tests.factories import PASSWORD, Api, make_user, token_for
from tests.ops.server import running_server

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]

EVERY_SERIES = [
    "gridweave_graphql_requests_total",
    "gridweave_graphql_request_duration_seconds_bucket",
    "gridweave_compiled_answers_total",
    "gridweave_compiled_fallbacks_total",
    "gridweave_db_pool_in_use",
    "gridweave_db_pool_waiting",
    "gridweave_db_pool_wait_seconds_count",
    "gridweave_ledger_appends_total",
    "gridweave_ledger_lock_wait_seconds_count",
    "gridweave_subscriptions_active",
    "gridweave_subscriptions_started_total",
    "gridweave_shared_subscription_executions",
    "gridweave_websocket_connections",
    "gridweave_change_events_received_total",
    "gridweave_change_listener_connected",
]


def parse(text: str) -> Samples:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def scrape(client: httpx.AsyncClient, **headers: str) -> Samples:
    r = await client.get("/metrics", headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return parse(r.text)


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def requests(samples: Samples, operation: str, outcome: str) -> float:
    return value(samples, "gridweave_graphql_requests_total", operation=operation, outcome=outcome)


def moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


@pytest.fixture
async def cached_client(settings: Settings, database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """With the response cache on, the process listens for change events."""
    app = create_app(
        settings.model_copy(update={"response_cache": True}), database_url=database_url
    )
    async with serve(app) as c:
        yield c


async def test_each_kind_of_traffic_moves_its_series(
    cached_client: httpx.AsyncClient, sessionmaker: Sessionmaker, settings: Settings
) -> None:
    client = cached_client
    admin = await make_user(sessionmaker, "ADMIN")
    api = Api(client, token_for(settings, admin))
    for _ in range(50):  # the listener connects in the background
        if value(await scrape(client), "gridweave_change_listener_connected") == 1:
            break
        await asyncio.sleep(0.05)
    before = await scrape(client)

    # a query, a mutation that writes, a refused mutation, an invalid document, a 415
    await api.data("{ me { email } }")
    create = "mutation($i: CreateAreaInput!) { createArea(input: $i) { userErrors { code } } }"
    await api.data(create, i={"name": "一城", "level": "CITY"})
    login = "mutation($i: LoginInput!) { login(input: $i) { token userErrors { code } } }"
    refused = await Api(client).data(login, i={"email": admin.email, "password": "wrong" * 3})
    assert refused["login"]["userErrors"]
    assert (await api("{ nosuchfield }"))["errors"]
    r = await client.post("/graphql", content="{}", headers={"content-type": "text/plain"})
    assert r.status_code == 415
    await asyncio.sleep(0.3)  # the change event of the mutation's commit
    after = await scrape(client)

    assert requests(after, "query", "ok") - requests(before, "query", "ok") == 1
    assert requests(after, "mutation", "ok") - requests(before, "mutation", "ok") == 1
    assert (
        requests(after, "mutation", "user_error") - requests(before, "mutation", "user_error") == 1
    )
    assert requests(after, "query", "invalid") - requests(before, "query", "invalid") == 1
    assert requests(after, "unknown", "rejected") - requests(before, "unknown", "rejected") == 1
    latency = "gridweave_graphql_request_duration_seconds_count"
    assert moved(before, after, latency, operation="mutation") == 2
    assert moved(before, after, "gridweave_ledger_appends_total") == 1
    assert moved(before, after, "gridweave_ledger_lock_wait_seconds_count") == 1
    assert moved(before, after, "gridweave_change_events_received_total") >= 1
    assert moved(before, after, "gridweave_db_pool_wait_seconds_count") >= 3
    # every connection went back to the pool, nobody waits
    assert value(after, "gridweave_db_pool_in_use") == 0
    assert value(after, "gridweave_db_pool_waiting") == 0
    for name in EVERY_SERIES:
        assert any(key[0] == name for key in after), name
    for reason in metrics.FALLBACK_REASONS:
        assert ("gridweave_compiled_fallbacks_total", (("reason", reason),)) in after


async def test_production_serves_metrics_only_behind_the_token(
    settings: Settings, database_url: str
) -> None:
    prod = settings.model_copy(update={"environment": "production"})
    async with serve(create_app(prod, database_url=database_url)) as c:
        assert (await c.get("/metrics")).status_code == 404

    guarded = prod.model_copy(update={"metrics_token": "scraper-token-of-some-length"})
    async with serve(create_app(guarded, database_url=database_url)) as c:
        assert (await c.get("/metrics")).status_code == 401
        bad = {"authorization": "Bearer not-it"}
        assert (await c.get("/metrics", headers=bad)).status_code == 401
        good = {"authorization": "Bearer scraper-token-of-some-length"}
        assert "gridweave_graphql_requests_total" in (await c.get("/metrics", headers=good)).text


async def test_workers_add_up_to_one_view(
    settings: Settings, database_url: str, sessionmaker: Sessionmaker, tmp_path: Path
) -> None:
    # given a server of two workers, and 60 requests spread over them
    user = await make_user(sessionmaker, "ADMIN", email="admin@example.org")
    login = "mutation($i: LoginInput!) { login(input: $i) { token userErrors { code } } }"
    async with running_server(
        settings, database_url, tmp_path / "server.log", "--workers", "2"
    ) as server:
        limits = httpx.Limits(max_keepalive_connections=0)  # a new connection each time
        async with httpx.AsyncClient(base_url=server.url, limits=limits) as c:
            token = token_for(settings, user)
            for _ in range(60):
                r = await c.post(
                    "/graphql",
                    json={"query": "{ me { email } }"},
                    headers={"authorization": f"Bearer {token}"},
                )
                assert r.json()["data"]["me"]["email"] == user.email
            r = await c.post(
                "/graphql",
                json={
                    "query": login,
                    "variables": {"i": {"email": user.email, "password": PASSWORD}},
                },
            )
            assert r.json()["data"]["login"]["token"]

            # when it is scraped several times (each scrape answered by any worker)
            scrapes = [await scrape(c) for _ in range(6)]

    # then every scrape counts all of them
    assert {requests(s, "query", "ok") for s in scrapes} == {60}
    assert {requests(s, "mutation", "ok") for s in scrapes} == {1}


def test_the_grafana_dashboard_reads_only_series_that_exist() -> None:
    dashboard = json.loads(
        (Path(__file__).resolve().parents[2] / "docs/grafana-dashboard.json").read_text()
    )
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = {n for e in exprs for n in re.findall(r"\bgridweave_\w+", e)}
    exposed = {name for name, _ in parse(metrics.exposition()[0].decode())}

    assert used, exprs
    assert used <= exposed, used - exposed
    # and every series is on the dashboard
    families = {
        re.sub(r"_(bucket|count|sum|total)$", "", n) for n in exposed if n.startswith("gridweave_")
    }
    assert families <= {re.sub(r"_(bucket|count|sum|total)$", "", n) for n in used}


async def test_a_request_without_a_database_counts_as_unavailable(
    settings: Settings, sessionmaker: Sessionmaker
) -> None:
    token = token_for(settings, await make_user(sessionmaker, "ADMIN"))
    gone = "postgresql+asyncpg://gridweave@127.0.0.1:1/gridweave"  # nothing listens on port 1
    async with serve(create_app(settings, database_url=gone)) as client:
        before = await scrape(client)
        r = await client.post(
            "/graphql",
            json={"query": "{ me { email } }"},
            headers={"authorization": f"Bearer {token}"},
        )
        after = await scrape(client)

    assert r.status_code == 503
    assert (
        requests(after, "unknown", "unavailable") - requests(before, "unknown", "unavailable") == 1
    )

"""Fixtures for the GraphQL tests: each read runs on both read paths; the claim on both of its
paths (``two``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from gridweave.app import create_app
from gridweave.compiled.writes import FastClaims
from gridweave.db import Sessionmaker
from gridweave.settings import Settings
from tests.api.helpers import serve
from tests.factories import Api, make_user, token_for


@pytest.fixture(params=[True, False], ids=["compiled", "strawberry"])
async def reader_client(
    request: pytest.FixtureRequest, settings: Settings, database_url: str
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app that answers reads through the compiled read path, and then of one
    that answers them through strawberry's resolvers. The compiled variant fails the test when
    any query it was sent fell back to the resolvers for a field the compiled path does not
    cover (refused values, which strawberry answers with an error, are fine)."""
    app = create_app(
        settings.model_copy(update={"compiled_reads": request.param}), database_url=database_url
    )
    async with serve(app) as c:
        yield c
    if request.param:
        fallbacks = dict(app.state.compiled_reads.reads.fallbacks)
        assert fallbacks == {}, f"the compiled path did not answer: {fallbacks}"


@pytest.fixture
async def reader(
    reader_client: httpx.AsyncClient, sessionmaker: Sessionmaker, settings: Settings
) -> Api:
    """A signed-in coordinator with an unlimited grant, on each read path."""
    user = await make_user(sessionmaker, "COORDINATOR")
    return Api(reader_client, token_for(settings, user))


@dataclass
class Two:
    """One database, two apps: the claim's fast path on, and off."""

    fast: httpx.AsyncClient
    slow: httpx.AsyncClient
    claims: FastClaims


@pytest.fixture
async def two(settings: Settings, database_url: str) -> AsyncIterator[Two]:
    fast_app = create_app(settings, database_url=database_url)
    slow_app = create_app(
        settings.model_copy(update={"fast_claims": False}), database_url=database_url
    )
    async with serve(fast_app) as fast, serve(slow_app) as slow:
        yield Two(fast, slow, fast_app.state.compiled_reads.claims)

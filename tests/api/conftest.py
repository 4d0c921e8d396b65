"""Fixtures for the GraphQL tests that read: each read runs on both read paths."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from gridweave.app import create_app
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

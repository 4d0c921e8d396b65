"""Which subscriptions may share one execution, and what a shared execution gives each of its
subscribers: every result once, encoded once, with a subscriber that falls behind dropped alone."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from graphql import GraphQLError
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from strawberry.types import ExecutionResult

from gridweave.context import Context
from gridweave.db import Sessionmaker, make_sessionmaker
from gridweave.schema.root import build_schema
from gridweave.services.access import AreaScope, load_actor
from gridweave.settings import Settings
from gridweave.shared_subscriptions import (
    SharedSubscriptions,
    SharingKey,
    shared_by_scope,
    sharing_key,
)
from tests.factories import make_area, make_org, make_user

EVENTS = """subscription($area: ID!) { serviceProjectEvents(areaId: $area) {
  kind at claim { id status report { hours } claimant { name area { name } } }
  project { id status category { code } postedBy { name } claims { claimant { name } } } } }"""


@pytest.fixture(scope="module")
def schema() -> Any:
    return build_schema(Settings())._schema


def test_a_document_of_public_and_area_scoped_types_is_shared_by_scope(schema: Any) -> None:
    assert shared_by_scope(schema, EVENTS) is True
    fragments = EVENTS.replace("claimant { name }", "claimant { ...Who }") + (
        " fragment Who on Organization { name links { kind } }"
    )
    assert shared_by_scope(schema, fragments) is True


def test_a_document_reaching_per_viewer_rows_is_shared_by_actor_only(schema: Any) -> None:
    # an organization's track record shows performance results per viewer (who evaluated what)
    document = EVENTS.replace("postedBy { name }", "postedBy { trackRecord { score } }")
    assert shared_by_scope(schema, document) is False


@pytest.mark.parametrize(
    "document",
    ["subscription { serviceProjectEvents(areaId: 1) { nope } }", "subscription {"],
    ids=["unknown field", "syntax error"],
)
def test_a_document_the_schema_refuses_is_not_shared(schema: Any, document: str) -> None:
    assert shared_by_scope(schema, document) is None


class FakeSchema:
    """Yields ``n`` results once both subscribers have joined; counts its executions."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.executions = 0
        self.go = asyncio.Event()

    async def stream(self, query: str, **_: Any) -> AsyncIterator[ExecutionResult]:
        self.executions += 1

        async def results() -> AsyncIterator[ExecutionResult]:
            await self.go.wait()
            for i in range(self.n):
                yield ExecutionResult(data={"i": i}, errors=None)
                await asyncio.sleep(0)

        return results()


async def test_one_execution_serves_every_subscriber_and_a_slow_one_is_dropped_alone() -> None:
    shared = SharedSubscriptions(max_pending=3)
    schema = FakeSchema(6)
    context = Context(sessionmaker=None, settings=Settings(), actor=None, sign_in_gate=None)  # type: ignore[arg-type]
    key = SharingKey("subscription { x }", None, b"{}", ("scope", AreaScope(None)))
    fast = shared.join(key, schema, context)
    slow = shared.join(key, schema, context)
    assert shared.execution_count == 1

    schema.go.set()
    got = [orjson.loads(orjson.dumps(item["payload"])) async for item in fast if item]

    assert schema.executions == 1
    assert got == [{"data": {"i": i}} for i in range(6)]
    assert not fast.overflowed
    assert slow.overflowed  # it never read: dropped with what it had, not buffered
    assert [item["result"].data async for item in slow if item] == [{"i": i} for i in range(3)]
    await asyncio.sleep(0)
    assert shared.execution_count == 0
    await shared.stop()


class RefusingSchema(FakeSchema):
    """Answers every execution with an error, then ends when told to."""

    async def stream(self, query: str, **_: Any) -> AsyncIterator[ExecutionResult]:
        self.executions += 1

        async def results() -> AsyncIterator[ExecutionResult]:
            yield ExecutionResult(data=None, errors=[GraphQLError("You may not read this area.")])
            await self.go.wait()

        return results()


async def test_a_subscriber_joining_after_a_refusal_gets_the_refusal_too() -> None:
    shared = SharedSubscriptions(max_pending=3)
    schema = RefusingSchema(0)
    context = Context(sessionmaker=None, settings=Settings(), actor=None, sign_in_gate=None)  # type: ignore[arg-type]
    key = SharingKey("subscription { x }", None, b"{}", ("scope", AreaScope(("/1/",))))
    first = shared.join(key, schema, context)
    refused = await anext(first)
    assert refused is not None
    assert refused["result"].errors

    late = shared.join(key, schema, context)  # the first execution is ending: a new one starts
    again = await asyncio.wait_for(anext(late), 5)

    assert again is not None
    assert again["result"].errors
    assert schema.executions == 2
    schema.go.set()
    await shared.stop()


async def test_a_scope_the_database_cannot_give_leaves_the_subscription_unshared(
    schema: Any, settings: Settings, database_url: str, sessionmaker: Sessionmaker
) -> None:
    """Raised outside any execution, the failure would reach no one: the subscriber would wait
    for ever with its operation id taken. Unshared, strawberry runs it and reports the error."""
    org = await make_org(sessionmaker, area=await make_area(sessionmaker))
    user = await make_user(sessionmaker, "ORGANIZATION_MEMBER", organization=org)
    async with sessionmaker() as session:
        actor = await load_actor(session, user.id)
    gone = make_url(database_url).set(database="gridweave_no_such_database")
    engine = create_async_engine(gone.render_as_string(hide_password=False))
    context = Context(
        sessionmaker=make_sessionmaker(engine),
        settings=settings,
        actor=actor,
        sign_in_gate=None,  # type: ignore[arg-type]
    )
    try:
        key = await sharing_key(schema, context, EVENTS, None, {"area": "x"})
    finally:
        await engine.dispose()
    assert key is None
    context = Context(sessionmaker=sessionmaker, settings=settings, actor=actor, sign_in_gate=None)  # type: ignore[arg-type]
    key = await sharing_key(schema, context, EVENTS, None, {"area": "x"})
    assert key is not None
    assert key.viewer[0] == "scope"

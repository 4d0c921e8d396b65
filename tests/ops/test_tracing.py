"""GRIDWEAVE_OTEL=true: a GraphQL request leaves a server span with the SQL it ran beneath it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from gridweave.app import create_app
from gridweave.db import Sessionmaker
from gridweave.settings import Settings
from tests.api.helpers import serve
from tests.factories import Api, make_user, token_for


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield exporter
    exporter.shutdown()
    AsyncPGInstrumentor().uninstrument()  # type: ignore[no-untyped-call]


async def test_a_request_is_traced_down_to_its_sql(
    spans: InMemorySpanExporter, settings: Settings, database_url: str, sessionmaker: Sessionmaker
) -> None:
    user = await make_user(sessionmaker, "ADMIN")
    app = create_app(settings.model_copy(update={"otel": True}), database_url=database_url)
    async with serve(app) as client:
        await Api(client, token_for(settings, user)).data("{ me { email } }")
        await client.get("/healthz")

    finished = spans.get_finished_spans()
    servers = [s for s in finished if s.kind is trace.SpanKind.SERVER]
    assert [s.attributes.get("http.route") or s.name for s in servers] == ["POST /graphql"]
    request = servers[0]
    # the statements the request ran (its sign-in lookup, its query) are spans of its trace
    sql = [
        s
        for s in finished
        if s.kind is trace.SpanKind.CLIENT and s.context.trace_id == request.context.trace_id
    ]
    assert len(sql) >= 2, [(s.name, s.kind) for s in finished]
    assert all(s.attributes.get("db.system") == "postgresql" for s in sql)

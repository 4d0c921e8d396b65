"""Optional tracing with OpenTelemetry (``pip install 'gridweave[otel]'``, then
``GRIDWEAVE_OTEL=true``): a span per HTTP request and WebSocket (ASGI), and one per SQL
statement (asyncpg). Where the spans go
is configured the standard way, with ``OTEL_EXPORTER_OTLP_ENDPOINT`` (OTLP over HTTP),
``OTEL_SERVICE_NAME`` and the other ``OTEL_*`` variables; see docs/otel-collector.yaml."""

from __future__ import annotations

import os

from starlette.middleware import Middleware

MISSING = "GRIDWEAVE_OTEL=true needs the tracing extra: pip install 'gridweave[otel]'"


def configure_provider() -> None:
    """An SDK tracer provider exporting over OTLP, unless one is set already (by the
    ``opentelemetry-instrument`` launcher, or by a test)."""
    try:
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as e:
        raise RuntimeError(MISSING) from e
    if isinstance(trace.get_tracer_provider(), TracerProvider):
        return
    resource = Resource.create({SERVICE_NAME: os.environ.get("OTEL_SERVICE_NAME", "gridweave")})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)


def asgi_middleware() -> Middleware:
    try:
        from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
    except ImportError as e:
        raise RuntimeError(MISSING) from e
    configure_provider()
    # Health checks and scrapes would drown the traces of real requests; so would a span for
    # every ASGI message.
    return Middleware(
        OpenTelemetryMiddleware,
        excluded_urls="healthz,readyz,metrics,static",
        exclude_spans=["receive", "send"],
    )


def instrument() -> None:
    """asyncpg's instrumentation sees every statement, SQLAlchemy's (through its prepared
    statements) and the compiled path's raw ones alike. (SQLAlchemy's own instrumentation is
    not used: it declines SQLAlchemy 2.1, and would only repeat the same statements.)"""
    try:
        from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
    except ImportError as e:
        raise RuntimeError(MISSING) from e
    configure_provider()
    instrumentor = AsyncPGInstrumentor()  # type: ignore[no-untyped-call]
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument()

"""What running in production adds to the app, in one place: /readyz, /metrics, the GraphiQL
assets under /static/, the metrics middleware, and the lifespan hooks (pool instrumentation,
tracing, the worker's exit). ``gridweave/app.py`` wires each in with one line."""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from gridweave.ops import metrics, readiness
from gridweave.ops.graphiql import STATIC
from gridweave.ops.instrument import MetricsMiddleware, instrument_pool
from gridweave.settings import Settings

Lifespan = Callable[[Starlette], AbstractAsyncContextManager[None]]


def ops_routes(settings: Settings) -> list[BaseRoute]:
    async def readyz(request: Request) -> Response:
        result = await readiness.check(
            request.app.state.engine, within_seconds=settings.readiness_timeout_seconds
        )
        body = {
            "status": "ready" if result.ready else "unavailable",
            "reason": result.reason,
            "migrations": list(result.database_revisions),
        }
        return JSONResponse(body, status_code=200 if result.ready else 503)

    async def metrics_endpoint(request: Request) -> Response:
        if settings.metrics_token:
            given = request.headers.get("authorization", "")
            expected = f"Bearer {settings.metrics_token}"
            if not hmac.compare_digest(given.encode(), expected.encode()):
                return PlainTextResponse(
                    "a metrics token is required\n",
                    status_code=401,
                    headers={"www-authenticate": "Bearer"},
                )
        body, content_type = metrics.exposition()
        return Response(body, media_type=content_type)

    out: list[BaseRoute] = [Route("/readyz", readyz)]
    if settings.metrics_enabled:
        out.append(Route("/metrics", metrics_endpoint))
    if settings.graphiql_enabled:
        out.append(Mount("/static", StaticFiles(directory=STATIC), name="static"))
    return out


def ops_middleware(settings: Settings) -> list[Middleware]:
    """Outermost, so that refusals and time-outs of the inner middleware are counted too."""
    out = [Middleware(MetricsMiddleware, path="/graphql")]
    if settings.otel:
        from gridweave.ops.tracing import asgi_middleware

        out.insert(0, asgi_middleware())
    return out


def ops_lifespan(inner: Lifespan, settings: Settings) -> Lifespan:
    """Runs ``inner`` (which opens the engine) and adds what needs the engine, then, when the
    process stops (after uvicorn has drained requests in flight and closed WebSockets with 1012,
    and after ``inner`` has released the change listener and the pool), marks the worker gone."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            async with inner(app):
                instrument_pool(app.state.engine)
                if settings.otel:
                    from gridweave.ops.tracing import instrument

                    instrument()
                yield
        finally:
            metrics.process_exited()

    return lifespan

"""The Starlette application: one GraphQL endpoint; the lifespan owns the engine."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import orjson
from asgi_correlation_id import CorrelationIdMiddleware
from cross_web import HTTPException
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types.unset import UnsetType

from gridweave import spreadsheet_routes
from gridweave.compiled.cache import ResponseCache
from gridweave.compiled.endpoint import CompiledFirst, CompiledReads
from gridweave.compiled.writes import FastClaims
from gridweave.context import Context
from gridweave.db import asyncpg_dsn, make_engine, make_sessionmaker, prepare_database
from gridweave.events import ChangeListener
from gridweave.exports import call_scores
from gridweave.gate import Gate
from gridweave.maps import coverage_map_endpoint
from gridweave.middleware import BodySizeLimit, DatabaseUnavailable, RequestTimeout, RequireJson
from gridweave.ops.graphiql import graphiql_page
from gridweave.ops.routes import ops_lifespan, ops_middleware, ops_routes
from gridweave.schema.limits import input_bounds
from gridweave.schema.root import GridweaveSchema, build_schema, validation_rules
from gridweave.security import bearer_token, token_expires_at, user_id_from_token
from gridweave.services.access import Actor
from gridweave.services.coverage import CoverageCache
from gridweave.settings import Settings, get_settings
from gridweave.shared_subscriptions import SharedSubscriptions
from gridweave.signed_in import actor_of
from gridweave.spreadsheet_routes import LARGE_PATHS
from gridweave.subscriptions import ProjectEvents
from gridweave.websocket import SubscriptionsOnlyHandler


class GridweaveGraphQL(GraphQL[Context, None]):
    graphql_transport_ws_handler_class = SubscriptionsOnlyHandler

    def __init__(self, app_state: Any, settings: Settings, schema: GridweaveSchema) -> None:
        super().__init__(
            schema,
            graphql_ide="graphiql" if settings.graphiql_enabled else None,
            allow_queries_via_get=False,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            connection_init_wait_timeout=timedelta(seconds=settings.ws_init_timeout_seconds),
            max_subscriptions_per_connection=settings.ws_max_subscriptions,
        )
        self.app_state = app_state
        self.settings = settings
        self.sign_in_gate = Gate(
            concurrency=settings.login_concurrency,
            queue=settings.login_queue,
            wait_seconds=settings.login_queue_wait_seconds,
        )

    def parse_json(self, data: str | bytes) -> Any:
        """A request body is a JSON object in UTF-8 (orjson refuses invalid UTF-8 and lone
        surrogates), with a string or null ``operationName``: anything else is a 400, never an
        exception inside strawberry. A list stays a list: strawberry answers "Batching is not
        enabled"."""
        try:
            value = orjson.loads(data)
        except orjson.JSONDecodeError as e:
            raise HTTPException(400, "Unable to parse request body as JSON (UTF-8)") from e
        if not isinstance(value, dict | list):
            raise HTTPException(400, "The request body must be a JSON object")
        if isinstance(value, dict) and not isinstance(value.get("operationName"), str | None):
            raise HTTPException(400, "The GraphQL operation's `operationName` must be a string")
        return value

    async def render_graphql_ide(self, request: Request) -> Response:
        """GraphiQL from the package's own files (not a CDN); its WebSocket sends the Headers
        tab (the bearer token) as the ``connection_init`` payload."""
        return graphiql_page(request)

    def encode_json(self, data: object) -> str:
        # str, not bytes: WebSocket messages must go out as text frames.
        return orjson.dumps(data).decode()

    async def _actor(self, token: str | None) -> Actor | None:
        user_id = user_id_from_token(self.settings, token) if token else None
        return None if user_id is None else await actor_of(self.app_state.engine, user_id)

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        # A WebSocket authenticates later, in on_ws_connect, from its connection_init payload.
        token = (
            None
            if isinstance(request, WebSocket)
            else bearer_token(request.headers.get("authorization"))
        )
        sm = self.app_state.sessionmaker
        return Context(
            sessionmaker=sm,
            settings=self.settings,
            actor=await self._actor(token),
            request=request,
            response=response,
            project_events=getattr(self.app_state, "project_events", None),
            coverage_cache=getattr(self.app_state, "coverage_cache", None),
            sign_in_gate=self.sign_in_gate,
        )

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """The same bearer token as over HTTP, sent as ``{"Authorization": "Bearer ..."}``."""
        params = context.connection_params or {}
        raw = params.get("Authorization") or params.get("authorization")
        token = bearer_token(raw) if isinstance(raw, str) else None
        context.actor = await self._actor(token)
        if context.actor is None or token is None:
            raise ConnectionRejectionError({"reason": "A valid bearer token is required."})
        context.token_expires_at = token_expires_at(self.settings, token)
        return UnsetType()  # the singleton UNSET: acknowledge without a payload


#: GraphiQL keeps its Headers tab in localStorage; read it when the WebSocket connects.
async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


def create_app(settings: Settings | None = None, *, database_url: str | None = None) -> Starlette:
    settings = settings or get_settings()
    cache = (
        ResponseCache(max_entries=settings.response_cache_entries)
        if (settings.response_cache and settings.compiled_reads)
        else None
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        url = database_url or await prepare_database(settings)
        engine: AsyncEngine = make_engine(url, settings)
        app.state.engine = engine
        app.state.sessionmaker = make_sessionmaker(engine)
        listener = ChangeListener(asyncpg_dsn(url))
        coverage_cache = CoverageCache(
            settings.coverage_cache_entries, lambda: listener.connected.is_set()
        )
        listener.subscribe(coverage_cache.on_change)
        app.state.coverage_cache = coverage_cache
        if cache is not None:
            listener.subscribe(cache.on_change)
        project_events = ProjectEvents(
            app.state.sessionmaker, max_pending=settings.ws_max_pending_events
        )
        project_events.attach(listener)
        app.state.project_events = project_events
        shared = SharedSubscriptions(max_pending=settings.ws_max_pending_events)
        app.state.shared_subscriptions = shared
        listener.start()
        app.state.listener = listener
        try:
            yield
        finally:
            await shared.stop()
            await project_events.stop()
            await listener.stop()
            await engine.dispose()

    app = Starlette(
        routes=[
            Route("/healthz", health),
            Route("/exports/calls/{call_id}/scores.xlsx", call_scores, methods=["GET"]),
            *ops_routes(settings),
        ],
        middleware=[
            *ops_middleware(settings),
            Middleware(CorrelationIdMiddleware, header_name="X-Request-ID"),
            Middleware(
                RequestTimeout,
                seconds=settings.request_timeout_seconds,
                paths=dict.fromkeys(LARGE_PATHS, settings.import_timeout_seconds),
            ),
            Middleware(DatabaseUnavailable),
            Middleware(
                BodySizeLimit,
                max_bytes=settings.max_body_bytes,
                paths={"/imports": settings.import_max_bytes},
            ),
            Middleware(RequireJson, path="/graphql"),
        ],
        lifespan=ops_lifespan(lifespan, settings),
    )
    app.state.settings = settings
    schema = build_schema(settings)
    graphql = GridweaveGraphQL(app.state, settings, schema)
    http: ASGIApp = graphql
    if settings.compiled_reads:
        reads = CompiledReads(
            schema._schema,
            validation_rules(settings),
            max_network_nodes=settings.max_network_nodes,
            max_tokens=settings.max_tokens,
            max_page_size=settings.max_page_size,
            max_bytes=settings.compiled_cache_bytes,
            bounds=input_bounds(settings),
        )
        http = app.state.compiled_reads = CompiledFirst(
            graphql,
            reads,
            settings,
            lambda: app.state.engine,
            cache,
            lambda: app.state.listener.connected.is_set(),
            claims=FastClaims(schema._schema, lambda: app.state.sessionmaker)
            if settings.fast_claims
            else None,
        )
    app.router.routes.append(Route("/graphql", http, methods=["GET", "POST"]))
    app.router.routes.append(
        Route("/maps/coverage/{area_id}.svg", coverage_map_endpoint(settings), methods=["GET"])
    )
    app.router.routes.append(WebSocketRoute("/graphql", graphql))
    app.router.routes.extend(spreadsheet_routes.routes(settings))
    return app

"""Pure ASGI middleware guarding the HTTP endpoint (no ``BaseHTTPMiddleware``).

Wiring (in ``gridweave/app.py``), as Starlette user middleware so that they sit inside
Starlette's ``ServerErrorMiddleware``::

    Starlette(
        routes=[...],
        middleware=[
            Middleware(CorrelationIdMiddleware),
            Middleware(BodySizeLimit, max_bytes=settings.max_body_bytes),
            Middleware(RequireJson, path="/graphql"),
        ],
    )

Refusals carry a GraphQL-shaped JSON body: ``{"errors": [{"message": "..."}]}``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from sqlalchemy.exc import DBAPIError
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BodySizeLimit", "RequireJson", "error_response"]


from gridweave.db import LOST_CONNECTION
from gridweave.ops import observation

logger = logging.getLogger(__name__)


def error_response(
    status_code: int, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    """A refusal in the shape GraphQL clients already parse."""
    return JSONResponse({"errors": [{"message": message}]}, status_code, headers=headers)


class _BodyTooLarge(Exception):
    """Raised from the wrapped ``receive`` once the body passed the limit (response sent)."""


class BodySizeLimit:
    """Refuses HTTP requests whose body is larger than ``max_bytes`` with 413.

    Checked twice: against ``Content-Length`` before the application runs, and by counting the
    bytes of the ``http.request`` messages as the application reads them (chunked uploads, or a
    ``Content-Length`` that lies). In the streamed case the 413 is sent from inside ``receive``
    and everything the application sends afterwards is dropped, so the refusal holds even if the
    application catches the exception raised into it. Only when the application had already
    started its response before reading past the limit (not the case for strawberry, which reads
    the whole body first) the exception propagates and the server closes the connection.
    """

    def __init__(
        self, app: ASGIApp, max_bytes: int, paths: Mapping[str, int] | None = None
    ) -> None:
        """``paths``: larger limits for paths starting with these prefixes (uploads)."""
        if max_bytes < 0 or any(v < 0 for v in (paths or {}).values()):
            raise ValueError("max_bytes must not be negative")
        self.app = app
        self.default_max_bytes = max_bytes
        self.paths = dict(paths or {})

    def _limit(self, scope: Scope) -> int:
        path: str = scope.get("path", "")
        for prefix, limit in self.paths.items():
            if path.startswith(prefix):
                return limit
        return self.default_max_bytes

    def _too_large(self, max_bytes: int) -> JSONResponse:
        return error_response(
            413,
            f"Request body larger than {max_bytes} bytes",
            headers={"connection": "close"},
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = self._limit(scope)

        lengths = Headers(scope=scope).getlist("content-length")
        if lengths:
            try:
                declared = {int(value.strip()) for value in lengths}
            except ValueError:
                declared = set()
            if len(declared) != 1 or min(declared) < 0:
                response = error_response(400, "Invalid Content-Length header")
                await response(scope, receive, send)
                return
            if declared.pop() > max_bytes:
                await self._too_large(max_bytes)(scope, receive, send)
                return

        received = 0
        started = False
        refused = False

        async def limited_receive() -> Message:
            nonlocal received, refused
            if refused:
                raise _BodyTooLarge
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    if started:
                        raise _BodyTooLarge
                    refused = True
                    await self._too_large(max_bytes)(scope, receive, send)
                    raise _BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the 413 has gone out; drop whatever the application answers
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if not refused:
                raise


class RequireJson:
    """Refuses a POST to the GraphQL path with 415 unless ``Content-Type`` is application/json.

    This is the CSRF defence: an HTML form or any other "simple" cross-site request can only
    send ``application/x-www-form-urlencoded``, ``multipart/form-data`` or ``text/plain``;
    ``application/json`` forces a CORS preflight, which fails because we send no CORS headers.
    GET (the GraphiQL page; queries via GET are off in strawberry), other paths and WebSockets
    pass unchanged.
    """

    def __init__(self, app: ASGIApp, path: str = "/graphql") -> None:
        self.app = app
        self.path = path.rstrip("/") or "/"

    def _applies(self, scope: Scope) -> bool:
        if scope["type"] != "http" or scope["method"] != "POST":
            return False
        path: str = scope["path"]
        return (path.rstrip("/") or "/") == self.path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._applies(scope):
            content_type = Headers(scope=scope).get("content-type", "")
            media_type = content_type.split(";", 1)[0].strip().lower()
            if media_type != "application/json":
                response = error_response(
                    415,
                    "Content-Type must be application/json",
                    headers={"accept-post": "application/json"},
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class _Tracked:
    """A ``send`` that remembers whether the response has started (after which no error
    response can be sent instead)."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.started = False

    async def send(self, message: Message) -> None:
        self.started = True
        await self._send(message)


class RequestTimeout:
    """Stops an HTTP request that runs longer than ``seconds``: 503 with a GraphQL-shaped error
    when nothing was sent yet. SQL has its own statement timeout; this also bounds the work done
    in Python (a query whose lists multiply beyond what the cost rule foresaw)."""

    def __init__(
        self, app: ASGIApp, seconds: float, paths: Mapping[str, float] | None = None
    ) -> None:
        """``paths``: longer limits for paths starting with these prefixes (imports, exports)."""
        self.app = app
        self.default_seconds = seconds
        self.paths = dict(paths or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        seconds = next(
            (v for prefix, v in self.paths.items() if path.startswith(prefix)),
            self.default_seconds,
        )
        tracked = _Tracked(send)
        try:
            async with asyncio.timeout(seconds):
                await self.app(scope, receive, tracked.send)
        except TimeoutError:
            observation.mark("timeout")
            logger.warning("request stopped after %s s: %s", seconds, scope.get("path"))
            if not tracked.started:
                message = f"The request took longer than {seconds:g} s and was stopped."
                await error_response(503, message)(scope, receive, send)


class DatabaseUnavailable:
    """A database error that escapes the GraphQL layer (the request's sign-in lookup, say, when
    the server has just dropped its connections) is a 503 "try again", never a bare 500."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        tracked = _Tracked(send)
        try:
            await self.app(scope, receive, tracked.send)
        except (DBAPIError, *LOST_CONNECTION, ConnectionRefusedError, FileNotFoundError) as e:
            # (a server that is down refuses new connections, or its Unix socket is gone: an
            # OSError, not a DBAPI error)
            observation.mark("unavailable")
            logger.warning("database unavailable during %s: %s", scope.get("path"), e)
            if tracked.started:
                raise
            message = "The database is not reachable right now; try again."
            await error_response(503, message)(scope, receive, send)

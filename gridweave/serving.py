"""uvicorn options, and an HTTP protocol that times out connections whose headers never finish.

uvicorn's own ``timeout_keep_alive`` starts only after a response: a connection opened and left
silent, or one that trickles its request headers a byte at a time (slowloris), is never closed.
:class:`HeaderDeadlineProtocol` gives every request ``header_timeout_seconds`` from the moment the
connection opens (or its previous response ends) to complete its headers; the body and the work
are bounded by ``RequestTimeout`` (``request_timeout_seconds``) inside the application.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from gridweave.settings import Settings, get_settings

PROTOCOL = "gridweave.serving:HeaderDeadlineProtocol"


class HeaderDeadlineProtocol(HttpToolsProtocol):
    #: Seconds; None reads ``header_timeout_seconds`` from the settings (worker processes).
    header_timeout: float | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._awaiting_headers = False
        timeout = self.header_timeout
        self._header_timeout = get_settings().header_timeout_seconds if timeout is None else timeout

    def _arm(self) -> None:
        self._disarm()
        self._awaiting_headers = True
        self._deadline = self.loop.call_later(self._header_timeout, self._expire)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        self._deadline = None
        if self._awaiting_headers and not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_headers_complete(self) -> None:
        self._awaiting_headers = False
        self._disarm()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        pipelined = bool(self.pipeline)  # the next request's headers are already in
        super().on_response_complete()
        if not pipelined and not self.transport.is_closing():
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.run``: the timeouts and the protocol above."""
    return {
        "http": PROTOCOL,
        "timeout_keep_alive": settings.keep_alive_timeout_seconds,
        "log_config": None,
        "access_log": False,
    }

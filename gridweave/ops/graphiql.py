"""The GraphiQL page, served from the package's own files under /static/ (see
scripts/fetch-graphiql): it works on a network without internet access."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse

PAGE = Path(__file__).with_name("graphiql.html")
STATIC = Path(__file__).resolve().parent.parent / "static"


@cache
def _html() -> str:
    return PAGE.read_text()


def graphiql_page(request: Request) -> HTMLResponse:
    """Scripts and styles from this server only; the page talks to this server only (HTTP for
    queries and mutations, a WebSocket for subscriptions)."""
    host = request.headers.get("host", "")
    policy = "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data:",
            "font-src 'self' data:",
            f"connect-src 'self' ws://{host} wss://{host}",
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "form-action 'none'",
        ]
    )
    return HTMLResponse(_html(), headers={"content-security-policy": policy})

"""``GET /maps/coverage/{areaId}.svg?category=CODE&maxHops=N``: the coverage map of an area's
subtree for a bearer token's user, under the same policy and bounds as ``Query.coverage``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from gridweave.errors import DomainError, ErrorCode
from gridweave.ids import decode_id
from gridweave.security import bearer_token, user_id_from_token
from gridweave.services.access import load_actor
from gridweave.services.coverage import coverage_report
from gridweave.services.coverage_map import coverage_map
from gridweave.settings import Settings

STATUS = {
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
}


def coverage_map_endpoint(settings: Settings) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        state = request.app.state
        token = bearer_token(request.headers.get("authorization"))
        user_id = user_id_from_token(settings, token) if token else None
        category = request.query_params.get("category")
        hops_text = request.query_params.get("maxHops")
        try:
            hops = int(hops_text) if hops_text is not None and len(hops_text) < 4 else None
            if hops_text is not None and hops is None:
                raise ValueError(hops_text)
            as_of_text = request.query_params.get("asOf")
            as_of = date.fromisoformat(as_of_text[:10]) if as_of_text else None
        except ValueError:
            return PlainTextResponse("maxHops is a number and asOf a date.", status_code=400)
        async with state.sessionmaker() as session:
            actor = await load_actor(session, user_id) if user_id is not None else None
            try:
                area_id = decode_id(request.path_params["area_id"], "Area", field=["areaId"])
                report = await coverage_report(
                    session,
                    actor=actor,
                    settings=settings,
                    area_id=area_id,
                    category_codes=[category[:64]] if category else None,
                    max_hops=hops,
                    as_of=as_of,
                    cache=getattr(state, "coverage_cache", None),
                )
                svg = await coverage_map(session, report, category_code=category)
            except DomainError as e:
                return PlainTextResponse(e.message, status_code=STATUS.get(e.code, 400))
        return Response(svg, media_type="image/svg+xml; charset=utf-8")

    return endpoint

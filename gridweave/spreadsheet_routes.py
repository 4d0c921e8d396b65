"""HTTP routes for spreadsheets: the template, imports (with their paged reports) and exports.

Plain HTTP rather than a GraphQL upload: a workbook is megabytes of binary, which the GraphQL
endpoint (JSON only, as its CSRF defence; small bodies) should not take. The same bearer token as
for GraphQL; the same services as the command line."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

import anyio
from sqlalchemy.exc import DBAPIError, IntegrityError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gridweave.errors import DomainError, ErrorCode, Unauthenticated, ValidationFailed
from gridweave.ids import decode_optional, encode_id
from gridweave.models import Role
from gridweave.security import bearer_token, user_id_from_token
from gridweave.services import exports, import_reports
from gridweave.services.access import Actor, load_actor, require_role
from gridweave.services.import_writes import run_import
from gridweave.services.sheets import read_file
from gridweave.settings import Settings

log = logging.getLogger(__name__)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FIRST_PAGE = 100
MAX_PAGE = 1_000
STATUS = {
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.CONFLICT: 409,
}


def _refusal(e: DomainError) -> JSONResponse:
    body = {"errors": [{"message": e.message, "code": e.code.value, "field": e.field}]}
    return JSONResponse(body, STATUS.get(e.code, 400))


async def _actor(request: Request, settings: Settings) -> Actor:
    token = bearer_token(request.headers.get("authorization"))
    user_id = user_id_from_token(settings, token) if token else None
    actor = None
    if user_id is not None:
        async with request.app.state.sessionmaker() as session:
            actor = await load_actor(session, user_id)
    if actor is None:
        raise Unauthenticated("Sign in first: send Authorization: Bearer <token>.")
    return actor


def _flag(request: Request, name: str) -> bool:
    return request.query_params.get(name, "").lower() in ("1", "true", "yes")


def _int(request: Request, name: str, default: int, *, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    try:
        value = default if raw is None else int(raw)
    except ValueError:
        raise ValidationFailed(f"{name} must be a whole number.", field=[name]) from None
    if not low <= value <= high:
        raise ValidationFailed(f"{name} must lie between {low} and {high}.", field=[name])
    return value


def _line(line: Any) -> dict[str, Any]:
    return {
        "seq": line.seq,
        "outcome": line.outcome,
        "sheet": line.sheet,
        "row": line.row,
        "column": line.column,
        "entityId": encode_id(*_split(line.entity_id)) if line.entity_id else None,
        "message": line.message,
    }


def _split(entity: str) -> tuple[str, int]:
    type_name, _, pk = entity.partition(":")
    return type_name, int(pk)


def _page(page: import_reports.ReportPage, request: Request) -> dict[str, Any]:
    report = page.report
    nxt = None
    if page.next_after is not None:
        params = dict(request.query_params)
        params["after"] = str(page.next_after)
        nxt = f"/imports/{report.id}?" + "&".join(f"{k}={quote(v)}" for k, v in params.items())
    return {
        "id": report.id,
        "status": report.status,
        "dryRun": report.dry_run,
        "file": report.file_name,
        "summary": report.summary,
        "lines": [_line(x) for x in page.lines],
        "next": nxt,
    }


def routes(settings: Settings) -> list[Route]:
    async def template(request: Request) -> Response:
        try:
            await _actor(request, settings)
            async with request.app.state.sessionmaker() as session:
                data = await exports.template(session)
        except DomainError as e:
            return _refusal(e)
        return _xlsx(data, "gridweave-template.xlsx")

    async def post_import(request: Request) -> Response:
        """The file as the request body; ``?dryRun=true``, ``?area=CODE``, ``?name=FILE``."""
        sm = request.app.state.sessionmaker
        try:
            actor = require_role(await _actor(request, settings), Role.COORDINATOR)
            name = (request.query_params.get("name") or "upload")[:200]
            area = request.query_params.get("area") or None
            body = await request.body()
            book = await anyio.to_thread.run_sync(lambda: read_file(body, name=name))
            async with sm() as session:
                result = await run_import(
                    session,
                    actor=actor,
                    book=book,
                    dry_run=_flag(request, "dryRun"),
                    area_code=area,
                )
                if result.status == "applied":
                    report_id = await import_reports.save_report(
                        session, actor=actor, result=result
                    )
                    await session.commit()
                else:
                    await session.rollback()
                    report_id = await import_reports.save_report(
                        session, actor=actor, result=result
                    )
                    await session.commit()
                page = await import_reports.report_page(
                    session, actor=actor, report_id=report_id, first=FIRST_PAGE
                )
        except DomainError as e:
            return _refusal(e)
        except IntegrityError as e:
            log.info("import lost a race: %s", e.orig)
            return _refusal(
                DomainError(
                    "Someone else changed the same rows meanwhile: check the file again.",
                    code=ErrorCode.CONFLICT,
                )
            )
        except DBAPIError as e:
            log.info("import refused by the database: %s", e.orig)
            return _refusal(DomainError("A value is too long or out of range: check the file."))
        return JSONResponse(_page(page, request), 422 if result.status == "refused" else 200)

    async def get_report(request: Request) -> Response:
        try:
            actor = await _actor(request, settings)
            outcome = request.query_params.get("outcome")
            if outcome is not None and outcome not in import_reports.OUTCOMES:
                raise ValidationFailed(
                    f"outcome is one of {', '.join(import_reports.OUTCOMES)}.", field=["outcome"]
                )
            async with request.app.state.sessionmaker() as session:
                page = await import_reports.report_page(
                    session,
                    actor=actor,
                    report_id=request.path_params["report_id"],
                    outcome=outcome,
                    after=_int(request, "after", 0, low=0, high=2**31 - 1),
                    first=_int(request, "first", FIRST_PAGE, low=1, high=MAX_PAGE),
                )
        except DomainError as e:
            return _refusal(e)
        return JSONResponse(_page(page, request))

    def export(kind: str) -> Any:
        write = exports.export_areas if kind == "areas" else exports.export_organizations

        async def endpoint(request: Request) -> Response:
            try:
                actor = await _actor(request, settings)
                raw = request.query_params.get("areaId")
                if raw is not None and len(raw) > 100:
                    raise ValidationFailed("This is not the id of an Area.", field=["areaId"])
                area_id = decode_optional(raw, "Area", field=["areaId"])
                async with request.app.state.sessionmaker() as session:
                    data = await write(session, actor=actor, area_id=area_id)
            except DomainError as e:
                return _refusal(e)
            return _xlsx(data, f"{kind}.xlsx")

        return endpoint

    return [
        Route("/imports/template.xlsx", template, methods=["GET"]),
        Route("/imports", post_import, methods=["POST"]),
        Route("/imports/{report_id:int}", get_report, methods=["GET"]),
        Route("/exports/organizations.xlsx", export("organizations"), methods=["GET"]),
        Route("/exports/areas.xlsx", export("areas"), methods=["GET"]),
    ]


def _xlsx(data: bytes, filename: str) -> Response:
    return Response(
        data,
        media_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


# Paths that take a whole workbook or build one: bodies and time beyond the GraphQL endpoint's.
LARGE_PATHS = ("/imports", "/exports/")

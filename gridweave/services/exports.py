"""Exports in the template's layout: what the caller may read under one area, as a workbook that
imports again unchanged."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anyio
from sqlalchemy.ext.asyncio import AsyncSession

from gridweave.errors import Forbidden
from gridweave.models import AreaLevel, OrganizationKind
from gridweave.services.access import Actor, read_policy, require_actor
from gridweave.services.areas import get_area
from gridweave.services.import_plan import COUNT_KEYS
from gridweave.services.sheets import AREAS, KIND_LABELS, LEVEL_LABELS, ORGANIZATIONS, SERVICE_AREAS
from gridweave.services.subtree import in_subtree_sql
from gridweave.services.workbooks import write_workbook


async def _driver(session: AsyncSession) -> Any:
    conn = await session.connection()
    raw = await conn.get_raw_connection()
    return raw.driver_connection


async def _root_path(session: AsyncSession, area_id: int | None) -> str | None:
    if area_id is None:
        return None
    return (await get_area(session, area_id, field=["areaId"])).path


def _where(column: str, path: str | None) -> str:
    return in_subtree_sql(column, "$1") if path else "$1::text IS NULL"


def _may_read(actor: Actor | None, *type_names: str) -> None:
    """The read policies of services/access.py: today every signed-in user reads the map of
    areas and organizations' public profiles, so the export narrows only to the subtree asked."""
    actor = require_actor(actor)
    for name in type_names:
        if not read_policy(name).may_read(actor):
            raise Forbidden(f"You may not read {name} rows.")


async def category_names(session: AsyncSession) -> list[str]:
    apg = await _driver(session)
    return [r["name"] for r in await apg.fetch("SELECT name FROM service_categories ORDER BY id")]


async def export_areas(
    session: AsyncSession, *, actor: Actor | None, area_id: int | None = None
) -> bytes:
    _may_read(actor, "Area")
    path = await _root_path(session, area_id)
    apg = await _driver(session)
    rows = await apg.fetch(
        "SELECT a.code, a.name, a.level, p.code AS parent_code, "
        + ", ".join(f"a.{k}" for k in COUNT_KEYS)
        + " FROM areas a LEFT JOIN areas p ON p.id = a.parent_id"
        f" WHERE {_where('a.path', path)} ORDER BY a.path",
        path,
    )

    def records() -> Iterator[tuple[Any, ...]]:
        for r in rows:
            level = LEVEL_LABELS[AreaLevel(r["level"])]
            yield (r["code"], r["name"], level, r["parent_code"], *(r[k] for k in COUNT_KEYS))

    categories = await category_names(session)
    return await anyio.to_thread.run_sync(
        lambda: write_workbook(categories=categories, rows={AREAS: records()})
    )


async def export_organizations(
    session: AsyncSession, *, actor: Actor | None, area_id: int | None = None
) -> bytes:
    """Organizations based at or below the area, and the areas and categories they serve. A
    parent is written by credit code when it has one, else by name, with its area's code."""
    _may_read(actor, "Organization", "ServiceArea", "ServiceCategory")
    path = await _root_path(session, area_id)
    apg = await _driver(session)
    orgs = await apg.fetch(
        "SELECT o.name, o.kind, o.credit_code, a.code AS area_code,"
        " coalesce(p.credit_code, p.name) AS parent, pa.code AS parent_area_code"
        " FROM organizations o JOIN areas a ON a.id = o.area_id"
        " LEFT JOIN organizations p ON p.id = o.parent_id"
        " LEFT JOIN areas pa ON pa.id = p.area_id"
        f" WHERE {_where('o.area_path', path)} ORDER BY o.area_path, o.id",
        path,
    )
    services = await apg.fetch(
        "SELECT o.name, a.code AS area_code, o.credit_code, sa.code AS served_code,"
        " c.name AS category"
        " FROM organization_service_areas s JOIN organizations o ON o.id = s.organization_id"
        " JOIN areas a ON a.id = o.area_id JOIN areas sa ON sa.id = s.area_id"
        " JOIN service_categories c ON c.id = s.category_id"
        f" WHERE {_where('o.area_path', path)} ORDER BY o.area_path, o.id, sa.path, c.id",
        path,
    )

    def org_records() -> Iterator[tuple[Any, ...]]:
        for r in orgs:
            kind = KIND_LABELS[OrganizationKind(r["kind"])]
            parent_area = r["parent_area_code"] if r["parent"] else None
            yield (r["name"], kind, r["credit_code"], r["area_code"], r["parent"], parent_area)

    def service_records() -> Iterator[tuple[Any, ...]]:
        for r in services:
            yield (r["name"], r["area_code"], r["credit_code"], r["served_code"], r["category"])

    categories = await category_names(session)
    return await anyio.to_thread.run_sync(
        lambda: write_workbook(
            categories=categories,
            rows={ORGANIZATIONS: org_records(), SERVICE_AREAS: service_records()},
        )
    )


async def template(session: AsyncSession) -> bytes:
    return write_workbook(categories=await category_names(session), example=True)

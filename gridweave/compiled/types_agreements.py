"""Compiled declarations: co-building agreements, as an organization's dashboard reads them."""

from __future__ import annotations

from gridweave.compiled.declare import FieldSql, ObjectType, global_id, one, scalars
from gridweave.compiled.selection import Selection
from gridweave.compiled.walker import Compiler
from gridweave.models import Agreement as AgreementRow
from gridweave.schema.agreements import Agreement
from gridweave.services.calendar import CHINA


def _status(c: Compiler, s: Selection, t: str) -> str:
    """services.agreements.status_on, on today's date in China Standard Time."""
    hours = int(CHINA.utcoffset(None).total_seconds() // 3600)
    today = f"((now() AT TIME ZONE 'UTC') + interval '{hours} hours')::date"
    return (
        f"CASE WHEN {t}.terminated_on IS NOT NULL THEN 'TERMINATED'"
        f" WHEN {today} < {t}.starts_on THEN 'DRAFT'"
        f" WHEN {today} > {t}.ends_on THEN 'EXPIRED' ELSE 'ACTIVE' END"
    )


AGREEMENT_FIELDS: dict[str, FieldSql] = {
    **scalars(Agreement, AgreementRow.__table__),
    "id": global_id("Agreement"),
    "status": _status,
    "community": one("Area", "community_id"),
    "partner": one("Organization", "partner_id"),
}

TYPES = [ObjectType("Agreement", AGREEMENT_FIELDS, table="agreements", node=True)]

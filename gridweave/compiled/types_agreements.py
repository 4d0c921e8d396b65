"""Compiled declarations: co-building agreements, as an organization's dashboard reads them, with
their commitments and the quarterly minimum (services/agreements.py: status_on, quarter_window)."""

from __future__ import annotations

from gridweave.compiled.declare import FieldSql, ObjectType, column, global_id, many, one, scalars
from gridweave.compiled.periods import day_argument, quarter_end, quarter_start
from gridweave.compiled.selection import Selection
from gridweave.compiled.walker import Compiler
from gridweave.models import Agreement as AgreementRow
from gridweave.schema.agreements import Agreement
from gridweave.services.subtree import in_subtree_sql


def _status(c: Compiler, s: Selection, t: str) -> str:
    """services.agreements.status_on, on today's date in China Standard Time."""
    today = c.today()
    return (
        f"CASE WHEN {t}.terminated_on IS NOT NULL THEN 'TERMINATED'"
        f" WHEN {today} < {t}.starts_on THEN 'DRAFT'"
        f" WHEN {today} > {t}.ends_on THEN 'EXPIRED' ELSE 'ACTIVE' END"
    )


def _window(c: Compiler, s: Selection, a: str) -> str:
    """quarter_window: the days (lo..hi, none when lo > hi) of the quarter containing ``on`` on
    which the agreement was in force (through ends_on, or until the day before termination)."""
    day = day_argument(c, s)
    last = (
        f"CASE WHEN {a}.terminated_on IS NULL THEN {a}.ends_on"
        f" ELSE least({a}.ends_on, {a}.terminated_on - 1) END"
    )
    return (
        f"(SELECT greatest({quarter_start(day)}, {a}.starts_on) AS lo,"
        f" least({quarter_end(day)}, {last}) AS hi)"
    )


def _count(c: Compiler, w: str, a: str) -> str:
    """The partner's activities in the community's subtree within the window."""
    x = c.alias("sa")
    return (
        f"(SELECT count(*) FROM service_activities {x} WHERE {x}.organization_id = {a}.partner_id"
        f" AND {x}.occurred_on BETWEEN {w}.lo AND {w}.hi"
        f" AND {in_subtree_sql(f'{x}.area_path', f'{a}.community_path')})"
    )


def _activities(c: Compiler, s: Selection, a: str) -> str:
    w = c.alias("w")
    window = _window(c, s, a)
    return (
        f"(SELECT CASE WHEN {w}.lo <= {w}.hi THEN {_count(c, w, a)} ELSE 0 END FROM {window} {w})"
    )


def _meets_minimum(c: Compiler, s: Selection, a: str) -> str:
    """Always true for a quarter in which the agreement was never in force."""
    w = c.alias("w")
    window = _window(c, s, a)
    return (
        f"(SELECT {w}.lo > {w}.hi OR {_count(c, w, a)} >= {a}.min_activities_per_quarter"
        f" FROM {window} {w})"
    )


AGREEMENT_FIELDS: dict[str, FieldSql] = {
    **scalars(Agreement, AgreementRow.__table__),
    "id": global_id("Agreement"),
    "status": _status,
    "community": one("Area", "community_id"),
    "partner": one("Organization", "partner_id"),
    "jointMeeting": one("JointMeeting", "joint_meeting_id"),
    "commitments": many(
        "Commitment",
        lambda a, x: f"FROM agreement_commitments {x} WHERE {x}.agreement_id = {a}.id",
        order="position",
    ),
    "activitiesThisQuarter": _activities,
    "meetsMinimumThisQuarter": _meets_minimum,
}

COMMITMENT_FIELDS: dict[str, FieldSql] = {
    "description": column("description"),
    # numeric(14, 2) as text: the digits strawberry's Decimal prints (str of asyncpg's Decimal)
    "quantity": lambda c, s, t: f"{t}.quantity::text",
    "unit": column("unit"),
    "category": one("ServiceCategory", "category_id"),
}

TYPES = [
    ObjectType("Agreement", AGREEMENT_FIELDS, table="agreements", node=True),
    ObjectType("Commitment", COMMITMENT_FIELDS),
]

"""Compiled declarations: the project board (service projects, their claims and claimants).

Both are read by the viewer's area scope (services/access.py, AreaRule): the walker puts it into
every list, page and ``node()`` of them. The status is models.projects.status_sql, the one
expression the resolvers read and filter by too, so EXPIRED is decided at read time on both
paths alike."""

from __future__ import annotations

from gridweave.compiled.declare import (
    FieldSql,
    ObjectType,
    column,
    global_id,
    many,
    one,
    scalars,
    utc_datetime,
)
from gridweave.compiled.selection import Selection
from gridweave.compiled.walker import Compiler
from gridweave.models import Claim as ClaimRow
from gridweave.models import ServiceProject as ProjectRow
from gridweave.models.projects import status_sql
from gridweave.schema.projects import Claim, ServiceProject


def _report(c: Compiler, s: Selection, t: str) -> str:
    """A claim's completion report: null until it reported (as Claim.from_row)."""
    report = c.object("CompletionReport", s.selection_sets, t)
    return f"CASE WHEN {t}.report_summary IS NOT NULL THEN {report} END"


PROJECT_FIELDS: dict[str, FieldSql] = {
    **scalars(ServiceProject, ProjectRow.__table__),
    "id": global_id("ServiceProject"),
    "status": lambda c, s, t: status_sql(t),
    "category": one("ServiceCategory", "category_id"),
    "area": one("Area", "area_id"),
    "postedBy": one("Organization", "posted_by_id"),
    "claims": many("Claim", lambda p, x: f"FROM claims {x} WHERE {x}.project_id = {p}.id"),
}

CLAIM_FIELDS: dict[str, FieldSql] = {
    **scalars(Claim, ClaimRow.__table__),
    "id": global_id("Claim"),
    "claimedAt": utc_datetime("claimed_at"),
    "report": _report,
    "project": one("ServiceProject", "project_id"),
    "claimant": one("Organization", "claimant_id"),
}

# Over the claim's own row: the report's columns live on it.
REPORT_FIELDS: dict[str, FieldSql] = {
    "summary": column("report_summary"),
    "hours": lambda c, s, t: f"{t}.report_hours::text",  # a Decimal is a string in JSON
    "beneficiaries": column("report_beneficiaries"),
    "completedOn": column("completed_on"),
}

TYPES = [
    ObjectType("ServiceProject", PROJECT_FIELDS, table="service_projects", node=True),
    ObjectType("Claim", CLAIM_FIELDS, table="claims", node=True),
    ObjectType("CompletionReport", REPORT_FIELDS),
]

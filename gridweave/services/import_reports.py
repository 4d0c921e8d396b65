"""Import reports kept for the API caller to page through (problems first, then each row's
outcome), readable by whoever ran the import and by administrators; kept for 30 days."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from gridweave.errors import NotFound
from gridweave.models import ImportReport, ImportReportLine
from gridweave.services.access import Actor, require_actor
from gridweave.services.import_plan import ImportResult

KEEP_DAYS = 30
OUTCOMES = ("problem", "created", "updated", "unchanged")


def _lines(result: ImportResult) -> list[tuple[Any, ...]]:
    lines: list[tuple[Any, ...]] = [
        ("problem", p.sheet[:40], p.row, p.column, None, p.message) for p in result.problems
    ]
    lines += [(o.outcome, o.sheet[:40], o.row, None, o.entity_id, None) for o in result.outcomes]
    return lines


def summary_of(result: ImportResult) -> dict[str, Any]:
    return {
        "file": result.file_name,
        "dryRun": result.dry_run,
        "status": result.status,
        "problems": len(result.problems),
        "counts": result.counts,
    }


async def save_report(session: AsyncSession, *, actor: Actor | None, result: ImportResult) -> int:
    """Store the report (its lines by COPY) and forget reports older than ``KEEP_DAYS``."""
    await session.execute(
        delete(ImportReport).where(
            ImportReport.created_at < text(f"now() - interval '{KEEP_DAYS} days'")
        )
    )
    report = ImportReport(
        actor_id=actor.user_id if actor and actor.user_id else None,
        file_name=result.file_name[:200],
        dry_run=result.dry_run,
        status=result.status,
        summary=summary_of(result),
    )
    session.add(report)
    await session.flush()
    conn = await session.connection()
    raw = await conn.get_raw_connection()
    records = [(report.id, i, *line) for i, line in enumerate(_lines(result), start=1)]
    apg: Any = raw.driver_connection
    await apg.copy_records_to_table(
        "import_report_lines",
        records=records,
        columns=["report_id", "seq", "outcome", "sheet", "row", "column", "entity_id", "message"],
    )
    return report.id


@dataclass(frozen=True, slots=True)
class ReportPage:
    report: ImportReport
    lines: list[ImportReportLine]
    next_after: int | None


async def report_page(
    session: AsyncSession,
    *,
    actor: Actor | None,
    report_id: int,
    outcome: str | None = None,
    after: int = 0,
    first: int = 100,
) -> ReportPage:
    """A page of a report's lines in file order (problems first), keyset-paged on ``seq``."""
    actor = require_actor(actor)
    report = await session.get(ImportReport, report_id)
    if report is None or not (actor.is_admin or report.actor_id == actor.user_id):
        raise NotFound("No such import report.", field=["id"])
    q = select(ImportReportLine).where(
        ImportReportLine.report_id == report_id, ImportReportLine.seq > after
    )
    if outcome is not None:
        q = q.where(ImportReportLine.outcome == outcome)
    rows = list((await session.scalars(q.order_by(ImportReportLine.seq).limit(first + 1))).all())
    more = len(rows) > first
    rows = rows[:first]
    return ReportPage(report, rows, rows[-1].seq if more and rows else None)

"""``gridweave import``: a spreadsheet into the database, with a progress bar and a report."""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from gridweave.errors import DomainError
from gridweave.settings import Settings

SHOWN_PROBLEMS = 100
PHASES = {"read": "reading rows", "check": "checking", "write": "writing"}


async def _actor(session: Any, email: str | None) -> Any:
    from sqlalchemy import func, select

    from gridweave.models import User
    from gridweave.services.access import load_actor
    from gridweave.services.import_writes import OPERATOR

    if email is None:
        return OPERATOR
    user_id = await session.scalar(select(User.id).where(func.lower(User.email) == email.lower()))
    actor = await load_actor(session, user_id) if user_id else None
    if actor is None:
        raise DomainError(f"No user has the email {email}.")
    return actor


def write_template(url: str, settings: Settings, target: Path) -> None:
    from gridweave.db import make_engine, make_sessionmaker
    from gridweave.services.exports import template

    async def run() -> bytes:
        engine = make_engine(url, settings)
        try:
            async with make_sessionmaker(engine)() as session:
                return await template(session)
        finally:
            await engine.dispose()

    target.write_bytes(asyncio.run(run()))
    typer.echo(f"template written to {target}")


def run_import_command(
    url: str,
    settings: Settings,
    path: Path,
    *,
    dry_run: bool,
    area: str | None,
    user: str | None,
    report: Path | None,
) -> int:
    """Returns the exit code: 0 clean (written, or checked by a dry run), 1 refused."""
    from gridweave.db import make_engine, make_sessionmaker
    from gridweave.services.import_writes import run_import
    from gridweave.services.sheets import read_file

    console = Console(stderr=True)
    data = path.read_bytes()
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as bar:
        tasks: dict[str, Any] = {}

        def progress(phase: str, done: int, total: int | None = None) -> None:
            label = PHASES.get(phase, phase)
            if label not in tasks:
                tasks[label] = bar.add_task(label, total=total)
            bar.update(tasks[label], completed=done, total=total)

        book = read_file(data, name=path.name, progress=lambda sheet, n: progress(sheet, n))

        async def run() -> Any:
            engine = make_engine(url, settings)
            try:
                async with make_sessionmaker(engine)() as session:
                    actor = await _actor(session, user)
                    result = await run_import(
                        session,
                        actor=actor,
                        book=book,
                        dry_run=dry_run,
                        area_code=area,
                        progress=progress,
                    )
                    if result.status == "applied":
                        await session.commit()
                    else:
                        await session.rollback()
                    return result
            finally:
                await engine.dispose()

        result = asyncio.run(run())
    _print(console, result)
    if report is not None:
        _write_report(report, result)
        console.print(f"full report written to {report}")
    return 0 if result.ok else 1


def _print(console: Console, result: Any) -> None:
    counts = Table(title=f"{result.file_name}: {result.status}")
    for col in ("sheet", "created", "updated", "unchanged / added, removed"):
        counts.add_column(col)
    for kind, c in result.counts.items():
        if "created" in c:
            counts.add_row(kind, str(c["created"]), str(c["updated"]), str(c["unchanged"]))
        else:
            counts.add_row(kind, "", str(c["changed"]), f"+{c['added']} / -{c['removed']}")
    console.print(counts)
    if not result.problems:
        verb = "would be written (dry run)" if result.dry_run else "written"
        console.print(f"[green]no problems: {verb}")
        return
    table = Table(title=f"{len(result.problems)} problem(s): nothing was written")
    for col in ("sheet", "row", "column", "problem"):
        table.add_column(col)
    for p in result.problems[:SHOWN_PROBLEMS]:
        table.add_row(p.sheet, str(p.row or ""), p.column or "", p.message)
    console.print(table)
    if len(result.problems) > SHOWN_PROBLEMS:
        console.print(f"... and {len(result.problems) - SHOWN_PROBLEMS} more (--report FILE.csv)")


def _write_report(path: Path, result: Any) -> None:
    with path.open("w", newline="", encoding="utf-8-sig") as f:
        w = csv.writer(f)
        w.writerow(["outcome", "sheet", "row", "column", "entity", "message"])
        for p in result.problems:
            w.writerow(["problem", p.sheet, p.row, p.column or "", "", p.message])
        for o in result.outcomes:
            w.writerow([o.outcome, o.sheet, o.row, "", o.entity_id or "", ""])

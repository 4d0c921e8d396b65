"""Failed sign-ins, counted in PostgreSQL (processes keep nothing) under three keys at once:

- the client address, over every account: one address spraying many accounts is stopped;
- the account from that address: the usual lockout, but only for that address, so that an
  attacker cannot lock the owner out from everywhere else;
- the account from every address: a slower limit, reached only when many addresses fail on one
  account; it too expires, so the owner is never locked out for longer than the attack lasts
  plus ``login_lockout_seconds``.

Accounts are keyed by a digest of the normalized email, whether or not a user has it, so that
throttling answers the same for unknown emails and never stores them in clear. An attempt refused
because a key is locked is not counted again (a locked address cannot push an account towards
its all-addresses limit)."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from gridweave.settings import Settings

log = logging.getLogger(__name__)

# Serializes the attempts on one account (a two-key advisory lock: its own key space), so that
# concurrent wrong passwords all count before the next one is looked at.
_ACCOUNT_LOCK_CLASS = 7_301_996
# Expired rows removed per recorded failure: the table stays about as large as the number of
# addresses and accounts that failed within the last window.
_PRUNE_BATCH = 100


@dataclass(frozen=True, slots=True)
class Rule:
    key: str
    max_failures: int


def account_key(email: str) -> str:
    return "account:" + hashlib.sha256(email.strip().lower().encode()).hexdigest()[:40]


def rules(settings: Settings, *, email: str, address: str) -> tuple[Rule, ...]:
    account = account_key(email)
    return (
        Rule(f"address:{address}"[:200], settings.login_address_max_failures),
        Rule(f"{account}@{address}"[:200], settings.login_max_failures),
        Rule(account, settings.login_account_max_failures),
    )


async def serialize_account(session: AsyncSession, email: str) -> None:
    """Hold the account's attempts in line until this transaction ends."""
    await session.execute(
        text("SELECT pg_advisory_xact_lock(:c, hashtext(:k))"),
        {"c": _ACCOUNT_LOCK_CLASS, "k": account_key(email)},
    )


async def locked_until(
    session: AsyncSession, keys: tuple[Rule, ...], *, now: datetime
) -> datetime | None:
    """The latest lock among ``keys`` still running at ``now``; None when none is."""
    found: datetime | None = await session.scalar(
        text(
            "SELECT max(locked_until) FROM sign_in_throttles"
            " WHERE key = ANY(:keys) AND locked_until > :now"
        ),
        {"keys": [r.key for r in keys], "now": now},
    )
    return found


async def record_failure(
    session: AsyncSession, settings: Settings, keys: tuple[Rule, ...], *, now: datetime
) -> None:
    """Count one failure under each key; a key that reaches its limit is locked for
    ``login_lockout_seconds`` and starts counting afresh."""
    window_start = now - timedelta(seconds=settings.login_failure_window_seconds)
    counted = await session.execute(
        text(
            "INSERT INTO sign_in_throttles AS t (key, failures, window_started_at)"
            " SELECT k, 1, :now FROM unnest(CAST(:keys AS text[])) AS k"
            " ON CONFLICT (key) DO UPDATE SET"
            "  failures = CASE WHEN t.window_started_at <= :window_start THEN 1"
            "             ELSE t.failures + 1 END,"
            "  window_started_at = CASE WHEN t.window_started_at <= :window_start THEN :now"
            "                      ELSE t.window_started_at END"
            " RETURNING key, failures"
        ),
        {"keys": [r.key for r in keys], "now": now, "window_start": window_start},
    )
    limits = {r.key: r.max_failures for r in keys}
    reached = [key for key, failures in counted if failures >= limits[key]]
    if reached:
        log.warning(
            "sign-ins locked for %ss after repeated failures: %s",
            settings.login_lockout_seconds,
            ", ".join(reached),
        )
        await session.execute(
            text(
                "UPDATE sign_in_throttles SET failures = 0, window_started_at = :now,"
                " locked_until = :until WHERE key = ANY(:keys)"
            ),
            {
                "keys": reached,
                "now": now,
                "until": now + timedelta(seconds=settings.login_lockout_seconds),
            },
        )
    await session.execute(
        text(
            "DELETE FROM sign_in_throttles WHERE key IN ("
            " SELECT key FROM sign_in_throttles"
            " WHERE window_started_at < :window_start"
            "  AND (locked_until IS NULL OR locked_until < :now)"
            " LIMIT :n FOR UPDATE SKIP LOCKED)"
        ),
        {"window_start": window_start, "now": now, "n": _PRUNE_BATCH},
    )


async def clear(session: AsyncSession, keys: tuple[Rule, ...]) -> None:
    """After a right password: forget the account's failures (never the address's: one valid
    account of its own must not let an address go on guessing others)."""
    await session.execute(
        text("DELETE FROM sign_in_throttles WHERE key = ANY(:keys)"),
        {"keys": [r.key for r in keys if not r.key.startswith("address:")]},
    )

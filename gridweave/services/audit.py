"""The append-only, hash-chained ledger (阳光台账)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import LargeBinary, bindparam, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from gridweave.models import AuditEntry
from gridweave.ops import metrics
from gridweave.services.access import Actor

# Any fixed number: the advisory lock that serializes appends to the chain.
_CHAIN_LOCK = 7_301_994
CHANGES_CHANNEL = "gridweave_changes"
_SECRET_KEYS = frozenset({"password", "password_hash", "token", "secret"})


def canonical(
    *,
    at: datetime,
    actor_id: int | None,
    action: str,
    entity_id: str | None,
    summary: dict[str, Any],
) -> bytes:
    body = {
        "at": at.astimezone(UTC).isoformat(timespec="microseconds"),
        "actor_id": actor_id,
        "action": action,
        "entity_id": entity_id,
        "summary": summary,
    }
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)


def chain_hash(previous_hash: str | None, body: bytes) -> str:
    return hashlib.sha256((previous_hash or "").encode() + body).hexdigest()


def _scrub(value: Any) -> Any:
    """Redact secret-looking keys at any depth: a summary must never carry a password or token."""
    if isinstance(value, dict):
        return {
            k: "[redacted]" if str(k).lower() in _SECRET_KEYS else _scrub(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    return value


async def record(
    session: AsyncSession,
    actor: Actor | None,
    action: str,
    entity_id: str | None,
    summary: dict[str, Any],
    *,
    area_path: str | None = None,
) -> AuditEntry:
    """What every service calls after changing rows: flush them (so that constraint violations
    surface before the entry is chained), append the ledger entry and announce the change, with
    the area path of what changed so that subscribers can filter by subtree."""
    await session.flush()
    return await append(
        session,
        actor=actor,
        action=action,
        entity_id=entity_id,
        summary=summary,
        area_path=area_path,
    )


def id_runs(ids: Iterable[int]) -> list[list[int]]:
    """Ids as inclusive runs, ``[[first, last], ...]``: how a bulk load names its rows."""
    runs: list[list[int]] = []
    for pk in sorted(ids):
        if runs and pk == runs[-1][1] + 1:
            runs[-1][1] = pk
        else:
            runs.append([pk, pk])
    return runs


async def record_bulk_load(
    session: AsyncSession,
    actor: Actor | None,
    action: str,
    entity_id: str | None,
    *,
    ids: Mapping[str, Iterable[int]],
    counts: Mapping[str, Any],
    area_path: str | None = None,
    **details: Any,
) -> AuditEntry:
    """One ledger entry for rows written in bulk (a demo, an import) rather than one by one: the
    row counts, and the ids of every table with an id as runs, so that each row can be traced to
    this entry. Rows of tables keyed by others' ids (neighbours, service areas) are traced by
    those ids and counted in ``counts``."""
    summary = {
        "counts": dict(counts),
        "ids": {table: id_runs(pks) for table, pks in ids.items()},
        **details,
    }
    return await record(session, actor, action, entity_id, summary, area_path=area_path)


#: The canonical body's ``at`` value while the body is built in two halves (see PendingEntry).
_AT_MARK = "\u0001at"


@dataclass(frozen=True, slots=True)
class PendingEntry:
    """An entry ready to be appended by ``audit_append`` (migration 0009), alone (:func:`append`)
    or inside the statement that makes the change it records (:attr:`CALL`, as
    ``services.claims`` does).

    The canonical body is sent as the halves before and after its ``at`` value: PostgreSQL stamps
    the entry with its clock once the lock is granted, so ``at`` follows the chain's order."""

    actor_id: int | None
    action: str
    entity_id: str | None
    summary: dict[str, Any]
    params: dict[str, Any]

    #: The function call, its entity id given by the SQL expression ``{entity}``.
    CALL = (
        "audit_append(:ledger_lock, :ledger_actor_id, :ledger_action, {entity},"
        " CAST(:ledger_summary AS jsonb), :ledger_head, :ledger_tail, :ledger_channel,"
        " :ledger_event)"
    )
    #: What a statement selects of the call's result, aliased ``{alias}``.
    COLUMNS = (
        "{alias}.id AS ledger_id, {alias}.at AS ledger_at, {alias}.previous_hash AS"
        " ledger_previous_hash, {alias}.hash AS ledger_hash, {alias}.lock_wait AS ledger_lock_wait"
    )
    BINDS = (
        bindparam("ledger_head", type_=LargeBinary),
        bindparam("ledger_tail", type_=LargeBinary),
    )

    def appended(self, row: Any) -> None:
        """Records the metrics of the append whose :attr:`COLUMNS` ``row`` holds."""
        metrics.ledger_lock_waited(row.ledger_lock_wait)
        metrics.ledger_appended()

    def entry(self, row: Any) -> AuditEntry:
        """The appended entry, from the :attr:`COLUMNS` of a row; records the metrics."""
        self.appended(row)
        return AuditEntry(
            id=row.ledger_id,
            at=row.ledger_at,
            actor_id=self.actor_id,
            action=self.action,
            entity_id=self.entity_id,
            summary=self.summary,
            previous_hash=row.ledger_previous_hash,
            hash=row.ledger_hash,
        )


def pending_entry(
    *,
    actor: Actor | None,
    action: str,
    entity_id: str | None,
    summary: dict[str, Any],
    area_path: str | None = None,
) -> PendingEntry:
    clean = orjson.loads(orjson.dumps(_scrub(summary), default=str))
    actor_id = actor.user_id if actor else None
    body = orjson.dumps(
        {
            "at": _AT_MARK,
            "actor_id": actor_id,
            "action": action,
            "entity_id": entity_id,
            "summary": clean,
        },
        option=orjson.OPT_SORT_KEYS,
    )
    # Keys are sorted: only "action" and "actor_id" come before "at", and neither can hold it.
    head, _, tail = body.partition(orjson.dumps(_AT_MARK))
    event = orjson.dumps({"action": action, "entity": entity_id, "area": area_path}).decode()
    params = {
        "ledger_lock": _CHAIN_LOCK,
        "ledger_actor_id": actor_id,
        "ledger_action": action,
        "ledger_entity_id": entity_id,
        "ledger_summary": orjson.dumps(clean).decode(),
        "ledger_head": head,
        "ledger_tail": tail,
        "ledger_channel": CHANGES_CHANNEL,
        "ledger_event": event,
    }
    return PendingEntry(actor_id, action, entity_id, clean, params)


_APPEND = text(
    f"SELECT {PendingEntry.COLUMNS.format(alias='e')}"
    f" FROM {PendingEntry.CALL.format(entity=':ledger_entity_id')} AS e"
).bindparams(*PendingEntry.BINDS)


async def append(
    session: AsyncSession,
    *,
    actor: Actor | None,
    action: str,
    entity_id: str | None,
    summary: dict[str, Any],
    area_path: str | None = None,
) -> AuditEntry:
    """Append one entry in the caller's transaction and announce the change.

    One statement (``audit_append``, migration 0009) takes the transaction-scoped advisory lock,
    so concurrent appends queue and the chain stays one line even across processes, then stamps
    the entry, reads the last hash, inserts the entry with its hash computed in PostgreSQL
    (sha256 over the previous hash and the canonical body, exactly what :func:`chain_hash`
    computes) and queues the NOTIFY. The lock is held until the caller's transaction ends: one
    round trip (the commit) after the append."""
    pending = pending_entry(
        actor=actor, action=action, entity_id=entity_id, summary=summary, area_path=area_path
    )
    row = (await session.execute(_APPEND, pending.params)).one()
    return pending.entry(row)


async def notify_change(
    session: AsyncSession, *, action: str, entity_id: str | None, area_path: str | None = None
) -> None:
    """Tell every gridweave process that data changed. PostgreSQL delivers the notification when
    the transaction commits, and never when it rolls back. ``area`` is the materialized path of
    the area the change belongs to (null for changes outside the area tree)."""
    payload = orjson.dumps({"action": action, "entity": entity_id, "area": area_path}).decode()
    await session.execute(text("SELECT pg_notify(:c, :p)"), {"c": CHANGES_CHANNEL, "p": payload})


@dataclass(frozen=True, slots=True)
class ChainCheck:
    valid: bool
    checked: int
    first_broken_id: int | None = None
    reason: str | None = None


async def verify_chain(session: AsyncSession, *, batch: int = 5_000) -> ChainCheck:
    """Walk the ledger in id order and recompute every hash."""
    previous: str | None = None
    last_id = 0
    checked = 0
    while True:
        rows = (
            (
                await session.execute(
                    select(AuditEntry)
                    .where(AuditEntry.id > last_id)
                    .order_by(AuditEntry.id)
                    .limit(batch)
                )
            )
            .scalars()
            .all()
        )
        if not rows:
            return ChainCheck(valid=True, checked=checked)
        for e in rows:
            body = canonical(
                at=e.at,
                actor_id=e.actor_id,
                action=e.action,
                entity_id=e.entity_id,
                summary=e.summary,
            )
            if e.previous_hash != previous:
                return ChainCheck(
                    False, checked, e.id, "previous hash does not match the entry before"
                )
            if e.hash != chain_hash(previous, body):
                return ChainCheck(False, checked, e.id, "hash does not match the entry's content")
            previous = e.hash
            last_id = e.id
            checked += 1
            session.expunge(e)


async def count_entries(session: AsyncSession, *, entity_id: str | None = None) -> int:
    q = select(func.count()).select_from(AuditEntry)
    if entity_id is not None:
        q = q.where(AuditEntry.entity_id == entity_id)
    return int(await session.scalar(q) or 0)


async def list_entries(
    session: AsyncSession, *, entity_id: str | None = None, before_id: int | None, limit: int
) -> Sequence[AuditEntry]:
    """Newest first, keyset-paged: entries with an id below ``before_id`` (None: from the newest).
    With ``entity_id`` the index on (entity_id, id) serves the page."""
    q = select(AuditEntry)
    if entity_id is not None:
        q = q.where(AuditEntry.entity_id == entity_id)
    if before_id is not None:
        q = q.where(AuditEntry.id < before_id)
    return (await session.scalars(q.order_by(AuditEntry.id.desc()).limit(limit))).all()


async def get_entry(session: AsyncSession, entry_id: int) -> AuditEntry | None:
    return await session.get(AuditEntry, entry_id)

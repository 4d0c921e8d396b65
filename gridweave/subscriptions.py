"""Service project events for GraphQL subscriptions, from any process.

Every service that changes a project or a claim appends a ledger entry, and the ledger announces
it with PostgreSQL NOTIFY (``{action, entity, area}``) when the transaction commits. Each process
has one :class:`~gridweave.events.ChangeListener`; one :class:`ProjectEvents` per process hears it,
keeps only the project actions that some subscriber's area and scope want, loads the rows of a
batch of them in one round of queries (not one per subscriber), and offers each event to every
matching subscriber's own bounded :class:`~gridweave.events.EventStream`. A subscriber that falls
``max_pending`` events behind is dropped instead of buffered. The nested fields of one event
(area, category, claims, ...) are read through DataLoaders shared by all its subscribers."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text

from gridweave.db import Sessionmaker
from gridweave.events import ChangeListener, EventStream
from gridweave.resolvers.loaders import Loaders
from gridweave.services import projects
from gridweave.services.access import AreaScope

log = logging.getLogger(__name__)

_INBOX = 10_000
_BATCH = 500
_AT = text(
    "SELECT DISTINCT ON (entity_id, action) entity_id, action, at FROM audit_log"
    " WHERE entity_id = ANY(:entities) ORDER BY entity_id, action, id DESC"
)


@dataclass(slots=True)
class _Subscriber:
    area_path: str
    scope: AreaScope
    stream: EventStream

    def wants(self, path: str) -> bool:
        return path.startswith(self.area_path) and self.scope.covers(path)


class ProjectEvents:
    def __init__(self, sessionmaker: Sessionmaker, *, max_pending: int = 100) -> None:
        self._sm = sessionmaker
        self.max_pending = max_pending
        self._subscribers: dict[int, _Subscriber] = {}
        self._ids = itertools.count()
        self._inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue(_INBOX)
        self._task: asyncio.Task[None] | None = None
        self._unsubscribe: Callable[[], None] = lambda: None

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def attach(self, listener: ChangeListener) -> None:
        self._unsubscribe = listener.subscribe(self.on_change)
        self._task = asyncio.create_task(self._work(), name="gridweave-project-events")

    async def stop(self) -> None:
        self._unsubscribe()
        for sub in list(self._subscribers.values()):
            sub.stream.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def open(self, *, area_path: str, scope: AreaScope) -> EventStream:
        """A stream of the events of the subtree at ``area_path`` that ``scope`` may read."""
        key = next(self._ids)
        stream = EventStream(self.max_pending)
        self._subscribers[key] = _Subscriber(area_path, scope, stream)

        def unsubscribe() -> None:
            self._subscribers.pop(key, None)

        stream.unsubscribe = unsubscribe
        return stream

    def on_change(self, event: dict[str, Any] | None) -> None:
        """ChangeListener's callback (synchronous, on the event loop)."""
        if event is None or not self._subscribers:
            return  # a lost listener: events of the gap are missed, not replayed
        if event.get("action") not in projects.EVENT_ACTIONS:
            return
        path = str(event.get("area") or "")
        if not any(s.wants(path) for s in self._subscribers.values()):
            return
        try:
            self._inbox.put_nowait(event)
        except asyncio.QueueFull:
            log.warning("project events: inbox full, an event was dropped")

    async def _work(self) -> None:
        while True:
            batch = [await self._inbox.get()]
            while len(batch) < _BATCH and not self._inbox.empty():
                batch.append(self._inbox.get_nowait())
            try:
                await self._dispatch(batch)
            except Exception:
                log.exception("project events: a batch of %d events was lost", len(batch))

    async def _dispatch(self, batch: list[dict[str, Any]]) -> None:
        entities = [str(e.get("entity") or "") for e in batch]
        claim_ids = {int(x.split(":", 1)[1]) for x in entities if x.startswith("Claim:")}
        project_ids = {int(x.split(":", 1)[1]) for x in entities if x.startswith("ServiceProject:")}
        async with self._sm() as session:
            claims = await projects.claim_rows(session, sorted(claim_ids)) if claim_ids else {}
            project_ids |= {c.project_id for c in claims.values()}
            found = await projects.project_rows(session, sorted(project_ids))
            at = {
                (r.entity_id, r.action): r.at
                for r in await session.execute(_AT, {"entities": sorted(set(entities))})
            }
        loaders = Loaders(self._sm)  # shared by every subscriber of this batch
        for event, entity in zip(batch, entities, strict=True):
            kind, _, pk = entity.partition(":")
            claim = claims.get(int(pk)) if kind == "Claim" else None
            project = found.get(claim.project_id if claim else int(pk or 0))
            if project is None:
                continue
            action = str(event["action"])
            payload = {
                "kind": projects.EVENT_ACTIONS[action],
                "project": project,
                "claim": claim,
                "at": at.get((entity, action)),
                "loaders": loaders,
            }
            for sub in list(self._subscribers.values()):
                if sub.wants(project.area_path):
                    sub.stream.offer(payload)

"""A response cache for compiled reads, emptied by every change event from any process and when
the day turns in China Standard Time.

Reads of areas and organizations are the same for every signed-in user, so an answer is keyed by
the request alone; the fact that a user exists is cached beside it. A read that began before a
change must not be stored after it: each entry records the generation it was read under."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from datetime import date
from typing import Any

from gridweave.services.calendar import today as region_today


class ResponseCache:
    def __init__(
        self,
        *,
        max_entries: int = 1_000,
        max_bytes: int = 64 * 1024 * 1024,
        today: Callable[[], date] = region_today,
    ) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.generation = 0
        self.hits = 0
        self._bytes = 0
        self._entries: OrderedDict[Any, bytes] = OrderedDict()
        self._users: set[int] = set()
        self._today = today
        self._day = today()

    def on_change(self, _event: dict[str, Any] | None) -> None:
        """Subscriber for ChangeListener: forget everything."""
        self.generation += 1
        self._entries.clear()
        self._users.clear()
        self._bytes = 0

    def _new_day(self) -> None:
        """Answers hold what the date decides (a project EXPIRED after its deadline, an
        agreement's term): a new day in China Standard Time forgets them, as a change does."""
        day = self._today()
        if day != self._day:
            self._day = day
            self.on_change(None)

    def get(self, key: Any, user_id: int) -> bytes | None:
        self._new_day()
        if user_id not in self._users:
            return None
        body = self._entries.get(key)
        if body is not None:
            self._entries.move_to_end(key)
            self.hits += 1
        return body

    def put(self, key: Any, user_id: int, body: bytes, *, generation: int) -> None:
        self._new_day()
        if generation != self.generation or len(body) > self.max_bytes // 8:
            return
        self._users.add(user_id)
        old = self._entries.pop(key, None)
        self._bytes += len(body) - (len(old) if old else 0)
        self._entries[key] = body
        while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
            _, dropped = self._entries.popitem(last=False)
            self._bytes -= len(dropped)

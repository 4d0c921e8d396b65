"""What the service tests share: a service call in one committed unit of work, and the check that
a refused call raises a DomainError and writes nothing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from gridweave.db import Sessionmaker, unit_of_work
from gridweave.errors import DomainError
from tests.snapshot import changed, snapshot

Call = Callable[[AsyncSession], Awaitable[Any]]
"""A service call, waiting for its session: ``lambda s: svc.create_area(s, ...)``."""


async def run(sm: Sessionmaker, call: Call) -> Any:
    """``call`` in a unit of work of its own, committed; what it returns."""
    async with unit_of_work(sm) as s:
        return await call(s)


async def expect_refusal(sm: Sessionmaker, call: Call) -> DomainError:
    """Run ``call`` and expect a DomainError; in the same transaction, before any rollback, the
    refused call must have left every table exactly as it was (rows and content: see
    tests/snapshot.py), so that even a flushed UPDATE it forgot to undo is caught."""
    async with sm() as s, s.begin():
        before = await snapshot(s)
        with pytest.raises(DomainError) as caught:
            await call(s)
        assert changed(before, await snapshot(s)) == [], "a refused call wrote something"
        await s.rollback()
    return caught.value

"""What the service tests share: a service call in one committed unit of work, and the check that
a refused call raises a DomainError and writes nothing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from gridweave.db import Sessionmaker, unit_of_work
from gridweave.errors import DomainError
from gridweave.models import Base

Call = Callable[[AsyncSession], Awaitable[Any]]
"""A service call, waiting for its session: ``lambda s: svc.create_area(s, ...)``."""


async def run(sm: Sessionmaker, call: Call) -> Any:
    """``call`` in a unit of work of its own, committed; what it returns."""
    async with unit_of_work(sm) as s:
        return await call(s)


async def row_counts(s: AsyncSession, models: Sequence[type[Base]]) -> dict[str, int]:
    return {
        m.__tablename__: int(await s.scalar(select(func.count()).select_from(m)) or 0)
        for m in models
    }


async def expect_refusal(
    sm: Sessionmaker, call: Call, *, unchanged: Sequence[type[Base]]
) -> DomainError:
    """Run ``call`` and expect a DomainError; in the same transaction, before any rollback, the
    refused call must have left the row count of every one of ``unchanged`` as it was."""
    async with sm() as s, s.begin():
        before = await row_counts(s, unchanged)
        with pytest.raises(DomainError) as caught:
            await call(s)
        assert await row_counts(s, unchanged) == before, "a refused call wrote something"
        await s.rollback()
    return caught.value

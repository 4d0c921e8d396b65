"""The one place where a mutation's transaction and its refusals are handled."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from asyncpg.exceptions import (
    DataError,
    DeadlockDetectedError,
    ForeignKeyViolationError,
    RestrictViolationError,
    SerializationError,
    UniqueViolationError,
)
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from gridweave.db import Sessionmaker, statement_by_statement, unit_of_work
from gridweave.errors import Conflict, DomainError, ErrorCode
from gridweave.schema.common import GqlInfo, UserError
from gridweave.services.access import require_actor

log = logging.getLogger(__name__)


class HasUserErrors(Protocol):
    user_errors: list[UserError]


P = TypeVar("P")


def _integrity_error(exc: IntegrityError) -> DomainError:
    """A constraint caught what a service's checks missed (typically a concurrent write)."""
    cause: Any = getattr(exc.orig, "__cause__", None)
    if isinstance(cause, UniqueViolationError):
        return Conflict("Someone else just made the same change: reload and try again.")
    if isinstance(cause, ForeignKeyViolationError | RestrictViolationError):
        return DomainError(
            "Something this refers to was just removed, or is still in use: reload and try again.",
            code=ErrorCode.INVALID_STATE,
        )
    return DomainError("These values break a data rule: please check them.")


def _database_refusal(exc: DBAPIError) -> DomainError | None:
    """Values PostgreSQL refuses (too long, out of range) and lost races (deadlock, serialization)
    are answers for the user; anything else stays unexpected."""
    cause: Any = getattr(exc.orig, "__cause__", None)
    if isinstance(cause, DataError):
        return DomainError("A value is too long, out of range or not valid text: please check it.")
    if isinstance(cause, DeadlockDetectedError | SerializationError):
        return Conflict("Someone else was changing the same data: please try again.")
    return None


def refusal(exc: Exception) -> DomainError | None:
    """The answer for the user when a mutation's work raised ``exc``; None: it is unexpected."""
    if isinstance(exc, DomainError):
        return exc
    if isinstance(exc, IntegrityError):
        log.info("integrity error mapped to userErrors: %s", exc.orig)
        return _integrity_error(exc)
    if isinstance(exc, DBAPIError):
        refused = _database_refusal(exc)
        if refused is not None:
            log.info("database error mapped to userErrors: %s", exc.orig)
        return refused
    return None


async def attempt(
    sessionmaker: Sessionmaker,
    work: Callable[[AsyncSession], Awaitable[P]],
    *,
    one_write: bool = False,
) -> P | DomainError:
    """``work``'s result, or the refusal that rolled all of it back (see :func:`mutate`)."""
    session_for = statement_by_statement if one_write else unit_of_work
    try:
        async with session_for(sessionmaker) as session:
            return await work(session)
    except Exception as e:
        refused = refusal(e)
        if refused is None:
            raise
        return refused


async def mutate(
    info: GqlInfo,
    payload: Callable[..., P],
    work: Callable[[AsyncSession], Awaitable[P]],
    *,
    one_write: bool = False,
) -> P:
    """Run ``work`` in one transaction; any refusal rolls everything back and becomes userErrors.
    ``one_write``: the work writes in one statement, which is then its own transaction
    (:func:`~gridweave.db.statement_by_statement`).

    Every mutation but ``login`` runs through here (the claim's fast path through
    :func:`attempt`, gridweave/compiled/writes.py), so an anonymous caller is refused before any
    input is looked at; the services then check role and scope."""
    actor = info.context.actor

    async def signed_in(session: AsyncSession) -> P:
        require_actor(actor)
        return await work(session)

    outcome = await attempt(info.context.sessionmaker, signed_in, one_write=one_write)
    if isinstance(outcome, DomainError):
        return payload(user_errors=[UserError.from_error(outcome)])
    return outcome

"""Expected refusals. Services raise these; the API maps them to ``userErrors`` in one place."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum


class ErrorCode(StrEnum):
    VALIDATION = "VALIDATION"
    NOT_FOUND = "NOT_FOUND"
    FORBIDDEN = "FORBIDDEN"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    CONFLICT = "CONFLICT"
    INVALID_STATE = "INVALID_STATE"
    NO_SLOTS_LEFT = "NO_SLOTS_LEFT"
    ALREADY_CLAIMED = "ALREADY_CLAIMED"
    BUDGET_EXCEEDED = "BUDGET_EXCEEDED"
    WINDOW_CLOSED = "WINDOW_CLOSED"
    CONFLICT_OF_INTEREST = "CONFLICT_OF_INTEREST"
    TRY_AGAIN = "TRY_AGAIN"


class DomainError(Exception):
    """A refusal a coordinator can act on: a code, a plain message and the input field at fault."""

    code: ErrorCode = ErrorCode.VALIDATION

    def __init__(
        self,
        message: str,
        *,
        field: Sequence[str] | None = None,
        code: ErrorCode | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = list(field) if field else None
        if code is not None:
            self.code = code


class ValidationFailed(DomainError):
    code = ErrorCode.VALIDATION


class NotFound(DomainError):
    code = ErrorCode.NOT_FOUND


class Forbidden(DomainError):
    code = ErrorCode.FORBIDDEN


class Unauthenticated(DomainError):
    code = ErrorCode.UNAUTHENTICATED


class Conflict(DomainError):
    code = ErrorCode.CONFLICT


class TryAgain(DomainError):
    """Busy, or too many attempts: the same request may succeed later (the message says when)."""

    code = ErrorCode.TRY_AGAIN

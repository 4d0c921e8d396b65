"""Errors for the client: a domain error keeps its message and gets ``extensions.code``;
anything unexpected is logged in full with its request id and masked."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterator

from asgi_correlation_id import correlation_id
from graphql import (
    GraphQLError,
)
from strawberry.extensions import (
    MaskErrors,
    SchemaExtension,
)

from gridweave.errors import DomainError

logger = logging.getLogger("gridweave.errors")

UNEXPECTED_ERROR_CODE = "INTERNAL_SERVER_ERROR"


def _domain_error(error: GraphQLError) -> DomainError | None:
    original = error.original_error
    return original if isinstance(original, DomainError) else None


def _tag_domain_error(error: GraphQLError, domain: DomainError) -> None:
    extensions = dict(error.extensions or {})
    extensions["code"] = str(domain.code)
    if domain.field:
        extensions["field"] = list(domain.field)
    error.extensions = extensions


def is_unexpected(error: GraphQLError) -> bool:
    """True for errors to hide: raised by our code, but neither a GraphQL nor a domain error."""
    original = error.original_error
    return (
        original is not None
        and not isinstance(original, GraphQLError)
        and not isinstance(original, DomainError)
    )


class MaskUnexpectedErrors(MaskErrors):
    """Hides unexpected exceptions behind "Unexpected error. Request id: <id>" and logs them.

    Validation and syntax errors (no ``original_error``), ``GraphQLError`` raised on purpose and
    ``DomainError`` pass unchanged; a ``DomainError`` additionally gets
    ``extensions.code`` (and ``extensions.field`` when it names one).

    The request id is asgi-correlation-id's ``correlation_id``; without one (no middleware, e.g.
    in tests) a fresh uuid is used, the same one in the log record and in the message.
    Logged to ``gridweave.errors`` with ``exc_info`` and ``extra={"request_id": ...}``.
    """

    def __init__(self) -> None:
        super().__init__(should_mask_error=self._should_mask, error_message="Unexpected error.")
        self._request_id: str | None = None

    def _should_mask(self, error: GraphQLError) -> bool:
        domain = _domain_error(error)
        if domain is not None:
            _tag_domain_error(error, domain)
            return False
        return is_unexpected(error)

    def request_id(self) -> str:
        if self._request_id is None:
            self._request_id = request_id()
        return self._request_id

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        rid = self.request_id()
        path = ".".join(str(key) for key in error.path) if error.path else "-"
        log_unexpected(error.original_error, path, rid)
        return GraphQLError(
            message=unexpected_message(rid),
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            original_error=None,
            extensions={"code": UNEXPECTED_ERROR_CODE, "requestId": rid},
        )


def request_id() -> str:
    return correlation_id.get() or uuid.uuid4().hex


def unexpected_message(rid: str) -> str:
    return f"Unexpected error. Request id: {rid}"


def log_unexpected(original: BaseException | None, path: str, rid: str) -> None:
    logger.error(
        "Unexpected %s at %s (request id %s): %s",
        type(original).__name__,
        path,
        rid,
        original,
        exc_info=original,
        extra={"request_id": rid, "graphql_path": path},
    )


class DomainErrorCodes(SchemaExtension):
    """Only needed when :class:`MaskUnexpectedErrors` is NOT installed: adds
    ``extensions.code`` to errors raised as ``DomainError``."""

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        for error in getattr(result, "errors", None) or ():
            domain = _domain_error(error)
            if domain is not None:
                _tag_domain_error(error, domain)


# What graphql-core says about the schema that a caller did not ask about: suggestions of similar
# names (fields, arguments, types, enum values, input fields, "field { ... }"), and which
# arguments and input fields are required.
_SUGGESTION = re.compile(r"\s*Did you mean[^?]*\?")
_REQUIRED_FIELD = re.compile(
    r"Expected value of type '[^']*' to include required field '[^']*', found: .*\.$", re.DOTALL
)
_REQUIRED_ARGUMENT = re.compile(
    r"Argument '[^']*' of type '[^']*' is required, but it was not provided\."
)


def without_schema_hints(message: str) -> str:
    """``message`` without suggestions and without the names of required fields or arguments.

    Validation and variable-coercion errors of both read paths pass through here in production;
    the compiled path hands every erroneous request to strawberry, so this one post-pass covers
    it too."""
    message = _SUGGESTION.sub("", message)
    message = _REQUIRED_FIELD.sub("An input object lacks a required field.", message)
    return _REQUIRED_ARGUMENT.sub("A required argument was not given.", message)


class HideSchemaHints(SchemaExtension):
    """Production: no "Did you mean ...?" of any kind, no list of required fields or arguments."""

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        for error in getattr(result, "errors", None) or ():
            error.message = without_schema_hints(error.message)

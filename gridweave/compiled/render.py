"""Renders a SQLAlchemy expression (a shared filter) into the compiled statement's text, with its
bound parameters as the statement's numbered placeholders."""

from __future__ import annotations

import re
from collections.abc import Mapping

from sqlalchemy import ClauseElement
from sqlalchemy.dialects import postgresql

_DIALECT = postgresql.dialect(paramstyle="named")  # type: ignore[no-untyped-call]
_NAMED = re.compile(r":(gw\d+)\b")


def render(expr: ClauseElement, placeholders: Mapping[str, str], *, alias_of: str) -> str:
    """``placeholders`` maps each bound parameter's name to its ``$n::type``; any other bound
    value (a literal the expression made up) is a bug: it would be silently dropped."""
    compiled = expr.compile(dialect=_DIALECT)
    stray = set(compiled.params) - set(placeholders)
    if stray:
        raise ValueError(f"unbound values in a compiled filter on {alias_of}: {sorted(stray)}")
    return _NAMED.sub(lambda m: placeholders[m.group(1)], str(compiled))

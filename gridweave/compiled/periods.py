"""Calendar periods as SQL: the same arithmetic as services/rotation.py (period ``k`` of a kind
is numbered from year 0; months, quarters from 1 January, April, July and October, half-years,
years), so that a compiled answer and the service agree on every boundary. Arguments are SQL
expressions: a date, a period length in months, a period number."""

from __future__ import annotations

from graphql import GraphQLError, GraphQLScalarType

from gridweave.compiled.selection import Fallback, Selection, Variables, value_of
from gridweave.compiled.walker import Compiler, refused
from gridweave.models import RotationPeriod
from gridweave.services import calendar
from gridweave.services.rotation import MONTHS


def months_of(period_sql: str) -> str:
    """The length in months of a rotation period (a ``rotation_period`` column)."""
    cases = " ".join(f"WHEN '{p.value}' THEN {n}" for p, n in MONTHS.items())
    return f"(CASE {period_sql} {cases} END)"


def period_index(months: str, day: str) -> str:
    """rotation.period_index: years and months are positive, so integer division floors."""
    return f"((extract(year FROM {day})::int * 12 + extract(month FROM {day})::int - 1) / {months})"


def period_start(months: str, index: str) -> str:
    month = f"(({index}) * {months})"
    return f"make_date({month} / 12, {month} % 12 + 1, 1)"


def period_end(months: str, index: str) -> str:
    """The last day of period ``index``."""
    return f"({period_start(months, f'({index}) + 1')} - 1)"


QUARTER = str(MONTHS[RotationPeriod.QUARTER])


def quarter_start(day: str) -> str:
    return period_start(QUARTER, period_index(QUARTER, day))


def quarter_end(day: str) -> str:
    return period_end(QUARTER, period_index(QUARTER, day))


def day_argument(c: Compiler, s: Selection, name: str = "on") -> str:
    """A field's optional Date argument as a statement parameter: the day given (parsed by the
    schema's Date scalar, then ``calendar.sane_date``, as the resolvers do), else today in China
    Standard Time."""
    node = s.arguments.get(name)
    if node is None:
        return c.today()
    scalar = c.schema.get_type("Date")
    assert isinstance(scalar, GraphQLScalarType)

    def bound(variables: Variables) -> object:
        raw = value_of(node, variables)
        if raw is None:
            return calendar.today()
        try:
            day = scalar.parse_value(raw)
        except GraphQLError as e:
            raise Fallback(f"not a Date: {name}", uncompiled=False) from e
        return calendar.sane_date(day, field=[name])

    return c.param(refused(bound), "date")

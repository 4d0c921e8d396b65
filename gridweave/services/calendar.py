"""The region's calendar: today's date in China Standard Time (UTC+8 all year, no daylight
saving), and the bounds every date argument must respect."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta, timezone

from gridweave.errors import ValidationFailed

CHINA = timezone(timedelta(hours=8), "CST")
EARLIEST = date(1949, 10, 1)
LATEST = date(2199, 12, 31)


def today() -> date:
    return datetime.now(UTC).astimezone(CHINA).date()


def sane_date(value: date, *, field: Sequence[str]) -> date:
    """Refuse dates outside 1949-10-01 .. 2199-12-31 (typing slips like 0202 or 20245)."""
    if not EARLIEST <= value <= LATEST:
        raise ValidationFailed(
            f"Dates must lie between {EARLIEST.isoformat()} and {LATEST.isoformat()}.",
            field=field,
        )
    return value


def not_in_future(value: date, *, field: Sequence[str], what: str) -> date:
    sane_date(value, field=field)
    if value > today():
        raise ValidationFailed(f"{what} cannot lie in the future.", field=field)
    return value

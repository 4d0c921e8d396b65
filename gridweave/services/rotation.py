"""Convener rotation over calendar periods (轮流担任召集人). Pure functions, no database.

Periods are calendar periods: months; quarters from 1 January, 1 April, 1 July and 1 October;
half-years from 1 January and 1 July; years. Period ``k`` of a kind is numbered from year 0, so
consecutive periods have consecutive numbers and "the period containing a date" is one division.

A meeting's rotation is a list of :class:`Rotation` rows in the order they were made. Each says
who rotates (in convener order) from ``effective_from`` on, and which of them convenes the period
containing ``effective_from`` (``anchor``); in later periods the convener moves one place per
period. The first row starts on the meeting's ``startsOn`` with anchor 0, so the first member
convenes the period containing it (the whole period: its days before ``startsOn`` too).
A membership change appends a row from the day of the change:

* a new member joins the end of the order; the convener of the current period stays;
* a removed member leaves the order (the rotation closes ranks): if it was convening, its
  successor convenes from that day to the end of the period, then the rotation continues.

Nothing before the day of a change moves, so any past date keeps the convener it really had.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from gridweave.models.meetings import RotationPeriod

MONTHS: dict[RotationPeriod, int] = {
    RotationPeriod.MONTH: 1,
    RotationPeriod.QUARTER: 3,
    RotationPeriod.HALF_YEAR: 6,
    RotationPeriod.YEAR: 12,
}


def period_index(period: RotationPeriod, on: date) -> int:
    """The number of the period of this kind that contains ``on``."""
    return (on.year * 12 + on.month - 1) // MONTHS[period]


def period_start(period: RotationPeriod, index: int) -> date:
    month = index * MONTHS[period]
    return date(month // 12, month % 12 + 1, 1)


def period_end(period: RotationPeriod, index: int) -> date:
    """The last day of period ``index``."""
    return period_start(period, index + 1) - timedelta(days=1)


def period_bounds(period: RotationPeriod, on: date) -> tuple[date, date]:
    """First and last day of the period containing ``on``."""
    k = period_index(period, on)
    return period_start(period, k), period_end(period, k)


def quarter_bounds(on: date) -> tuple[date, date]:
    return period_bounds(RotationPeriod.QUARTER, on)


@dataclass(frozen=True, slots=True)
class Rotation:
    effective_from: date
    member_ids: tuple[int, ...]
    anchor: int


@dataclass(frozen=True, slots=True)
class Term:
    organization_id: int
    starts_on: date
    ends_on: date


def _in_force(rotations: Sequence[Rotation], on: date) -> Rotation | None:
    """The row in force on ``on``: the last one made with ``effective_from <= on``."""
    found: Rotation | None = None
    for r in rotations:
        if r.effective_from <= on:
            found = r
    return found


def _convener(period: RotationPeriod, r: Rotation, on: date) -> int | None:
    if not r.member_ids:
        return None
    steps = period_index(period, on) - period_index(period, r.effective_from)
    return r.member_ids[(r.anchor + steps) % len(r.member_ids)]


def convener_on(period: RotationPeriod, rotations: Sequence[Rotation], on: date) -> int | None:
    """Who convenes on ``on``: None before the period in which the meeting starts, and while it
    has no members. The first period is convened whole, from its first day."""
    if rotations:
        start = rotations[0].effective_from
        if on < start and period_index(period, on) == period_index(period, start):
            on = start
    r = _in_force(rotations, on)
    return None if r is None else _convener(period, r, on)


def first_rotation(starts_on: date, member_ids: Sequence[int]) -> Rotation:
    return Rotation(effective_from=starts_on, member_ids=tuple(member_ids), anchor=0)


def _from_day(rotations: Sequence[Rotation], on: date) -> date:
    """A change made on ``on`` takes effect that day, or on the first day of the meeting if it
    has not started yet (the first member then is whoever is first after the change)."""
    return max(on, rotations[0].effective_from) if rotations else on


def after_join(
    period: RotationPeriod, rotations: Sequence[Rotation], *, on: date, organization_id: int
) -> Rotation:
    """The row a member joining on ``on`` appends: it goes to the end of the order, and whoever
    convenes on that day goes on convening."""
    start = _from_day(rotations, on)
    current = _in_force(rotations, start)
    members = (current.member_ids if current else ()) + (organization_id,)
    convening = _convener(period, current, start) if current else None
    anchor = members.index(convening) if convening is not None else 0
    return Rotation(effective_from=start, member_ids=members, anchor=anchor)


def after_leave(
    period: RotationPeriod, rotations: Sequence[Rotation], *, on: date, organization_id: int
) -> Rotation:
    """The row a member leaving on ``on`` appends: the order closes ranks; if the leaver was
    convening, the next in order convenes from that day."""
    start = _from_day(rotations, on)
    current = _in_force(rotations, start)
    old = current.member_ids if current else ()
    members = tuple(m for m in old if m != organization_id)
    if not members or current is None:
        return Rotation(effective_from=start, member_ids=members, anchor=0)
    convening = _convener(period, current, start)
    if convening == organization_id:
        at = old.index(organization_id)
        convening = old[(at + 1) % len(old)]
    anchor = members.index(convening) if convening in members else 0
    return Rotation(effective_from=start, member_ids=members, anchor=anchor)


def schedule(
    period: RotationPeriod, rotations: Sequence[Rotation], *, start: date, periods: int
) -> list[Term]:
    """The convener terms of ``periods`` consecutive periods, from the one containing ``start``.

    A term never crosses a period boundary; a change in the middle of a period splits its term
    where the convener changed. The terms tile the calendar: each begins the day after the one
    before ends. Stretches without a convener (before the meeting starts, or with no members
    left) have no term."""
    first = period_index(period, start)
    changes = sorted({r.effective_from for r in rotations})
    terms: list[Term] = []
    for k in range(first, first + periods):
        lo, hi = period_start(period, k), period_end(period, k)
        cuts = [lo, *(d for d in changes if lo < d <= hi)]
        for i, piece_start in enumerate(cuts):
            piece_end = cuts[i + 1] - timedelta(days=1) if i + 1 < len(cuts) else hi
            who = convener_on(period, rotations, piece_start)
            if who is None:
                continue
            last = terms[-1] if terms else None
            if (
                last is not None
                and last.organization_id == who
                and last.ends_on + timedelta(days=1) == piece_start
                and last.starts_on >= lo
            ):
                terms[-1] = Term(who, last.starts_on, piece_end)
            else:
                terms.append(Term(who, piece_start, piece_end))
    return terms

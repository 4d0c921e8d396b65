"""Convener rotation as pure functions: calendar periods, who convenes when over years of members
joining and leaving, and schedules that tile the calendar."""

from __future__ import annotations

import random
from datetime import date, timedelta

import pytest

from gridweave.models.meetings import RotationPeriod as P
from gridweave.services import rotation as r
from gridweave.services.rotation import Term

A, B, C, D, E = 1, 2, 3, 4, 5


@pytest.mark.parametrize(
    ("period", "on", "bounds"),
    [
        (P.MONTH, date(2024, 2, 10), (date(2024, 2, 1), date(2024, 2, 29))),
        (P.MONTH, date(2025, 12, 31), (date(2025, 12, 1), date(2025, 12, 31))),
        (P.QUARTER, date(2026, 3, 31), (date(2026, 1, 1), date(2026, 3, 31))),
        (P.QUARTER, date(2026, 4, 1), (date(2026, 4, 1), date(2026, 6, 30))),
        (P.QUARTER, date(2026, 9, 30), (date(2026, 7, 1), date(2026, 9, 30))),
        (P.QUARTER, date(2026, 10, 1), (date(2026, 10, 1), date(2026, 12, 31))),
        (P.HALF_YEAR, date(2026, 6, 30), (date(2026, 1, 1), date(2026, 6, 30))),
        (P.HALF_YEAR, date(2026, 7, 1), (date(2026, 7, 1), date(2026, 12, 31))),
        (P.YEAR, date(2026, 12, 31), (date(2026, 1, 1), date(2026, 12, 31))),
    ],
)
def test_calendar_periods(period: P, on: date, bounds: tuple[date, date]) -> None:
    assert r.period_bounds(period, on) == bounds


def test_consecutive_periods_have_consecutive_numbers() -> None:
    for period in P:
        day, previous = date(2023, 1, 1), None
        while day < date(2027, 1, 1):
            k = r.period_index(period, day)
            if previous is not None:
                assert k in (previous, previous + 1)
                if k == previous + 1:
                    assert r.period_start(period, k) == day
                    assert r.period_end(period, previous) == day - timedelta(days=1)
            previous = k
            day += timedelta(days=1)


def test_first_member_convenes_the_period_containing_the_start_then_it_rotates() -> None:
    rotations = [r.first_rotation(date(2025, 2, 14), [A, B, C])]

    assert r.convener_on(P.QUARTER, rotations, date(2024, 12, 31)) is None
    assert r.convener_on(P.QUARTER, rotations, date(2025, 1, 1)) == A
    assert r.convener_on(P.QUARTER, rotations, date(2025, 2, 14)) == A
    assert r.convener_on(P.QUARTER, rotations, date(2025, 3, 31)) == A
    assert r.convener_on(P.QUARTER, rotations, date(2025, 4, 1)) == B
    assert r.convener_on(P.QUARTER, rotations, date(2025, 7, 1)) == C
    assert r.convener_on(P.QUARTER, rotations, date(2025, 12, 31)) == A
    assert r.convener_on(P.YEAR, rotations, date(2027, 1, 1)) == C
    assert r.convener_on(P.MONTH, rotations, date(2025, 5, 1)) == A


def test_two_years_of_joining_and_leaving_keep_every_past_convener() -> None:
    # a quarterly meeting of A, B, C from January 2025
    q = P.QUARTER
    rotations = [r.first_rotation(date(2025, 1, 1), [A, B, C])]
    expected = {date(2025, 1, 15): A, date(2025, 4, 15): B}

    # D joins on 10 May 2025 (B is convening): B stays, then C, then D, then A
    rotations.append(r.after_join(q, rotations, on=date(2025, 5, 10), organization_id=D))
    expected |= {date(2025, 5, 9): B, date(2025, 5, 10): B, date(2025, 7, 1): C}
    expected |= {date(2025, 10, 1): D, date(2026, 1, 1): A}

    # C leaves on 20 Feb 2026 while A convenes: ranks close, A then B then D
    rotations.append(r.after_leave(q, rotations, on=date(2026, 2, 20), organization_id=C))
    expected |= {date(2026, 2, 20): A, date(2026, 4, 1): B, date(2026, 7, 1): D}

    # D, convening, leaves on 15 Aug 2026: its successor A convenes from that day
    rotations.append(r.after_leave(q, rotations, on=date(2026, 8, 15), organization_id=D))
    expected |= {date(2026, 8, 14): D, date(2026, 8, 15): A, date(2026, 10, 1): B}

    # E joins on 1 Nov 2026 (B convenes): B stays, then E (end of the order: A, B, E), then A
    rotations.append(r.after_join(q, rotations, on=date(2026, 11, 1), organization_id=E))
    expected |= {date(2026, 11, 1): B, date(2027, 1, 1): E, date(2027, 4, 1): A}
    expected |= {date(2027, 7, 1): B, date(2027, 10, 1): E}

    for on, who in expected.items():
        assert r.convener_on(q, rotations, on) == who, on
    # and every date before each change still answers as it did before that change
    for n in range(1, len(rotations)):
        day = date(2025, 1, 1)
        while day < rotations[n].effective_from:
            assert r.convener_on(q, rotations[:n], day) == r.convener_on(q, rotations, day)
            day += timedelta(days=1)


def test_the_schedule_splits_a_term_where_the_convener_changed_and_tiles_the_calendar() -> None:
    q = P.QUARTER
    rotations = [r.first_rotation(date(2026, 1, 1), [A, B, C])]
    rotations.append(r.after_leave(q, rotations, on=date(2026, 5, 11), organization_id=B))

    terms = r.schedule(q, rotations, start=date(2026, 2, 1), periods=4)

    assert terms == [
        Term(A, date(2026, 1, 1), date(2026, 3, 31)),
        Term(B, date(2026, 4, 1), date(2026, 5, 10)),
        Term(C, date(2026, 5, 11), date(2026, 6, 30)),
        Term(A, date(2026, 7, 1), date(2026, 9, 30)),
        Term(C, date(2026, 10, 1), date(2026, 12, 31)),
    ]


def test_one_member_convenes_every_period_in_terms_of_one_period_each() -> None:
    terms = r.schedule(
        P.HALF_YEAR, [r.first_rotation(date(2026, 3, 3), [A])], start=date(2026, 3, 3), periods=3
    )

    assert terms == [
        Term(A, date(2026, 1, 1), date(2026, 6, 30)),
        Term(A, date(2026, 7, 1), date(2026, 12, 31)),
        Term(A, date(2027, 1, 1), date(2027, 6, 30)),
    ]


def test_no_convener_before_the_start_or_without_members() -> None:
    q = P.QUARTER
    rotations = [r.first_rotation(date(2026, 4, 11), [A])]
    rotations.append(r.after_leave(q, rotations, on=date(2026, 8, 1), organization_id=A))

    assert r.schedule(q, rotations, start=date(2026, 1, 1), periods=4) == [
        Term(A, date(2026, 4, 1), date(2026, 6, 30)),
        Term(A, date(2026, 7, 1), date(2026, 7, 31)),
    ]
    assert r.convener_on(q, rotations, date(2026, 8, 1)) is None

    # a member joining an empty meeting convenes from that day
    rotations.append(r.after_join(q, rotations, on=date(2026, 9, 9), organization_id=B))
    assert r.convener_on(q, rotations, date(2026, 9, 9)) == B
    assert r.convener_on(q, rotations, date(2026, 10, 1)) == B


def test_changes_before_the_start_decide_who_convenes_first() -> None:
    q = P.QUARTER
    rotations = [r.first_rotation(date(2027, 1, 1), [A, B])]
    rotations.append(r.after_leave(q, rotations, on=date(2026, 11, 5), organization_id=A))
    rotations.append(r.after_join(q, rotations, on=date(2026, 11, 6), organization_id=C))

    assert r.convener_on(q, rotations, date(2026, 12, 31)) is None
    assert r.convener_on(q, rotations, date(2027, 1, 1)) == B
    assert r.convener_on(q, rotations, date(2027, 4, 1)) == C


def test_random_histories_tile_the_calendar_and_never_rewrite_the_past() -> None:
    rng = random.Random(20261122)
    for _ in range(200):
        period = rng.choice(list(P))
        start = date(2024, 1, 1) + timedelta(days=rng.randrange(365))
        members = list(range(1, rng.randrange(1, 5) + 1))
        next_id = len(members) + 1
        rotations = [r.first_rotation(start, members)]
        day = start
        for _ in range(rng.randrange(0, 8)):
            day += timedelta(days=rng.randrange(0, 120))
            current = list(rotations[-1].member_ids)
            before = {
                d: r.convener_on(period, rotations, d)
                for d in (day - timedelta(days=n) for n in range(1, 60))
            }
            if current and rng.random() < 0.4:
                change = r.after_leave(
                    period, rotations, on=day, organization_id=rng.choice(current)
                )
            else:
                change = r.after_join(period, rotations, on=day, organization_id=next_id)
                next_id += 1
            rotations.append(change)
            for d, who in before.items():
                assert r.convener_on(period, rotations, d) == who
            if current and day >= start:
                # whoever convenes on the day of the change is a member after it
                who = r.convener_on(period, rotations, day)
                assert who is None or who in rotations[-1].member_ids

        terms = r.schedule(period, rotations, start=start, periods=12)
        for a, b in zip(terms, terms[1:], strict=False):
            assert a.starts_on <= a.ends_on
            assert b.starts_on == a.ends_on + timedelta(days=1) or (
                r.convener_on(period, rotations, a.ends_on + timedelta(days=1)) is None
            )
            assert r.period_index(period, a.starts_on) == r.period_index(period, a.ends_on)
        for t in terms:
            for d in (t.starts_on, t.ends_on):
                assert r.convener_on(period, rotations, d) == t.organization_id

"""Compiled declarations: joint meetings as a compliance dashboard reads them (members in convener
order, the convener on a day, sittings, whether and when it last sat), the root list
``jointMeetings(areaId, first, after)`` and ``Area.unengagedUnits``.

The convener is computed from the ``convener_rotations`` rows as services/rotation.py computes
it (periods.py holds the calendar arithmetic); tests/api/test_compiled_equivalence.py holds the
two to the same answers across period boundaries."""

from __future__ import annotations

from collections.abc import Callable

from gridweave.compiled.declare import FieldSql, ObjectType, column, global_id, many, one, scalars
from gridweave.compiled.periods import (
    day_argument,
    months_of,
    period_end,
    period_index,
    period_start,
    quarter_start,
)
from gridweave.compiled.selection import Selection, Variables, value_of
from gridweave.compiled.sqljson import json_list
from gridweave.compiled.walker import Compiler, Rows, refused
from gridweave.ids import decode_optional
from gridweave.models import JointMeeting as MeetingRow
from gridweave.models import MeetingSession as SessionRow
from gridweave.paging import page_limit
from gridweave.schema.meetings import JointMeeting, MeetingSession, schedule_periods
from gridweave.services.meetings import unengaged_units_sql
from gridweave.services.subtree import in_subtree_sql


def listed(
    c: Compiler, type_name: str, s: Selection, source: Callable[[str], str], order: str
) -> str:
    """An unpaged list like ``Compiler.many``, ordered by the SQL ``order`` ("{x}" is the item):
    ``source(x)`` is the ``FROM ... WHERE ...`` of its items."""
    x = c.alias("x")
    visible = c.visible(type_name, x)
    where = "" if visible == "TRUE" else f" AND {visible}"
    item = c.object(type_name, s.selection_sets, x)
    return json_list(item, source(x) + where, order.format(x=x))


def ordered(type_name: str, source: Callable[[str, str], str], order: str) -> FieldSql:
    """A field listing ``source(row, item)`` in that order (see ``listed``)."""
    return lambda c, s, t: listed(c, type_name, s, lambda x: source(t, x), order)


def _members(m: str, x: str) -> str:
    """Open memberships, with the member order of the rotation made last."""
    return (
        f"FROM joint_meeting_members {x} LEFT JOIN (SELECT member_ids FROM convener_rotations"
        f" WHERE meeting_id = {m}.id ORDER BY id DESC LIMIT 1) o_{x} ON true"
        f" WHERE {x}.meeting_id = {m}.id AND {x}.left_on IS NULL"
    )


# The resolver's sort: place in that order, members not in it last, ties by membership.
MEMBER_ORDER = "coalesce(array_position(o_{x}.member_ids, {x}.organization_id), 2147483647), {x}.id"


def convener_sql(c: Compiler, m: str, day: str) -> str:
    """rotation.convener_on: the row made last among those in force on the day (a day before
    the start, in the first period, counts as the start), then one place per period from its
    anchor; null before the first period and while there are no members."""
    months = months_of(f"{m}.rotation_period")
    d, r, f = c.alias("d"), c.alias("r"), c.alias("f")
    index = f"{r}.member_ids[1 + ({r}.anchor + {period_index(months, f'{d}.at_day')}"
    index += f" - {period_index(months, f'{r}.effective_from')}) % cardinality({r}.member_ids)]"
    start = f"{f}.effective_from"
    first_period = f"{period_index(months, day)} = {period_index(months, start)}"
    return (
        f"(SELECT CASE WHEN cardinality({r}.member_ids) > 0 THEN {index} END"
        f" FROM (SELECT CASE WHEN {day} < {start} AND {first_period} THEN {start}"
        f" ELSE {day} END AS at_day FROM convener_rotations {f}"
        f" WHERE {f}.meeting_id = {m}.id ORDER BY {f}.id LIMIT 1) {d}"
        f" JOIN LATERAL (SELECT * FROM convener_rotations {r} WHERE {r}.meeting_id = {m}.id"
        f" AND {r}.effective_from <= {d}.at_day ORDER BY {r}.id DESC LIMIT 1) {r} ON true)"
    )


def _convener_on(c: Compiler, s: Selection, m: str) -> str:
    return c.one("Organization", s, convener_sql(c, m, day_argument(c, s)))


def _sat_this_quarter(c: Compiler, s: Selection, m: str) -> str:
    day, q = day_argument(c, s), c.alias("q")
    return (
        f"EXISTS (SELECT 1 FROM meeting_sessions {q} WHERE {q}.meeting_id = {m}.id"
        f" AND {q}.held_on BETWEEN {quarter_start(day)} AND {day})"
    )


def _last_sat_on(c: Compiler, s: Selection, m: str) -> str:
    day, q = day_argument(c, s), c.alias("q")
    return (
        f"(SELECT max({q}.held_on) FROM meeting_sessions {q}"
        f" WHERE {q}.meeting_id = {m}.id AND {q}.held_on <= {day})"
    )


def _schedule(c: Compiler, s: Selection, m: str) -> str:
    """rotation.schedule: each of ``periods`` periods from the one containing ``from`` is cut at
    the days the rotation changed within it; each piece's convener is the convener on its first
    day; pieces without one are dropped, and neighbours in one period with the same convener
    are one term."""
    start = day_argument(c, s, "from")
    node = s.arguments.get("periods")
    count = c.param(refused(lambda v: schedule_periods(value_of(node, v))), "int")
    months = months_of(f"{m}.rotation_period")
    g, x, r, y, z, t = (c.alias(a) for a in ("g", "x", "r", "y", "z", "t"))
    first = period_index(months, start)
    lo, hi = period_start(months, f"{g}.k"), period_end(months, f"{g}.k")
    cuts = (
        f"SELECT {g}.k, {x}.cut FROM generate_series({first}, {first} + {count} - 1) {g}(k)"
        f" CROSS JOIN LATERAL (SELECT {lo} AS cut UNION SELECT {r}.effective_from"
        f" FROM convener_rotations {r} WHERE {r}.meeting_id = {m}.id"
        f" AND {r}.effective_from > {lo} AND {r}.effective_from <= {hi}) {x}"
    )
    piece_end = period_end(months, f"{y}.k")
    pieces = (
        f"SELECT {y}.k, {y}.cut AS ps,"
        f" coalesce(lead({y}.cut) OVER (PARTITION BY {y}.k ORDER BY {y}.cut) - 1, {piece_end})"
        f" AS pe, {convener_sql(c, m, f'{y}.cut')} AS who FROM ({cuts}) {y}"
    )
    joins = f"lag({z}.who) OVER w = {z}.who AND lag({z}.k) OVER w = {z}.k"
    breaks = (
        f"SELECT {z}.*, CASE WHEN {joins} AND lag({z}.pe) OVER w = {z}.ps - 1 THEN 0 ELSE 1 END"
        f" AS brk FROM ({pieces}) {z} WHERE {z}.who IS NOT NULL WINDOW w AS (ORDER BY {z}.ps)"
    )
    terms = (
        f"SELECT min({t}.ps) AS starts_on, max({t}.pe) AS ends_on, min({t}.who) AS organization_id"
        f" FROM (SELECT *, sum(brk) OVER (ORDER BY ps) AS term FROM ({breaks}) {t}) {t}"
        f" GROUP BY {t}.term"
    )
    return listed(c, "ConvenerTerm", s, lambda e: f"FROM ({terms}) {e} WHERE TRUE", "{x}.starts_on")


MEETING_FIELDS: dict[str, FieldSql] = {
    **scalars(JointMeeting, MeetingRow.__table__),
    "id": global_id("JointMeeting"),
    "area": one("Area", "area_id"),
    "members": ordered("JointMeetingMember", _members, MEMBER_ORDER),
    "convenerOn": _convener_on,
    "sessions": ordered(
        "MeetingSession",
        lambda m, x: f"FROM meeting_sessions {x} WHERE {x}.meeting_id = {m}.id",
        "{x}.held_on, {x}.id",
    ),
    "convenerSchedule": _schedule,
    "satThisQuarter": _sat_this_quarter,
    "lastSatOn": _last_sat_on,
}

MEMBER_FIELDS: dict[str, FieldSql] = {
    "joinedOn": column("joined_on"),
    "organization": one("Organization", "organization_id"),
}

TERM_FIELDS: dict[str, FieldSql] = {
    "startsOn": column("starts_on"),
    "endsOn": column("ends_on"),
    "organization": one("Organization", "organization_id"),
}

SESSION_FIELDS: dict[str, FieldSql] = {
    **scalars(MeetingSession, SessionRow.__table__),
    "id": global_id("MeetingSession"),
    "convener": one("Organization", "convener_id"),
    "attendees": many(
        "Organization",
        lambda s, x: (
            f"FROM meeting_session_attendees a_{x} JOIN organizations {x}"
            f" ON {x}.id = a_{x}.organization_id WHERE a_{x}.session_id = {s}.id"
        ),
    ),
}


def _id_text(value: object) -> str | None:
    return None if value is None else str(value)


def joint_meetings(c: Compiler, s: Selection) -> str:
    """resolvers.meetings.joint_meetings: ``first`` meetings (default and at most the page size)
    after the meeting ``after``, by id, in the subtree of ``areaId`` when given."""
    size = c.max_page_size
    first_node, after_node = s.arguments.get("first"), s.arguments.get("after")
    area_node = s.arguments.get("areaId")

    def first(v: Variables) -> int:
        given = value_of(first_node, v)
        return page_limit(size if given is None else given, size)

    def area(v: Variables) -> int | None:
        return decode_optional(_id_text(value_of(area_node, v)), "Area", field=["areaId"])

    def after(v: Variables) -> int:
        raw = _id_text(value_of(after_node, v))
        return decode_optional(raw, "JointMeeting", field=["after"]) or 0

    x = c.alias("x")
    limit = c.param(refused(first), "int")
    conds = [f"{x}.id > {c.param(refused(after), 'bigint')}"]
    if c.switch(lambda v: area(v) is not None):
        # The resolver answers NOT_FOUND for a missing area: hand that case to it.
        pk = c.param(refused(area), "bigint")
        c.guards.append(f"EXISTS (SELECT 1 FROM areas WHERE id = {pk})")
        conds.append(in_subtree_sql(f"{x}.area_path", f"(SELECT path FROM areas WHERE id = {pk})"))
    visible = c.visible("JointMeeting", x)
    if visible != "TRUE":
        conds.append(visible)
    page = (
        f"(SELECT * FROM joint_meetings {x} WHERE {' AND '.join(conds)}"
        f" ORDER BY {x}.id LIMIT {limit}) {x}"
    )
    return json_list(c.object("JointMeeting", s.selection_sets, x), f"FROM {page}", f"{x}.id")


def unengaged_units(c: Compiler, s: Selection, a: str) -> Rows:
    """Area.unengagedUnits: services.meetings.unengaged_units_sql, on today."""
    today = c.today()
    return Rows("organizations", lambda t: unengaged_units_sql(t, f"{a}.path", today), fenced=True)


TYPES = [
    ObjectType("JointMeeting", MEETING_FIELDS, table="joint_meetings", node=True),
    ObjectType("JointMeetingMember", MEMBER_FIELDS),
    ObjectType("ConvenerTerm", TERM_FIELDS),
    ObjectType("MeetingSession", SESSION_FIELDS, table="meeting_sessions", node=True),
]

"""What the coverage rules and the map read, added to the planned demo region without touching
the planner's random stream (everything here is a function of the areas' codes): party members
in buildings (rolled up), communities' office space, a boundary for every grid (a tessellation
of its community's square), and the party organizations' levels.

A few communities fall short on purpose, so that the demo shows every gap kind: about one in
four has too little office space, and about one in ten is led by a party branch
(党支部) although it has grown three or more branches (the 333 rule asks for a general branch)."""

from __future__ import annotations

import json
import math
import zlib
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from gridweave.demo.areas import AreaPlan
from gridweave.models import AreaLevel

ORIGIN = (103.80, 30.80)  # longitude, latitude of the first community's corner (Chengdu plain)
CELL = 0.012  # a community's square, in degrees (about 1.1 km)
GAP = 0.002  # roads between communities
JITTER = 0.22  # share of a grid's width an inner vertex may move

PARTY_LEVELS = (
    "UPDATE organizations SET party_level = CASE"
    " WHEN name LIKE '%党小组' THEN 'GROUP'"
    " WHEN name LIKE '%党总支' THEN 'GENERAL_BRANCH'"
    " WHEN name LIKE '%支部' THEN 'BRANCH'"
    " WHEN name LIKE '%党委' OR name LIKE '%党工委' THEN 'COMMITTEE' END"
    " WHERE kind = 'PARTY_ORGANIZATION' AND area_path LIKE $1"
)
# The party body of the communities ``demoted`` picks is a branch.
DEMOTE = (
    "UPDATE organizations o SET name = regexp_replace(o.name, '(党委|党总支)$', '党支部'),"
    " party_level = 'BRANCH' FROM areas a WHERE a.id = o.area_id AND a.id = ANY($1::bigint[])"
    " AND o.kind = 'PARTY_ORGANIZATION' AND o.name ~ '(党委|党总支)$'"
)


def _h(*parts: object) -> int:
    return zlib.crc32("/".join(map(str, parts)).encode())


def party_members(plan: AreaPlan) -> list[int]:
    """0-9 party members per building, summed up the tree."""
    counts = [0] * len(plan.areas)
    for i, a in enumerate(plan.areas):
        if a.level is AreaLevel.BUILDING:
            counts[i] = _h(a.code, "party") % 10
    for i in range(len(plan.areas) - 1, -1, -1):  # children come after their parents
        p = plan.areas[i].parent
        if p is not None:
            counts[p] += counts[i]
    return counts


def office_space(households: int, code: str) -> Decimal | None:
    need = Decimal(households) * Decimal("0.3")
    roll = _h(code, "office") % 100
    if roll < 4:
        return None
    factor = Decimal(60 + roll % 35) / 100 if roll < 25 else Decimal(100 + roll % 60) / 100
    return (need * factor).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def demoted(plan: AreaPlan) -> list[int]:
    """Indices of the communities whose party body is a branch."""
    return [
        i
        for i, a in enumerate(plan.areas)
        if a.level is AreaLevel.COMMUNITY and _h(a.code, "333") % 10 == 0
    ]


@dataclass(frozen=True, slots=True)
class _Square:
    """One community's square, cut into ``cols`` x ``rows`` grid cells."""

    key: int
    x0: float
    y0: float
    cols: int
    rows: int

    def vertex(self, i: int, j: int) -> list[float]:
        w, h = CELL / self.cols, CELL / self.rows
        x, y = self.x0 + i * w, self.y0 - j * h
        if 0 < i < self.cols and 0 < j < self.rows:
            x += ((_h(self.key, i, j, "x") % 1000) / 1000 - 0.5) * JITTER * w
            y += ((_h(self.key, i, j, "y") % 1000) / 1000 - 0.5) * JITTER * h
        return [round(x, 6), round(y, 6)]

    def ring(self, n: int, last: bool) -> list[list[float]]:
        """Cell ``n`` (row-major); the last cell stretches to the square's right edge."""
        i, j = n % self.cols, n // self.cols
        i1 = self.cols if last else i + 1
        ring = [self.vertex(x, j) for x in range(i, i1 + 1)]
        ring += [self.vertex(x, j + 1) for x in range(i1, i - 1, -1)]
        return [*ring, ring[0]]


def boundaries(plan: AreaPlan) -> dict[int, dict[str, Any]]:
    """A GeoJSON Polygon per grid: each community's grids tile its square in the row-major
    lattice its neighbour links follow (demo.areas.lattice), with the inner vertices moved a
    little, the same for every grid sharing them."""
    out: dict[int, dict[str, Any]] = {}
    communities = [i for i, a in enumerate(plan.areas) if a.level is AreaLevel.COMMUNITY]
    per_row = max(1, math.ceil(math.sqrt(len(communities))))
    for k, c in enumerate(communities):
        grids = [g for g in plan.areas[c].children if plan.areas[g].level is AreaLevel.GRID]
        if not grids:
            continue
        cols = math.ceil(math.sqrt(len(grids)))
        square = _Square(
            key=c,
            x0=ORIGIN[0] + (k % per_row) * (CELL + GAP),
            y0=ORIGIN[1] - (k // per_row) * (CELL + GAP),
            cols=cols,
            rows=math.ceil(len(grids) / cols),
        )
        for n, g in enumerate(grids):
            ring = square.ring(n, last=n == len(grids) - 1)
            out[g] = {"type": "Polygon", "coordinates": [ring]}
    return out


async def write_coverage_inputs(
    apg: Any, plan: AreaPlan, area_ids: list[int], root_path: str
) -> None:
    members = party_members(plan)
    shapes = boundaries(plan)
    ids, member_counts, offices, shape_text = [], [], [], []
    for i, a in enumerate(plan.areas):
        ids.append(area_ids[i])
        member_counts.append(members[i])
        offices.append(
            office_space(a.counts[0], a.code) if a.level is AreaLevel.COMMUNITY else None
        )
        shape_text.append(json.dumps(shapes[i]) if i in shapes else None)
    await apg.execute(
        "UPDATE areas SET party_members = v.m, office_space_m2 = v.o, boundary = v.b::jsonb"
        " FROM unnest($1::bigint[], $2::int[], $3::numeric[], $4::text[]) AS v(id, m, o, b)"
        " WHERE areas.id = v.id",
        ids,
        member_counts,
        offices,
        shape_text,
    )
    await apg.execute(PARTY_LEVELS, root_path + "%")
    await apg.execute(DEMOTE, [area_ids[i] for i in demoted(plan)])

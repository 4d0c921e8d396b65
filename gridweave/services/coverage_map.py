"""The coverage map of a report: the judged areas (grids) coloured by the severity of their gaps
(the gaps of areas below a grid count for the grid), drawn from their boundaries, or laid out
from the adjacency graph where an area has none."""

from __future__ import annotations

from typing import Any

import numpy as np
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from gridweave.graph.coverage import LEVEL, ancestors
from gridweave.graph.svgmap import MapArea, render
from gridweave.models.areas import AreaLevel
from gridweave.services.coverage import CoverageReport

_BOUNDARIES = text("SELECT id, boundary FROM areas WHERE id = ANY(:ids) AND boundary IS NOT NULL")


def map_areas(
    report: CoverageReport,
    boundaries: dict[int, Any],
    *,
    category_id: int | None,
) -> tuple[list[MapArea], list[tuple[int, int]]]:
    d = report.data
    tl = LEVEL[AreaLevel(report.result.target_level)]
    targets = np.flatnonzero(d.level == tl)
    pos = {int(t): i for i, t in enumerate(targets.tolist())}
    index = {int(a): i for i, a in enumerate(d.area_ids.tolist())}
    anc = ancestors(d.parent, d.level)
    severity = [0.0] * len(targets)
    for g in report.result.gaps:
        if category_id is not None and g.category_id not in (None, category_id):
            continue
        t = int(anc[index[g.area_id], tl])
        if t >= 0:
            severity[pos[t]] += g.severity
    areas = []
    for i, t in enumerate(targets.tolist()):
        b = boundaries.get(int(d.area_ids[t]))
        ring = [(float(x), float(y)) for x, y, *_ in b["coordinates"][0]] if b else None
        areas.append(MapArea(label=d.names[t], severity=severity[i], ring=ring))
    a, b = d.neighbors
    edges = [
        (pos[x], pos[y])
        for x, y in zip(a.tolist(), b.tolist(), strict=True)
        if x in pos and y in pos
    ]
    return areas, edges


async def coverage_map(
    session: AsyncSession, report: CoverageReport, *, category_code: str | None = None
) -> str:
    d = report.data
    by_code = {code: cid for cid, code in d.categories.items()}
    category_id = by_code.get(category_code) if category_code else None
    ids = d.area_ids[d.level == LEVEL[AreaLevel(report.result.target_level)]].tolist()
    rows = (await session.execute(_BOUNDARIES, {"ids": ids})).all()
    areas, edges = map_areas(report, {r.id: r.boundary for r in rows}, category_id=category_id)
    what = d.category_names.get(category_id, "") if category_id is not None else "全部类别 all"
    return render(
        areas,
        edges,
        title=f"{report.area.name} 服务覆盖缺口 coverage gaps",
        subtitle=f"{report.as_of.isoformat()} · {what} · maxHops {report.max_hops}"
        f" · {len(areas):,} {report.result.target_level.lower()}s",
    )

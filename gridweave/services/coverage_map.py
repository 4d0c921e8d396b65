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
    pos = np.full(d.n + 1, -1, dtype=np.int64)  # pos[-1]: above the judged level
    pos[targets] = np.arange(len(targets))
    gaps = report.result.gaps
    t = pos[ancestors(d.parent, d.level)[gaps.area_index, tl]]
    keep = t >= 0
    if category_id is not None:
        keep &= np.isin(gaps.category_id, [-1, category_id])
    severity = np.zeros(len(targets), dtype=np.float64)
    np.add.at(severity, t[keep], gaps.severity[keep])
    areas = []
    for i, a in enumerate(targets.tolist()):
        b = boundaries.get(int(d.area_ids[a]))
        ring = [(float(x), float(y)) for x, y, *_ in b["coordinates"][0]] if b else None
        areas.append(MapArea(label=d.names[a], severity=float(severity[i]), ring=ring))
    na, nb = (pos[x] for x in d.neighbors)
    both = (na >= 0) & (nb >= 0)
    edges = list(zip(na[both].tolist(), nb[both].tolist(), strict=True))
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

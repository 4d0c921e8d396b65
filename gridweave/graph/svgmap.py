"""A coverage map as SVG: areas coloured by gap severity, with a legend and Chinese labels.
Pure: shapes in (GeoJSON rings in longitude/latitude, or none), an SVG document out. Areas
without a boundary are placed by a layout of the adjacency graph and drawn as tiles."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

import networkx as nx

PALETTE = ("#dff3e3", "#fde9a9", "#fbc26b", "#f68c4a", "#e0502e", "#9e1b1b")
WIDTH = 1000
MARGIN = 24
LEGEND_H = 150
SPRING_LIMIT = 3_000  # larger graphs are laid out on a square lattice (spring layout is O(n²))


@dataclass(frozen=True, slots=True)
class MapArea:
    label: str
    severity: float
    ring: Sequence[tuple[float, float]] | None  # the exterior ring (lon, lat), or None


def bins(severities: Sequence[float]) -> list[float]:
    """Upper bounds of the four severity classes above "no gap" (quintiles of the gaps)."""
    positive = sorted(s for s in severities if s > 0)
    if not positive:
        return [1.0, 2.0, 3.0, 4.0]
    return [positive[min(len(positive) - 1, (len(positive) * q) // 5)] for q in (1, 2, 3, 4)]


def colour(severity: float, bounds: Sequence[float]) -> str:
    if severity <= 0:
        return PALETTE[0]
    for i, b in enumerate(bounds):
        if severity <= b:
            return PALETTE[i + 1]
    return PALETTE[-1]


def layout(n: int, edges: Sequence[tuple[int, int]]) -> list[tuple[float, float]]:
    """Positions in [0, 1]² from the adjacency graph (deterministic)."""
    if n == 0:
        return []
    if n <= SPRING_LIMIT:
        g = nx.Graph()
        g.add_nodes_from(range(n))
        g.add_edges_from(edges)
        pos = nx.spring_layout(g, seed=20261201, iterations=60)
        xs = [float(pos[i][0]) for i in range(n)]
        ys = [float(pos[i][1]) for i in range(n)]
    else:
        cols = math.ceil(math.sqrt(n))
        xs = [float(i % cols) for i in range(n)]
        ys = [float(i // cols) for i in range(n)]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    sx, sy = (x1 - x0) or 1.0, (y1 - y0) or 1.0
    return [((x - x0) / sx, (y - y0) / sy) for x, y in zip(xs, ys, strict=True)]


def render(
    areas: Sequence[MapArea],
    edges: Sequence[tuple[int, int]],
    *,
    title: str,
    subtitle: str,
) -> str:
    bounds = bins([a.severity for a in areas])
    if areas and all(a.ring for a in areas):
        body, map_h = _polygons(areas)
    else:
        body, map_h = _tiles(areas, edges), WIDTH - 2 * MARGIN
    total_h = map_h + 2 * MARGIN + LEGEND_H + 40
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{total_h}"'
        f' viewBox="0 0 {WIDTH} {total_h}" font-family="Noto Sans CJK SC, Source Han Sans SC,'
        ' PingFang SC, Microsoft YaHei, sans-serif">',
        f'<rect width="{WIDTH}" height="{total_h}" fill="#ffffff"/>',
        f'<text x="{MARGIN}" y="{MARGIN + 4}" font-size="20" font-weight="bold">'
        f"{escape(title)}</text>",
        f'<text x="{MARGIN}" y="{MARGIN + 26}" font-size="13" fill="#555">'
        f"{escape(subtitle)}</text>",
        f'<g transform="translate(0, 40)">{body}</g>',
        _legend(bounds, top=map_h + 2 * MARGIN + 40),
        "</svg>",
    ]
    return "\n".join(out)


def _fill(a: MapArea, bounds: Sequence[float]) -> str:
    return colour(a.severity, bounds)


def _polygons(areas: Sequence[MapArea]) -> tuple[str, float]:
    bounds = bins([a.severity for a in areas])
    pts = [p for a in areas for p in (a.ring or ())]
    lon0, lon1 = min(p[0] for p in pts), max(p[0] for p in pts)
    lat0, lat1 = min(p[1] for p in pts), max(p[1] for p in pts)
    k = math.cos(math.radians((lat0 + lat1) / 2))
    span = max((lon1 - lon0) * k, lat1 - lat0) or 1.0
    scale = (WIDTH - 2 * MARGIN) / span

    def xy(p: tuple[float, float]) -> tuple[float, float]:
        return (MARGIN + (p[0] - lon0) * k * scale, MARGIN + (lat1 - p[1]) * scale)

    parts = []
    font = max(6.0, min(12.0, scale * span / math.sqrt(max(len(areas), 1)) / 8))
    for a in areas:
        ring = [xy(p) for p in a.ring or ()]
        d = " ".join(f"{x:.1f},{y:.1f}" for x, y in ring)
        cx = sum(x for x, _ in ring) / len(ring)
        cy = sum(y for _, y in ring) / len(ring)
        parts.append(
            f'<polygon points="{d}" fill="{_fill(a, bounds)}" stroke="#666" stroke-width="0.6">'
            f"<title>{escape(a.label)}: {a.severity:.1f}</title></polygon>"
        )
        if len(areas) <= 400:
            parts.append(
                f'<text x="{cx:.1f}" y="{cy:.1f}" font-size="{font:.1f}" text-anchor="middle"'
                f' fill="#222">{escape(_short(a.label))}</text>'
            )
    return "\n".join(parts), (lat1 - lat0) * scale


def _tiles(areas: Sequence[MapArea], edges: Sequence[tuple[int, int]]) -> str:
    bounds = bins([a.severity for a in areas])
    pos = layout(len(areas), edges)
    size = (WIDTH - 2 * MARGIN) / max(2.0, math.sqrt(len(areas)) * 1.6)
    inner = WIDTH - 2 * MARGIN - size

    def xy(i: int) -> tuple[float, float]:
        return (MARGIN + pos[i][0] * inner, MARGIN + pos[i][1] * inner)

    parts = []
    for u, v in edges:
        (x1, y1), (x2, y2) = xy(u), xy(v)
        h = size / 2
        parts.append(
            f'<line x1="{x1 + h:.1f}" y1="{y1 + h:.1f}" x2="{x2 + h:.1f}" y2="{y2 + h:.1f}"'
            ' stroke="#bbb" stroke-width="0.8"/>'
        )
    for i, a in enumerate(areas):
        x, y = xy(i)
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{size:.1f}" height="{size:.1f}" rx="3"'
            f' fill="{_fill(a, bounds)}" stroke="#666" stroke-width="0.6">'
            f"<title>{escape(a.label)}: {a.severity:.1f}</title></rect>"
        )
        if len(areas) <= 400:
            parts.append(
                f'<text x="{x + size / 2:.1f}" y="{y + size / 2 + 3:.1f}" text-anchor="middle"'
                f' font-size="{max(6.0, size / 5):.1f}">{escape(_short(a.label))}</text>'
            )
    return "\n".join(parts)


def _short(label: str) -> str:
    """'和平社区第3网格' -> '和平3格': labels fit inside a grid."""
    if "第" in label and label.endswith("网格"):
        head, _, number = label.rpartition("第")
        return f"{head.removesuffix('社区').removesuffix('村')[:3]}{number.removesuffix('网格')}格"
    return label[:8]


def _legend(bounds: Sequence[float], *, top: float) -> str:
    labels = ["无缺口 no gap"]
    lo = 0.0
    first = True
    for b in bounds:
        labels.append(f"{'> 0' if first else f'{lo:,.0f}'} – {b:,.0f}")
        lo, first = b, False
    labels.append(f"> {lo:,.0f}")
    parts = [
        f'<text x="{MARGIN}" y="{top}" font-size="14" font-weight="bold">'
        "缺口严重度 gap severity (受影响户数, 按困难群体加权 households, weighted)</text>"
    ]
    for i, (fill, text) in enumerate(zip(PALETTE, labels, strict=True)):
        x = MARGIN + (i % 3) * 300
        y = top + 16 + (i // 3) * 30
        parts.append(
            f'<rect x="{x}" y="{y}" width="22" height="18" fill="{fill}" stroke="#666"/>'
            f'<text x="{x + 30}" y="{y + 14}" font-size="13">{escape(text)}</text>'
        )
    return "\n".join(parts)

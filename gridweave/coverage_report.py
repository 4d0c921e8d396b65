"""The command-line coverage report: the same report as ``Query.coverage``, as a terminal table
(rich), JSON or CSV. Pure formatting over ``services.coverage.CoverageReport``."""

from __future__ import annotations

import csv
import io
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table

from gridweave.services.coverage import CoverageReport


def _names(report: CoverageReport) -> tuple[dict[int, str], dict[int, str]]:
    d = report.data
    areas = dict(zip(d.area_ids.tolist(), d.names, strict=True))
    orgs = dict(zip(d.org_ids.tolist(), d.org_names, strict=True))
    return areas, orgs


def as_dict(report: CoverageReport) -> dict[str, Any]:
    areas, orgs = _names(report)
    cats = report.data.categories

    def org(pk: int | None) -> dict[str, Any] | None:
        return None if pk is None else {"id": pk, "name": orgs.get(pk, "?")}

    return {
        "area": {"id": report.area.id, "name": report.area.name, "code": report.area.code},
        "asOf": report.as_of.isoformat(),
        "maxHops": report.max_hops,
        "level": report.result.target_level,
        "byCategory": [
            {
                "category": cats[c.category_id],
                "areasTotal": c.areas_total,
                "areasCovered": c.areas_covered,
                "householdsUncovered": c.households_uncovered,
            }
            for c in report.result.by_category
        ],
        "gaps": [
            {
                "kind": g.kind.value,
                "severity": g.severity,
                "area": {"id": g.area_id, "name": areas.get(g.area_id, "?")},
                "category": None if g.category_id is None else cats[g.category_id],
                "organization": org(g.organization_id),
                "message": g.message,
                "suggestions": [org(s) for s in g.suggestions],
            }
            for g in report.result.gaps
        ],
    }


def as_json(report: CoverageReport) -> str:
    return orjson.dumps(as_dict(report), option=orjson.OPT_INDENT_2).decode()


def as_csv(report: CoverageReport) -> str:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(
        [
            "kind",
            "severity",
            "area_id",
            "area",
            "category",
            "organization",
            "message",
            "suggestions",
        ]
    )
    for g in as_dict(report)["gaps"]:
        w.writerow(
            [
                g["kind"],
                f"{g['severity']:.1f}",
                g["area"]["id"],
                g["area"]["name"],
                g["category"] or "",
                (g["organization"] or {}).get("name", ""),
                g["message"],
                "; ".join(s["name"] for s in g["suggestions"]),
            ]
        )
    return out.getvalue()


def print_table(report: CoverageReport, console: Console, *, limit: int) -> None:
    d = as_dict(report)
    console.print(
        f"[bold]{d['area']['name']}[/] coverage as of {d['asOf']} "
        f"(max hops {d['maxHops']}, judged per {d['level'].lower()})"
    )
    cats = Table(title="By category")
    for col in ("category", "areas", "covered", "households uncovered"):
        cats.add_column(col, justify="left" if col == "category" else "right")
    for c in d["byCategory"]:
        cats.add_row(
            c["category"],
            f"{c['areasTotal']:,}",
            f"{c['areasCovered']:,}",
            f"{c['householdsUncovered']:,}",
        )
    console.print(cats)
    counts: dict[str, int] = {}
    for g in d["gaps"]:
        counts[g["kind"]] = counts.get(g["kind"], 0) + 1
    kinds = Table(title="Gaps by kind")
    kinds.add_column("kind")
    kinds.add_column("gaps", justify="right")
    for k, n in sorted(counts.items(), key=lambda kv: -kv[1]):
        kinds.add_row(k, f"{n:,}")
    console.print(kinds)
    gaps = Table(title=f"The {min(limit, len(d['gaps'])):,} most severe of {len(d['gaps']):,} gaps")
    for col in ("severity", "kind", "area", "message", "suggestions"):
        gaps.add_column(col, justify="right" if col == "severity" else "left")
    for g in d["gaps"][:limit]:
        gaps.add_row(
            f"{g['severity']:.1f}",
            g["kind"],
            g["area"]["name"],
            g["message"],
            ", ".join(s["name"] for s in g["suggestions"]),
        )
    console.print(gaps)

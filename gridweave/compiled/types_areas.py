"""Compiled declarations: Area and its vulnerable-group counts."""

from __future__ import annotations

from gridweave.compiled.declare import FieldSql, ObjectType, global_id, many, one, paged, scalars
from gridweave.compiled.selection import Fallback, Selection
from gridweave.compiled.sqljson import json_object
from gridweave.compiled.types_meetings import unengaged_units
from gridweave.compiled.walker import Compiler, Rows
from gridweave.models import Area as AreaRow
from gridweave.models import Organization as OrganizationRow
from gridweave.models.areas import VULNERABLE_COLUMNS
from gridweave.schema.areas import Area
from gridweave.services.listing import ORGANIZATION_FILTERS
from gridweave.services.subtree import in_subtree_sql


def _vulnerable_groups(c: Compiler, s: Selection, a: str) -> str:
    items = []
    for group, column in VULNERABLE_COLUMNS.items():
        pairs = []
        for f in c.fields(s, "VulnerableGroupCount"):
            value = {
                "group": f"'{group}'",
                "count": f"{a}.{column}",
                "__typename": "'VulnerableGroupCount'",
            }.get(f.name)
            if value is None:
                raise Fallback(f"VulnerableGroupCount.{f.name}")
            pairs.append((f.key, value))
        items.append(json_object(pairs))
    return f"json_build_array({', '.join(items)})"


def _organizations(c: Compiler, s: Selection, a: str) -> Rows:
    """Organizations located in the area or below it (``kind`` filters, as on the root list)."""
    kind = {"kind": ORGANIZATION_FILTERS["kind"]}
    where = c.filtered(s, OrganizationRow.__table__, kind, {"kind": c.enum("OrganizationKind")})
    return Rows(
        "organizations",
        lambda t: f"{in_subtree_sql(f'{t}.area_path', f'{a}.path')} AND {where(t)}",
        fenced=True,
    )


AREA_FIELDS: dict[str, FieldSql] = {
    **scalars(Area, AreaRow.__table__),
    "id": global_id("Area"),
    "vulnerableGroups": _vulnerable_groups,
    "parent": one("Area", "parent_id"),
    "neighbors": many(
        "Area",
        lambda a, x: (
            f"FROM area_neighbors n_{x} JOIN areas {x} ON {x}.id = n_{x}.neighbor_id"
            f" WHERE n_{x}.area_id = {a}.id"
        ),
    ),
    "children": paged("Area", lambda c, s, a: Rows("areas", lambda t: f"{t}.parent_id = {a}.id")),
    "organizations": paged("Organization", _organizations),
    "unengagedUnits": paged("Organization", unengaged_units),
}

TYPES = [ObjectType("Area", AREA_FIELDS, table="areas", node=True)]

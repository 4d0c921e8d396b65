"""The service sheet's checks: each row names an organization (this file's or a stored one, by
credit code or by name), an area it may serve and the categories it serves there."""

from __future__ import annotations

from typing import Any

from gridweave.errors import DomainError
from gridweave.services import organizations as org_rules
from gridweave.services.import_orgs import OrgChecks
from gridweave.services.import_plan import AreaNode, OrgNode, Plan
from gridweave.services.sheets import SheetRows, split_categories


async def load_categories(apg: Any) -> dict[str, int]:
    """Category ids by code, Chinese name and English name."""
    rows = await apg.fetch("SELECT id, code, name, name_en FROM service_categories")
    out: dict[str, int] = {}
    for r in rows:
        out[r["code"]] = out[r["name"]] = out[r["name_en"]] = r["id"]
    return out


async def load_stored_pairs(apg: Any, plan: Plan) -> None:
    """The stored (area, category) rows of the stored organizations on the service sheet."""
    ids = [o.id for o in plan.service if o.id is not None]
    if not ids:
        return
    rows = await apg.fetch(
        "SELECT organization_id, area_id, category_id FROM organization_service_areas"
        " WHERE organization_id = ANY($1::bigint[])",
        ids,
    )
    pairs = plan.stored_pairs
    for r in rows:
        pairs.setdefault(r["organization_id"], set()).add((r["area_id"], r["category_id"]))


class ServiceChecks(OrgChecks):
    def check_service_rows(self, sheet: SheetRows, categories: dict[str, int]) -> None:
        ix = {c.key: i for i, c in enumerate(sheet.spec.columns)}
        index = self.org_index()
        wanted_by_cell: dict[str, list[int]] = {}
        for line, values in sheet.rows:
            code, name = values[ix["credit_code"]], values[ix["name"]]
            if not (code or name):
                self.problem(sheet, line, "name", "Name the organization (or its credit code).")
                continue
            org = index.find(code, None, near=None) if code else "unknown"
            if isinstance(org, str) and name:
                org = index.find(name, values[ix["area_code"]], near=None)
            if isinstance(org, str):
                self.problem(sheet, line, "name", org)
                continue
            if org.line is None and not self._may_serve_for(sheet, line, org):
                continue
            served = self._served(sheet, line, values[ix["served_code"]], org)
            raw = values[ix["categories"]] or ""
            wanted = wanted_by_cell.get(raw)
            if wanted is None:
                wanted = wanted_by_cell[raw] = [categories.get(c, 0) for c in split_categories(raw)]
            if 0 in wanted:
                for c in split_categories(raw):
                    if c not in categories:
                        self.problem(sheet, line, "categories", f"Unknown service category '{c}'.")
            if not wanted:
                self.problem(sheet, line, "categories", "Name at least one service category.")
            if served is None or 0 in wanted or not wanted:
                continue
            pairs = self.plan.service.setdefault(org, set())
            self.plan.service_lines.setdefault(org, line)
            pairs.update((served, c) for c in wanted)

    def _may_serve_for(self, sheet: SheetRows, line: int, org: OrgNode) -> bool:
        """A stored organization the file does not list: the caller must coordinate it."""
        if not self.coordinates(org.area.path):
            self.problem(
                sheet, line, "name", "This organization lies outside the areas you coordinate."
            )
            return False
        if not self.in_scope(org.area.path):
            self.problem(sheet, line, "name", "This organization lies outside the import's area.")
            return False
        return True

    def _served(
        self, sheet: SheetRows, line: int, raw: str | None, org: OrgNode
    ) -> AreaNode | None:
        code = self.code_at(sheet, line, raw, "served_code")
        area = self.areas.get(code) if code else None
        if area is None or not area.placed:
            self.problem(sheet, line, "served_code", f"Unknown area code {code or ''}.".strip())
            return None
        try:
            org_rules.check_service_area_reach(
                self.actor, home_path=org.area.path, area_path=area.path, field=["served_code"]
            )
        except DomainError as e:
            self.problem(sheet, line, "served_code", e.message)
        return area

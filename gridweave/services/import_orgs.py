"""The organization sheet's checks: names, kinds, credit codes, home areas; a row matched with a
stored organization by credit code, else by name within its home area; parents by name or
credit code (this file's rows first, then the stored ones) within reach and without a loop."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from gridweave.errors import DomainError
from gridweave.models import OrganizationKind
from gridweave.services import organizations as org_rules
from gridweave.services.import_plan import AreaNode, CheckState, OrgNode, catch, stored_path
from gridweave.services.sheets import (
    KIND_LABELS,
    ORGANIZATIONS,
    SERVICE_AREAS,
    Book,
    SheetRows,
    parse_kind,
)
from gridweave.services.validation import clean_name, valid_credit_code

Row = tuple[int, OrgNode, tuple[str | None, ...]]  # (Excel row, its node, its cells)
COLUMNS = "o.id, o.name, o.kind, o.credit_code, o.area_id, o.area_path, o.parent_id"


def org_refs(state: CheckState, book: Book) -> tuple[set[str], set[tuple[int, str]], set[str]]:
    """Credit codes, (stored area id, name) pairs and bare names the file refers to."""
    codes: set[str] = set()
    pairs: set[tuple[int, str]] = set()
    names: set[str] = set()
    areas = state.areas

    def add(name: str | None, area_code: str | None, code: str | None) -> None:
        if code:
            codes.add(code.strip().upper())
        if name:
            area = areas.get(area_code) if area_code else None
            if area is not None and area.id is not None:
                pairs.add((area.id, " ".join(name.split())))
            elif not area_code:
                names.add(name.strip())

    sheet = book.sheets.get(ORGANIZATIONS)
    if sheet is not None:
        ix = {c.key: i for i, c in enumerate(sheet.spec.columns)}
        scope = state.plan.scope.code if state.plan.scope else None
        for _, v in sheet.rows:
            add(v[ix["name"]], v[ix["area_code"]] or scope, v[ix["credit_code"]])
            add(v[ix["parent"]], v[ix["parent_area_code"]], v[ix["parent"]])
    sheet = book.sheets.get(SERVICE_AREAS)
    if sheet is not None:
        ix = {c.key: i for i, c in enumerate(sheet.spec.columns)}
        for _, v in sheet.rows:
            add(v[ix["name"]], v[ix["area_code"]], v[ix["credit_code"]])
    return codes, pairs, names


async def load_orgs(
    apg: Any, codes: set[str], pairs: set[tuple[int, str]], names: set[str]
) -> dict[int, dict[str, Any]]:
    rows = await apg.fetch(
        f"SELECT {COLUMNS} FROM organizations o WHERE o.credit_code = ANY($1::text[])"
        f" UNION SELECT {COLUMNS} FROM organizations o"
        " JOIN unnest($2::bigint[], $3::text[]) AS t(a, n) ON o.area_id = t.a AND o.name = t.n"
        f" UNION SELECT {COLUMNS} FROM organizations o WHERE o.name = ANY($4::text[])",
        sorted(codes),
        [a for a, _ in pairs],
        [n for _, n in pairs],
        sorted(names),
    )
    return {r["id"]: dict(r) for r in rows}


async def load_stored_parents(apg: Any, starts: list[int]) -> dict[int, int | None]:
    """Each stored organization's parent, up the chains from ``starts``."""
    if not starts:
        return {}
    rows = await apg.fetch(
        "WITH RECURSIVE up(id, parent_id) AS ("
        " SELECT id, parent_id FROM organizations WHERE id = ANY($1::bigint[])"
        " UNION SELECT o.id, o.parent_id FROM organizations o JOIN up ON o.id = up.parent_id)"
        " SELECT id, parent_id FROM up",
        starts,
    )
    return {r["id"]: r["parent_id"] for r in rows}


class OrgIndex:
    """Finds an organization by credit code, or by name (within an area, when its code is given):
    this file's rows first, then the stored organizations."""

    def __init__(
        self,
        rows: Iterable[OrgNode],
        stored: dict[int, dict[str, Any]],
        areas: dict[str, AreaNode],
    ) -> None:
        self.areas = areas
        self.by_code: dict[str, OrgNode] = {}
        self.by_name: dict[str, list[OrgNode]] = defaultdict(list)
        self.by_name_area: dict[tuple[str, AreaNode], list[OrgNode]] = defaultdict(list)
        taken: set[int] = set()
        for o in rows:
            code = o.changes.get("credit_code") or o.credit_code
            if code:
                self.by_code[code] = o
            self._add(o.changes.get("name", o.name), o)
            if o.id is not None:
                taken.add(o.id)
        by_path = {a.path: a for a in areas.values()}
        for r in stored.values():
            if r["id"] in taken:
                continue
            area = by_path.get(r["area_path"]) or AreaNode(
                "", None, r["area_path"], id=r["area_id"]
            )
            node = OrgNode.stored(r, area)
            if r["credit_code"]:
                self.by_code.setdefault(r["credit_code"], node)
            self._add(r["name"], node)

    def _add(self, name: str, node: OrgNode) -> None:
        self.by_name[name].append(node)
        self.by_name_area[(name, node.area)].append(node)

    def find(self, ref: str, area_code: str | None, *, near: AreaNode | None) -> OrgNode | str:
        """The organization, or the message saying why none is found."""
        name = ref.strip()
        found = self.by_code.get(name.upper())
        if found is not None:
            return found
        if area_code:
            area = self.areas.get(area_code)
            candidates = self.by_name_area.get((name, area), []) if area is not None else []
        else:
            candidates = self.by_name.get(name, [])
        if len(candidates) > 1 and near is not None:
            chain = [c for c in candidates if near.path.startswith(c.area.path)]
            candidates = chain or candidates
        if len(candidates) == 1:
            return candidates[0]
        where = f" in the area {area_code}" if area_code else ""
        if not candidates:
            return f"No organization {ref}{where}, neither in this file nor stored."
        return f"{len(candidates)} organizations are named {ref}: add its area code or credit code."


@dataclass(slots=True)
class _Matching:
    """What the organization rows have claimed so far, and the stored ones to match them with."""

    by_code: dict[str, dict[str, Any]]
    by_name: dict[tuple[int, str], list[dict[str, Any]]]
    codes: dict[str, int] = field(default_factory=dict)  # credit code: its row
    names: dict[tuple[int, str], int] = field(default_factory=dict)  # (id(home), name): its row
    matched: dict[int, int] = field(default_factory=dict)  # stored id: the row matching it


class OrgChecks(CheckState):
    _index: OrgIndex | None = None

    def org_index(self) -> OrgIndex:
        """Built once the organization rows are checked (parents and service rows use it)."""
        if self._index is None:
            self._index = OrgIndex(self.plan.orgs, self.stored_orgs, self.areas)
        return self._index

    def check_org_rows(self, sheet: SheetRows) -> list[Row]:
        """Each organization row's own cells, its home area and its match; parents come after,
        once every row is known."""
        ix = {c.key: i for i, c in enumerate(sheet.spec.columns)}
        stored = self.stored_orgs.values()
        by_name: dict[tuple[int, str], list[dict[str, Any]]] = defaultdict(list)
        for o in stored:
            by_name[(o["area_id"], o["name"])].append(o)
        m = _Matching({o["credit_code"]: o for o in stored if o["credit_code"]}, by_name)
        out: list[Row] = []
        for line, values in sheet.rows:
            node = self._org_row(sheet, line, values, ix, m)
            if node is not None:
                self.plan.orgs.append(node)
                out.append((line, node, values))
        return out

    def _org_row(
        self,
        sheet: SheetRows,
        line: int,
        values: tuple[str | None, ...],
        ix: dict[str, int],
        m: _Matching,
    ) -> OrgNode | None:
        try:
            name = clean_name(values[ix["name"]] or "", field=["name"])
        except DomainError as e:
            name = ""
            self.problem(sheet, line, "name", e.message)
        kind = self._kind(sheet, line, values[ix["kind"]])
        code = None
        if raw_code := values[ix["credit_code"]]:
            with catch(self.problems, sheet, line, "credit_code"):
                code = valid_credit_code(raw_code, field=["credit"])
        home = self._home(sheet, line, values[ix["area_code"]], "area_code")
        if home is None:
            return None
        if code and code in m.codes:
            self.problem(
                sheet, line, "credit_code", f"This credit code is on row {m.codes[code]} too."
            )
            return None
        if code:
            m.codes[code] = line
        key = (id(home), name)
        if key in m.names:
            self.problem(
                sheet,
                line,
                "name",
                f"Two organizations named {name} in one area (rows {m.names[key]} and {line}): "
                "give them different names or credit codes.",
            )
            return None
        m.names[key] = line
        stored = self._stored_match(sheet, line, name, code, home, m)
        if stored is False:
            return None
        if stored is None:
            return OrgNode(name, kind.value if kind else "", home, credit_code=code, line=line)
        return _matched(stored, home, line, name, kind, code)

    def _stored_match(
        self,
        sheet: SheetRows,
        line: int,
        name: str,
        code: str | None,
        home: AreaNode,
        m: _Matching,
    ) -> dict[str, Any] | None | Literal[False]:
        """The stored organization this row matches, None (a new one), or False (a problem)."""
        stored = m.by_code.get(code) if code else None
        if stored is None and home.id is not None:
            candidates = m.by_name.get((home.id, name), [])
            if len(candidates) > 1:
                self.problem(
                    sheet,
                    line,
                    "name",
                    f"{len(candidates)} stored organizations are named {name} in this area: "
                    "add the credit code to say which.",
                )
                return False
            stored = candidates[0] if candidates else None
            if stored is not None and code and stored["credit_code"]:
                self.problem(
                    sheet,
                    line,
                    "credit_code",
                    f"The stored {name} here has the credit code {stored['credit_code']}.",
                )
                return False
        if stored is None:
            return None
        if stored["id"] in m.matched:
            self.problem(
                sheet,
                line,
                "name",
                f"Row {m.matched[stored['id']]} already matches this organization.",
            )
            return False
        m.matched[stored["id"]] = line
        if stored["area_id"] != home.id:
            self.problem(
                sheet,
                line,
                "area_code",
                "This organization is registered in another area: imports do not move "
                "organizations.",
            )
            return False
        return stored

    def _kind(self, sheet: SheetRows, line: int, raw: str | None) -> OrganizationKind | None:
        if not raw:
            self.problem(sheet, line, "kind", "The kind is required.")
            return None
        kind = parse_kind(raw)
        if kind is None:
            labels = "、".join(KIND_LABELS.values())
            self.problem(sheet, line, "kind", f"Unknown kind '{raw}' (one of {labels}).")
        return kind

    def _home(self, sheet: SheetRows, line: int, raw: str | None, key: str) -> AreaNode | None:
        """The home area of a row; it must be one the actor coordinates, inside the import's."""
        code = self.code_at(sheet, line, raw, key)
        if code is None:
            if self.plan.scope is None:
                self.problem(sheet, line, key, "The home area code is required.")
            return self.plan.scope
        home = self.areas.get(code)
        if home is None:
            self.problem(sheet, line, key, f"Unknown area code {code}.")
            return None
        if not home.placed:
            self.problem(sheet, line, key, f"The area {code} has problems of its own.")
            return None
        if not self.coordinates(stored_path(home) or "/"):
            self.problem(sheet, line, key, "This area lies outside the areas you coordinate.")
            return None
        if not self.in_scope(home.path):
            self.problem(sheet, line, key, "This area lies outside the import's area.")
            return None
        return home

    def check_parents(self, sheet: SheetRows, rows: list[Row]) -> None:
        ix = {c.key: i for i, c in enumerate(sheet.spec.columns)}
        index = self.org_index()
        for line, node, values in rows:
            ref = values[ix["parent"]]
            if not ref:
                continue
            parent = index.find(ref, values[ix["parent_area_code"]], near=node.area)
            if isinstance(parent, str):
                self.problem(sheet, line, "parent", parent)
                continue
            if parent is node or (parent.id is not None and parent.id == node.id):
                self.problem(sheet, line, "parent", "An organization cannot be its own parent.")
                continue
            with catch(self.problems, sheet, line, "parent"):
                org_rules.check_parent_reach(
                    self.actor,
                    home_path=node.area.path,
                    parent_path=parent.area.path,
                    field=["parent"],
                )
            if node.new or parent.id is None or parent.id != node.parent_id:
                node.parent = parent
                if not node.new:
                    node.changes["parent_id"] = parent

    def loop_starts(self) -> list[int]:
        """The stored organizations this file makes parents: their chains are loaded."""
        return [o.parent.id for o in self.plan.orgs if o.parent is not None and o.parent.id]

    def check_loops(self, sheet: SheetRows, stored_parent: dict[int, int | None]) -> None:
        """A new parent must not be one of the organization's own descendants: walk up from each
        moved organization through the parents this file gives and the stored ones."""
        moved = [o for o in self.plan.orgs if o.parent is not None]
        given = {id(o): o.parent for o in moved}
        by_id = {o.id: o for o in self.plan.orgs if o.id is not None}
        for org in moved:
            current: OrgNode | int | None = org.parent
            for _ in range(len(stored_parent) + len(moved) + 2):
                if current is None:
                    break
                if isinstance(current, int):
                    node = by_id.get(current)
                    if node is None:
                        current = stored_parent.get(current)
                        continue
                    current = node
                if current is org:
                    self.problem(
                        sheet,
                        org.line or 0,
                        "parent",
                        "That parent belongs to this organization already: the hierarchy would "
                        "loop.",
                    )
                    break
                if id(current) in given:
                    current = given[id(current)]
                else:
                    current = current.parent_id if current.id is not None else None


def _matched(
    stored: dict[str, Any],
    home: AreaNode,
    line: int,
    name: str,
    kind: OrganizationKind | None,
    code: str | None,
) -> OrgNode:
    """A stored organization matched by a row, with what the row changes."""
    node = OrgNode.stored(stored, home, line)
    if name != node.name:
        node.changes["name"] = name
    if kind and kind.value != node.kind:
        node.changes["kind"] = kind.value
    if code and code != node.credit_code:
        node.changes["credit_code"] = code
    return node

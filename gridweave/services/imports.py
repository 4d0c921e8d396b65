"""Spreadsheet imports: check every row first, then write everything in the caller's transaction
(or nothing: one problem anywhere refuses the whole file).

Matching (what makes a second import of the same file change nothing):
- an area matches the stored area with the same code (codes are required on the area sheet);
- an organization matches by unified social credit code, else by name within its home area;
- an organization listed on the service sheet gets exactly the (area, category) pairs listed for
  it; one the sheet does not list keeps its own.
A blank cell leaves the stored value as it is. The checks are the services' own: names, codes and
counts through ``services/validation.py``, levels under parents through ``services/areas.py``,
parent and service-area reach through ``services/organizations.py``, scope through
``services/access.py``. The database is read in a few set-based queries, never once per row."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from gridweave.errors import DomainError
from gridweave.models import AreaLevel, OrganizationKind, Role
from gridweave.services import areas as area_rules
from gridweave.services import organizations as org_rules
from gridweave.services.access import Actor, require_role
from gridweave.services.sheets import (
    AREAS,
    COUNT_COLUMNS,
    KIND_LABELS,
    ORGANIZATIONS,
    SERVICE_AREAS,
    Book,
    Problem,
    SheetRows,
    parse_kind,
    parse_level,
    split_categories,
)
from gridweave.services.validation import (
    clean_code,
    clean_name,
    non_negative,
    valid_credit_code,
)

Progress = Callable[[str, int, int], None]  # (phase, done, total)
COUNT_KEYS = tuple(key for key, _, _ in COUNT_COLUMNS)


# ---- what the checks work on -------------------------------------------------------------------


@dataclass(eq=False, slots=True)
class AreaNode:
    """An area the file refers to: stored (``id`` set) or created by this file (``line`` set; its
    ``path`` is provisional, '/1/5/+12/', until the write assigns its id)."""

    code: str
    level: AreaLevel | None
    path: str
    id: int | None = None
    name: str = ""
    parent: AreaNode | None = None
    parent_code: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    line: int | None = None
    changes: dict[str, Any] = field(default_factory=dict)
    created: bool = False  # set when the write gives a new area its id

    @property
    def new(self) -> bool:
        return self.id is None


@dataclass(eq=False, slots=True)
class OrgNode:
    name: str
    kind: str
    area: AreaNode
    id: int | None = None
    credit_code: str | None = None
    parent_id: int | None = None  # stored parent
    parent: OrgNode | None = None  # the parent this file gives (None: unchanged)
    line: int | None = None
    changes: dict[str, Any] = field(default_factory=dict)
    created: bool = False

    @property
    def new(self) -> bool:
        return self.id is None


@dataclass(frozen=True, slots=True)
class Outcome:
    sheet: str
    row: int
    outcome: str  # created, updated, unchanged
    entity_id: str | None = None


@dataclass(slots=True)
class Plan:
    """Everything a clean file would write, and what the checks found."""

    book: Book
    problems: list[Problem] = field(default_factory=list)
    areas: list[AreaNode] = field(default_factory=list)  # the area sheet's rows, in file order
    orgs: list[OrgNode] = field(default_factory=list)  # the organization sheet's rows
    service: dict[OrgNode, set[tuple[AreaNode, int]]] = field(default_factory=dict)
    service_lines: dict[OrgNode, int] = field(default_factory=dict)  # first row of each org
    stored_pairs: dict[int, set[tuple[int, int]]] = field(default_factory=dict)
    scope: AreaNode | None = None


@dataclass(slots=True)
class ImportResult:
    file_name: str
    dry_run: bool
    status: str  # checked (a clean dry run), applied, refused
    problems: list[Problem]
    outcomes: list[Outcome]
    counts: dict[str, dict[str, int]]

    @property
    def ok(self) -> bool:
        return not self.problems


class _Cell:
    """A context for one cell's checks: a DomainError becomes a problem at that cell."""

    __slots__ = ("failed", "key", "line", "problems", "sheet")

    def __init__(
        self, problems: list[Problem], sheet: SheetRows, line: int, key: str | None
    ) -> None:
        self.problems, self.sheet, self.line, self.key = problems, sheet, line, key
        self.failed = False

    def __enter__(self) -> _Cell:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        if isinstance(exc, DomainError):
            column = self.sheet.cell(self.key) if self.key else None
            self.problems.append(Problem(self.sheet.title, self.line, column, exc.message))
            self.failed = True
            return True
        return False


_catch = _Cell


class _Checker:
    def __init__(self, session: AsyncSession, actor: Actor, book: Book) -> None:
        self.session = session
        self.actor = actor
        self.plan = Plan(book)
        self.problems = self.plan.problems
        self.areas: dict[str, AreaNode] = {}  # by code: stored and new
        self.stored_orgs: dict[int, dict[str, Any]] = {}
        self.codes: dict[str, str | DomainError | None] = {}

    async def apg(self) -> Any:
        conn = await self.session.connection()
        raw = await conn.get_raw_connection()
        return raw.driver_connection

    def code(self, raw: str | None, key: str) -> str | None:
        """``clean_code``, once per distinct value: a city's file repeats each area code in
        thousands of rows."""
        if raw is None:
            return None
        if raw in self.codes:
            found = self.codes[raw]
        else:
            try:
                found = clean_code(raw, field=[key])
            except DomainError as e:
                found = e
            self.codes[raw] = found
        if isinstance(found, DomainError):
            raise type(found)(found.message, field=found.field, code=found.code)
        return found

    def problem(self, sheet: SheetRows, line: int, key: str | None, message: str) -> None:
        self.problems.append(Problem(sheet.title, line, sheet.cell(key) if key else None, message))

    def in_scope(self, path: str) -> bool:
        scope = self.plan.scope
        return scope is None or path.startswith(scope.path)

    # ---- areas ---------------------------------------------------------------------------------

    async def load_areas(self, codes: set[str]) -> None:
        apg = await self.apg()
        rows = await apg.fetch(
            "SELECT a.id, a.code, a.name, a.level, a.path, p.code AS parent_code, "
            + ", ".join(f"a.{k}" for k in COUNT_KEYS)
            + " FROM areas a LEFT JOIN areas p ON p.id = a.parent_id"
            " WHERE a.code = ANY($1::text[])",
            sorted(codes),
        )
        for r in rows:
            self.areas[r["code"]] = AreaNode(
                code=r["code"],
                level=AreaLevel(r["level"]),
                path=r["path"],
                id=r["id"],
                name=r["name"],
                parent_code=r["parent_code"],
                counts={k: r[k] for k in COUNT_KEYS},
            )

    def check_area_rows(self, sheet: SheetRows) -> None:
        ix = {c.key: i for i, c in enumerate(sheet.spec.columns)}
        parsed: list[tuple[int, str, AreaNode, str | None]] = []
        seen: dict[str, int] = {}
        for line, values in sheet.rows:
            cell = _catch(self.problems, sheet, line, "code")
            with cell:
                code = self.code(values[ix["code"]], "code")
                if code is None:
                    raise DomainError("Give every area a code: rows are matched by it.")
            if cell.failed or code is None:
                continue
            if code in seen:
                self.problem(sheet, line, "code", f"The code {code} is on row {seen[code]} too.")
                continue
            seen[code] = line
            name = ""
            with _catch(self.problems, sheet, line, "name"):
                name = clean_name(values[ix["name"]] or "", field=["name"])
            level: AreaLevel | None = None
            raw_level = values[ix["level"]]
            if raw_level:
                level = parse_level(raw_level)
                if level is None:
                    self.problem(sheet, line, "level", f"Unknown level '{raw_level}'.")
            else:
                self.problem(sheet, line, "level", "The level is required.")
            parent_code = None
            with _catch(self.problems, sheet, line, "parent_code"):
                parent_code = self.code(values[ix["parent_code"]], "parent_code")
            counts: dict[str, int] = {}
            for key in COUNT_KEYS:
                value = values[ix[key]]
                if value is None:
                    continue
                with _catch(self.problems, sheet, line, key):
                    counts[key] = _count(value, label=sheet.spec.columns[ix[key]].header)
            stored = self.areas.get(code)
            if stored is not None and stored.line is None:
                self._check_stored_area(sheet, line, stored, name, level, parent_code, counts)
                node = stored
                node.line = line
            else:
                node = AreaNode(
                    code, level, "", name=name, counts=counts, line=line, parent_code=parent_code
                )
                self.areas[code] = node
            parsed.append((line, code, node, parent_code))
            self.plan.areas.append(node)
        for line, _code, node, _parent_code in parsed:
            if node.new:
                self._place_new_area(sheet, line, node)

    def _check_stored_area(
        self,
        sheet: SheetRows,
        line: int,
        stored: AreaNode,
        name: str,
        level: AreaLevel | None,
        parent_code: str | None,
        counts: dict[str, int],
    ) -> None:
        if level is not None and level != stored.level:
            self.problem(
                sheet,
                line,
                "level",
                f"The area {stored.code} is a {stored.level}: levels never change.",
            )
        if parent_code and parent_code != stored.parent_code:
            self.problem(
                sheet,
                line,
                "parent_code",
                f"The area {stored.code} sits under {stored.parent_code or 'no area'}: "
                "areas never move.",
            )
        if not self.actor.coordinates(stored.path):
            self.problem(sheet, line, "code", "This area lies outside the areas you coordinate.")
        elif not self.in_scope(stored.path):
            self.problem(sheet, line, "code", "This area lies outside the import's area.")
        if name and name != stored.name:
            stored.changes["name"] = name
        for key, value in counts.items():
            if stored.counts.get(key) != value:
                stored.changes[key] = value

    def _place_new_area(self, sheet: SheetRows, line: int, node: AreaNode) -> None:
        """The parent (stored, or new and placed first), the level rule, and the scope."""
        if node.path:
            return
        node.path = "?"  # placing: a loop of new areas ends here
        scope = self.plan.scope
        parent_code = node.parent_code
        parent = self.areas.get(parent_code) if parent_code else scope
        if parent_code and parent is None:
            self.problem(sheet, line, "parent_code", f"Unknown parent area code {parent_code}.")
            return
        if parent is not None and parent.new and parent.line is not None and not parent.path:
            self._place_new_area(sheet, parent.line, parent)
        if parent is not None and parent.path in ("", "?"):
            return  # the parent's own row has the problem
        node.parent = parent
        node.parent_code = parent.code if parent else None
        node.path = f"{parent.path if parent else '/'}+{line}/"
        if parent is not None and parent.level is not None and node.level is not None:
            with _catch(self.problems, sheet, line, "level"):
                area_rules.check_child_level(parent.level, node.level, field=["level"])
        with _catch(self.problems, sheet, line, "parent_code"):
            area_rules.require_area_creator(self.actor, _stored_path(parent))
        if not self.in_scope(node.path):
            self.problem(sheet, line, "parent_code", "This area lies outside the import's area.")

    # ---- organizations -------------------------------------------------------------------------

    async def load_orgs(
        self, codes: set[str], pairs: set[tuple[int, str]], names: set[str]
    ) -> None:
        apg = await self.apg()
        cols = "o.id, o.name, o.kind, o.credit_code, o.area_id, o.area_path, o.parent_id"
        rows = await apg.fetch(
            f"SELECT {cols} FROM organizations o WHERE o.credit_code = ANY($1::text[])"
            f" UNION SELECT {cols} FROM organizations o"
            " JOIN unnest($2::bigint[], $3::text[]) AS t(a, n) ON o.area_id = t.a AND o.name = t.n"
            f" UNION SELECT {cols} FROM organizations o WHERE o.name = ANY($4::text[])",
            sorted(codes),
            [a for a, _ in pairs],
            [n for _, n in pairs],
            sorted(names),
        )
        for r in rows:
            self.stored_orgs[r["id"]] = dict(r)

    def check_org_rows(self, sheet: SheetRows | None) -> list[tuple[int, OrgNode, Any]]:
        """Each organization row's own cells, its home area and its match; parents come after,
        once every row is known."""
        if sheet is None:
            return []
        ix = {c.key: i for i, c in enumerate(sheet.spec.columns)}
        by_code = {o["credit_code"]: o for o in self.stored_orgs.values() if o["credit_code"]}
        by_name: dict[tuple[int, str], list[dict[str, Any]]] = defaultdict(list)
        for o in self.stored_orgs.values():
            by_name[(o["area_id"], o["name"])].append(o)
        seen_codes: dict[str, int] = {}
        seen_names: dict[tuple[int, str], int] = {}
        matched: dict[int, int] = {}
        out: list[tuple[int, OrgNode, Any]] = []
        for line, values in sheet.rows:
            name = ""
            with _catch(self.problems, sheet, line, "name"):
                name = clean_name(values[ix["name"]] or "", field=["name"])
            kind = self._kind(sheet, line, values[ix["kind"]])
            code = None
            if values[ix["credit_code"]]:
                with _catch(self.problems, sheet, line, "credit_code"):
                    code = valid_credit_code(values[ix["credit_code"]] or "", field=["credit"])
            home = self._home(sheet, line, values[ix["area_code"]], "area_code")
            if home is None:
                continue
            if code and code in seen_codes:
                self.problem(
                    sheet,
                    line,
                    "credit_code",
                    f"This credit code is on row {seen_codes[code]} too.",
                )
                continue
            if code:
                seen_codes[code] = line
            key = (id(home), name)
            if key in seen_names:
                self.problem(
                    sheet,
                    line,
                    "name",
                    f"Two organizations named {name} in one area (rows {seen_names[key]} and "
                    f"{line}): give them different names or credit codes.",
                )
                continue
            seen_names[key] = line
            stored = by_code.get(code) if code else None
            if stored is None and home.id is not None:
                candidates = by_name.get((home.id, name), [])
                if len(candidates) > 1:
                    self.problem(
                        sheet,
                        line,
                        "name",
                        f"{len(candidates)} stored organizations are named {name} in this area: "
                        "add the credit code to say which.",
                    )
                    continue
                stored = candidates[0] if candidates else None
                if stored is not None and code and stored["credit_code"]:
                    self.problem(
                        sheet,
                        line,
                        "credit_code",
                        f"The stored {name} here has the credit code {stored['credit_code']}.",
                    )
                    continue
            if stored is not None:
                if stored["id"] in matched:
                    self.problem(
                        sheet,
                        line,
                        "name",
                        f"Row {matched[stored['id']]} already matches this organization.",
                    )
                    continue
                matched[stored["id"]] = line
                if stored["area_id"] != home.id:
                    self.problem(
                        sheet,
                        line,
                        "area_code",
                        "This organization is registered in another area: imports do not move "
                        "organizations.",
                    )
                    continue
                node = OrgNode(
                    stored["name"],
                    stored["kind"],
                    home,
                    id=stored["id"],
                    credit_code=stored["credit_code"],
                    parent_id=stored["parent_id"],
                    line=line,
                )
                if name != node.name:
                    node.changes["name"] = name
                if kind and kind.value != node.kind:
                    node.changes["kind"] = kind.value
                if code and code != node.credit_code:
                    node.changes["credit_code"] = code
            else:
                node = OrgNode(name, kind.value if kind else "", home, credit_code=code, line=line)
            self.plan.orgs.append(node)
            out.append((line, node, values))
        return out

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
        code = None
        with _catch(self.problems, sheet, line, key):
            code = self.code(raw, key)
        if code is None:
            if self.plan.scope is None:
                self.problem(sheet, line, key, "The home area code is required.")
            return self.plan.scope
        home = self.areas.get(code)
        if home is None:
            self.problem(sheet, line, key, f"Unknown area code {code}.")
            return None
        if home.path in ("", "?"):
            self.problem(sheet, line, key, f"The area {code} has problems of its own.")
            return None
        if not self.actor.coordinates(_stored_path(home) or "/"):
            self.problem(sheet, line, key, "This area lies outside the areas you coordinate.")
            return None
        if not self.in_scope(home.path):
            self.problem(sheet, line, key, "This area lies outside the import's area.")
            return None
        return home

    def check_parents(self, sheet: SheetRows, rows: list[tuple[int, OrgNode, Any]]) -> None:
        ix = {c.key: i for i, c in enumerate(sheet.spec.columns)}
        index = _OrgIndex(self.plan.orgs, self.stored_orgs, self.areas)
        for line, node, values in rows:
            ref = values[ix["parent"]]
            if not ref:
                continue
            area_code = values[ix["parent_area_code"]]
            parent = index.find(ref, area_code, near=node.area)
            if isinstance(parent, str):
                self.problem(sheet, line, "parent", parent)
                continue
            if parent is node or (parent.id is not None and parent.id == node.id):
                self.problem(sheet, line, "parent", "An organization cannot be its own parent.")
                continue
            with _catch(self.problems, sheet, line, "parent"):
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

    async def check_loops(self, sheet: SheetRows) -> None:
        """A new parent must not be one of the organization's own descendants: walk up from each
        moved organization through the parents this file gives and the stored ones."""
        moved = [o for o in self.plan.orgs if o.parent is not None]
        if not moved:
            return
        given = {id(o): o.parent for o in moved}
        by_id = {o.id: o for o in self.plan.orgs if o.id is not None}
        starts = [o.parent.id for o in moved if o.parent is not None and o.parent.id is not None]
        apg = await self.apg()
        rows = await apg.fetch(
            "WITH RECURSIVE up(id, parent_id) AS ("
            " SELECT id, parent_id FROM organizations WHERE id = ANY($1::bigint[])"
            " UNION SELECT o.id, o.parent_id FROM organizations o JOIN up ON o.id = up.parent_id)"
            " SELECT id, parent_id FROM up",
            starts,
        )
        stored_parent = {r["id"]: r["parent_id"] for r in rows}
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

    # ---- service areas -------------------------------------------------------------------------

    async def check_service_rows(self, sheet: SheetRows, categories: dict[str, int]) -> None:
        ix = {c.key: i for i, c in enumerate(sheet.spec.columns)}
        index = _OrgIndex(self.plan.orgs, self.stored_orgs, self.areas)
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
            if org.line is None:
                if not self.actor.coordinates(org.area.path):
                    self.problem(
                        sheet,
                        line,
                        "name",
                        "This organization lies outside the areas you coordinate.",
                    )
                    continue
                if not self.in_scope(org.area.path):
                    self.problem(
                        sheet, line, "name", "This organization lies outside the import's area."
                    )
                    continue
            served = self._served(sheet, line, values[ix["served_code"]], org)
            wanted: list[int] = []
            raw = values[ix["categories"]] or ""
            for name in split_categories(raw):
                cid = categories.get(name)
                if cid is None:
                    self.problem(sheet, line, "categories", f"Unknown service category '{name}'.")
                wanted.append(cid or 0)
            if not wanted:
                self.problem(sheet, line, "categories", "Name at least one service category.")
            if served is None or 0 in wanted or not wanted:
                continue
            pairs = self.plan.service.setdefault(org, set())
            self.plan.service_lines.setdefault(org, line)
            pairs.update((served, c) for c in wanted)

    def _served(
        self, sheet: SheetRows, line: int, raw: str | None, org: OrgNode
    ) -> AreaNode | None:
        code = None
        with _catch(self.problems, sheet, line, "served_code"):
            code = self.code(raw, "served_code")
        area = self.areas.get(code) if code else None
        if area is None or area.path in ("", "?"):
            self.problem(sheet, line, "served_code", f"Unknown area code {code or ''}.".strip())
            return None
        with _catch(self.problems, sheet, line, "served_code"):
            org_rules.check_service_area_reach(
                self.actor, home_path=org.area.path, area_path=area.path, field=["served_code"]
            )
        return area

    async def load_stored_pairs(self) -> None:
        ids = [o.id for o in self.plan.service if o.id is not None]
        if not ids:
            return
        apg = await self.apg()
        rows = await apg.fetch(
            "SELECT organization_id, area_id, category_id FROM organization_service_areas"
            " WHERE organization_id = ANY($1::bigint[])",
            ids,
        )
        pairs = self.plan.stored_pairs
        for r in rows:
            pairs.setdefault(r["organization_id"], set()).add((r["area_id"], r["category_id"]))


class _OrgIndex:
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
        taken: set[int] = set()
        for o in rows:
            final_name = o.changes.get("name", o.name)
            if o.changes.get("credit_code") or o.credit_code:
                self.by_code[o.changes.get("credit_code") or o.credit_code or ""] = o
            self.by_name[final_name].append(o)
            if o.id is not None:
                taken.add(o.id)
        by_path = {a.path: a for a in areas.values()}
        self.stored: list[OrgNode] = []
        for r in stored.values():
            if r["id"] in taken:
                continue
            area = by_path.get(r["area_path"]) or AreaNode(
                "", None, r["area_path"], id=r["area_id"]
            )
            node = OrgNode(
                r["name"],
                r["kind"],
                area,
                id=r["id"],
                credit_code=r["credit_code"],
                parent_id=r["parent_id"],
            )
            if r["credit_code"]:
                self.by_code.setdefault(r["credit_code"], node)
            self.by_name[r["name"]].append(node)

    def find(self, ref: str, area_code: str | None, *, near: AreaNode | None) -> OrgNode | str:
        """The organization, or the message saying why none is found."""
        code = ref.strip().upper()
        if code in self.by_code:
            return self.by_code[code]
        candidates = self.by_name.get(ref.strip(), [])
        if area_code:
            area = self.areas.get(area_code)
            candidates = [c for c in candidates if c.area is area]
        if len(candidates) > 1 and near is not None:
            chain = [c for c in candidates if near.path.startswith(c.area.path)]
            candidates = chain or candidates
        if len(candidates) == 1:
            return candidates[0]
        where = f" in the area {area_code}" if area_code else ""
        if not candidates:
            return f"No organization {ref}{where}, neither in this file nor stored."
        return f"{len(candidates)} organizations are named {ref}: add its area code or credit code."


def _stored_path(area: AreaNode | None) -> str | None:
    """The path of the nearest stored area at or above ``area`` (None above the top)."""
    while area is not None and area.new:
        area = area.parent
    return area.path if area is not None else None


def _count(value: str, *, label: str) -> int:
    try:
        number = float(value.replace(",", ""))
    except ValueError:
        raise DomainError(f"{label} must be a whole number, not '{value}'.") from None
    if not number.is_integer():
        raise DomainError(f"{label} must be a whole number, not '{value}'.")
    checked = non_negative(int(number), field=["count"], label=label)
    return int(checked or 0)


def _codes(book: Book, scope_code: str | None) -> set[str]:
    """Every area code the file mentions, to load the stored areas in one query."""
    wanted = {
        AREAS: ("code", "parent_code"),
        ORGANIZATIONS: ("area_code", "parent_area_code"),
        SERVICE_AREAS: ("area_code", "served_code"),
    }
    codes = {scope_code} if scope_code else set()
    for kind, keys in wanted.items():
        sheet = book.sheets.get(kind)
        if sheet is None:
            continue
        positions = [sheet.spec.index(k) for k in keys]
        for _, values in sheet.rows:
            codes.update(v for i in positions if (v := values[i]))
    return codes


def _org_refs(checker: _Checker, book: Book) -> tuple[set[str], set[tuple[int, str]], set[str]]:
    """Credit codes, (stored area id, name) pairs and bare names the file refers to."""
    codes: set[str] = set()
    pairs: set[tuple[int, str]] = set()
    names: set[str] = set()

    def add(name: str | None, area_code: str | None, code: str | None) -> None:
        if code:
            codes.add(code.strip().upper())
        if name:
            area = checker.areas.get(area_code) if area_code else None
            if area is not None and area.id is not None:
                pairs.add((area.id, " ".join(name.split())))
            elif not area_code:
                names.add(name.strip())

    sheet = book.sheets.get(ORGANIZATIONS)
    if sheet is not None:
        ix = {c.key: i for i, c in enumerate(sheet.spec.columns)}
        scope = checker.plan.scope.code if checker.plan.scope else None
        for _, v in sheet.rows:
            add(v[ix["name"]], v[ix["area_code"]] or scope, v[ix["credit_code"]])
            add(v[ix["parent"]], v[ix["parent_area_code"]], v[ix["parent"]])
    sheet = book.sheets.get(SERVICE_AREAS)
    if sheet is not None:
        ix = {c.key: i for i, c in enumerate(sheet.spec.columns)}
        for _, v in sheet.rows:
            add(v[ix["name"]], v[ix["area_code"]], v[ix["credit_code"]])
    return codes, pairs, names


async def _categories(checker: _Checker) -> dict[str, int]:
    apg = await checker.apg()
    rows = await apg.fetch("SELECT id, code, name, name_en FROM service_categories")
    out: dict[str, int] = {}
    for r in rows:
        out[r["code"]] = out[r["name"]] = out[r["name_en"]] = r["id"]
    return out


async def check_book(
    session: AsyncSession,
    *,
    actor: Actor | None,
    book: Book,
    area_code: str | None = None,
    progress: Progress | None = None,
) -> Plan:
    """Every check of every row, reading the database in a few set-based queries; writes
    nothing. The plan's problems list is empty when the file may be written as it is."""
    actor = require_role(actor, Role.COORDINATOR)
    checker = _Checker(session, actor, book)
    plan = checker.plan
    plan.problems.extend(book.problems)
    total = book.row_count
    step = 0

    def tick(done: int) -> None:
        if progress:
            progress("check", done, total)

    await checker.load_areas(_codes(book, area_code))
    if area_code:
        plan.scope = checker.areas.get(area_code)
        if plan.scope is None:
            plan.problems.append(Problem(book.name, 0, None, f"Unknown area code {area_code}."))
            return plan
        if not actor.coordinates(plan.scope.path):
            plan.problems.append(
                Problem(book.name, 0, None, f"You do not coordinate the area {area_code}.")
            )
            return plan
    if (sheet := book.sheets.get(AREAS)) is not None:
        checker.check_area_rows(sheet)
        step += len(sheet.rows)
        tick(step)
    codes, pairs, names = _org_refs(checker, book)
    await checker.load_orgs(codes, pairs, names)
    org_sheet = book.sheets.get(ORGANIZATIONS)
    rows = checker.check_org_rows(org_sheet)
    if org_sheet is not None:
        checker.check_parents(org_sheet, rows)
        await checker.check_loops(org_sheet)
        step += len(org_sheet.rows)
        tick(step)
    if (sheet := book.sheets.get(SERVICE_AREAS)) is not None:
        await checker.check_service_rows(sheet, await _categories(checker))
        await checker.load_stored_pairs()
        step += len(sheet.rows)
        tick(step)
    plan.problems.sort(key=lambda p: (_sheet_order(book, p.sheet), p.row))
    return plan


def _sheet_order(book: Book, title: str) -> int:
    titles = [s.title for s in book.sheets.values()]
    return titles.index(title) if title in titles else -1

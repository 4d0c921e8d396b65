"""The area sheet's checks: codes, names, levels, counts; a stored area matched by its code (its
level and place never change), a new one placed under its parent (stored, or new in this file)
by the level rule and inside the caller's scope."""

from __future__ import annotations

from typing import Any

from gridweave.errors import DomainError
from gridweave.models import AreaLevel
from gridweave.services import areas as area_rules
from gridweave.services.import_plan import (
    COUNT_KEYS,
    PLACING,
    AreaNode,
    CheckState,
    catch,
    stored_path,
)
from gridweave.services.sheets import (
    AREAS,
    ORGANIZATIONS,
    SERVICE_AREAS,
    Book,
    SheetRows,
    parse_level,
)
from gridweave.services.validation import clean_name, non_negative

# The columns of each sheet that hold an area code.
CODE_COLUMNS = {
    AREAS: ("code", "parent_code"),
    ORGANIZATIONS: ("area_code", "parent_area_code"),
    SERVICE_AREAS: ("area_code", "served_code"),
}


def area_codes(book: Book, scope_code: str | None) -> set[str]:
    """Every area code the file mentions, to load the stored areas in one query."""
    codes = {scope_code} if scope_code else set()
    for kind, keys in CODE_COLUMNS.items():
        sheet = book.sheets.get(kind)
        if sheet is None:
            continue
        for key in keys:
            i = sheet.spec.index(key)
            codes.update(v for _, values in sheet.rows if (v := values[i]))
    return codes


async def load_areas(apg: Any, codes: set[str]) -> dict[str, AreaNode]:
    rows = await apg.fetch(
        "SELECT a.id, a.code, a.name, a.level, a.path, p.code AS parent_code, "
        + ", ".join(f"a.{k}" for k in COUNT_KEYS)
        + " FROM areas a LEFT JOIN areas p ON p.id = a.parent_id"
        " WHERE a.code = ANY($1::text[])",
        sorted(codes),
    )
    return {
        r["code"]: AreaNode(
            code=r["code"],
            level=AreaLevel(r["level"]),
            path=r["path"],
            id=r["id"],
            name=r["name"],
            parent_code=r["parent_code"],
            counts={k: r[k] for k in COUNT_KEYS},
        )
        for r in rows
    }


def count(value: str, *, label: str) -> int:
    try:
        number = float(value.replace(",", ""))
    except ValueError:
        raise DomainError(f"{label} must be a whole number, not '{value}'.") from None
    if not number.is_integer():
        raise DomainError(f"{label} must be a whole number, not '{value}'.")
    checked = non_negative(int(number), field=["count"], label=label)
    return int(checked or 0)


class AreaChecks(CheckState):
    def check_area_rows(self, sheet: SheetRows) -> None:
        ix = {c.key: i for i, c in enumerate(sheet.spec.columns)}
        seen: dict[str, int] = {}
        new: list[tuple[int, AreaNode]] = []
        for line, values in sheet.rows:
            node = self._area_row(sheet, line, values, ix, seen)
            if node is not None:
                self.plan.areas.append(node)
                if node.new:
                    new.append((line, node))
        for line, node in new:
            self._place_new_area(sheet, line, node)

    def _area_row(
        self,
        sheet: SheetRows,
        line: int,
        values: tuple[str | None, ...],
        ix: dict[str, int],
        seen: dict[str, int],
    ) -> AreaNode | None:
        cell = catch(self.problems, sheet, line, "code")
        code = None
        with cell:
            code = self.code(values[ix["code"]], "code")
            if code is None:
                raise DomainError("Give every area a code: rows are matched by it.")
        if cell.failed or code is None:
            return None
        if code in seen:
            self.problem(sheet, line, "code", f"The code {code} is on row {seen[code]} too.")
            return None
        seen[code] = line
        name = ""
        with catch(self.problems, sheet, line, "name"):
            name = clean_name(values[ix["name"]] or "", field=["name"])
        level: AreaLevel | None = None
        raw_level = values[ix["level"]]
        if raw_level:
            level = parse_level(raw_level)
            if level is None:
                self.problem(sheet, line, "level", f"Unknown level '{raw_level}'.")
        else:
            self.problem(sheet, line, "level", "The level is required.")
        parent_code = self.code_at(sheet, line, values[ix["parent_code"]], "parent_code")
        counts: dict[str, int] = {}
        for key in COUNT_KEYS:
            value = values[ix[key]]
            if value is not None:
                with catch(self.problems, sheet, line, key):
                    counts[key] = count(value, label=sheet.spec.columns[ix[key]].header)
        stored = self.areas.get(code)
        if stored is not None and stored.line is None:
            self._check_stored_area(sheet, line, stored, name, level, parent_code, counts)
            stored.line = line
            return stored
        node = AreaNode(
            code, level, "", name=name, counts=counts, line=line, parent_code=parent_code
        )
        self.areas[code] = node
        return node

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
        node.path = PLACING
        scope = self.plan.scope
        parent_code = node.parent_code
        parent = self.areas.get(parent_code) if parent_code else scope
        if parent_code and parent is None:
            self.problem(sheet, line, "parent_code", f"Unknown parent area code {parent_code}.")
            return
        if parent is not None and parent.new and parent.line is not None and not parent.path:
            self._place_new_area(sheet, parent.line, parent)
        if parent is not None and not parent.placed:
            return  # the parent's own row has the problem
        node.parent = parent
        node.parent_code = parent.code if parent else None
        node.path = f"{parent.path if parent else '/'}+{line}/"
        if parent is not None and parent.level is not None and node.level is not None:
            with catch(self.problems, sheet, line, "level"):
                area_rules.check_child_level(parent.level, node.level, field=["level"])
        with catch(self.problems, sheet, line, "parent_code"):
            area_rules.require_area_creator(self.actor, stored_path(parent))
        if not self.in_scope(node.path):
            self.problem(sheet, line, "parent_code", "This area lies outside the import's area.")

"""What a spreadsheet import's checks work on and produce: the areas and organizations the file
refers to (stored, or new in this file), the plan a clean file would write, and the state every
sheet's checks share. Pure: no database (the checks run in a worker thread)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gridweave.errors import DomainError
from gridweave.models import AreaLevel
from gridweave.services.access import Actor
from gridweave.services.sheets import COUNT_COLUMNS, Book, Problem, SheetRows
from gridweave.services.validation import clean_code

Progress = Callable[[str, int, int], None]  # (phase, done, total)
COUNT_KEYS = tuple(key for key, _, _ in COUNT_COLUMNS)
PLACING = "?"  # the path of a new area while its parents are placed (a loop of them ends there)


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

    @property
    def placed(self) -> bool:
        """False for a new area whose own row has a problem (unknown parent, a loop)."""
        return self.path not in ("", PLACING)


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

    @classmethod
    def stored(cls, row: Mapping[str, Any], area: AreaNode, line: int | None = None) -> OrgNode:
        """The organization as the database holds it (a row of its id, name, kind, credit code
        and parent id), in ``area``."""
        return cls(
            row["name"],
            row["kind"],
            area,
            id=row["id"],
            credit_code=row["credit_code"],
            parent_id=row["parent_id"],
            line=line,
        )


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


class catch:
    """A context for one cell's checks: a DomainError becomes a problem at that cell."""

    __slots__ = ("failed", "key", "line", "problems", "sheet")

    def __init__(
        self, problems: list[Problem], sheet: SheetRows, line: int, key: str | None
    ) -> None:
        self.problems, self.sheet, self.line, self.key = problems, sheet, line, key
        self.failed = False

    def __enter__(self) -> catch:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        if isinstance(exc, DomainError):
            column = self.sheet.cell(self.key) if self.key else None
            self.problems.append(Problem(self.sheet.title, self.line, column, exc.message))
            self.failed = True
            return True
        return False


class CheckState:
    """What every sheet's checks share: the caller, the plan they fill, the areas (by code) and
    stored organizations (by id) the file refers to, loaded before the checks run."""

    def __init__(self, actor: Actor, book: Book) -> None:
        self.actor = actor
        self.plan = Plan(book)
        self.problems = self.plan.problems
        self.areas: dict[str, AreaNode] = {}
        self.stored_orgs: dict[int, dict[str, Any]] = {}
        self._codes: dict[str, str | DomainError | None] = {}
        self._coordinated: dict[str, bool] = {}

    def code(self, raw: str | None, key: str) -> str | None:
        """``clean_code``, once per distinct value: a city's file repeats each area code in
        thousands of rows."""
        if raw is None:
            return None
        if raw in self._codes:
            found = self._codes[raw]
        else:
            try:
                found = clean_code(raw, field=[key])
            except DomainError as e:
                found = e
            self._codes[raw] = found
        if isinstance(found, DomainError):
            raise type(found)(found.message, field=found.field, code=found.code)
        return found

    def code_at(self, sheet: SheetRows, line: int, raw: str | None, key: str) -> str | None:
        """The cell's code, or None (blank, or refused: then the problem is reported)."""
        found = self._codes.get(raw) if raw is not None else None
        if type(found) is str:
            return found
        with catch(self.problems, sheet, line, key):
            return self.code(raw, key)
        return None

    def coordinates(self, path: str) -> bool:
        """``actor.coordinates``, once per distinct path."""
        found = self._coordinated.get(path)
        if found is None:
            found = self._coordinated[path] = self.actor.coordinates(path)
        return found

    def problem(self, sheet: SheetRows, line: int, key: str | None, message: str) -> None:
        self.problems.append(Problem(sheet.title, line, sheet.cell(key) if key else None, message))

    def in_scope(self, path: str) -> bool:
        scope = self.plan.scope
        return scope is None or path.startswith(scope.path)


def stored_path(area: AreaNode | None) -> str | None:
    """The path of the nearest stored area at or above ``area`` (None above the top)."""
    while area is not None and area.new:
        area = area.parent
    return area.path if area is not None else None

"""The gaps of a report, kept as columns: a city has tens of thousands of gaps and a national
roll-out hundreds of thousands, while a GraphQL page shows a hundred. Each rule hands over one
``GapBlock`` per kind (arrays, and a function writing the messages of given rows); ``Gaps``
sorts them all at once and makes ``Gap`` objects, messages included, only for the rows read."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import partial
from itertools import repeat
from typing import NamedTuple, overload

import numpy as np
from numpy.typing import NDArray

from gridweave.graph.coverage_data import F64, I64


class GapKind(StrEnum):
    NO_PROVIDER = "NO_PROVIDER"
    SINGLE_PROVIDER = "SINGLE_PROVIDER"
    INSUFFICIENT_ACTIVITY = "INSUFFICIENT_ACTIVITY"
    NO_AGREEMENT = "NO_AGREEMENT"
    UNENGAGED_UNIT = "UNENGAGED_UNIT"
    MEETING_OVERDUE = "MEETING_OVERDUE"
    AGREEMENT_UNDERPERFORMING = "AGREEMENT_UNDERPERFORMING"
    # The "333" rule (seed 003) and the office-space rule: additions to the contract's enum.
    NO_PARTY_GROUP = "NO_PARTY_GROUP"
    NO_PARTY_BRANCH = "NO_PARTY_BRANCH"
    NO_PARTY_COMMITTEE = "NO_PARTY_COMMITTEE"
    OFFICE_SPACE_SHORT = "OFFICE_SPACE_SHORT"


KINDS = tuple(GapKind)
CODE = {k: i for i, k in enumerate(KINDS)}
# gaps of equal severity sort by kind name, then area id, then category id
_NAME_RANK = np.array([sorted(KINDS).index(k) for k in KINDS], dtype=np.int64)
Say = Callable[[I64], list[str]]  # the messages of the given rows of a block


class Gap(NamedTuple):
    kind: GapKind
    area_id: int
    severity: float
    message: str
    category_id: int | None = None
    organization_id: int | None = None
    suggestions: tuple[int, ...] = ()  # organization ids, best first


@dataclass(frozen=True, slots=True)
class GapBlock:
    """The gaps of one kind from one rule. ``area`` and ``organization`` are indices into the
    region (-1: no organization); ``say(rows)`` writes the messages of the given rows of this
    block."""

    kind: GapKind
    area: I64
    severity: F64
    say: Say
    category: I64 | None = None  # category id per row
    organization: I64 | None = None
    target: I64 | None = None  # position among the judged areas (provider gaps)
    suggestions: Mapping[int, tuple[int, ...]] = field(default_factory=dict)  # row -> org ids

    def __len__(self) -> int:
        return len(self.area)


@dataclass(frozen=True, slots=True)
class CategoryCoverage:
    category_id: int
    areas_total: int
    areas_covered: int
    households_uncovered: int


def _column(blocks: Sequence[GapBlock], name: str, dtype: type, fill: float) -> np.ndarray:
    parts = []
    for b in blocks:
        col = getattr(b, name)
        parts.append(np.full(len(b), fill, dtype=dtype) if col is None else col.astype(dtype))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)


class GapTable:
    """Every gap of a report as columns, rows in the order the rules produced them."""

    def __init__(
        self, blocks: Sequence[GapBlock], area_ids: I64, org_ids: I64, chunk: int = 4096
    ) -> None:
        self.blocks = [b for b in blocks if len(b)]
        sizes = np.array([len(b) for b in self.blocks], dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.block_of = np.repeat(np.arange(len(self.blocks)), sizes)
        self.kind: I64 = np.repeat(np.array([CODE[b.kind] for b in self.blocks], np.int64), sizes)
        self.area: I64 = _column(self.blocks, "area", np.int64, -1)
        self.severity: F64 = _column(self.blocks, "severity", np.float64, 0.0)
        self.category: I64 = _column(self.blocks, "category", np.int64, -1)
        self.organization: I64 = _column(self.blocks, "organization", np.int64, -1)
        self.target: I64 = _column(self.blocks, "target", np.int64, -1)
        self.area_ids, self.org_ids = area_ids, org_ids
        self.suggestions: dict[int, tuple[int, ...]] = {}
        for b, start in zip(self.blocks, self.offsets.tolist(), strict=False):
            for row, orgs in b.suggestions.items():
                self.suggestions[start + row] = orgs
        self.chunk = chunk

    def __len__(self) -> int:
        return len(self.kind)

    def area_id(self, rows: I64) -> I64:
        return self.area_ids[self.area[rows]]

    def sorted_rows(self) -> I64:
        """Most severe first; ties by kind name, area id, category id, then production order."""
        cat = np.maximum(self.category, 0)
        keys = (cat, self.area_id(np.arange(len(self))), _NAME_RANK[self.kind], -self.severity)
        return np.lexsort(keys).astype(np.int64)

    def gaps(self, rows: I64) -> list[Gap]:
        """``Gap`` objects for the given rows, in their order."""
        out = np.empty(len(rows), dtype=object)
        where = self.block_of[rows]
        for b in np.unique(where).tolist():
            at = np.flatnonzero(where == b)
            out[at] = self._block_gaps(rows[at], b)
        gaps: list[Gap] = out.tolist()
        return gaps

    def _block_gaps(self, rows: I64, b: int) -> NDArray[np.object_]:
        n = len(rows)
        orgs = self.organization[rows]
        org_ids = np.full(n, -1, dtype=np.int64)
        org_ids[orgs >= 0] = self.org_ids[orgs[orgs >= 0]]
        fields = zip(
            repeat(self.blocks[b].kind, n),
            self.area_id(rows).tolist(),
            self.severity[rows].tolist(),
            self.blocks[b].say(rows - self.offsets[b]),
            _optional(self.category[rows]),
            _optional(org_ids),
            map(self.suggestions.get, rows.tolist(), repeat(())),
            strict=True,
        )
        return np.fromiter(map(_new_gap, fields), dtype=object, count=n)


_new_gap = partial(tuple.__new__, Gap)  # Gap._make without its Python-level length check


def _optional(values: I64) -> Iterable[int | None]:
    """The values as ints, None where negative."""
    if not len(values) or values.min() >= 0:
        ints: list[int] = values.tolist()
        return ints
    if values.max() < 0:
        return repeat(None, len(values))
    return [None if v < 0 else v for v in values.tolist()]


class Gaps(Sequence[Gap]):
    """A read-only sequence of gaps over a ``GapTable`` and an order of its rows; ``Gap``
    objects are made on access, a chunk at a time while iterating."""

    def __init__(self, table: GapTable, order: I64) -> None:
        self.table = table
        self.order = order

    def __len__(self) -> int:
        return len(self.order)

    @overload
    def __getitem__(self, i: int) -> Gap: ...
    @overload
    def __getitem__(self, i: slice) -> Gaps: ...
    def __getitem__(self, i: int | slice) -> Gap | Gaps:
        if isinstance(i, slice):
            return Gaps(self.table, self.order[i])
        return self.table.gaps(self.order[i : i + 1] if i >= 0 else self.order[[i]])[0]

    def __iter__(self) -> Iterator[Gap]:
        step = self.table.chunk
        for start in range(0, len(self.order), step):
            yield from self.table.gaps(self.order[start : start + step])

    def of_kinds(self, kinds: Iterable[GapKind]) -> Gaps:
        """The gaps of these kinds, in the same order."""
        codes = np.array([CODE[k] for k in kinds], dtype=np.int64)
        return Gaps(self.table, self.order[np.isin(self.table.kind[self.order], codes)])

    @property
    def kinds(self) -> list[GapKind]:
        return [KINDS[c] for c in self.table.kind[self.order].tolist()]

    @property
    def severity(self) -> F64:
        return self.table.severity[self.order]

    @property
    def area_index(self) -> I64:
        """The gaps' areas as indices into the report's ``CoverageData``."""
        return self.table.area[self.order]

    @property
    def category_id(self) -> I64:
        """Category ids, -1 for gaps of no category."""
        return self.table.category[self.order]


@dataclass(slots=True)
class CoverageResult:
    gaps: Gaps
    by_category: list[CategoryCoverage]
    target_level: str

"""Small hand-made regions for the coverage tests: a tree written as a list, orgs and service rows
by name, so that every expected gap can be worked out on paper."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np

from gridweave.graph.coverage import (
    VULNERABLE_GROUPS,
    AgreementFact,
    CoverageData,
    MeetingFact,
)
from gridweave.models.areas import LEVEL_ORDER, AreaLevel

L = AreaLevel


@dataclass
class A:
    name: str
    level: AreaLevel
    parent: str | None
    households: int = 100
    vulnerable: dict[str, int] = field(default_factory=dict)
    party_members: int = 0
    office: Decimal | None = None
    visits: tuple[int, int, int] = (1, 1, 1)  # trailing month, quarter, year


@dataclass
class Org:
    name: str
    area: str
    kind: str = "SOCIAL_ORGANIZATION"
    party_level: str | None = None
    load: int = 1
    recent: int = 1


@dataclass
class Region:
    areas: list[A]
    orgs: list[Org] = field(default_factory=list)
    neighbors: list[tuple[str, str]] = field(default_factory=list)
    services: list[tuple[str, str, int]] = field(default_factory=list)  # org, area, category
    categories: dict[int, str] = field(default_factory=lambda: {1: "ELDERLY_CARE"})
    agreements: list[tuple[str, str, bool, int, int, bool]] = field(default_factory=list)
    meetings: list[tuple[str, str, bool, str | None]] = field(default_factory=list)
    unengaged: list[str] = field(default_factory=list)

    def area_id(self, name: str) -> int:
        return 1000 + [a.name for a in self.areas].index(name)

    def org_id(self, name: str) -> int:
        return 5000 + [o.name for o in self.orgs].index(name)

    def data(self) -> CoverageData:
        ai = {a.name: i for i, a in enumerate(self.areas)}
        oi = {o.name: i for i, o in enumerate(self.orgs)}

        def arr(values: Sequence[int]) -> np.ndarray:
            return np.array(values, dtype=np.int64)

        return CoverageData(
            area_ids=arr([1000 + i for i in range(len(self.areas))]),
            parent=arr([ai[a.parent] if a.parent else -1 for a in self.areas]),
            level=arr([LEVEL_ORDER.index(a.level) for a in self.areas]),
            households=arr([a.households for a in self.areas]),
            vulnerable=np.array(
                [[a.vulnerable.get(g, 0) for g in VULNERABLE_GROUPS] for a in self.areas],
                dtype=np.int64,
            ).reshape(len(self.areas), len(VULNERABLE_GROUPS)),
            party_members=arr([a.party_members for a in self.areas]),
            names=[a.name for a in self.areas],
            office_space=[a.office for a in self.areas],
            neighbors=(
                arr([ai[x] for x, _ in self.neighbors]),
                arr([ai[y] for _, y in self.neighbors]),
            ),
            org_ids=arr([5000 + i for i in range(len(self.orgs))]),
            org_area=arr([ai[o.area] for o in self.orgs]),
            org_kind=[o.kind for o in self.orgs],
            org_party_level=[o.party_level for o in self.orgs],
            org_names=[o.name for o in self.orgs],
            org_load=arr([o.load for o in self.orgs]),
            org_recent=arr([o.recent for o in self.orgs]),
            service_org=arr([oi[o] for o, _, _ in self.services]),
            service_area=arr([ai[a] for _, a, _ in self.services]),
            service_category=arr([c for _, _, c in self.services]),
            visits=np.array([a.visits for a in self.areas], dtype=np.int64).reshape(
                len(self.areas), 3
            ),
            categories=self.categories,
            agreements=[
                AgreementFact(i + 1, ai[c], oi[p], in_force, minimum, done, this_q)
                for i, (c, p, in_force, minimum, done, this_q) in enumerate(self.agreements)
            ],
            meetings=[
                MeetingFact(i + 1, ai[a], name, sat, None, oi[conv] if conv else None)
                for i, (name, a, sat, conv) in enumerate(self.meetings)
            ],
            unengaged=[oi[o] for o in self.unengaged],
        )


def line_of_grids(n: int, **kw: int) -> list[A]:
    """A city, one community and grids G1..Gn (neighbours in a line)."""
    return [
        A("City", L.CITY, None, households=0, visits=(0, 0, 0)),
        A("C", L.COMMUNITY, "City", households=0, office=Decimal(1000), visits=(0, 0, 0)),
        *(A(f"G{i}", L.GRID, "C", **kw) for i in range(1, n + 1)),  # type: ignore[arg-type]
    ]


def line(n: int) -> list[tuple[str, str]]:
    return [(f"G{i}", f"G{i + 1}") for i in range(1, n)]

"""The demo area tree, planned in memory: names, codes, counts and grid adjacency.

Areas are referred to by their index in ``AreaPlan.areas``; a parent always comes before its
children, so ids can be handed out in list order and paths built in one pass.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from gridweave.demo import names
from gridweave.models import AreaLevel

COUNT_FIELDS = (
    "households",
    "population",
    "elderly_living_alone",
    "left_behind_children",
    "disabled_households",
    "hardship_households",
    "mobile_population",
)
ROOT_CODE = "DEMO-CITY"
FEATURED_STREET_CODE = "DEMO-D01-S01"  # the first street of the first district
FEATURED_COMMUNITY_CODE = "DEMO-D01-S01-C01"
FEATURED_COMMUNITIES = 13
FEATURED_GRIDS = 192
CODE_LETTER = {
    AreaLevel.DISTRICT: "D",
    AreaLevel.STREET: "S",
    AreaLevel.COMMUNITY: "C",
    AreaLevel.GRID: "G",
    AreaLevel.COURTYARD: "Y",
    AreaLevel.BUILDING: "B",
}
ANCESTRY = {
    AreaLevel.DISTRICT: "district",
    AreaLevel.STREET: "street",
    AreaLevel.COMMUNITY: "community",
    AreaLevel.GRID: "grid",
}


@dataclass(frozen=True, slots=True)
class ScaleSpec:
    districts: int
    streets: tuple[int, int]  # per district
    communities: tuple[int, int]  # per street
    grids: tuple[int, int]  # per community
    rural_share: float  # of streets (townships)
    courtyard_share: float  # of grids that have courtyards
    building_share: float  # of the other grids that have buildings directly
    grid_branch: float  # chance a grid without courtyards has a party branch
    grid_size: float  # scales a grid's households (city: ~500,000 households in ~20,000 grids)


SCALES = {
    "region": ScaleSpec(2, (2, 3), (2, 3), (4, 8), 0.4, 0.24, 0.12, 0.6, 1.0),
    "city": ScaleSpec(10, (13, 17), (11, 16), (7, 13), 0.3, 0.07, 0.03, 0.45, 0.14),
}


@dataclass(slots=True)
class AreaNode:
    name: str
    base: str  # the name without its suffix (街道, 社区 ...), for organization names
    code: str
    level: AreaLevel
    parent: int | None
    urban: bool
    counts: list[int] = field(default_factory=lambda: [0] * len(COUNT_FIELDS))
    children: list[int] = field(default_factory=list)
    district: int = -1
    street: int = -1
    community: int = -1
    grid: int = -1


@dataclass(slots=True)
class AreaPlan:
    areas: list[AreaNode] = field(default_factory=list)
    neighbors: list[tuple[int, int]] = field(default_factory=list)  # one direction, i < j
    featured_street: int = -1

    def add(self, node: AreaNode) -> int:
        idx = len(self.areas)
        self.areas.append(node)
        if node.parent is not None:
            self.areas[node.parent].children.append(idx)
        return idx

    def child(
        self, parent: int, level: AreaLevel, name: str, base: str, urban: bool | None = None
    ) -> int:
        """A child of ``parent`` that inherits its ancestry and gets the next code."""
        p = self.areas[parent]
        prefix = "DEMO" if p.parent is None else p.code
        number = sum(1 for c in p.children if self.areas[c].level is level) + 1
        node = AreaNode(
            name=name,
            base=base,
            code=f"{prefix}-{CODE_LETTER[level]}{number:02d}",
            level=level,
            parent=parent,
            urban=p.urban if urban is None else urban,
            district=p.district,
            street=p.street,
            community=p.community,
            grid=p.grid,
        )
        idx = self.add(node)
        if level in ANCESTRY:
            setattr(node, ANCESTRY[level], idx)
        return idx


def split(total: int, weights: list[float]) -> list[int]:
    """``total`` shared out in proportion to ``weights`` (largest remainder): parts sum exactly."""
    whole = sum(weights)
    exact = [total * w / whole for w in weights]
    parts = [math.floor(x) for x in exact]
    order = sorted(range(len(weights)), key=lambda i: (parts[i] - exact[i], i))
    for i in order[: total - sum(parts)]:
        parts[i] += 1
    return parts


def grid_counts(rng: random.Random, urban: bool, size: float) -> list[int]:
    households = max(1, round(size * (rng.randint(160, 240) if urban else rng.randint(90, 200))))
    population = round(households * rng.uniform(2.4, 3.0))
    left_behind = (0.002, 0.01) if urban else (0.01, 0.04)
    mobile = (0.05, 0.25) if urban else (0.01, 0.08)
    return [
        households,
        population,
        round(households * rng.uniform(0.02, 0.07)),
        round(population * rng.uniform(*left_behind)),
        round(households * rng.uniform(0.01, 0.03)),
        round(households * rng.uniform(0.01, 0.05)),
        round(population * rng.uniform(*mobile)),
    ]


def share_out(plan: AreaPlan, parent: int, rng: random.Random) -> None:
    """Split an area's counts among its children, then theirs among their own (top-down)."""
    kids = plan.areas[parent].children
    if not kids:
        return
    weights = [rng.uniform(0.5, 1.5) for _ in kids]
    columns = [split(total, weights) for total in plan.areas[parent].counts]
    for i, kid in enumerate(kids):
        plan.areas[kid].counts = [col[i] for col in columns]
        share_out(plan, kid, rng)


def roll_up(plan: AreaPlan) -> None:
    """Areas above the grids carry the sums of their children (children come after parents)."""
    for node in reversed(plan.areas):
        if (
            node.level
            in (AreaLevel.GRID, AreaLevel.COMMUNITY, AreaLevel.STREET, AreaLevel.DISTRICT)
            and node.parent is not None
        ):
            parent = plan.areas[node.parent]
            parent.counts = [a + b for a, b in zip(parent.counts, node.counts, strict=True)]


def distribute(total: int, n: int, minimum: int, rng: random.Random) -> list[int]:
    extra = split(total - n * minimum, [rng.uniform(0.5, 1.5) for _ in range(n)])
    return [minimum + e for e in extra]


def lattice(plan: AreaPlan, grids: list[int]) -> None:
    """Lay a community's grids out row by row; each touches the next in its row and column."""
    cols = math.ceil(math.sqrt(len(grids)))
    for i, g in enumerate(grids):
        if (i + 1) % cols and i + 1 < len(grids):
            plan.neighbors.append((g, grids[i + 1]))
        if i + cols < len(grids):
            plan.neighbors.append((g, grids[i + cols]))


class AreaBuilder:
    """Builds the tree in one deterministic pass over ``rng``."""

    def __init__(self, rng: random.Random, spec: ScaleSpec) -> None:
        self.rng = rng
        self.spec = spec
        self.plan = AreaPlan()
        bases = [a + b for a in names.PLACE_FIRST for b in names.PLACE_SECOND]
        rng.shuffle(bases)
        self._street_bases = iter(bases)

    def build(self) -> AreaPlan:
        root = self.plan.add(
            AreaNode(names.CITY, names.CITY_BASE, ROOT_CODE, AreaLevel.CITY, None, urban=True)
        )
        for d, name in enumerate(self.rng.sample(names.DISTRICTS, self.spec.districts)):
            self._district(root, name, featured=d == 0)
        roll_up(self.plan)
        return self.plan

    def _district(self, root: int, name: str, *, featured: bool) -> None:
        idx = self.plan.child(root, AreaLevel.DISTRICT, name, name[:-1])
        spec, rng = self.spec, self.rng
        for s in range(rng.randint(*spec.streets)):
            if featured and s == 0:
                grids = distribute(FEATURED_GRIDS, FEATURED_COMMUNITIES, 10, rng)
                self.plan.featured_street = self._street(idx, grids, urban=True)
                continue
            grids = [rng.randint(*spec.grids) for _ in range(rng.randint(*spec.communities))]
            self._street(idx, grids, urban=rng.random() >= spec.rural_share)

    def _street(self, district: int, grids_per_community: list[int], *, urban: bool) -> int:
        base = next(self._street_bases)
        suffix = "街道" if urban else self.rng.choice(("镇", "镇", "乡"))
        idx = self.plan.child(district, AreaLevel.STREET, base + suffix, base, urban=urban)
        words = self.rng.sample(names.COMMUNITY_WORDS, len(grids_per_community))
        previous_last: int | None = None
        for word, n in zip(words, grids_per_community, strict=True):
            grids = self._community(idx, word, n)
            if previous_last is not None:  # neighbouring communities touch at one grid
                self.plan.neighbors.append((previous_last, grids[0]))
            previous_last = grids[-1]
        return idx

    def _community(self, street: int, word: str, n: int) -> list[int]:
        name = word + ("社区" if self.plan.areas[street].urban else "村")
        idx = self.plan.child(street, AreaLevel.COMMUNITY, name, word)
        grids = [self._grid(idx, name, number) for number in range(1, n + 1)]
        lattice(self.plan, grids)
        return grids

    def _grid(self, community: int, community_name: str, number: int) -> int:
        name = f"{community_name}第{number}网格"
        idx = self.plan.child(community, AreaLevel.GRID, name, f"第{number}网格")
        node = self.plan.areas[idx]
        node.counts = grid_counts(self.rng, node.urban, self.spec.grid_size)
        roll = self.rng.random()
        if roll < self.spec.courtyard_share:
            for _ in range(self.rng.randint(1, 3)):
                self._courtyard(idx)
        elif roll < self.spec.courtyard_share + self.spec.building_share:
            for _ in range(self.rng.randint(1, 3)):
                road = f"{self.rng.choice(names.ROADS)}{self.rng.randint(1, 199)}号楼"
                self.plan.child(idx, AreaLevel.BUILDING, road, road)
        share_out(self.plan, idx, self.rng)
        return idx

    def _courtyard(self, grid: int) -> None:
        word = self.rng.choice(names.COURTYARD_WORDS)
        name = word + self.rng.choice(names.COURTYARD_SUFFIXES)
        idx = self.plan.child(grid, AreaLevel.COURTYARD, name, word)
        for number in range(1, self.rng.randint(0, 4) + 1):
            self.plan.child(idx, AreaLevel.BUILDING, f"{name}{number}栋", f"{number}栋")


def plan_areas(rng: random.Random, scale: str) -> AreaPlan:
    return AreaBuilder(rng, SCALES[scale]).build()

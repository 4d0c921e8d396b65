"""The demo organizations, planned in memory over an ``AreaPlan``: names, kinds, party hierarchy,
credit codes, the areas and categories they serve, and the links between them.

Organizations are referred to by their index in ``OrgPlan.orgs``; a parent always comes first.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta

from gridweave.demo import names
from gridweave.demo.areas import AreaNode, AreaPlan, ScaleSpec
from gridweave.demo.credit import CreditCodes
from gridweave.models import AreaLevel, LinkKind, OrganizationKind

K = OrganizationKind
GUIDED = {
    K.SOCIAL_ORGANIZATION,
    K.VOLUNTEER_TEAM,
    K.SELF_GOVERNANCE_ORGANIZATION,
    K.ECONOMIC_ORGANIZATION,
}
BENEFICIARIES = {K.SOCIAL_ORGANIZATION, K.VOLUNTEER_TEAM}
FUNDER_SUFFIXES = ("民政局", "财政局", "办事处", "人民政府", "基金会", "慈善总会")
FIRST_DAY = date(2015, 1, 1)
STARVED_COMMUNITY_SHARE = 0.2  # communities missing one essential category in every grid
STARVED_GRID_SHARE = 0.06  # grids missing one essential category
COURTYARD_BRANCH_SHARE = 0.85
BUILDING_GROUP_SHARE = 0.55


@dataclass(slots=True)
class OrgNode:
    name: str
    kind: OrganizationKind
    area: int
    parent: int | None = None
    credit_code: str | None = None


@dataclass(frozen=True, slots=True)
class Context:
    """Who, near a new organization, guides it and hosts its concurrent posts (party bodies)."""

    guide: int | None = None
    host: int | None = None


@dataclass(slots=True)
class OrgPlan:
    orgs: list[OrgNode] = field(default_factory=list)
    services: list[tuple[int, int, str]] = field(default_factory=list)  # org, area, category
    links: list[tuple[LinkKind, int, int, date]] = field(default_factory=list)
    featured_org: int = -1


class OrgBuilder:
    def __init__(
        self, rng: random.Random, areas: AreaPlan, spec: ScaleSpec, essential: frozenset[str]
    ) -> None:
        self.rng = rng
        self.areas = areas.areas
        self.area_plan = areas
        self.spec = spec
        self.essential = essential
        self.essential_list = sorted(essential)
        self.plan = OrgPlan()
        self.codes = CreditCodes(rng)
        self.starved: set[tuple[int, str]] = set()
        self.communities: dict[int, list[int]] = defaultdict(list)  # district/city -> communities
        self.guidance: list[tuple[int, int]] = []
        self.units: list[tuple[int, int, int]] = []  # unit (or its branch), host, community
        self.patrons: list[tuple[int, int, LinkKind]] = []  # funder or mass org, scope area
        self.beneficiaries: dict[int, list[int]] = defaultdict(list)  # area -> social orgs
        self.featured_community = self.areas[areas.featured_street].children[0]
        self.regions = {d: f"5118{i + 2:02d}" for i, d in enumerate(self.areas[0].children)}

    # ---- the walk over the area tree ---------------------------------------------------------

    def build(self) -> OrgPlan:
        for a, node in enumerate(self.areas):
            if node.level is AreaLevel.COMMUNITY:
                self.communities[0].append(a)
                self.communities[node.district].append(a)
        for t in names.CITY_TEMPLATES:
            self.apply(0, t, Context())
        for d in self.areas[0].children:
            for t in names.DISTRICT_TEMPLATES:
                self.apply(d, t, Context())
            for s in self.areas[d].children:
                self.street(s)
        self.plan.featured_org = next(
            i
            for i, o in enumerate(self.plan.orgs)
            if o.area == self.featured_community and o.kind is K.SOCIAL_ORGANIZATION
        )
        LinkBuilder(self).build()
        return self.plan

    def street(self, s: int) -> None:
        node = self.areas[s]
        suffix = "党工委" if node.urban else "党委"
        committee = self.add(s, node.name + suffix, K.PARTY_ORGANIZATION, names.PARTY_STREET)
        for t in names.STREET_TEMPLATES:
            self.apply(s, t, Context(guide=committee, host=committee))
        for c in node.children:
            self.community(c, committee)

    def community(self, c: int, street_committee: int) -> None:
        node = self.areas[c]
        self.starve(c)
        suffix = "党委" if node.urban or self.rng.random() < 0.5 else "党总支"
        committee = self.add(
            c, node.name + suffix, K.PARTY_ORGANIZATION, names.PARTY_COMMUNITY, street_committee
        )
        ctx = Context(guide=committee, host=committee)
        first = len(self.plan.orgs)
        if c == self.featured_community:
            self.apply(c, names.FEATURED_SOCIAL, ctx)
        for t in names.COMMUNITY_TEMPLATES:
            self.apply(c, t, ctx)
        if all(o.kind is not K.SOCIAL_ORGANIZATION for o in self.plan.orgs[first:]):
            self.apply(c, names.COMMUNITY_SOCIAL_FALLBACK, ctx)
        for g in node.children:
            self.grid(g, committee)

    def grid(self, g: int, committee: int) -> None:
        kids = self.areas[g].children
        has_courtyards = any(self.areas[k].level is AreaLevel.COURTYARD for k in kids)
        branch = None
        if not has_courtyards and self.rng.random() < self.spec.grid_branch:
            branch = self.party(g, "党支部", names.PARTY_BRANCH, committee)
        for k in kids:
            if self.areas[k].level is AreaLevel.COURTYARD:
                self.courtyard(k, committee)
            else:
                self.building(k, branch if branch is not None else committee)

    def courtyard(self, y: int, committee: int) -> None:
        branch = None
        if self.rng.random() < COURTYARD_BRANCH_SHARE:
            branch = self.party(y, "党支部", names.PARTY_BRANCH, committee)
        guide = branch if branch is not None else committee
        for t in names.COURTYARD_TEMPLATES:
            self.apply(y, t, Context(guide=guide))
        for b in self.areas[y].children:
            self.building(b, guide)

    def building(self, b: int, parent: int) -> None:
        if self.rng.random() < BUILDING_GROUP_SHARE:
            self.party(b, "党小组", names.PARTY_GROUP, parent)

    # ---- making organizations ----------------------------------------------------------------

    def party(self, area: int, suffix: str, categories: tuple[str, ...], parent: int) -> int:
        name = self.areas[area].name + suffix
        return self.add(area, name, K.PARTY_ORGANIZATION, categories, parent)

    def add(
        self,
        area: int,
        name: str,
        kind: OrganizationKind,
        categories: tuple[str, ...],
        parent: int | None = None,
        credit: str | None = None,
        reach: tuple[float, float] = (0.3, 0.8),
    ) -> int:
        idx = len(self.plan.orgs)
        code = self.codes.issue(credit, self.region(area)) if credit else None
        self.plan.orgs.append(OrgNode(name, kind, area, parent, code))
        self.serve(idx, area, categories, reach)
        if kind in BENEFICIARIES:
            node = self.areas[area]
            for scope in (0, node.district, node.street, node.community):
                if scope >= 0:
                    self.beneficiaries[scope].append(idx)
        return idx

    def apply(self, area: int, t: names.OrgTemplate, ctx: Context) -> None:
        """Add the organizations ``t`` gives this area (by chance), with their ties."""
        node = self.areas[area]
        if t.where != "any" and (t.where == "urban") != node.urban:
            return
        if self.rng.random() >= t.chance:
            return
        seen: set[str] = set()
        for _ in range(self.rng.randint(*t.count)):
            name = self.name(t.pattern, node)
            if name in seen:
                continue
            seen.add(name)
            idx = self.add(area, name, t.kind, t.categories, None, t.credit, t.reach)
            self.ties(idx, area, t, ctx)

    def ties(self, idx: int, area: int, t: names.OrgTemplate, ctx: Context) -> None:
        name = self.plan.orgs[idx].name
        if t.kind in GUIDED and ctx.guide is not None:
            self.guidance.append((ctx.guide, idx))
        if t.kind is K.CO_RESIDENT_UNIT:
            holder = idx
            if self.rng.random() < t.branch:
                holder = self.add(area, name + "党支部", K.PARTY_ORGANIZATION, ())
            community = self.areas[area].community
            self.units.append((holder, ctx.host if ctx.host is not None else -1, community))
        if t.kind is K.MASS_ORGANIZATION:
            self.patrons.append((idx, area, LinkKind.SUPPORTS))
        if name.endswith(FUNDER_SUFFIXES):
            self.patrons.append((idx, area, LinkKind.FUNDS))

    def name(self, pattern: str, node: AreaNode) -> str:
        rng = self.rng
        keys = {
            "area": node.name,
            "base": node.base,
            "city": names.CITY,
            "city_base": names.CITY_BASE,
        }
        for key, pool in (
            ("word", names.BRAND_WORDS),
            ("product", names.PRODUCTS),
            ("school", names.SCHOOLS),
            ("art", names.ART_TEAMS),
        ):
            if "{" + key + "}" in pattern:
                keys[key] = rng.choice(pool)
        return pattern.format(**keys).replace("院落院落", "院落")

    def region(self, area: int) -> str:
        return self.regions.get(self.areas[area].district, names.CITY_REGION_CODE)

    # ---- service areas -----------------------------------------------------------------------

    def starve(self, community: int) -> None:
        """Leave some (grid, essential category) pairs without any provider: coverage gaps."""
        rng = self.rng
        grids = self.areas[community].children
        if rng.random() < STARVED_COMMUNITY_SHARE:
            category = rng.choice(self.essential_list)
            self.starved.update((g, category) for g in grids)
        for g in grids:
            if rng.random() < STARVED_GRID_SHARE:
                self.starved.add((g, rng.choice(self.essential_list)))

    def served_grids(self, area: int, reach: tuple[float, float]) -> list[int]:
        """The grids an organization based in ``area`` serves in essential categories."""
        node = self.areas[area]
        if node.grid >= 0:
            return [node.grid]
        rng = self.rng
        if node.level is AreaLevel.COMMUNITY:
            communities = [area]
        elif node.level is AreaLevel.STREET:
            communities = rng.sample(node.children, min(len(node.children), rng.randint(1, 2)))
            reach = (0.3, 0.6)
        else:
            pool = self.communities[area]
            communities = rng.sample(pool, min(len(pool), rng.randint(1, 3)))
            reach = (0.2, 0.5)
        grids: list[int] = []
        for c in communities:
            kids = self.areas[c].children
            k = max(1, round(len(kids) * rng.uniform(*reach)))
            grids.extend(sorted(rng.sample(kids, k)))
        return grids

    def serve(
        self, org: int, area: int, categories: tuple[str, ...], reach: tuple[float, float]
    ) -> None:
        if not categories:
            return
        essential = [c for c in categories if c in self.essential]
        other = [c for c in categories if c not in self.essential]
        services = self.plan.services
        services.extend((org, area, c) for c in other)
        if essential:
            for g in self.served_grids(area, reach):
                services.extend((org, g, c) for c in essential if (g, c) not in self.starved)


class LinkBuilder:
    """GUIDES, CONCURRENT_POST, SUPPORTS, FUNDS and PARTNERS, each (kind, source, target) once."""

    def __init__(self, orgs: OrgBuilder) -> None:
        self.o = orgs
        self.rng = orgs.rng
        self.seen: set[tuple[LinkKind, int, int]] = set()

    def link(self, kind: LinkKind, source: int, target: int) -> None:
        key = (kind, source, target)
        if source == target or key in self.seen:
            return
        self.seen.add(key)
        since = FIRST_DAY + timedelta(days=self.rng.randint(0, 4200))
        self.o.plan.links.append((kind, source, target, since))

    def build(self) -> None:
        rng, o = self.rng, self.o
        for guide, org in o.guidance:
            if rng.random() < 0.85:
                self.link(LinkKind.GUIDES, guide, org)
        for holder, host, community in o.units:
            if host >= 0 and rng.random() < 0.6:
                self.link(LinkKind.CONCURRENT_POST, holder, host)
            pool = o.beneficiaries.get(community, []) if community >= 0 else []
            if pool and rng.random() < 0.5:
                for target in rng.sample(pool, min(len(pool), rng.randint(1, 2))):
                    self.link(LinkKind.SUPPORTS, holder, target)
        for patron, area, kind in o.patrons:
            self.patronage(patron, area, kind)
        for s, node in enumerate(o.areas):
            if node.level is AreaLevel.STREET:
                self.partners(o.beneficiaries.get(s, []))

    def patronage(self, patron: int, area: int, kind: LinkKind) -> None:
        pool = self.o.beneficiaries.get(area, [])
        wanted = {
            AreaLevel.CITY: (5, 12),
            AreaLevel.DISTRICT: (3, 8),
            AreaLevel.STREET: (1, 4),
        }.get(self.o.areas[area].level, (1, 2))
        if pool:
            for target in self.rng.sample(pool, min(len(pool), self.rng.randint(*wanted))):
                self.link(kind, patron, target)

    def partners(self, pool: list[int]) -> None:
        if len(pool) < 2:
            return
        for _ in range(len(pool) // 3):
            a, b = sorted(self.rng.sample(pool, 2))
            self.link(LinkKind.PARTNERS, a, b)


def plan_orgs(
    rng: random.Random, areas: AreaPlan, spec: ScaleSpec, essential: frozenset[str]
) -> OrgPlan:
    return OrgBuilder(rng, areas, spec, essential).build()

"""Coverage gaps of a region: every unmet rule found, with its severity. Pure: plain arrays and
rows in (``CoverageData``, built by ``services/coverage.py`` or by a test), gaps out; no database,
no GraphQL.

Areas are referred to by their index in ``CoverageData`` (0..n-1), organizations by theirs; the
gaps carry database ids. The hot part, "which grids have no provider within k hops", is one
multi-source search per category over a CSR adjacency (``provider_reach``): every provider's
areas are the sources, and each hop is one vectorised gather-and-reduce over all edges, so a
million grids cost a few array passes rather than a million searches.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from gridweave.models.areas import LEVEL_ORDER, VULNERABLE_COLUMNS, AreaLevel
from gridweave.models.organizations import OrganizationKind, PartyLevel

I64 = NDArray[np.int64]
F64 = NDArray[np.float64]
VULNERABLE_GROUPS = tuple(VULNERABLE_COLUMNS)  # the column order of CoverageData.vulnerable
LEVEL = {lv: i for i, lv in enumerate(LEVEL_ORDER)}
NONE = np.int64(np.iinfo(np.int64).max)


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


class VisitPeriod(StrEnum):
    MONTH = "MONTH"
    QUARTER = "QUARTER"
    YEAR = "YEAR"


PERIOD_ORDER = {VisitPeriod.MONTH: 0, VisitPeriod.QUARTER: 1, VisitPeriod.YEAR: 2}
PERIOD_WORDS = {
    VisitPeriod.MONTH: "month",
    VisitPeriod.QUARTER: "quarter",
    VisitPeriod.YEAR: "year",
}


@dataclass(frozen=True, slots=True)
class VisitRule:
    """At least ``min_activities`` service activities in every ``period`` (a trailing window
    ending on the report's day) in an area where any of ``groups`` is present; a rule without
    groups applies everywhere."""

    period: VisitPeriod
    groups: tuple[str, ...] = ()
    min_activities: int = 1


# 三必访 (seed 002): monthly where elderly living alone or left-behind children live, quarterly
# where hardship, disabled or mobile households do, yearly everywhere else.
DEFAULT_VISIT_RULES = (
    VisitRule(VisitPeriod.MONTH, ("ELDERLY_LIVING_ALONE", "LEFT_BEHIND_CHILDREN")),
    VisitRule(
        VisitPeriod.QUARTER, ("HARDSHIP_HOUSEHOLDS", "DISABLED_HOUSEHOLDS", "MOBILE_POPULATION")
    ),
    VisitRule(VisitPeriod.YEAR),
)
DEFAULT_WEIGHTS: Mapping[str, float] = {
    "ELDERLY_LIVING_ALONE": 3.0,
    "LEFT_BEHIND_CHILDREN": 3.0,
    "DISABLED_HOUSEHOLDS": 2.0,
    "HARDSHIP_HOUSEHOLDS": 2.0,
    "MOBILE_POPULATION": 0.5,
}


@dataclass(frozen=True, slots=True)
class Rules:
    max_hops: int = 1
    visit_rules: tuple[VisitRule, ...] = DEFAULT_VISIT_RULES
    # severity = households + sum(weight[g] * count[g]) over the vulnerable groups
    weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    office_m2_per_100_households: Decimal = Decimal(30)
    party_threshold: int = 3  # members per building, groups per courtyard, branches per community
    # suggestions (graph/suggestions.py)
    suggestion_capacity: int = 3  # gaps one organization may be suggested for in one report
    suggestions_per_gap: int = 3
    suggestion_radius: int = 3  # hops searched for candidates, beyond max_hops
    suggested_gaps: int = 500  # the most severe gaps get suggestions; the flow stays small


@dataclass(frozen=True, slots=True)
class AgreementFact:
    id: int
    community: int  # area index
    partner: int  # organization index
    in_force: bool  # on the report's day
    minimum: int  # activities per quarter
    done: int  # the partner's activities in the community this quarter, on days in force
    in_force_this_quarter: bool


@dataclass(frozen=True, slots=True)
class MeetingFact:
    id: int
    area: int  # area index
    name: str
    sat_this_quarter: bool
    last_sat_on: date | None
    convener: int | None  # organization index of this period's convener


@dataclass(slots=True)
class CoverageData:
    """Everything the rules read, as arrays indexed by area (n) or organization (m)."""

    area_ids: I64
    parent: I64  # area index of the parent, -1 at the root (or outside the loaded subtree)
    level: I64  # index into LEVEL_ORDER
    households: I64
    vulnerable: I64  # shape (n, 5), columns in VULNERABLE_GROUPS order
    party_members: I64
    names: Sequence[str]
    office_space: Sequence[Decimal | None]  # m²; None while not recorded
    neighbors: tuple[I64, I64]  # (a, b) index pairs; either direction is enough
    org_ids: I64
    org_area: I64  # area index of the home area
    org_kind: Sequence[str]
    org_party_level: Sequence[str | None]
    org_names: Sequence[str]
    org_load: I64  # rows in organization_service_areas, anywhere
    org_recent: I64  # activities in the last 90 days
    service_org: I64  # one row per (organization, area, category)
    service_area: I64
    service_category: I64  # category id
    visits: I64  # shape (n, 3): activities recorded at the area itself in the trailing
    # month, quarter and year (the rules roll them up to the areas they judge)
    categories: Mapping[int, str]  # id -> code of the categories to report on
    category_names: Mapping[int, str] = field(default_factory=dict)
    agreements: Sequence[AgreementFact] = ()
    meetings: Sequence[MeetingFact] = ()
    unengaged: Sequence[int] = ()  # organization indices of co-resident units in no meeting

    @property
    def n(self) -> int:
        return len(self.area_ids)


@dataclass(frozen=True, slots=True)
class Gap:
    kind: GapKind
    area_id: int
    severity: float
    message: str
    category_id: int | None = None
    organization_id: int | None = None
    suggestions: tuple[int, ...] = ()
    # for suggestions: the target index and the single provider's org index (or -1)
    target: int = -1
    provider: int = -1


@dataclass(frozen=True, slots=True)
class CategoryCoverage:
    category_id: int
    areas_total: int
    areas_covered: int
    households_uncovered: int


@dataclass(slots=True)
class CoverageResult:
    gaps: list[Gap]
    by_category: list[CategoryCoverage]
    target_level: str


# ---- the tree ------------------------------------------------------------------------------


def ancestors(parent: I64, level: I64) -> NDArray[np.int32]:
    """``anc[i, L]``: the index of area i's ancestor (or itself) at level L, -1 where none.
    Parents are always at a higher level than their children, so one pass per level fills it."""
    n = len(parent)
    anc = np.full((n, len(LEVEL_ORDER)), -1, dtype=np.int32)
    for lv in range(len(LEVEL_ORDER)):
        idx = np.flatnonzero(level == lv)
        if not len(idx):
            continue
        p = parent[idx]
        has = p >= 0
        anc[idx[has]] = anc[p[has]]
        anc[idx, lv] = idx
    return anc


def target_level(level: I64) -> int:
    """GRID when the region has grids, else the lowest level present."""
    grid = LEVEL[AreaLevel.GRID]
    if len(level) == 0 or (level == grid).any():
        return grid
    return int(level.max())


def severity_weights(data: CoverageData, weights: Mapping[str, float]) -> F64:
    w = np.array([float(weights.get(g, 0.0)) for g in VULNERABLE_GROUPS], dtype=np.float64)
    base: F64 = data.households.astype(np.float64)
    if data.n:
        base = base + data.vulnerable.astype(np.float64) @ w
    return base


def targets_of_rows(
    areas: I64, anc: NDArray[np.int32], level: I64, targets: I64, tl: int
) -> tuple[I64, I64]:
    """Each row at area ``areas[r]`` lands on the target-level areas it covers: its own target
    ancestor when it lies at or below the target level, every target in its subtree when it
    lies above. Returns (row index, target index) pairs, the target as a position in
    ``targets``."""
    pos = np.full(len(level), -1, dtype=np.int64)
    pos[targets] = np.arange(len(targets))
    rows_out: list[I64] = []
    tgt_out: list[I64] = []
    row_level = level[areas] if len(areas) else np.zeros(0, dtype=np.int64)
    below = np.flatnonzero(row_level >= tl)
    t = anc[areas[below], tl].astype(np.int64)
    ok = t >= 0
    rows_out.append(below[ok])
    tgt_out.append(pos[t[ok]])
    for lv in range(tl):
        rows = np.flatnonzero(row_level == lv)
        if not len(rows):
            continue
        key = anc[targets, lv].astype(np.int64)
        order = np.argsort(key, kind="stable")
        sorted_key = key[order]
        lo = np.searchsorted(sorted_key, areas[rows], "left")
        hi = np.searchsorted(sorted_key, areas[rows], "right")
        counts = hi - lo
        rep_rows = np.repeat(rows, counts)
        starts = np.repeat(lo - np.cumsum(counts) + counts, counts)
        offsets = np.arange(counts.sum()) + starts
        rows_out.append(rep_rows)
        tgt_out.append(order[offsets].astype(np.int64))
    return np.concatenate(rows_out), np.concatenate(tgt_out)


def target_adjacency(data: CoverageData, targets: I64) -> sp.csr_matrix:
    """The neighbour graph among target-level areas, symmetric, as CSR."""
    k = len(targets)
    pos = np.full(data.n, -1, dtype=np.int64)
    pos[targets] = np.arange(k)
    a, b = data.neighbors
    pa, pb = (pos[a], pos[b]) if len(a) else (a, b)
    keep = (pa >= 0) & (pb >= 0) & (pa != pb)
    rows = np.concatenate([pa[keep], pb[keep]])
    cols = np.concatenate([pb[keep], pa[keep]])
    m = sp.csr_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(k, k))
    m.sum_duplicates()
    return m


# ---- the multi-source search -----------------------------------------------------------------


def _neighbour_reduce(values: I64, indptr: I64, indices: I64, ufunc: np.ufunc, fill: int) -> I64:
    out = np.full(len(values), fill, dtype=np.int64)
    starts = indptr[:-1]
    nonempty = np.flatnonzero(indptr[1:] > starts)
    if len(nonempty):
        out[nonempty] = ufunc.reduceat(values[indices], starts[nonempty])
    return out


def provider_reach(
    adjacency: sp.csr_matrix, source_target: I64, source_org: I64, max_hops: int
) -> tuple[I64, I64, I64]:
    """One multi-source search: for every target, the smallest and largest provider (org index)
    within ``max_hops`` hops, and the hops to the nearest (-1 where none). Distinct providers
    within reach: none when lo is NONE, exactly one when lo == hi, more otherwise."""
    k = adjacency.shape[0]
    lo = np.full(k, NONE, dtype=np.int64)
    hi = np.full(k, -1, dtype=np.int64)
    np.minimum.at(lo, source_target, source_org)
    np.maximum.at(hi, source_target, source_org)
    hops = np.where(lo != NONE, 0, -1).astype(np.int64)
    indptr = adjacency.indptr.astype(np.int64)
    indices = adjacency.indices.astype(np.int64)
    for h in range(1, max_hops + 1):
        new_lo = np.minimum(lo, _neighbour_reduce(lo, indptr, indices, np.minimum, int(NONE)))
        new_hi = np.maximum(hi, _neighbour_reduce(hi, indptr, indices, np.maximum, -1))
        hops[(hops < 0) & (new_lo != NONE)] = h
        if np.array_equal(new_lo, lo) and np.array_equal(new_hi, hi):
            break
        lo, hi = new_lo, new_hi
    return lo, hi, hops


# ---- the rules ----------------------------------------------------------------------------------


@dataclass(slots=True)
class Prepared:
    """What every rule shares: the tree, the targets and their adjacency, the severities."""

    anc: NDArray[np.int32]
    tl: int
    targets: I64
    adjacency: sp.csr_matrix
    weight: F64
    service_rows: I64  # service row index, paired with service_targets
    service_targets: I64
    org_kind: NDArray[np.object_]  # the organizations' kinds and party levels as arrays,
    org_party_level: NDArray[np.object_]  # compared in one pass each


def prepare(data: CoverageData, rules: Rules) -> Prepared:
    anc = ancestors(data.parent, data.level)
    tl = target_level(data.level)
    targets = np.flatnonzero(data.level == tl).astype(np.int64)
    rows, tgts = targets_of_rows(data.service_area, anc, data.level, targets, tl)
    return Prepared(
        anc=anc,
        tl=tl,
        targets=targets,
        adjacency=target_adjacency(data, targets),
        weight=severity_weights(data, rules.weights),
        service_rows=rows,
        service_targets=tgts,
        org_kind=np.asarray(data.org_kind, dtype=object),
        org_party_level=np.asarray(data.org_party_level, dtype=object),
    )


def provider_gaps(
    data: CoverageData, rules: Rules, prep: Prepared
) -> tuple[list[Gap], list[CategoryCoverage]]:
    gaps: list[Gap] = []
    summary: list[CategoryCoverage] = []
    cats = data.service_category[prep.service_rows] if len(prep.service_rows) else prep.service_rows
    t_households = data.households[prep.targets]
    t_weight = prep.weight[prep.targets]
    for cid in sorted(data.categories):
        sel = cats == cid
        lo, hi, _ = provider_reach(
            prep.adjacency,
            prep.service_targets[sel],
            data.service_org[prep.service_rows[sel]],
            rules.max_hops,
        )
        none = lo == NONE
        single = (~none) & (lo == hi)
        summary.append(
            CategoryCoverage(
                category_id=cid,
                areas_total=len(prep.targets),
                areas_covered=int((~none).sum()),
                households_uncovered=int(t_households[none].sum()),
            )
        )
        name = data.category_names.get(cid, data.categories[cid])
        within = "" if rules.max_hops == 0 else f" within {rules.max_hops} neighbouring areas"
        # the loops below run once per gap: plain Python values, fetched in bulk
        idx = np.flatnonzero(none)
        t_area = prep.targets[idx]
        for t, a, aid, sev in zip(
            idx.tolist(),
            t_area.tolist(),
            data.area_ids[t_area].tolist(),
            t_weight[idx].tolist(),
            strict=True,
        ):
            gaps.append(
                Gap(
                    GapKind.NO_PROVIDER,
                    aid,
                    sev,
                    f"{data.names[a]}: no organization serves {name}{within}.",
                    category_id=cid,
                    target=t,
                )
            )
        idx = np.flatnonzero(single)
        t_area = prep.targets[idx]
        providers = lo[idx]
        for t, a, aid, sev, o, oid in zip(
            idx.tolist(),
            t_area.tolist(),
            data.area_ids[t_area].tolist(),
            t_weight[idx].tolist(),
            providers.tolist(),
            data.org_ids[providers].tolist(),
            strict=True,
        ):
            gaps.append(
                Gap(
                    GapKind.SINGLE_PROVIDER,
                    aid,
                    sev,
                    f"{data.names[a]}: only {data.org_names[o]} serves {name}{within}.",
                    category_id=cid,
                    organization_id=oid,
                    target=t,
                    provider=o,
                )
            )
    return gaps, summary


def visits_rolled_up(data: CoverageData, prep: Prepared) -> I64:
    """Activities per target (shape (k, 3)), counting those recorded anywhere in its subtree."""
    k = len(prep.targets)
    pos = np.full(data.n, -1, dtype=np.int64)
    pos[prep.targets] = np.arange(k)
    t = prep.anc[:, prep.tl].astype(np.int64)
    has = t >= 0
    out = np.zeros((k, 3), dtype=np.int64)
    if has.any():
        np.add.at(out, pos[t[has]], data.visits[has])
    return out


def activity_gaps(data: CoverageData, rules: Rules, prep: Prepared) -> list[Gap]:
    visits = visits_rolled_up(data, prep)
    present = data.vulnerable[prep.targets] > 0
    group_col = {g: i for i, g in enumerate(VULNERABLE_GROUPS)}
    ordered = sorted(rules.visit_rules, key=lambda r: PERIOD_ORDER[r.period])
    flagged = np.zeros(len(prep.targets), dtype=bool)
    gaps: list[Gap] = []
    for rule in ordered:
        if rule.groups:
            applies = present[:, [group_col[g] for g in rule.groups]].any(axis=1)
        else:
            applies = np.ones(len(prep.targets), dtype=bool)
        done = visits[:, PERIOD_ORDER[rule.period]]
        short = applies & ~flagged & (done < rule.min_activities)
        flagged |= applies  # the strictest rule that applies decides
        word = PERIOD_WORDS[rule.period]
        why = (
            f" ({', '.join(g.lower().replace('_', ' ') for g in rule.groups)})"
            if rule.groups
            else ""
        )
        idx = np.flatnonzero(short)
        t_area = prep.targets[idx]
        for t, a, aid, sev, n in zip(
            idx.tolist(),
            t_area.tolist(),
            data.area_ids[t_area].tolist(),
            prep.weight[t_area].tolist(),
            done[idx].tolist(),
            strict=True,
        ):
            gaps.append(
                Gap(
                    GapKind.INSUFFICIENT_ACTIVITY,
                    aid,
                    sev,
                    f"{data.names[a]}: {n} service activities in the last {word},"
                    f" the visit rule asks {rule.min_activities}{why}.",
                    target=t,
                )
            )
    return gaps


def _party(data: CoverageData, prep: Prepared, level: PartyLevel) -> I64:
    party = prep.org_kind == OrganizationKind.PARTY_ORGANIZATION.value
    return np.flatnonzero(party & (prep.org_party_level == level.value) & (data.org_area >= 0))


def party_gaps(data: CoverageData, rules: Rules, prep: Prepared) -> list[Gap]:
    """The "333" rule: a group in each building with 3+ party members, a branch in each courtyard
    with 3+ groups, a committee or general branch in each community with 3+ branches."""
    n, need = data.n, rules.party_threshold
    groups = _party(data, prep, PartyLevel.GROUP)
    branches = _party(data, prep, PartyLevel.BRANCH)
    heads = np.concatenate(
        [_party(data, prep, PartyLevel.COMMITTEE), _party(data, prep, PartyLevel.GENERAL_BRANCH)]
    )

    def located(orgs: I64) -> I64:
        return np.bincount(data.org_area[orgs], minlength=n) if len(orgs) else np.zeros(n, int)

    def within(orgs: I64, lv: AreaLevel) -> I64:
        a = prep.anc[data.org_area[orgs], LEVEL[lv]].astype(np.int64) if len(orgs) else orgs
        a = a[a >= 0]
        return np.bincount(a, minlength=n) if len(a) else np.zeros(n, dtype=np.int64)

    checks = (
        (
            AreaLevel.BUILDING,
            data.party_members,
            "party members",
            located(groups),
            GapKind.NO_PARTY_GROUP,
            "party group (党小组)",
        ),
        (
            AreaLevel.COURTYARD,
            within(groups, AreaLevel.COURTYARD),
            "party groups",
            located(branches),
            GapKind.NO_PARTY_BRANCH,
            "party branch (党支部)",
        ),
        (
            AreaLevel.COMMUNITY,
            within(branches, AreaLevel.COMMUNITY),
            "party branches",
            located(heads),
            GapKind.NO_PARTY_COMMITTEE,
            "party committee or general branch (党委/党总支)",
        ),
    )
    gaps: list[Gap] = []
    for lv, count, what, present, kind, missing in checks:
        bad = np.flatnonzero((data.level == LEVEL[lv]) & (count >= need) & (present == 0))
        for a in bad.tolist():
            gaps.append(
                Gap(
                    kind,
                    int(data.area_ids[a]),
                    float(prep.weight[a]),
                    f"{data.names[a]}: {int(count[a])} {what} and no {missing} (the 333 rule).",
                )
            )
    return gaps


def office_gaps(data: CoverageData, rules: Rules, prep: Prepared) -> list[Gap]:
    """Each community keeps 30 m² of office space per 100 households (每建设100户预留30平方米)."""
    gaps: list[Gap] = []
    cent = Decimal("0.01")
    for a in np.flatnonzero(data.level == LEVEL[AreaLevel.COMMUNITY]).tolist():
        need = (
            Decimal(int(data.households[a])) * rules.office_m2_per_100_households / 100
        ).quantize(cent, rounding=ROUND_HALF_UP)
        has = data.office_space[a]
        if need == 0 or (has is not None and has >= need):
            continue
        told = "no office space recorded" if has is None else f"{has} m² of office space"
        gaps.append(
            Gap(
                GapKind.OFFICE_SPACE_SHORT,
                int(data.area_ids[a]),
                float(prep.weight[a]),
                f"{data.names[a]}: {told}; {int(data.households[a])} households need {need} m².",
            )
        )
    return gaps


def engagement_gaps(data: CoverageData, prep: Prepared) -> list[Gap]:
    """NO_AGREEMENT, UNENGAGED_UNIT, MEETING_OVERDUE and AGREEMENT_UNDERPERFORMING, from the
    meetings and agreements facts."""
    gaps: list[Gap] = []
    w = prep.weight
    with_agreement = {f.community for f in data.agreements if f.in_force}
    units = np.flatnonzero(
        (prep.org_kind == OrganizationKind.CO_RESIDENT_UNIT.value) & (data.org_area >= 0)
    )
    unit_area = data.org_area[units]
    unit_community = prep.anc[unit_area, LEVEL[AreaLevel.COMMUNITY]].astype(np.int64)
    units_by_community: dict[int, list[int]] = {}
    for o, c in zip(units.tolist(), unit_community.tolist(), strict=True):
        if c >= 0:
            units_by_community.setdefault(c, []).append(o)
    for a in np.flatnonzero(data.level == LEVEL[AreaLevel.COMMUNITY]).tolist():
        if int(a) in with_agreement:
            continue
        near = sorted(units_by_community.get(int(a), []), key=lambda o: -data.org_recent[o])
        gaps.append(
            Gap(
                GapKind.NO_AGREEMENT,
                int(data.area_ids[a]),
                float(w[a]),
                f"{data.names[a]}: no co-building agreement (共建协议) in force.",
                suggestions=tuple(int(data.org_ids[o]) for o in near[:3]),
            )
        )
    units_at = np.bincount(unit_area, minlength=data.n) if len(units) else np.zeros(data.n, int)
    for o in data.unengaged:
        a = int(data.org_area[o])
        if a < 0:
            continue
        gaps.append(
            Gap(
                GapKind.UNENGAGED_UNIT,
                int(data.area_ids[a]),
                float(w[a]) / max(1, int(units_at[a])),  # its share of its area's units
                f"{data.org_names[o]} is in no joint meeting (联席会议).",
                organization_id=int(data.org_ids[o]),
            )
        )
    for m in data.meetings:
        if m.sat_this_quarter:
            continue
        last = f"last sat on {m.last_sat_on.isoformat()}" if m.last_sat_on else "never sat"
        conv = None if m.convener is None else int(data.org_ids[m.convener])
        who = "" if m.convener is None else f"; {data.org_names[m.convener]} convenes"
        gaps.append(
            Gap(
                GapKind.MEETING_OVERDUE,
                int(data.area_ids[m.area]),
                float(w[m.area]),
                f"{m.name} has not sat this quarter ({last}){who}.",
                organization_id=conv,
                suggestions=() if conv is None else (conv,),
            )
        )
    for f in data.agreements:
        if not f.in_force_this_quarter or f.done >= f.minimum:
            continue
        gaps.append(
            Gap(
                GapKind.AGREEMENT_UNDERPERFORMING,
                int(data.area_ids[f.community]),
                float(w[f.community]) * (f.minimum - f.done) / f.minimum,  # the shortfall
                f"{data.org_names[f.partner]}: {f.done} of {f.minimum} agreed activities"
                f" this quarter in {data.names[f.community]}.",
                organization_id=int(data.org_ids[f.partner]),
            )
        )
    return gaps


def coverage_gaps(data: CoverageData, rules: Rules) -> CoverageResult:
    """Every gap of every kind, most severe first (ties: kind, area id, category id)."""
    prep = prepare(data, rules)
    gaps, summary = provider_gaps(data, rules, prep)
    gaps += activity_gaps(data, rules, prep)
    gaps += party_gaps(data, rules, prep)
    gaps += office_gaps(data, rules, prep)
    gaps += engagement_gaps(data, prep)
    from gridweave.graph.suggestions import suggest

    gaps = suggest(data, rules, prep, gaps)
    gaps.sort(key=lambda g: (-g.severity, g.kind, g.area_id, g.category_id or 0))
    return CoverageResult(gaps, summary, LEVEL_ORDER[prep.tl].value)

"""The rules that judge areas: providers within reach (NO_PROVIDER, SINGLE_PROVIDER), visit
frequency (INSUFFICIENT_ACTIVITY), the "333" rule (NO_PARTY_*) and community office space
(OFFICE_SPACE_SHORT). Each returns ``GapBlock``s: arrays over the offending areas, messages
written only for the gaps someone reads."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from gridweave.graph.coverage_data import (
    F64,
    I64,
    LEVEL,
    PERIOD_ORDER,
    PERIOD_WORDS,
    VULNERABLE_GROUPS,
    CoverageData,
    Rules,
    text_column,
)
from gridweave.graph.gaps import CategoryCoverage, GapBlock, GapKind, Say
from gridweave.graph.reach import (
    NONE,
    ancestors,
    provider_reach,
    target_adjacency,
    target_level,
    targets_of_rows,
)
from gridweave.models.areas import AreaLevel
from gridweave.models.organizations import OrganizationKind, PartyLevel

Bools = NDArray[np.bool_]


@dataclass(slots=True)
class Prepared:
    """What every rule shares: the tree, the targets and their adjacency, the severities, the
    service rows landed on targets (grouped by category), the organizations' kinds as masks."""

    anc: NDArray[np.int32]
    tl: int
    targets: I64
    adjacency: sp.csr_matrix
    weight: F64
    # the service rows landed on targets: one (target, organization, category) per pair
    pair_target: I64
    pair_org: I64
    pair_category: I64
    party: Bools  # party organizations located in the region
    party_level: NDArray[np.object_]  # each organization's party level (None for the rest)
    units: Bools  # co-resident units located in the region


def severity_weights(data: CoverageData, weights: Mapping[str, float]) -> F64:
    w = np.array([float(weights.get(g, 0.0)) for g in VULNERABLE_GROUPS], dtype=np.float64)
    base: F64 = data.households.astype(np.float64)
    if data.n:
        base = base + data.vulnerable.astype(np.float64) @ w
    return base


def prepare(data: CoverageData, rules: Rules) -> Prepared:
    anc = ancestors(data.parent, data.level)
    tl = target_level(data.level)
    targets = np.flatnonzero(data.level == tl).astype(np.int64)
    rows, tgts = targets_of_rows(data.service_area, anc, data.level, targets, tl)
    kind = text_column(data.org_kind)
    located = data.org_area >= 0
    return Prepared(
        anc=anc,
        tl=tl,
        targets=targets,
        adjacency=target_adjacency(data, targets),
        weight=severity_weights(data, rules.weights),
        pair_target=tgts,
        pair_org=data.service_org if rows is None else data.service_org[rows],
        pair_category=data.service_category if rows is None else data.service_category[rows],
        party=(kind == OrganizationKind.PARTY_ORGANIZATION.value) & located,
        party_level=text_column(data.org_party_level),
        units=(kind == OrganizationKind.CO_RESIDENT_UNIT.value) & located,
    )


def _within_text(max_hops: int) -> str:
    return "" if max_hops == 0 else f" within {max_hops} neighbouring areas"


def provider_gaps(
    data: CoverageData, rules: Rules, prep: Prepared
) -> tuple[list[GapBlock], list[CategoryCoverage]]:
    """Per category, one multi-source search from every provider's targets."""
    blocks: list[GapBlock] = []
    summary: list[CategoryCoverage] = []
    t_households = data.households[prep.targets]
    t_weight = prep.weight[prep.targets]
    within = _within_text(rules.max_hops)
    for cid in sorted(data.categories):
        sel = np.flatnonzero(prep.pair_category == cid)
        lo, hi, _ = provider_reach(
            prep.adjacency, prep.pair_target[sel], prep.pair_org[sel], rules.max_hops
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
        idx = np.flatnonzero(none)
        blocks.append(
            GapBlock(
                GapKind.NO_PROVIDER,
                area=prep.targets[idx],
                severity=t_weight[idx],
                say=_say_no_provider(data.names, prep.targets[idx], f"{name}{within}"),
                category=np.full(len(idx), cid, dtype=np.int64),
                target=idx,
            )
        )
        idx = np.flatnonzero(single)
        blocks.append(
            GapBlock(
                GapKind.SINGLE_PROVIDER,
                area=prep.targets[idx],
                severity=t_weight[idx],
                say=_say_single_provider(
                    data.names, data.org_names, prep.targets[idx], lo[idx], f"{name}{within}"
                ),
                category=np.full(len(idx), cid, dtype=np.int64),
                organization=lo[idx],
                target=idx,
            )
        )
    return blocks, summary


def _say_no_provider(names: Sequence[str], area: I64, what: str) -> Say:
    def say(rows: I64) -> list[str]:
        return [f"{names[a]}: no organization serves {what}." for a in area[rows].tolist()]

    return say


def _say_single_provider(
    names: Sequence[str], org_names: Sequence[str], area: I64, org: I64, what: str
) -> Say:
    def say(rows: I64) -> list[str]:
        return [
            f"{names[a]}: only {org_names[o]} serves {what}."
            for a, o in zip(area[rows].tolist(), org[rows].tolist(), strict=True)
        ]

    return say


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


def activity_gaps(data: CoverageData, rules: Rules, prep: Prepared) -> list[GapBlock]:
    """The strictest visit rule that applies to a target decides whether it is visited enough."""
    visits = visits_rolled_up(data, prep)
    present = data.vulnerable[prep.targets] > 0
    group_col = {g: i for i, g in enumerate(VULNERABLE_GROUPS)}
    ordered = sorted(rules.visit_rules, key=lambda r: PERIOD_ORDER[r.period])
    flagged = np.zeros(len(prep.targets), dtype=bool)
    blocks: list[GapBlock] = []
    for rule in ordered:
        if rule.groups:
            applies = present[:, [group_col[g] for g in rule.groups]].any(axis=1)
        else:
            applies = np.ones(len(prep.targets), dtype=bool)
        done = visits[:, PERIOD_ORDER[rule.period]]
        short = applies & ~flagged & (done < rule.min_activities)
        flagged |= applies
        why = (
            f" ({', '.join(g.lower().replace('_', ' ') for g in rule.groups)})"
            if rule.groups
            else ""
        )
        tail = f", the visit rule asks {rule.min_activities}{why}."
        idx = np.flatnonzero(short)
        t_area = prep.targets[idx]
        blocks.append(
            GapBlock(
                GapKind.INSUFFICIENT_ACTIVITY,
                area=t_area,
                severity=prep.weight[t_area],
                say=_say_count(
                    data.names,
                    t_area,
                    done[idx],
                    f" service activities in the last {PERIOD_WORDS[rule.period]}{tail}",
                ),
                target=idx,
            )
        )
    return blocks


def party_gaps(data: CoverageData, rules: Rules, prep: Prepared) -> list[GapBlock]:
    """The "333" rule: a group in each building with 3+ party members, a branch in each courtyard
    with 3+ groups, a committee or general branch in each community with 3+ branches."""
    n, need = data.n, rules.party_threshold
    party = np.flatnonzero(prep.party)
    level_of = prep.party_level[party]

    def orgs(lv: PartyLevel) -> I64:
        found: I64 = party[np.asarray(level_of == lv.value, dtype=bool)]
        return found

    groups, branches = orgs(PartyLevel.GROUP), orgs(PartyLevel.BRANCH)
    heads = np.concatenate([orgs(PartyLevel.COMMITTEE), orgs(PartyLevel.GENERAL_BRANCH)])

    def located(o: I64) -> I64:
        return np.bincount(data.org_area[o], minlength=n) if len(o) else np.zeros(n, np.int64)

    def within(o: I64, lv: AreaLevel) -> I64:
        a = prep.anc[data.org_area[o], LEVEL[lv]].astype(np.int64) if len(o) else o
        a = a[a >= 0]
        return np.bincount(a, minlength=n) if len(a) else np.zeros(n, dtype=np.int64)

    checks = (
        (AreaLevel.BUILDING, data.party_members, "party members", located(groups),
         GapKind.NO_PARTY_GROUP, "party group (党小组)"),
        (AreaLevel.COURTYARD, within(groups, AreaLevel.COURTYARD), "party groups",
         located(branches), GapKind.NO_PARTY_BRANCH, "party branch (党支部)"),
        (AreaLevel.COMMUNITY, within(branches, AreaLevel.COMMUNITY), "party branches",
         located(heads), GapKind.NO_PARTY_COMMITTEE,
         "party committee or general branch (党委/党总支)"),
    )  # fmt: skip
    blocks = []
    for lv, count, what, present, kind, missing in checks:
        bad = np.flatnonzero((data.level == LEVEL[lv]) & (count >= need) & (present == 0))
        tail = f" {what} and no {missing} (the 333 rule)."
        blocks.append(
            GapBlock(
                kind,
                area=bad,
                severity=prep.weight[bad],
                say=_say_count(data.names, bad, count[bad], tail),
            )
        )
    return blocks


def _say_count(names: Sequence[str], area: I64, count: I64, tail: str) -> Say:
    def say(rows: I64) -> list[str]:
        return [
            f"{names[a]}: {c}{tail}"
            for a, c in zip(area[rows].tolist(), count[rows].tolist(), strict=True)
        ]

    return say


def office_gaps(data: CoverageData, rules: Rules, prep: Prepared) -> list[GapBlock]:
    """Each community keeps 30 m² of office space per 100 households (每建设100户预留30平方米).
    The need in cents, households x rate rounded half up, is exact integer arithmetic; a
    recorded space meets it when its whole cents do."""
    communities = np.flatnonzero(data.level == LEVEL[AreaLevel.COMMUNITY])
    p, q = rules.office_m2_per_100_households.as_integer_ratio()
    need = (2 * data.households[communities] * p + q) // (2 * q)
    short = []
    for a, cents in zip(communities.tolist(), need.tolist(), strict=True):
        has = data.office_space[a]
        if cents != 0 and (has is None or math.floor(has * 100) < cents):
            short.append(a)
    bad = np.array(short, dtype=np.int64)
    return [
        GapBlock(
            GapKind.OFFICE_SPACE_SHORT,
            area=bad,
            severity=prep.weight[bad],
            say=_say_office(data, rules.office_m2_per_100_households, bad),
        )
    ]


def _say_office(data: CoverageData, rate: Decimal, area: I64) -> Say:
    def say(rows: I64) -> list[str]:
        out = []
        for a in area[rows].tolist():
            h = int(data.households[a])
            need = (Decimal(h) * rate / 100).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
            has = data.office_space[a]
            told = "no office space recorded" if has is None else f"{has} m² of office space"
            out.append(f"{data.names[a]}: {told}; {h} households need {need} m².")
        return out

    return say

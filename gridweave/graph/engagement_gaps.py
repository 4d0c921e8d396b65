"""The rules on co-building: NO_AGREEMENT, UNENGAGED_UNIT, MEETING_OVERDUE and
AGREEMENT_UNDERPERFORMING, from the meetings and agreements facts."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gridweave.graph.coverage_data import I64, LEVEL, CoverageData
from gridweave.graph.coverage_rules import Prepared
from gridweave.graph.gaps import GapBlock, GapKind, Say
from gridweave.models.areas import AreaLevel

NEAR_UNITS = 3  # a community without an agreement is pointed at its most active units


def _told(messages: Sequence[str]) -> Say:
    def say(rows: I64) -> list[str]:
        return [messages[r] for r in rows.tolist()]

    return say


def _ints(values: Sequence[int]) -> I64:
    return np.array(values, dtype=np.int64).reshape(-1)


def no_agreement_gaps(data: CoverageData, prep: Prepared) -> GapBlock:
    """Communities with no agreement in force, each with its most active co-resident units
    (ties by organization index) as suggestions."""
    with_agreement = np.zeros(data.n, dtype=bool)
    with_agreement[[f.community for f in data.agreements if f.in_force]] = True
    bad = np.flatnonzero((data.level == LEVEL[AreaLevel.COMMUNITY]) & ~with_agreement)
    row_of = np.full(data.n, -1, dtype=np.int64)
    row_of[bad] = np.arange(len(bad))
    units = np.flatnonzero(prep.units)
    community = prep.anc[data.org_area[units], LEVEL[AreaLevel.COMMUNITY]].astype(np.int64)
    keep = community >= 0
    keep[keep] = row_of[community[keep]] >= 0
    units, community = units[keep], community[keep]
    order = np.lexsort((units, -data.org_recent[units], community))
    units, community = units[order], community[order]
    first = np.searchsorted(community, community, "left")
    near = np.arange(len(units)) - first < NEAR_UNITS
    suggestions: dict[int, list[int]] = {}
    for c, oid in zip(
        row_of[community[near]].tolist(), data.org_ids[units[near]].tolist(), strict=True
    ):
        suggestions.setdefault(c, []).append(oid)

    def say(rows: I64) -> list[str]:
        return [
            f"{data.names[a]}: no co-building agreement (共建协议) in force."
            for a in bad[rows].tolist()
        ]

    return GapBlock(
        GapKind.NO_AGREEMENT,
        area=bad,
        severity=prep.weight[bad],
        say=say,
        suggestions={r: tuple(s) for r, s in suggestions.items()},
    )


def unengaged_gaps(data: CoverageData, prep: Prepared) -> GapBlock:
    """Units in no joint meeting; each weighs its share of its area's units."""
    orgs = _ints(data.unengaged)
    orgs = orgs[data.org_area[orgs] >= 0] if len(orgs) else orgs
    area = data.org_area[orgs]
    units_at = np.bincount(data.org_area[prep.units], minlength=data.n)
    names = data.org_names

    def say(rows: I64) -> list[str]:
        return [f"{names[o]} is in no joint meeting (联席会议)." for o in orgs[rows].tolist()]

    return GapBlock(
        GapKind.UNENGAGED_UNIT,
        area=area,
        severity=prep.weight[area] / np.maximum(1, units_at[area]),
        say=say,
        organization=orgs,
    )


def meeting_gaps(data: CoverageData, prep: Prepared) -> GapBlock:
    """Joint meetings that have not sat this quarter; this period's convener is asked."""
    due = [m for m in data.meetings if not m.sat_this_quarter]
    messages = []
    for m in due:
        last = f"last sat on {m.last_sat_on.isoformat()}" if m.last_sat_on else "never sat"
        who = "" if m.convener is None else f"; {data.org_names[m.convener]} convenes"
        messages.append(f"{m.name} has not sat this quarter ({last}){who}.")
    area = _ints([m.area for m in due])
    conveners = _ints([-1 if m.convener is None else m.convener for m in due])
    return GapBlock(
        GapKind.MEETING_OVERDUE,
        area=area,
        severity=prep.weight[area],
        say=_told(messages),
        organization=conveners,
        suggestions={
            r: (int(data.org_ids[o]),) for r, o in enumerate(conveners.tolist()) if o >= 0
        },
    )


def underperforming_gaps(data: CoverageData, prep: Prepared) -> GapBlock:
    """Agreements in force this quarter whose partner has done fewer activities than agreed;
    the severity is the community's in proportion to the shortfall."""
    short = [f for f in data.agreements if f.in_force_this_quarter and f.done < f.minimum]
    w = prep.weight
    return GapBlock(
        GapKind.AGREEMENT_UNDERPERFORMING,
        area=_ints([f.community for f in short]),
        severity=np.array(
            [float(w[f.community]) * (f.minimum - f.done) / f.minimum for f in short],
            dtype=np.float64,
        ),
        say=_told(
            [
                f"{data.org_names[f.partner]}: {f.done} of {f.minimum} agreed activities"
                f" this quarter in {data.names[f.community]}."
                for f in short
            ]
        ),
        organization=_ints([f.partner for f in short]),
    )


def engagement_gaps(data: CoverageData, prep: Prepared) -> list[GapBlock]:
    return [
        no_agreement_gaps(data, prep),
        unengaged_gaps(data, prep),
        meeting_gaps(data, prep),
        underperforming_gaps(data, prep),
    ]

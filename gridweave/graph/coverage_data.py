"""What the coverage rules read: the region as plain arrays (``CoverageData``, built by
``services/coverage.py`` or by a test) and the rules' settings (``Rules``).

Areas are referred to by their index in ``CoverageData`` (0..n-1), organizations by theirs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray

from gridweave.models.areas import LEVEL_ORDER, VULNERABLE_COLUMNS

I64 = NDArray[np.int64]
F64 = NDArray[np.float64]
VULNERABLE_GROUPS = tuple(VULNERABLE_COLUMNS)  # the column order of CoverageData.vulnerable
LEVEL = {lv: i for i, lv in enumerate(LEVEL_ORDER)}


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
    """Everything the rules read, as arrays indexed by area (n) or organization (m). The text
    columns may be lists or numpy object arrays."""

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
    org_kind: Sequence[str] | NDArray[np.object_]
    org_party_level: Sequence[str | None] | NDArray[np.object_]
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


def text_column(values: Sequence[str | None] | NDArray[np.object_]) -> NDArray[np.object_]:
    """A text column as an object array (no copy when it is one already), for comparisons in
    one pass."""
    if isinstance(values, np.ndarray):
        return values
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out

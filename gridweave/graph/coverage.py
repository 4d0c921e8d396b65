"""Coverage gaps of a region: every unmet rule found, with its severity. Pure: plain arrays and
rows in (``CoverageData``), gaps out; no database, no GraphQL.

The engine's parts: ``coverage_data`` (the inputs and the rules' settings), ``reach`` (the tree
and the multi-source search), ``coverage_rules`` and ``engagement_gaps`` (the rules),
``suggestions`` (who could close a gap: a min-cost flow), ``gaps`` (the gaps as columns, made
into objects only where read). This module runs them in order and names what callers use."""

from __future__ import annotations

from gridweave.graph.coverage_data import (
    DEFAULT_VISIT_RULES,
    DEFAULT_WEIGHTS,
    LEVEL,
    VULNERABLE_GROUPS,
    AgreementFact,
    CoverageData,
    MeetingFact,
    Rules,
    VisitPeriod,
    VisitRule,
)
from gridweave.graph.coverage_rules import (
    Prepared,
    activity_gaps,
    office_gaps,
    party_gaps,
    prepare,
    provider_gaps,
)
from gridweave.graph.engagement_gaps import engagement_gaps
from gridweave.graph.gaps import CategoryCoverage, CoverageResult, Gap, GapKind, Gaps, GapTable
from gridweave.graph.reach import NONE, ancestors, provider_reach
from gridweave.graph.suggestions import suggest
from gridweave.models.areas import LEVEL_ORDER

__all__ = [
    "DEFAULT_VISIT_RULES",
    "DEFAULT_WEIGHTS",
    "LEVEL",
    "NONE",
    "VULNERABLE_GROUPS",
    "AgreementFact",
    "CategoryCoverage",
    "CoverageData",
    "CoverageResult",
    "Gap",
    "GapKind",
    "Gaps",
    "MeetingFact",
    "Prepared",
    "Rules",
    "VisitPeriod",
    "VisitRule",
    "ancestors",
    "coverage_gaps",
    "prepare",
    "provider_reach",
]


def coverage_gaps(data: CoverageData, rules: Rules) -> CoverageResult:
    """Every gap of every kind, most severe first (ties: kind, area id, category id)."""
    prep = prepare(data, rules)
    blocks, summary = provider_gaps(data, rules, prep)
    blocks += activity_gaps(data, rules, prep)
    blocks += party_gaps(data, rules, prep)
    blocks += office_gaps(data, rules, prep)
    blocks += engagement_gaps(data, prep)
    table = GapTable(blocks, data.area_ids, data.org_ids)
    suggest(data, rules, prep, table)
    return CoverageResult(Gaps(table, table.sorted_rows()), summary, LEVEL_ORDER[prep.tl].value)

"""Rubrics, review totals and aggregates, exactly (Decimal throughout; pure functions).

A rubric's weights sum to 1 (within 1e-9); a review scores every criterion within 0..max; its
total is ``100 * sum(weight * score / max)``, on 0-100, kept to 4 decimal places. Aggregates over
review totals: mean, min, max and the trimmed mean, which drops one highest and one lowest total
when there are at least 3 (the plain mean below that). The grade follows the call's aggregation
(TRIMMED_MEAN or MEAN) against thresholds that are settings (EXCELLENT >= 90, GOOD >= 75,
PASS >= 60, else FAIL by default)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from gridweave.errors import ValidationFailed
from gridweave.models import Aggregation, Grade

PLACES = Decimal("0.0001")
WEIGHT_TOLERANCE = Decimal("1e-9")
MAX_CRITERIA = 20
MAX_CRITERION_SCORE = Decimal("1000")
_KEY = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


@dataclass(frozen=True, slots=True)
class Criterion:
    key: str
    name: str
    weight: Decimal
    max_score: Decimal

    def as_json(self) -> dict[str, str]:
        return {
            "key": self.key,
            "name": self.name,
            "weight": str(self.weight),
            "maxScore": str(self.max_score),
        }

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> Criterion:
        return cls(
            key=str(value["key"]),
            name=str(value["name"]),
            weight=Decimal(str(value["weight"])),
            max_score=Decimal(str(value["maxScore"])),
        )


@dataclass(frozen=True, slots=True)
class Thresholds:
    excellent: Decimal = Decimal("90")
    good: Decimal = Decimal("75")
    passing: Decimal = Decimal("60")

    def grade(self, score: Decimal) -> Grade:
        if score >= self.excellent:
            return Grade.EXCELLENT
        if score >= self.good:
            return Grade.GOOD
        if score >= self.passing:
            return Grade.PASS
        return Grade.FAIL


@dataclass(frozen=True, slots=True)
class Aggregate:
    review_count: int
    mean: Decimal
    trimmed_mean: Decimal
    min: Decimal
    max: Decimal
    grade: Grade

    @property
    def as_json(self) -> dict[str, Any]:
        return {
            "reviews": self.review_count,
            "mean": str(self.mean),
            "trimmed_mean": str(self.trimmed_mean),
            "min": str(self.min),
            "max": str(self.max),
            "grade": self.grade.value,
        }


def exact(value: float, *, field: list[str], label: str) -> Decimal:
    """A Float from the API as the Decimal it was written as (0.1 stays 0.1)."""
    if not math.isfinite(value):
        raise ValidationFailed(f"{label} must be a finite number.", field=field)
    return Decimal(repr(float(value)))


def parse_rubric(items: Sequence[Any], *, field: list[str]) -> list[Criterion]:
    """Items with ``key``, ``name``, ``weight`` and ``max_score``."""
    if not 1 <= len(items) <= MAX_CRITERIA:
        raise ValidationFailed(f"A rubric has 1 to {MAX_CRITERIA} criteria.", field=field)
    criteria: list[Criterion] = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        at = [*field, str(i)]
        key = str(item.key).strip()
        if not _KEY.match(key):
            raise ValidationFailed(
                "A criterion key is 1 to 64 letters, digits, '_', '.' or '-'.", field=[*at, "key"]
            )
        if key in seen:
            raise ValidationFailed(f"The key '{key}' is used twice.", field=[*at, "key"])
        seen.add(key)
        name = " ".join(str(item.name).split())
        if not 1 <= len(name) <= 200:
            raise ValidationFailed("A criterion name has 1 to 200 characters.", field=[*at, "name"])
        weight = exact(item.weight, field=[*at, "weight"], label="A weight")
        if not Decimal(0) < weight <= Decimal(1):
            raise ValidationFailed("A weight is more than 0 and at most 1.", field=[*at, "weight"])
        top = exact(item.max_score, field=[*at, "maxScore"], label="A maximum score")
        if not Decimal(0) < top <= MAX_CRITERION_SCORE:
            raise ValidationFailed(
                f"A maximum score is more than 0 and at most {MAX_CRITERION_SCORE}.",
                field=[*at, "maxScore"],
            )
        criteria.append(Criterion(key, name, weight, top))
    total = sum((c.weight for c in criteria), Decimal(0))
    if abs(total - 1) > WEIGHT_TOLERANCE:
        raise ValidationFailed(f"The weights sum to {total}, not 1.", field=field)
    return criteria


@dataclass(frozen=True, slots=True)
class ScoredCriterion:
    key: str
    score: Decimal
    comment: str | None


def score_review(
    rubric: Sequence[Criterion], scores: Sequence[Any], *, field: list[str]
) -> tuple[list[ScoredCriterion], Decimal]:
    """Checks that every criterion is scored once, within 0..max; the scores in rubric order and
    the weighted total on 0-100. Items carry ``criterion_key``, ``score`` and ``comment``."""
    by_key = {c.key: c for c in rubric}
    given: dict[str, ScoredCriterion] = {}
    for i, item in enumerate(scores):
        at = [*field, str(i)]
        criterion = by_key.get(item.criterion_key)
        if criterion is None:
            raise ValidationFailed(
                f"The rubric has no criterion '{item.criterion_key}'.", field=[*at, "criterionKey"]
            )
        if criterion.key in given:
            raise ValidationFailed(
                f"'{criterion.key}' is scored twice.", field=[*at, "criterionKey"]
            )
        value = exact(item.score, field=[*at, "score"], label="A score")
        if not Decimal(0) <= value <= criterion.max_score:
            raise ValidationFailed(
                f"'{criterion.key}' is scored from 0 to {criterion.max_score}.",
                field=[*at, "score"],
            )
        comment = item.comment
        if comment is not None:
            comment = comment.strip() or None
            if comment is not None and len(comment) > 2000:
                raise ValidationFailed(
                    "A comment has at most 2,000 characters.", field=[*at, "comment"]
                )
        given[criterion.key] = ScoredCriterion(criterion.key, value.quantize(PLACES), comment)
    missing = [c.key for c in rubric if c.key not in given]
    if missing:
        raise ValidationFailed(f"Score every criterion: missing {', '.join(missing)}.", field=field)
    ordered = [given[c.key] for c in rubric]
    return ordered, weighted_total(rubric, {s.key: s.score for s in ordered})


def weighted_total(rubric: Sequence[Criterion], scores: Mapping[str, Decimal]) -> Decimal:
    total = sum((c.weight * scores[c.key] / c.max_score for c in rubric), Decimal(0)) * 100
    return min(max(total, Decimal(0)), Decimal(100)).quantize(PLACES, rounding=ROUND_HALF_EVEN)


def _mean(values: Sequence[Decimal]) -> Decimal:
    return (sum(values, Decimal(0)) / len(values)).quantize(PLACES, rounding=ROUND_HALF_EVEN)


def trimmed_mean(totals: Sequence[Decimal]) -> Decimal:
    """Drop one highest and one lowest total (at least 3 of them), then average."""
    ordered = sorted(totals)
    return _mean(ordered[1:-1] if len(ordered) >= 3 else ordered)


def aggregate(
    totals: Sequence[Decimal], *, aggregation: Aggregation, thresholds: Thresholds
) -> Aggregate | None:
    if not totals:
        return None
    mean, trimmed = _mean(totals), trimmed_mean(totals)
    headline = trimmed if aggregation is Aggregation.TRIMMED_MEAN else mean
    return Aggregate(
        review_count=len(totals),
        mean=mean,
        trimmed_mean=trimmed,
        min=min(totals),
        max=max(totals),
        grade=thresholds.grade(headline),
    )


def headline(agg: Aggregate, aggregation: Aggregation) -> Decimal:
    """The value a ranking orders by and a grade is read from."""
    return agg.trimmed_mean if aggregation is Aggregation.TRIMMED_MEAN else agg.mean

"""The ranking of a call's bids: the headline score the call chose, then the mean, then the lower
amount, then the earlier bid; unscored bids are not ranked."""

from __future__ import annotations

from decimal import Decimal

from gridweave.models import Aggregation
from gridweave.services.procurement_reads import ranked
from gridweave.services.scoring import Aggregate, Grade

TRIMMED = Aggregation.TRIMMED_MEAN


def agg(mean: str, trimmed: str) -> Aggregate:
    m, t = Decimal(mean), Decimal(trimmed)
    return Aggregate(review_count=5, mean=m, trimmed_mean=t, min=t, max=t, grade=Grade.GOOD)


def test_ties_are_broken_by_mean_then_amount_then_order() -> None:
    bids = {
        "best trimmed mean, low mean": ((TRIMMED, Decimal("90000"), 1), agg("70", "88")),
        "tie, higher mean": ((TRIMMED, Decimal("90000"), 2), agg("86", "85")),
        "tie, same mean, dearer": ((TRIMMED, Decimal("95000"), 3), agg("84", "85")),
        "tie, cheaper, earlier": ((TRIMMED, Decimal("80000"), 4), agg("84", "85")),
        "tie, cheaper, later": ((TRIMMED, Decimal("80000"), 5), agg("84", "85")),
        "unscored": ((TRIMMED, Decimal("1"), 6), None),
    }
    names = list(bids)
    order = ranked(names, [bids[n][1] for n in names], key=lambda n: bids[n][0])
    assert order == [
        "best trimmed mean, low mean",
        "tie, higher mean",
        "tie, cheaper, earlier",
        "tie, cheaper, later",
        "tie, same mean, dearer",
    ]


def test_a_plain_mean_call_ranks_by_the_mean() -> None:
    how = Aggregation.MEAN
    key = {"a": (how, Decimal(1), 1), "b": (how, Decimal(1), 2)}
    # trimmed would put a first; the call asked for the plain mean
    assert ranked(["a", "b"], [agg("70", "95"), agg("80", "75")], key=lambda n: key[n]) == [
        "b",
        "a",
    ]

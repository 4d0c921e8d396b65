"""Purchased services (政府购买服务): calls, bids, the review panel, reviews.

Money is ``numeric(14, 2)`` (yuan and fen), scores and measures ``numeric`` too; the API turns
scores into Float only at the edge, as the contract types them."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from gridweave.models.base import Base, Timestamped

MONEY = Numeric(14, 2)
SCORE = Numeric(9, 4)
MEASURE = Numeric(16, 4)


class CallStatus(StrEnum):
    DRAFT = "DRAFT"
    OPEN = "OPEN"
    CLOSED = "CLOSED"
    AWARDED = "AWARDED"
    CANCELLED = "CANCELLED"


class BidStatus(StrEnum):
    DRAFT = "DRAFT"
    SUBMITTED = "SUBMITTED"
    WITHDRAWN = "WITHDRAWN"
    AWARDED = "AWARDED"
    NOT_AWARDED = "NOT_AWARDED"
    COMPLETED = "COMPLETED"


class ReviewStage(StrEnum):
    PROPOSAL = "PROPOSAL"
    PERFORMANCE = "PERFORMANCE"


class Aggregation(StrEnum):
    TRIMMED_MEAN = "TRIMMED_MEAN"
    MEAN = "MEAN"


class Grade(StrEnum):
    EXCELLENT = "EXCELLENT"
    GOOD = "GOOD"
    PASS = "PASS"
    FAIL = "FAIL"


class ProcurementCall(Timestamped, Base):
    """A call for bids. Status is not stored: it follows the window (``opens_at``, ``closes_at``)
    until ``awarded_at`` or ``cancelled_at`` is set. ``issuer_area_path`` copies the issuer's home
    area path: the issuer's coordinators (who see everything of the call) are one prefix test.

    ``reviews_pending`` counts proposal reviews still owed once the panel is assigned; scoring is
    complete when the panel is assigned and it is 0. The award is one conditional update of
    ``awarded_at``; ``awarded_total`` can never exceed ``total_budget`` (a check)."""

    __tablename__ = "procurement_calls"
    __table_args__ = (
        CheckConstraint("length(btrim(title)) > 0", name="title_not_empty"),
        CheckConstraint("total_budget > 0", name="budget_positive"),
        CheckConstraint(
            "max_bid_amount > 0 AND max_bid_amount <= total_budget", name="cap_within_budget"
        ),
        CheckConstraint("closes_at > opens_at", name="closes_after_opening"),
        CheckConstraint(
            "evaluators_per_bid >= 1 AND evaluators_per_bid <= 50", name="evaluators_range"
        ),
        CheckConstraint("reviews_pending >= 0", name="reviews_pending_nonneg"),
        CheckConstraint("(awarded_at IS NULL) = (awarded_total IS NULL)", name="award_has_total"),
        CheckConstraint(
            "awarded_total IS NULL OR (awarded_total >= 0 AND awarded_total <= total_budget)",
            name="award_within_budget",
        ),
        CheckConstraint(
            "(cancelled_at IS NULL) = (cancel_reason IS NULL)", name="cancel_has_reason"
        ),
        CheckConstraint(
            "awarded_at IS NULL OR cancelled_at IS NULL", name="not_awarded_and_cancelled"
        ),
        Index(
            "ix_procurement_calls_area_path",
            "area_path",
            postgresql_ops={"area_path": "text_pattern_ops"},
        ),
        Index("ix_procurement_calls_issuer_id", "issuer_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    issuer_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="RESTRICT"))
    issuer_area_path: Mapped[str] = mapped_column(Text)
    area_id: Mapped[int] = mapped_column(ForeignKey("areas.id", ondelete="RESTRICT"))
    area_path: Mapped[str] = mapped_column(Text)
    total_budget: Mapped[Decimal] = mapped_column(MONEY)
    max_bid_amount: Mapped[Decimal] = mapped_column(MONEY)
    opens_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    closes_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    blind_review: Mapped[bool] = mapped_column(Boolean, default=False)
    aggregation: Mapped[str] = mapped_column(String(16))
    evaluators_per_bid: Mapped[int] = mapped_column(Integer, default=3)
    proposal_rubric: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    performance_rubric: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    panel_assigned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reviews_pending: Mapped[int] = mapped_column(Integer, default=0)
    awarded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    awarded_total: Mapped[Decimal | None] = mapped_column(MONEY)
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancel_reason: Mapped[str | None] = mapped_column(Text)


class ProcurementCallCategory(Base):
    __tablename__ = "procurement_call_categories"

    call_id: Mapped[int] = mapped_column(
        ForeignKey("procurement_calls.id", ondelete="CASCADE"), primary_key=True
    )
    category_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("service_categories.id", ondelete="RESTRICT"), primary_key=True
    )


class Bid(Timestamped, Base):
    """A bid. Its content (lines, areas, indicators' targets) is frozen once submitted; only its
    status and the indicators' achieved values change later. ``seq`` numbers the bids of one call
    from 1 (投标人 A, B, ... in a blind review). One live (not withdrawn) bid per organization and
    call, whatever races (a partial unique index)."""

    __tablename__ = "bids"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint(
            "status IN ('DRAFT','SUBMITTED','WITHDRAWN','AWARDED','NOT_AWARDED','COMPLETED')",
            name="status_known",
        ),
        CheckConstraint("length(btrim(title)) > 0", name="title_not_empty"),
        CheckConstraint(
            "proposal_reviews >= 0 AND proposal_reviews <= reviews_due"
            " AND performance_reviews >= 0 AND performance_reviews <= reviews_due",
            name="reviews_within_due",
        ),
        Index(
            "uq_bids_live_per_bidder",
            "call_id",
            "bidder_id",
            unique=True,
            postgresql_where=text("status <> 'WITHDRAWN'"),
        ),
        Index("uq_bids_call_seq", "call_id", "seq", unique=True),
        Index("ix_bids_call_id", "call_id", "id"),
        Index("ix_bids_bidder_id", "bidder_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("procurement_calls.id", ondelete="RESTRICT"))
    seq: Mapped[int] = mapped_column(Integer)
    bidder_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="RESTRICT"))
    title: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(Text)
    amount: Mapped[Decimal] = mapped_column(MONEY)
    status: Mapped[str] = mapped_column(String(16))
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    withdrawn_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reviews_due: Mapped[int] = mapped_column(Integer, default=0)
    proposal_reviews: Mapped[int] = mapped_column(Integer, default=0)
    performance_reviews: Mapped[int] = mapped_column(Integer, default=0)
    evaluated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class BidBudgetLine(Base):
    __tablename__ = "bid_budget_lines"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        Index("uq_bid_budget_lines_position", "bid_id", "position", unique=True),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    bid_id: Mapped[int] = mapped_column(ForeignKey("bids.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    item: Mapped[str] = mapped_column(String(200))
    amount: Mapped[Decimal] = mapped_column(MONEY)


class BidTargetArea(Base):
    __tablename__ = "bid_target_areas"

    bid_id: Mapped[int] = mapped_column(ForeignKey("bids.id", ondelete="CASCADE"), primary_key=True)
    area_id: Mapped[int] = mapped_column(
        ForeignKey("areas.id", ondelete="RESTRICT"), primary_key=True
    )


class BidIndicator(Base):
    __tablename__ = "bid_indicators"
    __table_args__ = (
        CheckConstraint("target >= 0", name="target_nonneg"),
        CheckConstraint("achieved IS NULL OR achieved >= 0", name="achieved_nonneg"),
        Index("uq_bid_indicators_name", "bid_id", "name", unique=True),
        Index("uq_bid_indicators_position", "bid_id", "position", unique=True),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    bid_id: Mapped[int] = mapped_column(ForeignKey("bids.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    unit: Mapped[str] = mapped_column(String(32))
    target: Mapped[Decimal] = mapped_column(MEASURE)
    achieved: Mapped[Decimal | None] = mapped_column(MEASURE)


class CallEvaluator(Base):
    """A member of a call's review panel; ``position`` numbers them (评审专家 1, 2, ...)."""

    __tablename__ = "call_evaluators"
    __table_args__ = (Index("uq_call_evaluators_position", "call_id", "position", unique=True),)

    call_id: Mapped[int] = mapped_column(
        ForeignKey("procurement_calls.id", ondelete="CASCADE"), primary_key=True
    )
    evaluator_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="RESTRICT"), primary_key=True, index=True
    )
    position: Mapped[int] = mapped_column(Integer)


class BidAssignment(Base):
    """A panel member who reviews a bid: every panel member without a conflict with its bidder."""

    __tablename__ = "bid_assignments"

    bid_id: Mapped[int] = mapped_column(ForeignKey("bids.id", ondelete="CASCADE"), primary_key=True)
    evaluator_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="RESTRICT"), primary_key=True, index=True
    )


class BidConflict(Base):
    """A panel member kept off a bid, with the path on the organization graph that explains why."""

    __tablename__ = "bid_conflicts"

    bid_id: Mapped[int] = mapped_column(ForeignKey("bids.id", ondelete="CASCADE"), primary_key=True)
    evaluator_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="RESTRICT"), primary_key=True
    )
    path: Mapped[str] = mapped_column(Text)


class Review(Base):
    """One evaluator's scores of one bid at one stage; final once submitted. Only an assigned
    evaluator can hold one (a foreign key to the assignment)."""

    __tablename__ = "reviews"
    __table_args__ = (
        CheckConstraint("stage IN ('PROPOSAL','PERFORMANCE')", name="stage_known"),
        CheckConstraint("total >= 0 AND total <= 100", name="total_range"),
        ForeignKeyConstraint(
            ["bid_id", "evaluator_id"],
            ["bid_assignments.bid_id", "bid_assignments.evaluator_id"],
            name="fk_reviews_assignment",
            ondelete="RESTRICT",
        ),
        Index("uq_reviews_one_per_stage", "bid_id", "stage", "evaluator_id", unique=True),
        Index("ix_reviews_evaluator_id", "evaluator_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    bid_id: Mapped[int] = mapped_column(BigInteger)
    evaluator_id: Mapped[int] = mapped_column(BigInteger)
    stage: Mapped[str] = mapped_column(String(16))
    total: Mapped[Decimal] = mapped_column(SCORE)
    submitted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ReviewScore(Base):
    __tablename__ = "review_scores"
    __table_args__ = (CheckConstraint("score >= 0", name="score_nonneg"),)

    review_id: Mapped[int] = mapped_column(
        ForeignKey("reviews.id", ondelete="CASCADE"), primary_key=True
    )
    criterion_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    score: Mapped[Decimal] = mapped_column(SCORE)
    comment: Mapped[str | None] = mapped_column(Text)

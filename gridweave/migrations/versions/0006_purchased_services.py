"""purchased services

Revision ID: 0006
Revises: 0004
Create Date: 2026-12-01

Calls for bids, bids with their budget lines, target areas and indicators, review panels with
their assignments and conflicts of interest, reviews and their scores (issue 11). Money is
numeric(14, 2); the award's total is checked against the budget in the calls row itself.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "procurement_calls",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("issuer_id", sa.BigInteger(), nullable=False),
        sa.Column("issuer_area_path", sa.Text(), nullable=False),
        sa.Column("area_id", sa.BigInteger(), nullable=False),
        sa.Column("area_path", sa.Text(), nullable=False),
        sa.Column("total_budget", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("max_bid_amount", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("opens_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closes_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("blind_review", sa.Boolean(), nullable=False),
        sa.Column("aggregation", sa.String(length=16), nullable=False),
        sa.Column("evaluators_per_bid", sa.Integer(), nullable=False),
        sa.Column("proposal_rubric", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("performance_rubric", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("panel_assigned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reviews_pending", sa.Integer(), nullable=False),
        sa.Column("awarded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("awarded_total", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancel_reason", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "(awarded_at IS NULL) = (awarded_total IS NULL)",
            name=op.f("ck_procurement_calls_award_has_total"),
        ),
        sa.CheckConstraint(
            "(cancelled_at IS NULL) = (cancel_reason IS NULL)",
            name=op.f("ck_procurement_calls_cancel_has_reason"),
        ),
        sa.CheckConstraint(
            "awarded_at IS NULL OR cancelled_at IS NULL",
            name=op.f("ck_procurement_calls_not_awarded_and_cancelled"),
        ),
        sa.CheckConstraint(
            "awarded_total IS NULL OR (awarded_total >= 0 AND awarded_total <= total_budget)",
            name=op.f("ck_procurement_calls_award_within_budget"),
        ),
        sa.CheckConstraint(
            "closes_at > opens_at", name=op.f("ck_procurement_calls_closes_after_opening")
        ),
        sa.CheckConstraint(
            "evaluators_per_bid >= 1 AND evaluators_per_bid <= 50",
            name=op.f("ck_procurement_calls_evaluators_range"),
        ),
        sa.CheckConstraint(
            "length(btrim(title)) > 0", name=op.f("ck_procurement_calls_title_not_empty")
        ),
        sa.CheckConstraint(
            "max_bid_amount > 0 AND max_bid_amount <= total_budget",
            name=op.f("ck_procurement_calls_cap_within_budget"),
        ),
        sa.CheckConstraint(
            "reviews_pending >= 0", name=op.f("ck_procurement_calls_reviews_pending_nonneg")
        ),
        sa.CheckConstraint("total_budget > 0", name=op.f("ck_procurement_calls_budget_positive")),
        sa.ForeignKeyConstraint(
            ["area_id"],
            ["areas.id"],
            name=op.f("fk_procurement_calls_area_id_areas"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["issuer_id"],
            ["organizations.id"],
            name=op.f("fk_procurement_calls_issuer_id_organizations"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_procurement_calls")),
    )
    op.create_index(
        "ix_procurement_calls_area_path",
        "procurement_calls",
        ["area_path"],
        unique=False,
        postgresql_ops={"area_path": "text_pattern_ops"},
    )
    op.create_index(
        "ix_procurement_calls_issuer_id", "procurement_calls", ["issuer_id", "id"], unique=False
    )
    op.create_table(
        "bids",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("call_id", sa.BigInteger(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("bidder_id", sa.BigInteger(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reviews_due", sa.Integer(), nullable=False),
        sa.Column("proposal_reviews", sa.Integer(), nullable=False),
        sa.Column("performance_reviews", sa.Integer(), nullable=False),
        sa.Column("evaluated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "status IN ('DRAFT','SUBMITTED','WITHDRAWN','AWARDED','NOT_AWARDED','COMPLETED')",
            name=op.f("ck_bids_status_known"),
        ),
        sa.CheckConstraint("amount > 0", name=op.f("ck_bids_amount_positive")),
        sa.CheckConstraint("length(btrim(title)) > 0", name=op.f("ck_bids_title_not_empty")),
        sa.CheckConstraint(
            "proposal_reviews >= 0 AND proposal_reviews <= reviews_due AND performance_reviews >= 0 AND performance_reviews <= reviews_due",
            name=op.f("ck_bids_reviews_within_due"),
        ),
        sa.ForeignKeyConstraint(
            ["bidder_id"],
            ["organizations.id"],
            name=op.f("fk_bids_bidder_id_organizations"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["call_id"],
            ["procurement_calls.id"],
            name=op.f("fk_bids_call_id_procurement_calls"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bids")),
    )
    op.create_index("ix_bids_bidder_id", "bids", ["bidder_id", "id"], unique=False)
    op.create_index("ix_bids_call_id", "bids", ["call_id", "id"], unique=False)
    op.create_index("uq_bids_call_seq", "bids", ["call_id", "seq"], unique=True)
    op.create_index(
        "uq_bids_live_per_bidder",
        "bids",
        ["call_id", "bidder_id"],
        unique=True,
        postgresql_where=sa.text("status <> 'WITHDRAWN'"),
    )
    op.create_table(
        "call_evaluators",
        sa.Column("call_id", sa.BigInteger(), nullable=False),
        sa.Column("evaluator_id", sa.BigInteger(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["call_id"],
            ["procurement_calls.id"],
            name=op.f("fk_call_evaluators_call_id_procurement_calls"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["evaluator_id"],
            ["users.id"],
            name=op.f("fk_call_evaluators_evaluator_id_users"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("call_id", "evaluator_id", name=op.f("pk_call_evaluators")),
    )
    op.create_index(
        op.f("ix_call_evaluators_evaluator_id"), "call_evaluators", ["evaluator_id"], unique=False
    )
    op.create_index(
        "uq_call_evaluators_position", "call_evaluators", ["call_id", "position"], unique=True
    )
    op.create_table(
        "procurement_call_categories",
        sa.Column("call_id", sa.BigInteger(), nullable=False),
        sa.Column("category_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["call_id"],
            ["procurement_calls.id"],
            name=op.f("fk_procurement_call_categories_call_id_procurement_calls"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["category_id"],
            ["service_categories.id"],
            name=op.f("fk_procurement_call_categories_category_id_service_categories"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint(
            "call_id", "category_id", name=op.f("pk_procurement_call_categories")
        ),
    )
    op.create_table(
        "bid_assignments",
        sa.Column("bid_id", sa.BigInteger(), nullable=False),
        sa.Column("evaluator_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["bid_id"], ["bids.id"], name=op.f("fk_bid_assignments_bid_id_bids"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["evaluator_id"],
            ["users.id"],
            name=op.f("fk_bid_assignments_evaluator_id_users"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("bid_id", "evaluator_id", name=op.f("pk_bid_assignments")),
    )
    op.create_index(
        op.f("ix_bid_assignments_evaluator_id"), "bid_assignments", ["evaluator_id"], unique=False
    )
    op.create_table(
        "bid_budget_lines",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("bid_id", sa.BigInteger(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("item", sa.String(length=200), nullable=False),
        sa.Column("amount", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_bid_budget_lines_amount_positive")),
        sa.ForeignKeyConstraint(
            ["bid_id"],
            ["bids.id"],
            name=op.f("fk_bid_budget_lines_bid_id_bids"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bid_budget_lines")),
    )
    op.create_index(
        "uq_bid_budget_lines_position", "bid_budget_lines", ["bid_id", "position"], unique=True
    )
    op.create_table(
        "bid_conflicts",
        sa.Column("bid_id", sa.BigInteger(), nullable=False),
        sa.Column("evaluator_id", sa.BigInteger(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["bid_id"], ["bids.id"], name=op.f("fk_bid_conflicts_bid_id_bids"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["evaluator_id"],
            ["users.id"],
            name=op.f("fk_bid_conflicts_evaluator_id_users"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("bid_id", "evaluator_id", name=op.f("pk_bid_conflicts")),
    )
    op.create_table(
        "bid_indicators",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("bid_id", sa.BigInteger(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("unit", sa.String(length=32), nullable=False),
        sa.Column("target", sa.Numeric(precision=16, scale=4), nullable=False),
        sa.Column("achieved", sa.Numeric(precision=16, scale=4), nullable=True),
        sa.CheckConstraint(
            "achieved IS NULL OR achieved >= 0", name=op.f("ck_bid_indicators_achieved_nonneg")
        ),
        sa.CheckConstraint("target >= 0", name=op.f("ck_bid_indicators_target_nonneg")),
        sa.ForeignKeyConstraint(
            ["bid_id"], ["bids.id"], name=op.f("fk_bid_indicators_bid_id_bids"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bid_indicators")),
    )
    op.create_index("uq_bid_indicators_name", "bid_indicators", ["bid_id", "name"], unique=True)
    op.create_index(
        "uq_bid_indicators_position", "bid_indicators", ["bid_id", "position"], unique=True
    )
    op.create_table(
        "bid_target_areas",
        sa.Column("bid_id", sa.BigInteger(), nullable=False),
        sa.Column("area_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["area_id"],
            ["areas.id"],
            name=op.f("fk_bid_target_areas_area_id_areas"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["bid_id"],
            ["bids.id"],
            name=op.f("fk_bid_target_areas_bid_id_bids"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("bid_id", "area_id", name=op.f("pk_bid_target_areas")),
    )
    op.create_table(
        "reviews",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("bid_id", sa.BigInteger(), nullable=False),
        sa.Column("evaluator_id", sa.BigInteger(), nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("total", sa.Numeric(precision=9, scale=4), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "stage IN ('PROPOSAL','PERFORMANCE')", name=op.f("ck_reviews_stage_known")
        ),
        sa.CheckConstraint("total >= 0 AND total <= 100", name=op.f("ck_reviews_total_range")),
        sa.ForeignKeyConstraint(
            ["bid_id", "evaluator_id"],
            ["bid_assignments.bid_id", "bid_assignments.evaluator_id"],
            name="fk_reviews_assignment",
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reviews")),
    )
    op.create_index("ix_reviews_evaluator_id", "reviews", ["evaluator_id"], unique=False)
    op.create_index(
        "uq_reviews_one_per_stage", "reviews", ["bid_id", "stage", "evaluator_id"], unique=True
    )
    op.create_table(
        "review_scores",
        sa.Column("review_id", sa.BigInteger(), nullable=False),
        sa.Column("criterion_key", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("score", sa.Numeric(precision=9, scale=4), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.CheckConstraint("score >= 0", name=op.f("ck_review_scores_score_nonneg")),
        sa.ForeignKeyConstraint(
            ["review_id"],
            ["reviews.id"],
            name=op.f("fk_review_scores_review_id_reviews"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("review_id", "criterion_key", name=op.f("pk_review_scores")),
    )


def downgrade() -> None:
    op.drop_table("review_scores")
    op.drop_index("uq_reviews_one_per_stage", table_name="reviews")
    op.drop_index("ix_reviews_evaluator_id", table_name="reviews")
    op.drop_table("reviews")
    op.drop_table("bid_target_areas")
    op.drop_index("uq_bid_indicators_position", table_name="bid_indicators")
    op.drop_index("uq_bid_indicators_name", table_name="bid_indicators")
    op.drop_table("bid_indicators")
    op.drop_table("bid_conflicts")
    op.drop_index("uq_bid_budget_lines_position", table_name="bid_budget_lines")
    op.drop_table("bid_budget_lines")
    op.drop_index(op.f("ix_bid_assignments_evaluator_id"), table_name="bid_assignments")
    op.drop_table("bid_assignments")
    op.drop_table("procurement_call_categories")
    op.drop_index("uq_call_evaluators_position", table_name="call_evaluators")
    op.drop_index(op.f("ix_call_evaluators_evaluator_id"), table_name="call_evaluators")
    op.drop_table("call_evaluators")
    op.drop_index(
        "uq_bids_live_per_bidder",
        table_name="bids",
        postgresql_where=sa.text("status <> 'WITHDRAWN'"),
    )
    op.drop_index("uq_bids_call_seq", table_name="bids")
    op.drop_index("ix_bids_call_id", table_name="bids")
    op.drop_index("ix_bids_bidder_id", table_name="bids")
    op.drop_table("bids")
    op.drop_index("ix_procurement_calls_issuer_id", table_name="procurement_calls")
    op.drop_index(
        "ix_procurement_calls_area_path",
        table_name="procurement_calls",
        postgresql_ops={"area_path": "text_pattern_ops"},
    )
    op.drop_table("procurement_calls")

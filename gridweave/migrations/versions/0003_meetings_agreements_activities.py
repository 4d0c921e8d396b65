"""service activities, joint meetings, agreements

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-22

Service activities (the table every later count reads), joint meetings with their membership
history and sessions, and co-building agreements with their commitments.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "service_activities",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("area_id", sa.BigInteger(), nullable=False),
        sa.Column("area_path", sa.Text(), nullable=False),
        sa.Column("category_id", sa.Integer(), nullable=False),
        sa.Column("occurred_on", sa.Date(), nullable=False),
        sa.Column("hours", sa.Numeric(precision=10, scale=2), nullable=False),
        sa.Column("beneficiaries", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("source_id", sa.BigInteger(), nullable=True),
        sa.Column("recorded_by", sa.BigInteger(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "beneficiaries >= 0", name=op.f("ck_service_activities_beneficiaries_nonneg")
        ),
        sa.CheckConstraint("hours >= 0", name=op.f("ck_service_activities_hours_nonneg")),
        sa.CheckConstraint(
            "source <> 'CLAIM' OR source_id IS NOT NULL",
            name=op.f("ck_service_activities_claim_has_id"),
        ),
        sa.ForeignKeyConstraint(
            ["area_id"],
            ["areas.id"],
            name=op.f("fk_service_activities_area_id_areas"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["category_id"],
            ["service_categories.id"],
            name=op.f("fk_service_activities_category_id_service_categories"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_service_activities_organization_id_organizations"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by"],
            ["users.id"],
            name=op.f("fk_service_activities_recorded_by_users"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_activities")),
    )
    op.create_index(
        op.f("ix_service_activities_area_id"), "service_activities", ["area_id"], unique=False
    )
    op.create_index(
        "ix_service_activities_category_path",
        "service_activities",
        ["category_id", "area_path", "occurred_on"],
        unique=False,
        postgresql_ops={"area_path": "text_pattern_ops"},
        postgresql_include=["hours", "beneficiaries", "organization_id"],
    )
    op.create_index(
        "ix_service_activities_path",
        "service_activities",
        ["area_path", "occurred_on"],
        unique=False,
        postgresql_ops={"area_path": "text_pattern_ops"},
    )
    op.create_index(
        "ix_service_activities_organization",
        "service_activities",
        ["organization_id", "occurred_on"],
        unique=False,
    )
    op.create_index(
        "uq_service_activities_source",
        "service_activities",
        ["source", "source_id"],
        unique=True,
        postgresql_where=sa.text("source_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_table("service_activities")

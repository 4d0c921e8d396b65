"""service activities, joint meetings, agreements

Revision ID: 0003
Revises: 0007 (rechained after main's 0002 and 0007; written against 0001)
Create Date: 2026-11-22

Service activities (the table every later count reads), joint meetings with their membership
history and sessions, and co-building agreements with their commitments.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0007"
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

    _meetings()
    _agreements()


def _meetings() -> None:
    op.create_table(
        "joint_meetings",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("area_id", sa.BigInteger(), nullable=False),
        sa.Column("area_path", sa.Text(), nullable=False),
        sa.Column("rotation_period", sa.String(length=16), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "length(btrim(name)) > 0", name=op.f("ck_joint_meetings_name_not_empty")
        ),
        sa.ForeignKeyConstraint(
            ["area_id"],
            ["areas.id"],
            name=op.f("fk_joint_meetings_area_id_areas"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_joint_meetings")),
    )
    op.create_index("ix_joint_meetings_area_id", "joint_meetings", ["area_id", "id"])
    op.create_index(
        "ix_joint_meetings_area_path",
        "joint_meetings",
        ["area_path"],
        postgresql_ops={"area_path": "text_pattern_ops"},
    )
    op.create_table(
        "joint_meeting_members",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("meeting_id", sa.BigInteger(), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("joined_on", sa.Date(), nullable=False),
        sa.Column("left_on", sa.Date(), nullable=True),
        sa.CheckConstraint(
            "left_on IS NULL OR left_on >= joined_on",
            name=op.f("ck_joint_meeting_members_left_after_joined"),
        ),
        sa.ForeignKeyConstraint(
            ["meeting_id"],
            ["joint_meetings.id"],
            name=op.f("fk_joint_meeting_members_meeting_id_joint_meetings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_joint_meeting_members_organization_id_organizations"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_joint_meeting_members")),
    )
    op.create_index(
        "ix_joint_meeting_members_meeting", "joint_meeting_members", ["meeting_id", "id"]
    )
    op.create_index(
        "ix_joint_meeting_members_organization", "joint_meeting_members", ["organization_id"]
    )
    op.create_index(
        "uq_joint_meeting_members_open",
        "joint_meeting_members",
        ["meeting_id", "organization_id"],
        unique=True,
        postgresql_where=sa.text("left_on IS NULL"),
    )
    op.create_table(
        "convener_rotations",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("meeting_id", sa.BigInteger(), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("member_ids", postgresql.ARRAY(sa.BigInteger()), nullable=False),
        sa.Column("anchor", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "anchor >= 0 AND (anchor < cardinality(member_ids) OR cardinality(member_ids) = 0)",
            name=op.f("ck_convener_rotations_anchor_in_members"),
        ),
        sa.ForeignKeyConstraint(
            ["meeting_id"],
            ["joint_meetings.id"],
            name=op.f("fk_convener_rotations_meeting_id_joint_meetings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_convener_rotations")),
    )
    op.create_index(
        "ix_convener_rotations_meeting",
        "convener_rotations",
        ["meeting_id", "effective_from", "id"],
    )
    op.create_table(
        "meeting_sessions",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("meeting_id", sa.BigInteger(), nullable=False),
        sa.Column("held_on", sa.Date(), nullable=False),
        sa.Column("convener_id", sa.BigInteger(), nullable=False),
        sa.Column("resolutions", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["convener_id"],
            ["organizations.id"],
            name=op.f("fk_meeting_sessions_convener_id_organizations"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["meeting_id"],
            ["joint_meetings.id"],
            name=op.f("fk_meeting_sessions_meeting_id_joint_meetings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meeting_sessions")),
    )
    op.create_index("ix_meeting_sessions_meeting", "meeting_sessions", ["meeting_id", "held_on"])
    op.create_table(
        "meeting_session_attendees",
        sa.Column("session_id", sa.BigInteger(), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_meeting_session_attendees_organization_id_organizations"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["meeting_sessions.id"],
            name=op.f("fk_meeting_session_attendees_session_id_meeting_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "session_id", "organization_id", name=op.f("pk_meeting_session_attendees")
        ),
    )
    op.create_index(
        "ix_meeting_session_attendees_organization",
        "meeting_session_attendees",
        ["organization_id"],
    )


IN_FORCE = (
    "daterange(starts_on, GREATEST(starts_on, LEAST(ends_on + 1, "
    "COALESCE(terminated_on, ends_on + 1))), '[)')"
)


def _agreements() -> None:
    op.create_table(
        "agreements",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("community_id", sa.BigInteger(), nullable=False),
        sa.Column("community_path", sa.Text(), nullable=False),
        sa.Column("partner_id", sa.BigInteger(), nullable=False),
        sa.Column("joint_meeting_id", sa.BigInteger(), nullable=True),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("min_activities_per_quarter", sa.Integer(), nullable=False),
        sa.Column("terminated_on", sa.Date(), nullable=True),
        sa.Column("termination_reason", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("ends_on > starts_on", name=op.f("ck_agreements_ends_after_start")),
        sa.CheckConstraint(
            "min_activities_per_quarter >= 0 AND min_activities_per_quarter <= 1000",
            name=op.f("ck_agreements_min_activities_range"),
        ),
        sa.CheckConstraint("length(btrim(title)) > 0", name=op.f("ck_agreements_title_not_empty")),
        sa.CheckConstraint(
            "(terminated_on IS NULL) = (termination_reason IS NULL)",
            name=op.f("ck_agreements_termination_has_reason"),
        ),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["areas.id"],
            name=op.f("fk_agreements_community_id_areas"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["joint_meeting_id"],
            ["joint_meetings.id"],
            name=op.f("fk_agreements_joint_meeting_id_joint_meetings"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["organizations.id"],
            name=op.f("fk_agreements_partner_id_organizations"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agreements")),
    )
    op.execute(
        "ALTER TABLE agreements ADD CONSTRAINT ex_agreements_one_in_force EXCLUDE USING gist ("
        "(int8range(community_id, community_id, '[]')) WITH &&,"
        " (int8range(partner_id, partner_id, '[]')) WITH &&,"
        f" ({IN_FORCE}) WITH &&)"
    )
    op.create_index(
        "ix_agreements_community_path",
        "agreements",
        ["community_path"],
        postgresql_ops={"community_path": "text_pattern_ops"},
    )
    op.create_index("ix_agreements_meeting", "agreements", ["joint_meeting_id"])
    op.create_index("ix_agreements_partner", "agreements", ["partner_id", "id"])
    op.create_table(
        "agreement_commitments",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("agreement_id", sa.BigInteger(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("category_id", sa.Integer(), nullable=True),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("quantity", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.CheckConstraint("quantity >= 0", name=op.f("ck_agreement_commitments_quantity_nonneg")),
        sa.ForeignKeyConstraint(
            ["agreement_id"],
            ["agreements.id"],
            name=op.f("fk_agreement_commitments_agreement_id_agreements"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["category_id"],
            ["service_categories.id"],
            name=op.f("fk_agreement_commitments_category_id_service_categories"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agreement_commitments")),
    )
    op.create_index(
        "ix_agreement_commitments_agreement",
        "agreement_commitments",
        ["agreement_id", "position"],
    )


def downgrade() -> None:
    op.drop_table("agreement_commitments")
    op.drop_table("agreements")
    op.drop_table("meeting_session_attendees")
    op.drop_table("meeting_sessions")
    op.drop_table("convener_rotations")
    op.drop_table("joint_meeting_members")
    op.drop_table("joint_meetings")
    op.drop_table("service_activities")

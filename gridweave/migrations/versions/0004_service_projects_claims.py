"""service projects and claims

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01

Service projects, their claims, and the trigger that keeps a project's counters (places taken,
claims active / reported / verified) from its claims: any insert or change of a claim moves them,
so the check ``claimed_slots <= slots`` refuses an extra place whatever code wrote the claim. The
trigger also refuses claims on a cancelled or expired project, status changes other than
ACTIVE > WITHDRAWN, ACTIVE > COMPLETED and COMPLETED > VERIFIED, and deleting a claim.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

COUNTS_FUNCTION = """
CREATE FUNCTION claims_keep_counts() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  d_slots int := 0;
  d_active int := 0;
  d_reported int := 0;
  d_verified int := 0;
  p record;
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'claims are kept: withdraw a claim instead of deleting it'
      USING ERRCODE = 'restrict_violation';
  END IF;
  IF TG_OP = 'INSERT' THEN
    IF NEW.status <> 'ACTIVE' THEN
      RAISE EXCEPTION 'a new claim must be ACTIVE'
        USING ERRCODE = 'check_violation', CONSTRAINT = 'ck_claims_valid_transition';
    END IF;
  ELSE
    IF NEW.project_id <> OLD.project_id OR NEW.claimant_id <> OLD.claimant_id
       OR NEW.slots <> OLD.slots THEN
      RAISE EXCEPTION 'a claim keeps its project, claimant and places'
        USING ERRCODE = 'check_violation', CONSTRAINT = 'ck_claims_valid_transition';
    END IF;
    IF NEW.status = OLD.status THEN
      RETURN NULL;
    END IF;
    IF (OLD.status, NEW.status) NOT IN (('ACTIVE', 'WITHDRAWN'), ('ACTIVE', 'COMPLETED'),
                                        ('COMPLETED', 'VERIFIED')) THEN
      RAISE EXCEPTION 'a claim cannot go from % to %', OLD.status, NEW.status
        USING ERRCODE = 'check_violation', CONSTRAINT = 'ck_claims_valid_transition';
    END IF;
    d_slots := d_slots - CASE WHEN OLD.status <> 'WITHDRAWN' THEN OLD.slots ELSE 0 END;
    d_active := d_active - (OLD.status = 'ACTIVE')::int;
    d_reported := d_reported - (OLD.status = 'COMPLETED')::int;
    d_verified := d_verified - (OLD.status = 'VERIFIED')::int;
  END IF;
  d_slots := d_slots + CASE WHEN NEW.status <> 'WITHDRAWN' THEN NEW.slots ELSE 0 END;
  d_active := d_active + (NEW.status = 'ACTIVE')::int;
  d_reported := d_reported + (NEW.status = 'COMPLETED')::int;
  d_verified := d_verified + (NEW.status = 'VERIFIED')::int;
  UPDATE service_projects SET claimed_slots = claimed_slots + d_slots,
         active_claims = active_claims + d_active,
         reported_claims = reported_claims + d_reported,
         verified_claims = verified_claims + d_verified
   WHERE id = NEW.project_id
  RETURNING cancelled_at, deadline INTO p;
  IF TG_OP = 'INSERT' AND (p.cancelled_at IS NOT NULL
     OR p.deadline < (now() AT TIME ZONE 'Asia/Shanghai')::date) THEN
    RAISE EXCEPTION 'project % takes no more claims', NEW.project_id
      USING ERRCODE = 'check_violation', CONSTRAINT = 'ck_claims_project_takes_claims';
  END IF;
  RETURN NULL;
END $$
"""
COUNTS_TRIGGER = """
CREATE TRIGGER claims_keep_counts AFTER INSERT OR UPDATE OR DELETE ON claims
FOR EACH ROW EXECUTE FUNCTION claims_keep_counts()
"""


revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "service_projects",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("category_id", sa.Integer(), nullable=False),
        sa.Column("area_id", sa.BigInteger(), nullable=False),
        sa.Column("area_path", sa.Text(), nullable=False),
        sa.Column("posted_by_id", sa.BigInteger(), nullable=False),
        sa.Column("slots", sa.Integer(), nullable=False),
        sa.Column("claimed_slots", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("active_claims", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("reported_claims", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("verified_claims", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("deadline", sa.Date(), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancel_reason", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "kind IN ('SMALL_WISH', 'PROBLEM', 'SERVICE_POST', 'CO_BUILDING_PROJECT')",
            name=op.f("ck_service_projects_kind_known"),
        ),
        sa.CheckConstraint(
            "(cancelled_at IS NULL) = (cancel_reason IS NULL)",
            name=op.f("ck_service_projects_cancel_has_reason"),
        ),
        sa.CheckConstraint(
            "active_claims >= 0 AND reported_claims >= 0 AND verified_claims >= 0",
            name=op.f("ck_service_projects_counts_nonneg"),
        ),
        sa.CheckConstraint(
            "claimed_slots >= 0 AND claimed_slots <= slots",
            name=op.f("ck_service_projects_claimed_within_slots"),
        ),
        sa.CheckConstraint(
            "length(btrim(title)) > 0", name=op.f("ck_service_projects_title_not_empty")
        ),
        sa.CheckConstraint(
            "length(description) <= 4000", name=op.f("ck_service_projects_description_length")
        ),
        sa.CheckConstraint(
            "slots BETWEEN 1 AND 10000", name=op.f("ck_service_projects_slots_range")
        ),
        sa.ForeignKeyConstraint(
            ["area_id"],
            ["areas.id"],
            name=op.f("fk_service_projects_area_id_areas"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["category_id"],
            ["service_categories.id"],
            name=op.f("fk_service_projects_category_id_service_categories"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["posted_by_id"],
            ["organizations.id"],
            name=op.f("fk_service_projects_posted_by_id_organizations"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_projects")),
    )
    op.create_index(
        "ix_service_projects_area_path",
        "service_projects",
        ["area_path", "id"],
        unique=False,
        postgresql_ops={"area_path": "text_pattern_ops"},
    )
    op.create_index(
        "ix_service_projects_category", "service_projects", ["category_id", "id"], unique=False
    )
    op.create_index(
        "ix_service_projects_posted_by", "service_projects", ["posted_by_id"], unique=False
    )
    op.create_table(
        "claims",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("project_id", sa.BigInteger(), nullable=False),
        sa.Column("claimant_id", sa.BigInteger(), nullable=False),
        sa.Column("slots", sa.Integer(), nullable=False),
        sa.Column(
            "status", sa.String(length=16), server_default=sa.text("'ACTIVE'"), nullable=False
        ),
        sa.Column(
            "claimed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("report_summary", sa.Text(), nullable=True),
        sa.Column("report_hours", sa.Numeric(precision=8, scale=2), nullable=True),
        sa.Column("report_beneficiaries", sa.Integer(), nullable=True),
        sa.Column("completed_on", sa.Date(), nullable=True),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rating", sa.SmallInteger(), nullable=True),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "(status = 'VERIFIED') = (rating IS NOT NULL AND verified_at IS NOT NULL)",
            name=op.f("ck_claims_rating_when_verified"),
        ),
        sa.CheckConstraint(
            "(status = 'WITHDRAWN') = (withdrawn_at IS NOT NULL)",
            name=op.f("ck_claims_withdrawn_at"),
        ),
        sa.CheckConstraint(
            "(status IN ('COMPLETED', 'VERIFIED')) = (reported_at IS NOT NULL AND report_summary IS NOT NULL AND report_hours IS NOT NULL AND report_beneficiaries IS NOT NULL AND completed_on IS NOT NULL)",
            name=op.f("ck_claims_report_when_completed"),
        ),
        sa.CheckConstraint(
            "completed_on <= (reported_at AT TIME ZONE 'Asia/Shanghai')::date",
            name=op.f("ck_claims_completed_not_future"),
        ),
        sa.CheckConstraint(
            "status IN ('ACTIVE', 'WITHDRAWN', 'COMPLETED', 'VERIFIED')",
            name=op.f("ck_claims_status_known"),
        ),
        sa.CheckConstraint("rating BETWEEN 1 AND 5", name=op.f("ck_claims_rating_range")),
        sa.CheckConstraint(
            "report_hours >= 0 AND report_beneficiaries >= 0", name=op.f("ck_claims_report_nonneg")
        ),
        sa.CheckConstraint("slots >= 1", name=op.f("ck_claims_slots_positive")),
        sa.ForeignKeyConstraint(
            ["claimant_id"],
            ["organizations.id"],
            name=op.f("fk_claims_claimant_id_organizations"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["service_projects.id"],
            name=op.f("fk_claims_project_id_service_projects"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_claims")),
    )
    op.create_index("ix_claims_claimant", "claims", ["claimant_id", "id"], unique=False)
    op.create_index("ix_claims_project", "claims", ["project_id", "id"], unique=False)
    op.create_index(
        "uq_claims_one_live_per_claimant",
        "claims",
        ["project_id", "claimant_id"],
        unique=True,
        postgresql_where=sa.text("status <> 'WITHDRAWN'"),
    )
    op.execute(COUNTS_FUNCTION)
    op.execute(COUNTS_TRIGGER)


def downgrade() -> None:
    op.execute("DROP TRIGGER claims_keep_counts ON claims")
    op.execute("DROP FUNCTION claims_keep_counts()")
    op.drop_index(
        "uq_claims_one_live_per_claimant",
        table_name="claims",
        postgresql_where=sa.text("status <> 'WITHDRAWN'"),
    )
    op.drop_index("ix_claims_project", table_name="claims")
    op.drop_index("ix_claims_claimant", table_name="claims")
    op.drop_table("claims")
    op.drop_index("ix_service_projects_posted_by", table_name="service_projects")
    op.drop_index("ix_service_projects_category", table_name="service_projects")
    op.drop_index(
        "ix_service_projects_area_path",
        table_name="service_projects",
        postgresql_ops={"area_path": "text_pattern_ops"},
    )
    op.drop_table("service_projects")

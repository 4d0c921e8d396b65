"""areas organizations users audit

Revision ID: 0001
Revises:
Create Date: 2026-11-21

The core tables, the append-only guard on the audit ledger, and the default service taxonomy.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CATEGORIES = [
    ("elderly_care", "养老服务", "Elderly care", True),
    ("child_care", "儿童关爱", "Care for children", True),
    ("employment", "就业创业", "Employment and entrepreneurship", False),
    ("hardship_relief", "困难帮扶", "Help for hardship households", True),
    ("health", "医疗健康", "Health care", True),
    ("culture_sports", "文化体育", "Culture and sports", False),
    ("safety_mediation", "平安调解", "Safety and mediation", True),
    ("sanitation", "环境卫生", "Environment and sanitation", False),
    ("legal_aid", "法律援助", "Legal aid", False),
    ("reconstruction", "灾后重建", "Post-disaster reconstruction", False),
    ("disability_support", "助残服务", "Support for the disabled", True),
    ("humanistic_care", "人文关怀", "Humanistic care for residents", False),
    ("volunteering", "志愿服务", "Volunteer services", False),
    ("community_governance", "社区治理", "Community self-governance", False),
]

APPEND_ONLY_FUNCTION = """
CREATE FUNCTION audit_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_log is append-only';
END $$
"""
APPEND_ONLY_TRIGGER = """
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log
FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change()
"""


def upgrade() -> None:
    op.create_table(
        "areas",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=True),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("parent_id", sa.BigInteger(), nullable=True),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("households", sa.Integer(), nullable=False),
        sa.Column("population", sa.Integer(), nullable=False),
        sa.Column("elderly_living_alone", sa.Integer(), nullable=False),
        sa.Column("left_behind_children", sa.Integer(), nullable=False),
        sa.Column("disabled_households", sa.Integer(), nullable=False),
        sa.Column("hardship_households", sa.Integer(), nullable=False),
        sa.Column("mobile_population", sa.Integer(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "elderly_living_alone >= 0 AND left_behind_children >= 0 AND disabled_households >= 0 AND hardship_households >= 0 AND mobile_population >= 0",
            name=op.f("ck_areas_vulnerable_nonneg"),
        ),
        sa.CheckConstraint("households >= 0", name=op.f("ck_areas_households_nonneg")),
        sa.CheckConstraint("length(btrim(name)) > 0", name=op.f("ck_areas_name_not_empty")),
        sa.CheckConstraint("population >= 0", name=op.f("ck_areas_population_nonneg")),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["areas.id"], name=op.f("fk_areas_parent_id_areas"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_areas")),
        sa.UniqueConstraint("code", name=op.f("uq_areas_code")),
    )
    op.create_index("ix_areas_level", "areas", ["level", "id"], unique=False)
    op.create_index("ix_areas_parent_id", "areas", ["parent_id", "id"], unique=False)
    op.create_index(
        "ix_areas_path",
        "areas",
        ["path"],
        unique=False,
        postgresql_ops={"path": "text_pattern_ops"},
    )
    op.create_table(
        "service_categories",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("name_en", sa.String(length=100), nullable=False),
        sa.Column("essential", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_categories")),
        sa.UniqueConstraint("code", name=op.f("uq_service_categories_code")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
    )
    op.create_index(
        "uq_users_email_lower", "users", [sa.literal_column("lower(email)")], unique=True
    )
    op.create_table(
        "area_neighbors",
        sa.Column("area_id", sa.BigInteger(), nullable=False),
        sa.Column("neighbor_id", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("area_id <> neighbor_id", name=op.f("ck_area_neighbors_not_self")),
        sa.ForeignKeyConstraint(
            ["area_id"],
            ["areas.id"],
            name=op.f("fk_area_neighbors_area_id_areas"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["neighbor_id"],
            ["areas.id"],
            name=op.f("fk_area_neighbors_neighbor_id_areas"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("area_id", "neighbor_id", name=op.f("pk_area_neighbors")),
    )
    op.create_index(
        op.f("ix_area_neighbors_neighbor_id"), "area_neighbors", ["neighbor_id"], unique=False
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.BigInteger(), nullable=True),
        sa.Column("action", sa.String(length=80), nullable=False),
        sa.Column("entity_id", sa.String(length=200), nullable=True),
        sa.Column("summary", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("previous_hash", sa.String(length=64), nullable=True),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["users.id"],
            name=op.f("fk_audit_log_actor_id_users"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
        sa.UniqueConstraint("hash", name=op.f("uq_audit_log_hash")),
    )
    op.create_index("ix_audit_log_entity", "audit_log", ["entity_id", "id"], unique=False)
    op.create_table(
        "organizations",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("credit_code", sa.String(length=18), nullable=True),
        sa.Column("area_id", sa.BigInteger(), nullable=False),
        sa.Column("area_path", sa.Text(), nullable=False),
        sa.Column("parent_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("length(btrim(name)) > 0", name=op.f("ck_organizations_name_not_empty")),
        sa.CheckConstraint(
            "parent_id IS NULL OR parent_id <> id", name=op.f("ck_organizations_not_own_parent")
        ),
        sa.ForeignKeyConstraint(
            ["area_id"],
            ["areas.id"],
            name=op.f("fk_organizations_area_id_areas"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["organizations.id"],
            name=op.f("fk_organizations_parent_id_organizations"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organizations")),
        sa.UniqueConstraint("credit_code", name=op.f("uq_organizations_credit_code")),
    )
    op.create_index("ix_organizations_area_id", "organizations", ["area_id", "id"], unique=False)
    op.create_index(
        "ix_organizations_area_path",
        "organizations",
        ["area_path"],
        unique=False,
        postgresql_ops={"area_path": "text_pattern_ops"},
    )
    op.create_index("ix_organizations_kind", "organizations", ["kind", "id"], unique=False)
    op.create_index("ix_organizations_parent_id", "organizations", ["parent_id"], unique=False)
    op.create_table(
        "organization_links",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("source_id", sa.BigInteger(), nullable=False),
        sa.Column("target_id", sa.BigInteger(), nullable=False),
        sa.Column("since", sa.Date(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("source_id <> target_id", name=op.f("ck_organization_links_not_self")),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["organizations.id"],
            name=op.f("fk_organization_links_source_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["target_id"],
            ["organizations.id"],
            name=op.f("fk_organization_links_target_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organization_links")),
    )
    op.create_index(
        "ix_organization_links_source", "organization_links", ["source_id"], unique=False
    )
    op.create_index(
        "ix_organization_links_target", "organization_links", ["target_id"], unique=False
    )
    op.create_index(
        "uq_organization_links_kind_source_target",
        "organization_links",
        ["kind", "source_id", "target_id"],
        unique=True,
    )
    op.create_table(
        "organization_service_areas",
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("area_id", sa.BigInteger(), nullable=False),
        sa.Column("category_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["area_id"],
            ["areas.id"],
            name=op.f("fk_organization_service_areas_area_id_areas"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["category_id"],
            ["service_categories.id"],
            name=op.f("fk_organization_service_areas_category_id_service_categories"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_organization_service_areas_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "organization_id", "area_id", "category_id", name=op.f("pk_organization_service_areas")
        ),
    )
    op.create_index(
        "ix_osa_area_category",
        "organization_service_areas",
        ["area_id", "category_id"],
        unique=False,
    )
    op.create_table(
        "role_grants",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("area_id", sa.BigInteger(), nullable=True),
        sa.Column("organization_id", sa.BigInteger(), nullable=True),
        sa.CheckConstraint(
            "role <> 'ORGANIZATION_MEMBER' OR organization_id IS NOT NULL",
            name=op.f("ck_role_grants_member_has_org"),
        ),
        sa.ForeignKeyConstraint(
            ["area_id"],
            ["areas.id"],
            name=op.f("fk_role_grants_area_id_areas"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_role_grants_organization_id_organizations"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_role_grants_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_role_grants")),
    )
    op.create_index(op.f("ix_role_grants_user_id"), "role_grants", ["user_id"], unique=False)
    op.create_index(
        "uq_role_grants_scope",
        "role_grants",
        [
            "user_id",
            "role",
            sa.literal_column("coalesce(area_id, 0)"),
            sa.literal_column("coalesce(organization_id, 0)"),
        ],
        unique=True,
    )
    op.execute(APPEND_ONLY_FUNCTION)
    op.execute(APPEND_ONLY_TRIGGER)
    categories = sa.table(
        "service_categories",
        sa.column("code", sa.String),
        sa.column("name", sa.String),
        sa.column("name_en", sa.String),
        sa.column("essential", sa.Boolean),
    )
    op.bulk_insert(
        categories,
        [{"code": c, "name": n, "name_en": e, "essential": ess} for c, n, e, ess in CATEGORIES],
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
    op.execute("DROP FUNCTION IF EXISTS audit_log_refuse_change()")
    op.drop_index("uq_role_grants_scope", table_name="role_grants")
    op.drop_index(op.f("ix_role_grants_user_id"), table_name="role_grants")
    op.drop_table("role_grants")
    op.drop_index("ix_osa_area_category", table_name="organization_service_areas")
    op.drop_table("organization_service_areas")
    op.drop_index("uq_organization_links_kind_source_target", table_name="organization_links")
    op.drop_index("ix_organization_links_target", table_name="organization_links")
    op.drop_index("ix_organization_links_source", table_name="organization_links")
    op.drop_table("organization_links")
    op.drop_index("ix_organizations_parent_id", table_name="organizations")
    op.drop_index("ix_organizations_kind", table_name="organizations")
    op.drop_index(
        "ix_organizations_area_path",
        table_name="organizations",
        postgresql_ops={"area_path": "text_pattern_ops"},
    )
    op.drop_index("ix_organizations_area_id", table_name="organizations")
    op.drop_table("organizations")
    op.drop_index("ix_audit_log_entity", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_index(op.f("ix_area_neighbors_neighbor_id"), table_name="area_neighbors")
    op.drop_table("area_neighbors")
    op.drop_index("uq_users_email_lower", table_name="users")
    op.drop_table("users")
    op.drop_table("service_categories")
    op.drop_index("ix_areas_path", table_name="areas", postgresql_ops={"path": "text_pattern_ops"})
    op.drop_index("ix_areas_parent_id", table_name="areas")
    op.drop_index("ix_areas_level", table_name="areas")
    op.drop_table("areas")

"""coverage inputs: party members, office space and boundaries on areas; party levels

Revision ID: 0005
Revises: 0006
Create Date: 2026-12-01

What the coverage rules of seed 003 read and the map draws:
- ``areas.party_members``: party members living in the area (an aggregate count, like the
  vulnerable-group counts; never named people), for the "333" rule;
- ``areas.office_space_m2``: a community's office and service space (exact numeric), for the
  rule of 30 m² per 100 households; null while not recorded;
- ``areas.boundary``: an optional GeoJSON Polygon (validated by the service), for the map;
- ``organizations.party_level``: a party organization's level (COMMITTEE 党委, GENERAL_BRANCH
  党总支, BRANCH 党支部, GROUP 党小组), backfilled from the name's suffix.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LEVELS = "('COMMITTEE', 'GENERAL_BRANCH', 'BRANCH', 'GROUP')"


def upgrade() -> None:
    op.add_column(
        "areas", sa.Column("party_members", sa.Integer(), server_default="0", nullable=False)
    )
    op.add_column(
        "areas", sa.Column("office_space_m2", sa.Numeric(precision=10, scale=2), nullable=True)
    )
    op.add_column(
        "areas", sa.Column("boundary", postgresql.JSONB(astext_type=sa.Text()), nullable=True)
    )
    op.create_check_constraint(op.f("ck_areas_party_members_nonneg"), "areas", "party_members >= 0")
    op.create_check_constraint(
        op.f("ck_areas_office_space_nonneg"), "areas", "office_space_m2 >= 0"
    )
    op.create_check_constraint(
        op.f("ck_areas_boundary_is_polygon"),
        "areas",
        "boundary IS NULL OR boundary->>'type' = 'Polygon'",
    )
    op.add_column("organizations", sa.Column("party_level", sa.String(length=16), nullable=True))
    op.create_check_constraint(
        op.f("ck_organizations_party_level_valid"),
        "organizations",
        f"party_level IS NULL OR (kind = 'PARTY_ORGANIZATION' AND party_level IN {LEVELS})",
    )
    op.create_index(
        "ix_organizations_party_level",
        "organizations",
        ["party_level", "area_id"],
        postgresql_where=sa.text("party_level IS NOT NULL"),
    )
    op.execute(
        "UPDATE organizations SET party_level = CASE"
        " WHEN name LIKE '%党小组' THEN 'GROUP'"
        " WHEN name LIKE '%党总支' THEN 'GENERAL_BRANCH'"
        " WHEN name LIKE '%支部' THEN 'BRANCH'"
        " WHEN name LIKE '%党委' OR name LIKE '%党工委' THEN 'COMMITTEE' END"
        " WHERE kind = 'PARTY_ORGANIZATION'"
    )


def downgrade() -> None:
    op.drop_index("ix_organizations_party_level", table_name="organizations")
    op.drop_constraint(op.f("ck_organizations_party_level_valid"), "organizations", type_="check")
    op.drop_column("organizations", "party_level")
    op.drop_constraint(op.f("ck_areas_boundary_is_polygon"), "areas", type_="check")
    op.drop_constraint(op.f("ck_areas_office_space_nonneg"), "areas", type_="check")
    op.drop_constraint(op.f("ck_areas_party_members_nonneg"), "areas", type_="check")
    op.drop_column("areas", "boundary")
    op.drop_column("areas", "office_space_m2")
    op.drop_column("areas", "party_members")

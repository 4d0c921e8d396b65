"""sign-in throttles and link proposals

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22

Failed sign-ins are counted per client address, per account and per account from one address
(``sign_in_throttles``) instead of on the users row, so that one address cannot lock an account for
everyone. A link waits in ``organization_link_proposals`` until both of its ends have consented.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sign_in_throttles",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_sign_in_throttles")),
    )
    op.drop_column("users", "failed_logins")
    op.drop_column("users", "locked_until")
    op.create_table(
        "organization_link_proposals",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("source_id", sa.BigInteger(), nullable=False),
        sa.Column("target_id", sa.BigInteger(), nullable=False),
        sa.Column("since", sa.Date(), nullable=True),
        sa.Column("proposed_by", sa.BigInteger(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "source_id <> target_id", name=op.f("ck_organization_link_proposals_not_self")
        ),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["organizations.id"],
            name=op.f("fk_organization_link_proposals_source_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["target_id"],
            ["organizations.id"],
            name=op.f("fk_organization_link_proposals_target_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["proposed_by"],
            ["users.id"],
            name=op.f("fk_organization_link_proposals_proposed_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organization_link_proposals")),
    )
    op.create_index(
        "uq_organization_link_proposals_kind_source_target",
        "organization_link_proposals",
        ["kind", "source_id", "target_id"],
        unique=True,
    )
    op.create_index(
        "ix_organization_link_proposals_target",
        "organization_link_proposals",
        ["target_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_organization_link_proposals_target", table_name="organization_link_proposals")
    op.drop_index(
        "uq_organization_link_proposals_kind_source_target",
        table_name="organization_link_proposals",
    )
    op.drop_table("organization_link_proposals")
    op.add_column("users", sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "users",
        sa.Column("failed_logins", sa.Integer(), server_default=sa.text("0"), nullable=False),
    )
    op.alter_column("users", "failed_logins", server_default=None)
    op.drop_table("sign_in_throttles")

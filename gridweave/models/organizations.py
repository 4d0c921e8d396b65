from __future__ import annotations

from datetime import date
from enum import StrEnum

from sqlalchemy import BigInteger, CheckConstraint, Date, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from gridweave.models.base import Base, Timestamped


class OrganizationKind(StrEnum):
    PARTY_ORGANIZATION = "PARTY_ORGANIZATION"
    MASS_ORGANIZATION = "MASS_ORGANIZATION"
    SOCIAL_ORGANIZATION = "SOCIAL_ORGANIZATION"
    VOLUNTEER_TEAM = "VOLUNTEER_TEAM"
    CO_RESIDENT_UNIT = "CO_RESIDENT_UNIT"
    SELF_GOVERNANCE_ORGANIZATION = "SELF_GOVERNANCE_ORGANIZATION"
    ECONOMIC_ORGANIZATION = "ECONOMIC_ORGANIZATION"
    SERVICE_CENTER = "SERVICE_CENTER"
    GOVERNMENT_DEPARTMENT = "GOVERNMENT_DEPARTMENT"


class PartyLevel(StrEnum):
    """A party organization's level: 党委 > 党总支 > 党支部 > 党小组."""

    COMMITTEE = "COMMITTEE"
    GENERAL_BRANCH = "GENERAL_BRANCH"
    BRANCH = "BRANCH"
    GROUP = "GROUP"


class LinkKind(StrEnum):
    GUIDES = "GUIDES"
    SUPPORTS = "SUPPORTS"
    CONCURRENT_POST = "CONCURRENT_POST"
    FUNDS = "FUNDS"
    PARTNERS = "PARTNERS"


class Organization(Timestamped, Base):
    """``area_path`` copies the home area's materialised path (areas never move), so "organizations
    in this area or below" is one range scan on this table."""

    __tablename__ = "organizations"
    __table_args__ = (
        CheckConstraint("length(btrim(name)) > 0", name="name_not_empty"),
        CheckConstraint("parent_id IS NULL OR parent_id <> id", name="not_own_parent"),
        CheckConstraint(
            "party_level IS NULL OR (kind = 'PARTY_ORGANIZATION' AND party_level IN "
            "('COMMITTEE', 'GENERAL_BRANCH', 'BRANCH', 'GROUP'))",
            name="party_level_valid",
        ),
        Index(
            "ix_organizations_party_level",
            "party_level",
            "area_id",
            postgresql_where=text("party_level IS NOT NULL"),
        ),
        Index(
            "ix_organizations_area_path",
            "area_path",
            postgresql_ops={"area_path": "text_pattern_ops"},
        ),
        Index("ix_organizations_area_id", "area_id", "id"),
        Index("ix_organizations_parent_id", "parent_id"),
        Index("ix_organizations_kind", "kind", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(40))
    credit_code: Mapped[str | None] = mapped_column(String(18), unique=True)
    area_id: Mapped[int] = mapped_column(ForeignKey("areas.id", ondelete="RESTRICT"))
    area_path: Mapped[str] = mapped_column(Text)
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="RESTRICT")
    )
    party_level: Mapped[str | None] = mapped_column(String(16))


class OrganizationServiceArea(Base):
    __tablename__ = "organization_service_areas"
    __table_args__ = (Index("ix_osa_area_category", "area_id", "category_id"),)

    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    area_id: Mapped[int] = mapped_column(
        ForeignKey("areas.id", ondelete="RESTRICT"), primary_key=True
    )
    category_id: Mapped[int] = mapped_column(
        ForeignKey("service_categories.id", ondelete="RESTRICT"), primary_key=True
    )


class OrganizationLink(Timestamped, Base):
    __tablename__ = "organization_links"
    __table_args__ = (
        CheckConstraint("source_id <> target_id", name="not_self"),
        Index(
            "uq_organization_links_kind_source_target",
            "kind",
            "source_id",
            "target_id",
            unique=True,
        ),
        Index("ix_organization_links_source", "source_id"),
        Index("ix_organization_links_target", "target_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    source_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    target_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    since: Mapped[date | None] = mapped_column(Date)


class OrganizationLinkProposal(Timestamped, Base):
    """A link one end has consented to and the other has not yet: not a tie until the target's
    side confirms it (see services.organizations.link_organizations)."""

    __tablename__ = "organization_link_proposals"
    __table_args__ = (
        CheckConstraint("source_id <> target_id", name="not_self"),
        Index(
            "uq_organization_link_proposals_kind_source_target",
            "kind",
            "source_id",
            "target_id",
            unique=True,
        ),
        Index("ix_organization_link_proposals_target", "target_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    source_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    target_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    since: Mapped[date | None] = mapped_column(Date)
    proposed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import ExcludeConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gridweave.models.base import Base, Timestamped


class AgreementStatus(StrEnum):
    DRAFT = "DRAFT"
    ACTIVE = "ACTIVE"
    EXPIRED = "EXPIRED"
    TERMINATED = "TERMINATED"


class CommitmentUnit(StrEnum):
    HOURS = "HOURS"
    YUAN = "YUAN"
    SQUARE_METERS = "SQUARE_METERS"
    PEOPLE = "PEOPLE"
    ACTIVITIES = "ACTIVITIES"


# The days an agreement is in force: [starts_on, ends_on], cut short on the day it is terminated
# (empty when terminated before it started). Two agreements of one community and partner whose
# spans share a day break the exclusion constraint below.
IN_FORCE = (
    "daterange(starts_on, GREATEST(starts_on, LEAST(ends_on + 1, "
    "COALESCE(terminated_on, ends_on + 1))), '[)')"
)


class Agreement(Timestamped, Base):
    """A co-building agreement (共建协议) between a community and a partner organization.

    Status is not stored: DRAFT before ``starts_on``, ACTIVE through ``ends_on``, EXPIRED after,
    TERMINATED once ``terminated_on`` is set. The exclusion constraint keeps one community and
    partner from holding two agreements in force on one day, whatever races; it compares the ids
    as one-point ranges (``int8range``), which GiST indexes natively, so no extension is needed."""

    __tablename__ = "agreements"
    __table_args__ = (
        CheckConstraint("ends_on > starts_on", name="ends_after_start"),
        CheckConstraint(
            "min_activities_per_quarter >= 0 AND min_activities_per_quarter <= 1000",
            name="min_activities_range",
        ),
        CheckConstraint("length(btrim(title)) > 0", name="title_not_empty"),
        CheckConstraint(
            "(terminated_on IS NULL) = (termination_reason IS NULL)", name="termination_has_reason"
        ),
        ExcludeConstraint(
            (text("int8range(community_id, community_id, '[]')"), "&&"),
            (text("int8range(partner_id, partner_id, '[]')"), "&&"),
            (text(IN_FORCE), "&&"),
            name="ex_agreements_one_in_force",
            using="gist",
        ),
        Index(
            "ix_agreements_community_path",
            "community_path",
            postgresql_ops={"community_path": "text_pattern_ops"},
        ),
        Index("ix_agreements_partner", "partner_id", "id"),
        Index("ix_agreements_meeting", "joint_meeting_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    community_id: Mapped[int] = mapped_column(ForeignKey("areas.id", ondelete="RESTRICT"))
    community_path: Mapped[str] = mapped_column(Text)
    partner_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="RESTRICT"))
    joint_meeting_id: Mapped[int | None] = mapped_column(
        ForeignKey("joint_meetings.id", ondelete="RESTRICT")
    )
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    min_activities_per_quarter: Mapped[int] = mapped_column(Integer, default=1)
    terminated_on: Mapped[date | None] = mapped_column(Date)
    termination_reason: Mapped[str | None] = mapped_column(Text)


class Commitment(Base):
    """What a partner commits to: an exact quantity (numeric, never float) in a unit, optionally in
    a service category."""

    __tablename__ = "agreement_commitments"
    __table_args__ = (
        CheckConstraint("quantity >= 0", name="quantity_nonneg"),
        Index("ix_agreement_commitments_agreement", "agreement_id", "position"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreements.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    category_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("service_categories.id", ondelete="RESTRICT")
    )
    description: Mapped[str] = mapped_column(String(500))
    quantity: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    unit: Mapped[str] = mapped_column(String(16))

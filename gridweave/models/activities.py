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
from sqlalchemy.orm import Mapped, mapped_column

from gridweave.models.base import Base, Timestamped


class ActivitySource(StrEnum):
    """Where a service activity row came from."""

    RECORDED = "RECORDED"  # recordServiceActivity: an organization's own report
    CLAIM = "CLAIM"  # a claim's completion report (source_id is the claim's id)
    DEMO = "DEMO"  # the demo generator


class ServiceActivity(Timestamped, Base):
    """What an organization did in an area: the one table every count of service work reads
    (agreements' quarterly minimum, coverage's visit frequency, volunteer recognition).

    ``area_path`` copies the area's materialised path (areas never move), so "activities in this
    subtree, this category, this period" is one range scan of
    ``ix_service_activities_category_path`` (category, then path prefix, then date, with hours and
    beneficiaries included so sums need not visit the heap). Without a category,
    ``ix_service_activities_path`` serves the same; per organization (an agreement's partner),
    ``ix_service_activities_organization``; a trailing window of a large subtree (coverage's
    recent activity), ``ix_service_activities_day`` (migration 0008). A (source, source_id) pair
    is unique, so a claim's completion report writes at most one row."""

    __tablename__ = "service_activities"
    __table_args__ = (
        CheckConstraint("hours >= 0", name="hours_nonneg"),
        CheckConstraint("beneficiaries >= 0", name="beneficiaries_nonneg"),
        CheckConstraint("source <> 'CLAIM' OR source_id IS NOT NULL", name="claim_has_id"),
        Index(
            "ix_service_activities_category_path",
            "category_id",
            "area_path",
            "occurred_on",
            postgresql_ops={"area_path": "text_pattern_ops"},
            postgresql_include=["hours", "beneficiaries", "organization_id"],
        ),
        Index(
            "ix_service_activities_path",
            "area_path",
            "occurred_on",
            postgresql_ops={"area_path": "text_pattern_ops"},
        ),
        Index("ix_service_activities_organization", "organization_id", "occurred_on"),
        Index(
            "ix_service_activities_day",
            "occurred_on",
            postgresql_include=["area_path", "organization_id"],
        ),
        Index(
            "uq_service_activities_source",
            "source",
            "source_id",
            unique=True,
            postgresql_where=text("source_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="RESTRICT")
    )
    area_id: Mapped[int] = mapped_column(ForeignKey("areas.id", ondelete="RESTRICT"), index=True)
    area_path: Mapped[str] = mapped_column(Text)
    category_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("service_categories.id", ondelete="RESTRICT")
    )
    occurred_on: Mapped[date] = mapped_column(Date)
    hours: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    beneficiaries: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(16))
    source_id: Mapped[int | None] = mapped_column(BigInteger)
    recorded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))

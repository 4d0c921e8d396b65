"""Service projects (微心愿, 问题清单, 服务岗位, 共驻共建项目) and the claims on them (认领).

The counters on a project (claimed places, claims active / reported / verified) are kept by a
database trigger on ``claims`` (migration 0004), not by the service: a claim inserted or changed
by any code moves them, and the check ``claimed_slots <= slots`` then refuses one place too many
even if a service forgot to lock. One live claim per claimant per project is a partial unique
index. A project's status is never stored: :func:`status_sql` derives it from those counters,
the cancellation and the deadline, in every read and every filter alike."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    SmallInteger,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from gridweave.models.base import Base, Timestamped

#: Deadlines are calendar days of the region: a project expires when its deadline day has ended
#: in China Standard Time.
REGION_TIMEZONE = "Asia/Shanghai"
MAX_SLOTS = 10_000


class ServiceProjectKind(StrEnum):
    SMALL_WISH = "SMALL_WISH"
    PROBLEM = "PROBLEM"
    SERVICE_POST = "SERVICE_POST"
    CO_BUILDING_PROJECT = "CO_BUILDING_PROJECT"


class ServiceProjectStatus(StrEnum):
    OPEN = "OPEN"
    PARTIALLY_CLAIMED = "PARTIALLY_CLAIMED"
    CLAIMED = "CLAIMED"
    COMPLETED = "COMPLETED"
    VERIFIED = "VERIFIED"
    CANCELLED = "CANCELLED"
    EXPIRED = "EXPIRED"


class ClaimStatus(StrEnum):
    ACTIVE = "ACTIVE"
    WITHDRAWN = "WITHDRAWN"
    COMPLETED = "COMPLETED"
    VERIFIED = "VERIFIED"


def region_today_sql() -> str:
    return f"(now() AT TIME ZONE '{REGION_TIMEZONE}')::date"


def status_sql(p: str = "service_projects") -> str:
    """The status of the project row ``p``, as SQL. In order:

    - CANCELLED once cancelled;
    - when no more claims can come (every place taken, or the deadline passed) and every live
      claim has reported: VERIFIED if the community verified them all, else COMPLETED;
    - EXPIRED when the deadline passed with places left;
    - else CLAIMED / PARTIALLY_CLAIMED / OPEN by the places taken."""
    past = f"({p}.deadline IS NOT NULL AND {p}.deadline < {region_today_sql()})"
    return (
        f"CASE WHEN {p}.cancelled_at IS NOT NULL THEN 'CANCELLED'"
        f" WHEN ({p}.claimed_slots = {p}.slots OR {past}) AND {p}.claimed_slots > 0"
        f" AND {p}.active_claims = 0"
        f" THEN CASE WHEN {p}.reported_claims = 0 THEN 'VERIFIED' ELSE 'COMPLETED' END"
        f" WHEN {past} THEN 'EXPIRED'"
        f" WHEN {p}.claimed_slots = {p}.slots THEN 'CLAIMED'"
        f" WHEN {p}.claimed_slots > 0 THEN 'PARTIALLY_CLAIMED'"
        " ELSE 'OPEN' END"
    )


class ServiceProject(Timestamped, Base):
    __tablename__ = "service_projects"
    __table_args__ = (
        CheckConstraint("length(btrim(title)) > 0", name="title_not_empty"),
        CheckConstraint("length(description) <= 4000", name="description_length"),
        CheckConstraint(f"slots BETWEEN 1 AND {MAX_SLOTS}", name="slots_range"),
        CheckConstraint(
            "claimed_slots >= 0 AND claimed_slots <= slots", name="claimed_within_slots"
        ),
        CheckConstraint(
            "active_claims >= 0 AND reported_claims >= 0 AND verified_claims >= 0",
            name="counts_nonneg",
        ),
        CheckConstraint(
            "(cancelled_at IS NULL) = (cancel_reason IS NULL)", name="cancel_has_reason"
        ),
        CheckConstraint(
            "kind IN ('SMALL_WISH', 'PROBLEM', 'SERVICE_POST', 'CO_BUILDING_PROJECT')",
            name="kind_known",
        ),
        Index(
            "ix_service_projects_area_path",
            "area_path",
            "id",
            postgresql_ops={"area_path": "text_pattern_ops"},
        ),
        Index("ix_service_projects_category", "category_id", "id"),
        Index("ix_service_projects_posted_by", "posted_by_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(24))
    category_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("service_categories.id", ondelete="RESTRICT")
    )
    area_id: Mapped[int] = mapped_column(ForeignKey("areas.id", ondelete="RESTRICT"))
    area_path: Mapped[str] = mapped_column(Text)
    posted_by_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="RESTRICT"))
    slots: Mapped[int] = mapped_column(Integer)
    claimed_slots: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    active_claims: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    reported_claims: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    verified_claims: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    deadline: Mapped[date | None] = mapped_column(Date)
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancel_reason: Mapped[str | None] = mapped_column(Text)


class Claim(Base):
    __tablename__ = "claims"
    __table_args__ = (
        CheckConstraint("slots >= 1", name="slots_positive"),
        CheckConstraint(
            "status IN ('ACTIVE', 'WITHDRAWN', 'COMPLETED', 'VERIFIED')", name="status_known"
        ),
        CheckConstraint(
            "(status IN ('COMPLETED', 'VERIFIED')) = (reported_at IS NOT NULL"
            " AND report_summary IS NOT NULL AND report_hours IS NOT NULL"
            " AND report_beneficiaries IS NOT NULL AND completed_on IS NOT NULL)",
            name="report_when_completed",
        ),
        CheckConstraint("report_hours >= 0 AND report_beneficiaries >= 0", name="report_nonneg"),
        CheckConstraint(
            f"completed_on <= (reported_at AT TIME ZONE '{REGION_TIMEZONE}')::date",
            name="completed_not_future",
        ),
        CheckConstraint(
            "(status = 'VERIFIED') = (rating IS NOT NULL AND verified_at IS NOT NULL)",
            name="rating_when_verified",
        ),
        CheckConstraint("rating BETWEEN 1 AND 5", name="rating_range"),
        CheckConstraint("(status = 'WITHDRAWN') = (withdrawn_at IS NOT NULL)", name="withdrawn_at"),
        Index(
            "uq_claims_one_live_per_claimant",
            "project_id",
            "claimant_id",
            unique=True,
            postgresql_where=text("status <> 'WITHDRAWN'"),
        ),
        Index("ix_claims_project", "project_id", "id"),
        Index("ix_claims_claimant", "claimant_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("service_projects.id", ondelete="RESTRICT"))
    claimant_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="RESTRICT"))
    slots: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), server_default=text("'ACTIVE'"))
    claimed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    withdrawn_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    report_summary: Mapped[str | None] = mapped_column(Text)
    report_hours: Mapped[Decimal | None] = mapped_column(Numeric(8, 2))
    report_beneficiaries: Mapped[int | None] = mapped_column(Integer)
    completed_on: Mapped[date | None] = mapped_column(Date)
    reported_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    rating: Mapped[int | None] = mapped_column(SmallInteger)
    verified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

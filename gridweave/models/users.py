from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, CheckConstraint, DateTime, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from gridweave.models.base import Base, Timestamped


class Role(StrEnum):
    ADMIN = "ADMIN"
    COORDINATOR = "COORDINATOR"
    ORGANIZATION_MEMBER = "ORGANIZATION_MEMBER"
    EVALUATOR = "EVALUATOR"
    AUDITOR = "AUDITOR"


class User(Timestamped, Base):
    __tablename__ = "users"
    __table_args__ = (Index("uq_users_email_lower", text("lower(email)"), unique=True),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    display_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(200))


class RoleGrant(Base):
    __tablename__ = "role_grants"
    __table_args__ = (
        CheckConstraint(
            "role <> 'ORGANIZATION_MEMBER' OR organization_id IS NOT NULL", name="member_has_org"
        ),
        Index(
            "uq_role_grants_scope",
            "user_id",
            "role",
            text("coalesce(area_id, 0)"),
            text("coalesce(organization_id, 0)"),
            unique=True,
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(32))
    area_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id", ondelete="RESTRICT"))
    organization_id: Mapped[int | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="RESTRICT")
    )


class SignInThrottle(Base):
    """Failed sign-ins counted per key (a client address, an account, an account from one
    address), in the database so that every process sees the same counts. ``key`` carries no
    email in clear: accounts are keyed by a digest of the normalized email, known or not."""

    __tablename__ = "sign_in_throttles"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    failures: Mapped[int]
    window_started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

from __future__ import annotations

from datetime import date
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from gridweave.models.base import Base, Timestamped


class RotationPeriod(StrEnum):
    MONTH = "MONTH"
    QUARTER = "QUARTER"
    HALF_YEAR = "HALF_YEAR"
    YEAR = "YEAR"


class JointMeeting(Timestamped, Base):
    """A joint meeting (联席会议) of the units of an area. ``area_path`` copies the area's path, so
    "meetings in this subtree" is one range scan."""

    __tablename__ = "joint_meetings"
    __table_args__ = (
        CheckConstraint("length(btrim(name)) > 0", name="name_not_empty"),
        Index(
            "ix_joint_meetings_area_path",
            "area_path",
            postgresql_ops={"area_path": "text_pattern_ops"},
        ),
        Index("ix_joint_meetings_area_id", "area_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    area_id: Mapped[int] = mapped_column(ForeignKey("areas.id", ondelete="RESTRICT"))
    area_path: Mapped[str] = mapped_column(Text)
    rotation_period: Mapped[str] = mapped_column(String(16))
    starts_on: Mapped[date] = mapped_column(Date)


class JointMeetingMember(Base):
    """One stretch of membership: a member on ``joined_on`` and every day before ``left_on``
    (exclusive; null while still a member). Rows are never deleted, so any past date shows who
    was a member then; one open stretch per organization and meeting (no member twice)."""

    __tablename__ = "joint_meeting_members"
    __table_args__ = (
        CheckConstraint("left_on IS NULL OR left_on >= joined_on", name="left_after_joined"),
        Index(
            "uq_joint_meeting_members_open",
            "meeting_id",
            "organization_id",
            unique=True,
            postgresql_where=text("left_on IS NULL"),
        ),
        Index("ix_joint_meeting_members_meeting", "meeting_id", "id"),
        Index("ix_joint_meeting_members_organization", "organization_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("joint_meetings.id", ondelete="CASCADE"))
    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="RESTRICT")
    )
    joined_on: Mapped[date] = mapped_column(Date)
    left_on: Mapped[date | None] = mapped_column(Date)


class ConvenerRotation(Base):
    """The rotation in force from ``effective_from`` until the next row of the same meeting: the
    members in convener order, and ``anchor``, the index of the member who convenes the period
    containing ``effective_from``. A membership change appends a row and never edits one, so
    past terms stay as they were (services/rotation.py computes conveners from these rows)."""

    __tablename__ = "convener_rotations"
    __table_args__ = (
        CheckConstraint(
            "anchor >= 0 AND (anchor < cardinality(member_ids) OR cardinality(member_ids) = 0)",
            name="anchor_in_members",
        ),
        Index("ix_convener_rotations_meeting", "meeting_id", "effective_from", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("joint_meetings.id", ondelete="CASCADE"))
    effective_from: Mapped[date] = mapped_column(Date)
    member_ids: Mapped[list[int]] = mapped_column(ARRAY(BigInteger))
    anchor: Mapped[int] = mapped_column(Integer)


class MeetingSession(Timestamped, Base):
    """A sitting of a joint meeting. ``convener_id`` is the convener of the period containing
    ``held_on``, stored when the session is recorded (past terms never change)."""

    __tablename__ = "meeting_sessions"
    __table_args__ = (Index("ix_meeting_sessions_meeting", "meeting_id", "held_on"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("joint_meetings.id", ondelete="CASCADE"))
    held_on: Mapped[date] = mapped_column(Date)
    convener_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="RESTRICT"))
    resolutions: Mapped[list[str]] = mapped_column(ARRAY(Text))


class MeetingSessionAttendee(Base):
    __tablename__ = "meeting_session_attendees"
    __table_args__ = (Index("ix_meeting_session_attendees_organization", "organization_id"),)

    session_id: Mapped[int] = mapped_column(
        ForeignKey("meeting_sessions.id", ondelete="CASCADE"), primary_key=True
    )
    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="RESTRICT"), primary_key=True
    )

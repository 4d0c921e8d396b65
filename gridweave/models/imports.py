from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, Integer, String, Text, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from gridweave.models.base import Base


class ImportReport(Base):
    """What one spreadsheet import (or dry run) found and did, kept so that an API caller can
    page through it. Not domain data: a refused import writes its report and nothing else."""

    __tablename__ = "import_reports"
    __table_args__ = (Index("ix_import_reports_created_at", "created_at"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    file_name: Mapped[str] = mapped_column(String(200))
    dry_run: Mapped[bool]
    status: Mapped[str] = mapped_column(String(16))
    summary: Mapped[dict[str, Any]] = mapped_column(JSONB)


class ImportReportLine(Base):
    """One problem, or one row's outcome (created, updated, unchanged), in file order."""

    __tablename__ = "import_report_lines"

    report_id: Mapped[int] = mapped_column(
        ForeignKey("import_reports.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    outcome: Mapped[str] = mapped_column(String(16))
    sheet: Mapped[str] = mapped_column(String(40))
    row: Mapped[int] = mapped_column(Integer)
    column: Mapped[str | None] = mapped_column(String(80))
    entity_id: Mapped[str | None] = mapped_column(String(200))
    message: Mapped[str | None] = mapped_column(Text)

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Numeric, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from gridweave.models.base import Base, Timestamped


class AreaLevel(StrEnum):
    CITY = "CITY"
    DISTRICT = "DISTRICT"
    STREET = "STREET"
    COMMUNITY = "COMMUNITY"
    GRID = "GRID"
    COURTYARD = "COURTYARD"
    BUILDING = "BUILDING"


LEVEL_ORDER = list(AreaLevel)

VULNERABLE_COLUMNS = {
    "ELDERLY_LIVING_ALONE": "elderly_living_alone",
    "LEFT_BEHIND_CHILDREN": "left_behind_children",
    "DISABLED_HOUSEHOLDS": "disabled_households",
    "HARDSHIP_HOUSEHOLDS": "hardship_households",
    "MOBILE_POPULATION": "mobile_population",
}


class Area(Timestamped, Base):
    """An administrative area. ``path`` is the materialised path '/1/5/23/' of ids from the root:
    a subtree is one index range scan (``path LIKE '/1/5/%'``). Areas never move, so it never
    changes after insert."""

    __tablename__ = "areas"
    __table_args__ = (
        CheckConstraint("households >= 0", name="households_nonneg"),
        CheckConstraint("population >= 0", name="population_nonneg"),
        CheckConstraint(
            "elderly_living_alone >= 0 AND left_behind_children >= 0 AND disabled_households >= 0"
            " AND hardship_households >= 0 AND mobile_population >= 0",
            name="vulnerable_nonneg",
        ),
        CheckConstraint("length(btrim(name)) > 0", name="name_not_empty"),
        CheckConstraint("party_members >= 0", name="party_members_nonneg"),
        CheckConstraint("office_space_m2 >= 0", name="office_space_nonneg"),
        CheckConstraint(
            "boundary IS NULL OR boundary->>'type' = 'Polygon'", name="boundary_is_polygon"
        ),
        Index("ix_areas_path", "path", postgresql_ops={"path": "text_pattern_ops"}),
        Index("ix_areas_parent_id", "parent_id", "id"),
        Index("ix_areas_level", "level", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    code: Mapped[str | None] = mapped_column(String(64), unique=True)
    level: Mapped[str] = mapped_column(String(16))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id", ondelete="RESTRICT"))
    path: Mapped[str] = mapped_column(Text)
    households: Mapped[int] = mapped_column(default=0)
    population: Mapped[int] = mapped_column(default=0)
    elderly_living_alone: Mapped[int] = mapped_column(default=0)
    left_behind_children: Mapped[int] = mapped_column(default=0)
    disabled_households: Mapped[int] = mapped_column(default=0)
    hardship_households: Mapped[int] = mapped_column(default=0)
    mobile_population: Mapped[int] = mapped_column(default=0)
    # Party members living here (an aggregate, like the counts above), for the "333" rule.
    party_members: Mapped[int] = mapped_column(default=0, server_default="0")
    # A community's office and service space; None while not recorded (30 m² per 100 households).
    office_space_m2: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))
    # An optional GeoJSON Polygon (validated by services/boundaries.py), drawn by the map.
    boundary: Mapped[dict[str, Any] | None] = mapped_column(JSONB)


class AreaNeighbor(Base):
    """Adjacency, stored in both directions so either end finds the other with one index."""

    __tablename__ = "area_neighbors"
    __table_args__ = (CheckConstraint("area_id <> neighbor_id", name="not_self"),)

    area_id: Mapped[int] = mapped_column(
        ForeignKey("areas.id", ondelete="CASCADE"), primary_key=True
    )
    neighbor_id: Mapped[int] = mapped_column(
        ForeignKey("areas.id", ondelete="CASCADE"), primary_key=True, index=True
    )

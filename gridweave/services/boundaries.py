"""Area boundaries: an optional GeoJSON Polygon (RFC 7946) per area, checked before it is
stored (the database only checks that it says it is a Polygon)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from gridweave.errors import ValidationFailed

MAX_POSITIONS = 5_000
MAX_RINGS = 20


def validate_boundary(value: Any, *, field: Sequence[str] = ("boundary",)) -> dict[str, Any]:
    """A clean copy of a GeoJSON Polygon: linear rings of at least four [lon, lat] positions,
    closed (first equals last), finite, within the globe's ranges; at most 20 rings and 5,000
    positions in all."""

    def refuse(why: str) -> ValidationFailed:
        return ValidationFailed(f"The boundary is not a GeoJSON Polygon: {why}.", field=field)

    if not isinstance(value, dict) or value.get("type") != "Polygon":
        raise refuse('it needs "type": "Polygon"')
    rings = value.get("coordinates")
    if not isinstance(rings, list) or not 1 <= len(rings) <= MAX_RINGS:
        raise refuse(f"it needs 1 to {MAX_RINGS} rings of positions")
    total = 0
    clean: list[list[list[float]]] = []
    for ring in rings:
        if not isinstance(ring, list) or len(ring) < 4:
            raise refuse("each ring has at least four positions")
        total += len(ring)
        if total > MAX_POSITIONS:
            raise refuse(f"at most {MAX_POSITIONS} positions")
        out: list[list[float]] = []
        for p in ring:
            if (
                not isinstance(p, list)
                or len(p) not in (2, 3)
                or not all(isinstance(c, int | float) and not isinstance(c, bool) for c in p)
            ):
                raise refuse("a position is [longitude, latitude]")
            lon, lat = float(p[0]), float(p[1])
            if not (math.isfinite(lon) and math.isfinite(lat)):
                raise refuse("positions are finite numbers")
            if not (-180 <= lon <= 180 and -90 <= lat <= 90):
                raise refuse("longitude lies in -180..180 and latitude in -90..90")
            out.append([lon, lat])
        if out[0] != out[-1]:
            raise refuse("each ring ends where it starts")
        clean.append(out)
    return {"type": "Polygon", "coordinates": clean}

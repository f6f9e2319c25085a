"""Boundary validation: a GeoJSON Polygon or MultiPolygon with closed rings inside Inner Mongolia."""

from __future__ import annotations

import math
from typing import Any

# Inner Mongolia spans about 97°12′–126°04′ E and 37°24′–53°23′ N; a small margin for survey data.
LON_MIN, LON_MAX = 97.0, 126.2
LAT_MIN, LAT_MAX = 37.3, 53.5


def _position(p: Any, where: str) -> tuple[float, float]:
    if not isinstance(p, list) or len(p) not in (2, 3) or not all(
        isinstance(c, int | float) and not isinstance(c, bool) and math.isfinite(c) for c in p
    ):
        raise ValueError(f"{where}: a position is [longitude, latitude] in decimal degrees")
    lon, lat = float(p[0]), float(p[1])
    if not (LON_MIN <= lon <= LON_MAX and LAT_MIN <= lat <= LAT_MAX):
        raise ValueError(f"{where}: [{lon}, {lat}] lies outside Inner Mongolia's bounding box "
                         f"(longitude {LON_MIN}–{LON_MAX}, latitude {LAT_MIN}–{LAT_MAX})")
    return lon, lat


def _polygon(rings: Any, where: str) -> None:
    if not isinstance(rings, list) or not rings:
        raise ValueError(f"{where}: a polygon is a non-empty list of linear rings")
    for i, ring in enumerate(rings):
        w = f"{where}[{i}]"
        if not isinstance(ring, list) or len(ring) < 4:
            raise ValueError(f"{w}: a linear ring needs at least 4 positions")
        points = [_position(p, f"{w}[{j}]") for j, p in enumerate(ring)]
        if points[0] != points[-1]:
            raise ValueError(f"{w}: the ring is not closed (first and last positions differ)")


def validate_boundary(value: Any) -> dict[str, Any]:
    """Return the boundary unchanged when valid; raise ValueError naming what is wrong."""
    if not isinstance(value, dict):
        raise ValueError("boundary must be a GeoJSON object")
    kind = value.get("type")
    coords = value.get("coordinates")
    if kind == "Polygon":
        _polygon(coords, "coordinates")
    elif kind == "MultiPolygon":
        if not isinstance(coords, list) or not coords:
            raise ValueError("coordinates: a MultiPolygon is a non-empty list of polygons")
        for k, poly in enumerate(coords):
            _polygon(poly, f"coordinates[{k}]")
    else:
        raise ValueError(f"type must be Polygon or MultiPolygon, not {kind!r}")
    extra = set(value) - {"type", "coordinates", "bbox"}
    if extra:
        raise ValueError(f"unexpected members {sorted(extra)}")
    return value

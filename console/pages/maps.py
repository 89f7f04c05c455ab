"""Grid boundaries drawn as inline SVG (no map tiles: it works offline and under the console's CSP)."""

from __future__ import annotations

from typing import Any


def boundary_svg(boundary: dict[str, Any] | None, name: str, point: tuple[float, float] | None = None) -> Any:
    """A GeoJSON polygon (and an optional lng, lat point) projected into a 300×300 SVG box; None without one."""
    if not boundary:
        return None
    geometry = boundary.get("geometry", boundary)
    if geometry.get("type") == "Polygon":
        rings = [geometry["coordinates"][0]]
    elif geometry.get("type") == "MultiPolygon":
        rings = [polygon[0] for polygon in geometry["coordinates"]]
    else:
        return None
    points = [pt for ring in rings for pt in ring]
    if point is not None:
        points.append([point[0], point[1]])
    xs, ys = [float(p[0]) for p in points], [float(p[1]) for p in points]
    span = max(max(xs) - min(xs), max(ys) - min(ys)) or 1e-6
    size, pad = 300.0, 15.0

    def project(lng: float, lat: float) -> tuple[float, float]:
        return (pad + (lng - min(xs)) / span * (size - 2 * pad), size - pad - (lat - min(ys)) / span * (size - 2 * pad))

    paths = [
        " ".join(f"{x:.1f},{y:.1f}" for x, y in (project(float(p[0]), float(p[1])) for p in ring)) for ring in rings
    ]
    return {"polygons": paths, "point": project(*point) if point is not None else None, "name": name}

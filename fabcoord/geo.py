"""Where cities are: the table ``data/cities.csv`` and great-circle distances between its points.

A fablab or a hospital is placed by its city (a hospital whose city names two sites, ``"Saint-Denis;
Saint-Pierre"``, by the first). A city missing from the table is an error that names the table, so
the coordinator knows where to add it.
"""

from __future__ import annotations

import csv
import functools
import math
from dataclasses import dataclass
from pathlib import Path

from fabcoord.errors import InvalidInput
from fabcoord.fablabs import slugify

CITIES_FILE = "cities.csv"
EARTH_RADIUS_KM = 6371.0


class UnknownCity(InvalidInput):
    """A city is not in the coordinates table."""


@dataclass(frozen=True)
class Point:
    latitude: float
    longitude: float


@functools.lru_cache(maxsize=4096)
def _key(text: str) -> str:
    """A city's or region's name as looked up (memoised: the table's 2,500 rows name a dozen
    regions, and ten thousand order lines a few thousand hospitals' cities)."""
    return slugify(text.split(";")[0])


class CityTable:
    """The cities of ``data/cities.csv`` by name (accents and case ignored), with their region."""

    def __init__(self, rows: list[tuple[str, str, Point]], path: Path) -> None:
        self.path = path
        self._by_name: dict[str, list[tuple[str, Point]]] = {}
        for city, region, point in rows:
            self._by_name.setdefault(_key(city), []).append((_key(region), point))

    @classmethod
    def load(cls, data_dir: Path) -> CityTable:
        """Read the table. Raises InvalidInput when it is missing or malformed."""
        path = data_dir / CITIES_FILE
        rows: list[tuple[str, str, Point]] = []
        try:
            with path.open(newline="", encoding="utf-8") as handle:
                for number, row in enumerate(csv.DictReader(handle), start=2):
                    try:
                        point = Point(float(row["latitude"]), float(row["longitude"]))
                    except (KeyError, TypeError, ValueError):
                        raise InvalidInput(f"{path} line {number}: bad coordinates") from None
                    rows.append((row["city"], row.get("region") or "", point))
        except FileNotFoundError:
            raise InvalidInput(f"city table {path} not found (set FABCOORD_DATA_DIR)") from None
        return cls(rows, path)

    def locate(self, city: str, region: str = "") -> Point:
        """The point of a city (the one in ``region`` when several cities share the name).

        Raises:
            UnknownCity: naming the table to add the city to.
        """
        found = self._by_name.get(_key(city))
        if not found:
            raise UnknownCity(
                f"unknown city {city.strip()!r}: add it (city, region, latitude, longitude, "
                f"source) to the city table {self.path}"
            )
        wanted = _key(region)
        return next((point for reg, point in found if reg == wanted), found[0][1])

    def __contains__(self, city: str) -> bool:
        return _key(city) in self._by_name


def distance_km(a: Point, b: Point) -> float:
    """Great-circle distance (haversine)."""
    lat1, lat2 = math.radians(a.latitude), math.radians(b.latitude)
    dlat = lat2 - lat1
    dlon = math.radians(b.longitude - a.longitude)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))

"""The official list of the 18 French regions (post-2016 boundaries: 13 in metropolitan France, 5
overseas), the only region names fabcoord accepts from a file.

Source: loi n° 2015-29 du 16 janvier 2015 and décret n° 2016-1267 (region names), as used by INSEE's
Code officiel géographique; spelled as in ``data/direccte.csv``.
"""

from __future__ import annotations

from functools import lru_cache

from fabcoord.errors import InvalidInput
from fabcoord.fablabs import slugify

METROPOLITAN: tuple[str, ...] = (
    "Auvergne-Rhône-Alpes",
    "Bourgogne-Franche-Comté",
    "Bretagne",
    "Centre-Val de Loire",
    "Corse",
    "Grand Est",
    "Hauts-de-France",
    "Île-de-France",
    "Normandie",
    "Nouvelle-Aquitaine",
    "Occitanie",
    "Pays de la Loire",
    "Provence-Alpes-Côte d'Azur",
)
OVERSEAS: tuple[str, ...] = ("Guadeloupe", "Guyane", "Martinique", "Mayotte", "La Réunion")
OFFICIAL_REGIONS: tuple[str, ...] = METROPOLITAN + OVERSEAS

_ALIASES = {
    "paca": "Provence-Alpes-Côte d'Azur",
    "region-sud": "Provence-Alpes-Côte d'Azur",
    "idf": "Île-de-France",
    "aura": "Auvergne-Rhône-Alpes",
    "bfc": "Bourgogne-Franche-Comté",
    "reunion": "La Réunion",
    "centre": "Centre-Val de Loire",
}
_BY_SLUG = {slugify(name): name for name in OFFICIAL_REGIONS} | _ALIASES


@lru_cache(maxsize=256)
def canonical_region(name: str) -> str | None:
    """The official spelling of ``name`` (case, accents, dashes and common short forms ignored),
    or None when it is not one of the 18 regions."""
    return _BY_SLUG.get(slugify(name))


def require_region(name: str, where: str = "") -> str:
    """The official spelling of ``name``; raises InvalidInput naming ``where`` when it is unknown."""
    found = canonical_region(name)
    if found is None:
        prefix = f"{where}: " if where else ""
        raise InvalidInput(f"{prefix}{name!r} is not one of the 18 French regions")
    return found

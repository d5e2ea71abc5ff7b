"""How far a supplier is from a fablab, by region: the same region, a neighbouring region, or
national (anywhere else, and every overseas region except its own).

Neighbouring regions share a land border. Source: the region boundaries of IGN's ADMIN EXPRESS
(the official map of French administrative units, https://geoservices.ign.fr/adminexpress), read
for the 13 metropolitan regions of 2016; Corse and the 5 overseas regions border none. The table is
checked symmetric by the tests.
"""

from __future__ import annotations

from enum import IntEnum

NEIGHBOURS: dict[str, frozenset[str]] = {
    "Auvergne-Rhône-Alpes": frozenset(
        {
            "Bourgogne-Franche-Comté",
            "Centre-Val de Loire",
            "Nouvelle-Aquitaine",
            "Occitanie",
            "Provence-Alpes-Côte d'Azur",
        }
    ),
    "Bourgogne-Franche-Comté": frozenset(
        {"Auvergne-Rhône-Alpes", "Centre-Val de Loire", "Grand Est", "Île-de-France"}
    ),
    "Bretagne": frozenset({"Normandie", "Pays de la Loire"}),
    "Centre-Val de Loire": frozenset(
        {
            "Auvergne-Rhône-Alpes",
            "Bourgogne-Franche-Comté",
            "Île-de-France",
            "Normandie",
            "Nouvelle-Aquitaine",
            "Pays de la Loire",
        }
    ),
    "Corse": frozenset(),
    "Grand Est": frozenset({"Bourgogne-Franche-Comté", "Hauts-de-France", "Île-de-France"}),
    "Hauts-de-France": frozenset({"Grand Est", "Île-de-France", "Normandie"}),
    "Île-de-France": frozenset(
        {
            "Bourgogne-Franche-Comté",
            "Centre-Val de Loire",
            "Grand Est",
            "Hauts-de-France",
            "Normandie",
        }
    ),
    "Normandie": frozenset(
        {"Bretagne", "Centre-Val de Loire", "Hauts-de-France", "Île-de-France", "Pays de la Loire"}
    ),
    "Nouvelle-Aquitaine": frozenset(
        {"Auvergne-Rhône-Alpes", "Centre-Val de Loire", "Occitanie", "Pays de la Loire"}
    ),
    "Occitanie": frozenset(
        {"Auvergne-Rhône-Alpes", "Nouvelle-Aquitaine", "Provence-Alpes-Côte d'Azur"}
    ),
    "Pays de la Loire": frozenset(
        {"Bretagne", "Centre-Val de Loire", "Normandie", "Nouvelle-Aquitaine"}
    ),
    "Provence-Alpes-Côte d'Azur": frozenset({"Auvergne-Rhône-Alpes", "Occitanie"}),
    "Guadeloupe": frozenset(),
    "Guyane": frozenset(),
    "Martinique": frozenset(),
    "Mayotte": frozenset(),
    "La Réunion": frozenset(),
}


class Distance(IntEnum):
    """Nearer ranks first."""

    SAME_REGION = 0
    NEIGHBOURING = 1
    NATIONAL = 2

    @property
    def label(self) -> str:
        return {0: "same region", 1: "neighbouring region", 2: "national"}[self.value]


def distance(supplier_region: str, fablab_region: str) -> Distance:
    if supplier_region == fablab_region:
        return Distance.SAME_REGION
    if supplier_region in NEIGHBOURS.get(fablab_region, frozenset()):
        return Distance.NEIGHBOURING
    return Distance.NATIONAL

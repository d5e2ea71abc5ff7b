"""Numbers, dates and labels as a French reader expects them (shared by the PDF and the charts)."""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Any

import pandas as pd

from fabcoord.clock import as_utc
from fabcoord.reports.week import PARIS

MISSING = "n.d."
PERCENT = frozenset({"fill_rate", "utilisation", "failure_rate"})

KEY_LABELS = {
    "printed": "Montures imprimées",
    "assembled": "Visières assemblées",
    "released": "Visières libérées (lots)",
    "shipped": "Pièces expédiées",
    "delivered": "Pièces livrées aux hôpitaux",
    "backlog": "Demande ouverte (carnet à livrer)",
    "backlog_age_days": "Âge de la plus ancienne commande ouverte (jours)",
    "fill_rate": "Taux de service (livré / commandé)",
    "utilisation": "Utilisation des imprimantes",
    "failure_rate": "Taux d'échec d'impression",
    "scrap_g": "Rebut matière des impressions ratées (g)",
    "days_cover_min": "Couverture matière la plus courte (jours)",
    "handed_off": "Volume transmis aux partenaires",
}


def missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    try:
        return bool(isinstance(value, float) and math.isnan(value))
    except TypeError:
        return False


def number(value: Any, *, decimals: int = 0) -> str:
    """``12345`` → ``12 345``; ``2.5`` → ``2,5``; nothing → ``n.d.``."""
    if missing(value):
        return MISSING
    text = f"{float(value):,.{decimals}f}".replace(",", " ").replace(".", ",")
    return text


def percent(value: Any) -> str:
    return MISSING if missing(value) else number(float(value) * 100, decimals=1) + " %"


def key_value(figure: str, value: Any) -> str:
    if figure in PERCENT:
        return percent(value)
    if figure in {"backlog_age_days", "days_cover_min"}:
        return number(value, decimals=1)
    return number(value)


def change(figure: str, value: Any) -> str:
    if missing(value):
        return "—"
    if figure in PERCENT:
        return f"{float(value) * 100:+.1f} pts".replace(".", ",")
    sign = "+" if float(value) > 0 else ""
    return sign + number(value, decimals=0 if float(value).is_integer() else 1)


def day(value: Any) -> str:
    if missing(value):
        return MISSING
    if isinstance(value, datetime):
        value = as_utc(value).astimezone(PARIS).date()
    if isinstance(value, date):
        return value.strftime("%d/%m/%Y")
    return str(value)


def moment(value: datetime) -> str:
    return as_utc(value).astimezone(PARIS).strftime("%d/%m/%Y %H:%M (heure de Paris)")

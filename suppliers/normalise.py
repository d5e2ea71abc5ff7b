"""Checking and normalising the fields of a directory row: SIRET, postal code, names, free-text
products (mapped to catalogue items), capacity and lead time."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from fabcoord.fablabs import slugify

LA_POSTE_SIREN = "356000000"


_DOUBLED = str.maketrans("0123456789", "0246813579")  # a digit doubled, its two digits summed


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum (every second digit from the right doubled); ``digits`` are ASCII digits.

    Digits are summed as bytes (each is 48 + its value): a few C calls, no per-digit Python."""
    kept, doubled = digits[-1::-2], digits[-2::-2].translate(_DOUBLED)
    return (sum(kept.encode()) + sum(doubled.encode()) - 48 * len(digits)) % 10 == 0


_SIRET_NOISE = str.maketrans("", "", " .-\t\u00a0\u202f")


def clean_siret(text: str) -> str:
    """Digits of a SIRET as written in lists (spaces, dots and dashes dropped)."""
    return text.translate(_SIRET_NOISE)


def siret_problem(siret: str) -> str | None:
    """Why ``siret`` (already cleaned) is not a valid SIRET, or None.

    La Poste's establishments (SIREN 356 000 000) do not follow Luhn: the sum of their 14 digits is
    a multiple of 5 instead (INSEE's documented exception).
    """
    if len(siret) != 14 or not (siret.isascii() and siret.isdigit()):
        return f"SIRET {siret!r} must be 14 digits"
    if luhn_valid(siret):
        return None
    if siret.startswith(LA_POSTE_SIREN) and sum(map(int, siret)) % 5 == 0:
        return None
    return f"SIRET {siret} fails its checksum"


_LEGAL = frozenset(
    {"sa", "sas", "sasu", "sarl", "eurl", "sca", "snc", "sci", "ste", "societe", "ets"}
)
_NON_WORD = re.compile(r"[^a-z0-9]+")


def fold(text: str) -> str:
    """Lower case without accents; every run of other characters becomes one space."""
    if text.isascii():
        plain = text.lower()
    else:
        plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return _NON_WORD.sub(" ", plain).strip()


def name_key(name: str) -> str:
    """A company name reduced for comparison: accents, case, punctuation and legal forms dropped."""
    folded = fold(name)  # already single-spaced words
    words = folded.split()
    if _LEGAL.isdisjoint(words):
        return folded
    return " ".join(w for w in words if w not in _LEGAL)


def clean_postal_code(text: str) -> str | None:
    """A 5-digit French postal code (a 4-digit one read as a number regains its leading 0)."""
    text = text.strip()
    if text.endswith(".0"):  # a postal code a spreadsheet read as a number
        text = text[:-2]
    digits = text.translate(_SIRET_NOISE)
    if not (digits.isascii() and digits.isdigit()):
        return None
    if len(digits) == 4:
        digits = "0" + digits
    return digits if len(digits) == 5 else None


SHEET_WORDS = (
    "feuille",
    "plaque",
    "film",
    "vitre",
    "ecran",
    "visiere",
    "rhodoid",
    "couverture",
    "transparent",
    "acetate",
    "polycarbonate",
)
_SEGMENTS = re.compile(r"[;|/\n+]|,(?!\d)| et ")


@dataclass(frozen=True)
class MaterialMatch:
    item_code: str
    keywords: str


@lru_cache(maxsize=65536)
def materials(products: str) -> tuple[MaterialMatch, ...]:
    """Catalogue items named by a free-text products field, with the words that named each.

    ``"feuilles PETG 0,5 mm"`` → ``pet-sheet-a4``; ``"élastique plat"`` → ``elastic``;
    ``"filament PETG 1,75"`` → ``petg``. A segment names one item; sheet words win over a polymer
    name (a PETG sheet is a sheet, not filament).
    """
    found: dict[str, list[str]] = {}
    for raw in _SEGMENTS.split(products):
        segment = raw.strip()
        if not segment:
            continue
        code = _item_for(fold(segment))
        if code is not None:
            found.setdefault(code, []).append(segment)
    return tuple(MaterialMatch(code, "; ".join(kw)[:300]) for code, kw in found.items())


@lru_cache(maxsize=4096)
def _item_for(words: str) -> str | None:
    tokens = words.split()
    if any(w.startswith(("elastique", "elasthanne", "elastomere", "garrot")) for w in tokens):
        return "elastic"
    if any(w.startswith(SHEET_WORDS) or w in ("pet", "pvc") for w in tokens):
        return "pet-sheet-a4"
    if "petg" in tokens or "pet g" in words:
        return "petg"
    if "pla" in tokens:
        return "pla"
    return None


_CAPACITY = re.compile(
    r"(?P<qty>\d[\d\s.,]*)\s*(?P<unit>t|tonnes?|kg|g|feuilles?|plaques?|m|km|metres?|ml|rouleaux?)?"
    r"\s*(?:/|par)\s*(?P<per>jour|j|semaine|sem|mois)",
)


def capacity_per_week(text: str, unit: str) -> int | None:
    """A declared capacity as a quantity per week in the base unit ``unit`` (g, mm, sheet), or None
    when the text does not give one in a unit convertible to it."""
    match = _CAPACITY.search(" ".join(slugify(text).split("-")).replace(" par ", " / ") or "")
    if match is None:
        match = _CAPACITY.search(text.lower())
    if match is None:
        return None
    try:
        qty = float(re.sub(r"\s", "", match["qty"]).replace(",", "."))
    except ValueError:
        return None
    factor = {"jour": 7, "j": 7, "semaine": 1, "sem": 1, "mois": 7 / 30}[match["per"]]
    word = (match["unit"] or "").rstrip("s")
    base: dict[str, dict[str, float]] = {
        "g": {"t": 1e6, "tonne": 1e6, "kg": 1000, "g": 1},
        "mm": {"km": 1e6, "m": 1000, "metre": 1000, "ml": 1000},
        "sheet": {"feuille": 1, "plaque": 1, "": 1},
        "pcs": {"": 1},
    }
    multiplier = base.get(unit, {}).get(word)
    if multiplier is None:
        return None
    return round(qty * multiplier * factor)


_LEAD = re.compile(r"(?P<n>\d+)\s*(?P<unit>h|heures?|j|jours?|sem|semaines?|mois)?")


@lru_cache(maxsize=4096)
def lead_time_days(text: str) -> int | None:
    """``"5 jours"`` → 5, ``"2 semaines"`` → 14, ``"48 h"`` → 2, ``"3"`` → 3 days."""
    match = _LEAD.search(text.strip().lower())
    if match is None:
        return None
    n, unit = int(match["n"]), (match["unit"] or "j")
    if unit.startswith("h"):
        return max(1, -(-n // 24))
    if unit.startswith("sem"):
        return n * 7
    if unit.startswith("mois"):
        return n * 30
    return n

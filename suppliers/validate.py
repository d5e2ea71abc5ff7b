"""Validating and normalising a chunk of directory rows column by column.

Each check runs over a whole column: SIRETs as a digit matrix (Luhn summed per row with numpy, La
Poste's exception applied), regions, products, lead times and capacities through one look-up per
distinct value, postal codes and limits as masks, duplicates inside the file by first line per
key. Messages are built only for the rows that fail, in the order a person reads a row, each with
its line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from fabcoord.regions import canonical_region
from suppliers.errors import Rejection
from suppliers.normalise import (
    LA_POSTE_SIREN,
    MaterialMatch,
    clean_postal_code,
    clean_siret,
    lead_time_days,
    materials,
    name_key,
)

LIMITS = {"name": 200, "address": 300, "city": 120, "contact": 300, "products": 2000}
TEXT = ("name", "siret", "address", "postal_code", "city", "region", "contact", "products")
TEXT_MORE = ("capacity", "lead_time")
_DOUBLED = np.array(
    [0, 2, 4, 6, 8, 1, 3, 5, 7, 9], dtype=np.int64
)  # a digit doubled, digits summed
_LA_POSTE = np.frombuffer(LA_POSTE_SIREN.encode(), dtype=np.uint8) - 48


@dataclass
class Rules:
    """What a chunk is checked against: the file's options, the database's regions and items, and
    the keys of the file's rows already accepted (``s``+SIRET, or ``n``+name key+postal code, to
    the line that had it first)."""

    regions: dict[str, int]
    items: set[str]
    default_region: str | None
    direccte: bool
    directory: str | None
    seen: dict[str, int] = field(default_factory=dict)


def siret_checks(sirets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Masks over cleaned, non-empty SIRETs: (not 14 ASCII digits, failing the checksum).

    The 14-digit ones become one ``n × 14`` digit matrix: Luhn doubles every second digit from the
    right (positions 0, 2, … 12 from the left), and La Poste's establishments (SIREN 356 000 000),
    which do not follow Luhn, pass when their digits sum to a multiple of 5 (INSEE's exception).
    """
    good = digit_strings(sirets, 14)
    failing = np.zeros(len(sirets), dtype=bool)
    if good.any():
        joined = "".join(sirets[good]).encode("ascii")
        digits = (np.frombuffer(joined, dtype=np.uint8) - 48).astype(np.int64).reshape(-1, 14)
        luhn = (_DOUBLED[digits[:, 0::2]].sum(axis=1) + digits[:, 1::2].sum(axis=1)) % 10 == 0
        la_poste = (digits[:, :9] == _LA_POSTE).all(axis=1) & (digits.sum(axis=1) % 5 == 0)
        failing[good] = ~(luhn | la_poste)
    return ~good, failing


def digit_strings(values: np.ndarray, width: int) -> np.ndarray:
    """Mask: the values that are exactly ``width`` ASCII digits, checked as one byte matrix."""
    sized = np.fromiter(map(len, values), dtype=np.int64, count=len(values)) == width
    found = np.zeros(len(values), dtype=bool)
    if sized.any():
        joined = "".join(values[sized])
        raw = joined.encode("utf-8")
        if len(raw) == len(joined):  # all ASCII
            matrix = np.frombuffer(raw, dtype=np.uint8).reshape(-1, width)
            found[sized] = ((matrix >= 48) & (matrix <= 57)).all(axis=1)
        else:
            found[sized] = [v.isascii() and v.isdigit() for v in values[sized]]
    return found


def _cleaned(values: np.ndarray, width: int, clean: Callable[[str], str]) -> np.ndarray:
    """``clean`` of each value, skipped for those already ``width`` plain digits (most)."""
    plain = digit_strings(values, width)
    if plain.all():
        return values
    out = values.copy()
    out[~plain] = _mapped(values[~plain], clean)
    return out


def check_chunk(chunk: pd.DataFrame, rules: Rules) -> tuple[pd.DataFrame, list[Rejection]]:
    """The chunk's valid rows, normalised for writing, and a rejection per invalid row.

    The valid frame has the supplier's columns (``siret`` None when not given, ``region_id``,
    ``name_key``, ``lead_time_days``) plus ``line``, ``directory`` and ``materials`` (the
    catalogue items its products name, as ``(item_code, keywords)`` pairs).
    """
    size = len(chunk)
    col = {key: _column(chunk, key, size) for key in (*TEXT, *TEXT_MORE)}
    lines = chunk["line"].to_numpy()
    problems: list[tuple[np.ndarray, Callable[[int], str]]] = []

    def fail(mask: np.ndarray, message: Callable[[int], str]) -> None:
        if mask.any():
            problems.append((mask, message))

    fail(col["name"] == "", lambda i: "no company name")
    for key, limit in LIMITS.items():
        lengths = np.fromiter(map(len, col[key]), dtype=np.int64, count=size)
        fail(lengths > limit, _too_long(key, limit))
    sirets = _cleaned(col["siret"], 14, clean_siret)
    given = sirets != ""
    malformed, failing = siret_checks(sirets[given])
    bad_form, bad_sum = np.zeros(size, dtype=bool), np.zeros(size, dtype=bool)
    bad_form[given], bad_sum[given] = malformed, failing
    fail(bad_form, lambda i: f"SIRET {sirets[i]!r} must be 14 digits")
    fail(bad_sum, lambda i: f"SIRET {sirets[i]} fails its checksum")
    postal = _cleaned(col["postal_code"], 5, lambda t: clean_postal_code(t) or "")
    fail(postal == "", lambda i: f"postal code {col['postal_code'][i]!r} is not 5 digits")
    region_text = col["region"]
    if rules.default_region:
        region_text = np.where(region_text == "", rules.default_region, region_text)
    region = _mapped(region_text, lambda t: _canonical(t) or "")
    fail(
        region == "",
        lambda i: (
            f"region {region_text[i]!r} is not one of the 18 French regions"
            if region_text[i]
            else "no region (give --region for a DIRECCTE list)"
        ),
    )
    if rules.default_region and rules.direccte:
        elsewhere = (region != "") & (region != rules.default_region)
        fail(
            elsewhere,
            lambda i: f"region {region[i]} in the list of DIRECCTE {rules.default_region}",
        )
    fail(col["products"] == "", lambda i: "no products or capabilities")
    lead_text = col["lead_time"]
    lead = _mapped(lead_text, lambda t: lead_time_days(t) if t else None)
    fail((lead_text != "") & pd.isna(lead), lambda i: _lead_problem(lead_text[i]))
    keys = np.array([name_key(n)[:200] for n in col["name"]], dtype=object)
    bad = np.zeros(size, dtype=bool)
    for mask, _ in problems:
        bad |= mask
    place = keys + "\x1f" + postal  # not NUL: numpy drops a str scalar's trailing NUL
    dedup = np.where(given, "s" + sirets, "n" + place)
    earlier = _earlier(dedup, lines, bad, rules.seen)
    duplicate = earlier > 0
    fail(
        duplicate,
        lambda i: (
            f"duplicate of line {earlier[i]} (same "
            + (f"SIRET {sirets[i]})" if given[i] else "name and postal code)")
        ),
    )
    bad |= duplicate
    rejections = _rejections(np.flatnonzero(bad), lines, problems)
    good = ~bad
    items = frozenset(rules.items)
    found = _mapped(col["products"][good], lambda t: _materials(t, items))
    valid = pd.DataFrame(
        {
            "line": lines[good],
            "siret": [s or None for s in sirets[good]],
            "name": col["name"][good],
            "name_key": keys[good],
            "name_place": place[good],
            "address": col["address"][good],
            "postal_code": postal[good],
            "city": col["city"][good],
            "region_id": [rules.regions[r] for r in region[good]],
            "contact": col["contact"][good],
            "products": col["products"][good],
            "capacity": [c[:200] for c in col["capacity"][good]],
            "lead_time_days": [None if v is None else int(v) for v in lead[good]],
            "directory": (
                [rules.directory] * int(good.sum())
                if rules.directory
                else ["DIRECCTE " + r for r in region[good]]
            ),
            "materials": found,
        },
        dtype=object,
    )
    return valid, rejections


def _column(chunk: pd.DataFrame, key: str, size: int) -> np.ndarray:
    if key in chunk:
        values: np.ndarray = chunk[key].to_numpy(dtype=object)
        return values
    return np.full(size, "", dtype=object)


def _mapped(values: np.ndarray, function: Callable[[Any], Any]) -> np.ndarray:
    """``function`` of each value, called once per distinct value."""
    if len(values) == 0:
        return np.empty(0, dtype=object)
    codes, distinct = pd.factorize(values)
    results = np.empty(len(distinct), dtype=object)
    results[:] = [function(v) for v in distinct]
    mapped: np.ndarray = results[codes]
    return mapped


def _too_long(key: str, limit: int) -> Callable[[int], str]:
    return lambda i: f"{key} longer than {limit} characters"


def _canonical(text: str) -> str | None:
    return canonical_region(text) if text else None


def _materials(products: str, items: frozenset[str]) -> tuple[tuple[str, str], ...]:
    matches: tuple[MaterialMatch, ...] = materials(products)
    return tuple((m.item_code, m.keywords) for m in matches if m.item_code in items)


def _lead_problem(text: str) -> str:
    return f"lead time {text!r} is not a number of hours, days or weeks"


def _earlier(
    keys: np.ndarray, lines: np.ndarray, bad: np.ndarray, seen: dict[str, int]
) -> np.ndarray:
    """Per row, the line of an earlier accepted row with the same key (0: none); the keys of this
    chunk's first rows are added to ``seen``. Rows already rejected neither count nor are counted."""
    earlier = np.zeros(len(keys), dtype=np.int64)
    rows = np.flatnonzero(~bad)
    if len(rows) == 0:
        return earlier
    frame = pd.DataFrame({"key": pd.Series(keys[rows], dtype=object), "line": lines[rows]})
    first = frame.groupby("key", sort=False)["line"].transform("first").to_numpy()
    known = frame["key"].map(seen).to_numpy(dtype=float)
    from_before = ~np.isnan(known)
    repeated = first != frame["line"].to_numpy()
    earlier[rows] = np.where(from_before, np.nan_to_num(known), np.where(repeated, first, 0))
    new = ~from_before & ~repeated
    seen.update(zip(keys[rows][new].tolist(), lines[rows][new].tolist(), strict=True))
    return earlier


def _rejections(
    rows: np.ndarray, lines: np.ndarray, problems: list[tuple[np.ndarray, Callable[[int], str]]]
) -> list[Rejection]:
    return [
        Rejection(int(lines[i]), "; ".join(message(i) for mask, message in problems if mask[i]))
        for i in rows
    ]

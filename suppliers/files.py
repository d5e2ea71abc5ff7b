"""Reading directory files (CSV or XLSX) as they really come: UTF-8, UTF-8 with BOM, CP1252 or
Latin-1, comma or semicolon, columns named in several ways. The only module that uses pandas.

Rows are streamed in chunks as ``(line, {column: text})`` with the canonical column names of
:data:`COLUMNS`; ``line`` is the line (CSV) or row (XLSX) number a person sees in the file.
"""

from __future__ import annotations

import codecs
import hashlib
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from fabcoord.errors import InvalidInput
from fabcoord.fablabs import slugify

COLUMNS: dict[str, tuple[str, ...]] = {
    "name": (
        "raison-sociale",
        "nom",
        "entreprise",
        "societe",
        "nom-de-l-entreprise",
        "nom-entreprise",
        "denomination",
        "company",
        "name",
    ),
    "siret": ("siret", "n-siret", "no-siret", "numero-siret", "siret-etablissement"),
    "address": ("adresse", "address", "adresse-postale", "rue"),
    "postal_code": ("code-postal", "cp", "postal-code", "code-postale"),
    "city": ("ville", "commune", "city", "localite"),
    "region": ("region", "region-administrative"),
    "contact": ("contact", "email", "e-mail", "courriel", "telephone", "tel", "interlocuteur"),
    "products": (
        "produits",
        "products",
        "capacites",
        "produits-capacites",
        "produits-ou-capacites",
        "produits-et-capacites",
        "produits-capacites-proposees",
        "activite",
        "capabilities",
        "offre",
        "materiaux",
    ),
    "capacity": ("capacite", "capacite-de-production", "capacity", "volume"),
    "lead_time": ("delai", "delais", "delai-de-livraison", "lead-time", "delai-livraison"),
}
REQUIRED = ("name", "siret", "postal_code", "city", "products")
CHUNK_ROWS = 20_000
_PROBE = 1 << 20

Row = tuple[int, dict[str, str]]
_EXTRA = "_extra"


@dataclass(frozen=True)
class DirectoryFile:
    """What is known of a file before its rows are read."""

    path: Path
    digest: str
    encoding: str
    separator: str
    sheet: str | None
    columns: tuple[str | None, ...]
    """The canonical column of each position in the file (None: a column not used)."""


def open_directory(path: Path, *, sheet: str | None, region_given: bool) -> DirectoryFile:
    """Check the file can be read and has the needed columns; raises InvalidInput saying why."""
    if not path.is_file():
        raise InvalidInput(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise InvalidInput(f"{path}: the file is empty")
    digest = _digest(path, sheet)
    if path.suffix.lower() in {".xlsx", ".xlsm"}:
        sheet = _choose_sheet(path, sheet)
        header = list(pd.read_excel(path, sheet_name=sheet, nrows=0, dtype=str).columns)
        encoding, separator = "", ""
    else:
        if sheet is not None:
            raise InvalidInput(f"{path}: --sheet is for XLSX files, this is read as CSV")
        encoding = _encoding(path)
        separator = _separator(path, encoding)
        header = list(
            pd.read_csv(path, sep=separator, encoding=encoding, nrows=0, dtype=str).columns
        )
    mapping = _mapping(path, [str(h) for h in header], region_given)
    return DirectoryFile(path, digest, encoding, separator, sheet, tuple(mapping))


def rows(source: DirectoryFile, *, chunk_rows: int = CHUNK_ROWS) -> Iterator[list[Row]]:
    """The data rows, ``chunk_rows`` at a time; blank rows are skipped."""
    path = source.path
    try:
        if source.sheet is not None:
            frame = pd.read_excel(path, sheet_name=source.sheet, dtype=str, keep_default_na=False)
            for start in range(0, len(frame), chunk_rows):
                yield _rows(frame.iloc[start : start + chunk_rows], source.columns, start)
            return
        reader = pd.read_csv(
            path,
            sep=source.separator,
            encoding=source.encoding,
            header=None,
            skiprows=1,
            names=list(range(len(source.columns) + 1)),  # one more: catches rows too long
            dtype=str,
            keep_default_na=False,
            chunksize=chunk_rows,
            skip_blank_lines=False,
            index_col=False,
        )
        start = 0
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            for frame in reader:
                yield _rows(frame, (*source.columns, _EXTRA), start)
                start += len(frame)
    except (pd.errors.ParserError, pd.errors.ParserWarning) as error:
        raise InvalidInput(f"{path}: not a well-formed table: {error}") from None
    except UnicodeDecodeError as error:
        raise InvalidInput(f"{path}: bytes not readable as {source.encoding}: {error}") from None


def _rows(frame: pd.DataFrame, columns: tuple[str | None, ...], start: int) -> list[Row]:
    """The rows of one chunk, built column by column (one list per used column, contact columns
    joined), then zipped into one dict per non-blank row."""
    merged: dict[str, list[str]] = {}
    for position, key in enumerate(columns):
        if key is None:
            continue
        texts = [_text(value) for value in frame.iloc[:, position].tolist()]
        earlier = merged.get(key)
        if key == "contact" and earlier is not None:
            texts = [
                f"{a}, {b}" if a and b else a or b for a, b in zip(earlier, texts, strict=True)
            ]
        merged[key] = texts
    extra = merged.pop(_EXTRA, None)
    if extra is not None and any(extra):
        offset = next(n for n, text in enumerate(extra) if text)
        raise InvalidInput(
            f"line {start + offset + 2}: more fields than the {len(columns) - 1} columns of "
            "the header (a separator inside an unquoted value?)"
        )
    keys = list(merged)
    return [
        (start + offset + 2, dict(zip(keys, values, strict=True)))
        for offset, values in enumerate(zip(*merged.values(), strict=True))
        if any(values)
    ]


def _text(value: object) -> str:
    if type(value) is str:
        return value.strip()
    return "" if value is None else str(value).strip()


def _mapping(path: Path, header: list[str], region_given: bool) -> list[str | None]:
    """The canonical column at each position; raises InvalidInput naming what is missing and what
    was found."""
    lookup = {alias: key for key, aliases in COLUMNS.items() for alias in aliases}
    mapping: list[str | None] = []
    for column in header:
        key = lookup.get(slugify(column))
        taken = key in mapping and key != "contact"
        mapping.append(None if taken else key)
    required = REQUIRED if region_given else (*REQUIRED, "region")
    missing = [key for key in required if key not in mapping]
    if missing:
        found = ", ".join(repr(h) for h in header) or "none"
        hint = " (or give --region)" if missing == ["region"] else ""
        raise InvalidInput(
            f"{path} line 1: missing column(s) {', '.join(missing)}{hint}; columns found: {found}"
        )
    return mapping


def _choose_sheet(path: Path, sheet: str | None) -> str:
    try:
        names = [str(n) for n in pd.ExcelFile(path).sheet_names]
    except Exception as error:  # openpyxl raises several unrelated types for a broken file
        raise InvalidInput(f"{path}: not a readable XLSX file ({error})") from None
    if sheet is None:
        if len(names) == 1:
            return names[0]
        raise InvalidInput(
            f"{path} has {len(names)} sheets ({', '.join(names)}): choose one with --sheet"
        )
    if sheet not in names:
        raise InvalidInput(f"{path}: no sheet {sheet!r} (sheets: {', '.join(names)})")
    return sheet


def _encoding(path: Path) -> str:
    """UTF-8 with BOM, UTF-8, CP1252 or Latin-1: the first that decodes the whole file."""
    with path.open("rb") as handle:
        if handle.read(3) == codecs.BOM_UTF8:
            return "utf-8-sig"
    for encoding in ("utf-8", "cp1252"):
        decoder = codecs.getincrementaldecoder(encoding)()
        try:
            with path.open("rb") as handle:
                while block := handle.read(_PROBE):
                    decoder.decode(block)
                decoder.decode(b"", final=True)
            return encoding
        except UnicodeDecodeError:
            continue
    return "latin-1"


def _separator(path: Path, encoding: str) -> str:
    with path.open(encoding=encoding, newline="") as handle:
        first = handle.readline()
    return ";" if first.count(";") > first.count(",") else ","


def _digest(path: Path, sheet: str | None) -> str:
    digest = hashlib.sha256((sheet or "").encode())
    with path.open("rb") as handle:
        while block := handle.read(_PROBE):
            digest.update(block)
    return digest.hexdigest()

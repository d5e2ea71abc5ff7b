"""Reading directory files (CSV or XLSX) as they really come: UTF-8, UTF-8 with BOM, CP1252 or
Latin-1, comma or semicolon, columns named in several ways. The only module that reads files
(pandas' CSV reader, openpyxl); checks are in :mod:`suppliers.validate`.

Rows come in chunks, each a DataFrame with the canonical columns of :data:`COLUMNS` (text,
stripped; contact columns joined) and ``line``, the line (CSV) or row (XLSX) number a person sees
in the file; blank rows are left out. CSV is read by pandas in chunks; XLSX is streamed row by row
(openpyxl read-only), so neither is ever loaded whole. Files larger than the limits below are
refused before any row is read: what the import keeps per row (for de-duplication) must fit in
memory.
"""

from __future__ import annotations

import codecs
import hashlib
import warnings
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
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
MAX_CSV_BYTES = 64_000_000
"""About 350,000 rows of a typical list (a 100,000-row list is 18 MB)."""
MAX_XLSX_UNPACKED_BYTES = 256_000_000
"""The sheet's XML and the shared strings unpacked: about as many rows as :data:`MAX_CSV_BYTES`."""
_PROBE = 1 << 20
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
    size = path.stat().st_size
    if size == 0:
        raise InvalidInput(f"{path}: the file is empty")
    if path.suffix.lower() in {".xlsx", ".xlsm"}:
        sheet = _choose_sheet(path, sheet)
        header = [_cell(value) for value in _xlsx_header(path, sheet)]
        encoding, separator = "", ""
    else:
        if sheet is not None:
            raise InvalidInput(f"{path}: --sheet is for XLSX files, this is read as CSV")
        if size > MAX_CSV_BYTES:
            raise InvalidInput(_too_big(path, size, MAX_CSV_BYTES, "the file is"))
        encoding = _encoding(path)
        separator = _separator(path, encoding)
        header = list(
            pd.read_csv(path, sep=separator, encoding=encoding, nrows=0, dtype=str).columns
        )
    mapping = _mapping(path, [str(h) for h in header], region_given)
    return DirectoryFile(path, _digest(path, sheet), encoding, separator, sheet, tuple(mapping))


def chunks(source: DirectoryFile, *, chunk_rows: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """The data rows, ``chunk_rows`` at a time (blank rows left out)."""
    if source.sheet is not None:
        yield from _xlsx_chunks(source, chunk_rows)
        return
    path = source.path
    try:
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
        with reader, warnings.catch_warnings():  # the file is closed however the read ends
            warnings.simplefilter("error", pd.errors.ParserWarning)
            for frame in reader:
                columns = (*source.columns, _EXTRA)
                texts = [
                    _stripped(frame.iloc[:, n]) if key is not None else None
                    for n, key in enumerate(columns)
                ]
                yield _chunk(texts, columns, start, len(frame))
                start += len(frame)
    except (pd.errors.ParserError, pd.errors.ParserWarning) as error:
        raise InvalidInput(f"{path}: not a well-formed table: {error}") from None
    except UnicodeDecodeError as error:
        raise InvalidInput(f"{path}: bytes not readable as {source.encoding}: {error}") from None


def _stripped(column: pd.Series) -> np.ndarray:
    """A column's values as stripped Python strings (an absent field: empty)."""
    values: np.ndarray = column.fillna("").to_numpy(dtype=object)
    values[:] = list(map(str.strip, values))
    return values


def _chunk(
    texts: Sequence[np.ndarray | None], columns: tuple[str | None, ...], start: int, size: int
) -> pd.DataFrame:
    """One chunk with canonical columns (contact columns joined) and line numbers, blank rows
    left out; raises InvalidInput at the first row with a value past the header's columns."""
    merged: dict[str, np.ndarray] = {}
    for position, key in enumerate(columns):
        values = texts[position] if position < len(texts) else None
        if key is None or values is None:
            continue
        earlier = merged.get(key)
        if key == "contact" and earlier is not None:
            both = (earlier != "") & (values != "")
            values = np.where(
                both, earlier + ", " + values, np.where(earlier != "", earlier, values)
            )
        merged[key] = values
    extra = merged.pop(_EXTRA, None)
    if extra is not None and (extra != "").any():
        offset = int(np.argmax(extra != ""))
        raise InvalidInput(
            f"line {start + offset + 2}: more fields than the {len(columns) - 1} columns of "
            "the header (a separator inside an unquoted value?)"
        )
    frame = pd.DataFrame(merged, dtype=object)
    frame["line"] = np.arange(start + 2, start + 2 + size)
    filled = np.zeros(size, dtype=bool)
    for values in merged.values():
        filled |= values != ""
    return frame[filled].reset_index(drop=True)


def _xlsx_chunks(source: DirectoryFile, chunk_rows: int) -> Iterator[pd.DataFrame]:
    width = len(source.columns)
    with _workbook(source.path) as book:
        sheet = book[source.sheet]
        sheet.reset_dimensions()  # some writers declare a wrong size: read every row there is
        rows = sheet.iter_rows(min_row=2, min_col=1, max_col=width, values_only=True)
        start, block = 0, list[tuple[Any, ...]]()
        while True:
            try:  # a truncated or corrupt sheet only shows once its rows are read
                row = next(rows, None)
            except Exception as error:  # zipfile, XML and openpyxl errors alike
                line = start + len(block) + 2
                raise InvalidInput(
                    f"{source.path}: sheet {source.sheet!r} unreadable at row {line} ({error})"
                ) from None
            if row is None:
                break
            block.append(row)
            if len(block) == chunk_rows:
                yield _xlsx_chunk(block, source.columns, start)
                start, block = start + len(block), []
        if block:
            yield _xlsx_chunk(block, source.columns, start)


def _xlsx_chunk(
    block: list[tuple[Any, ...]], columns: tuple[str | None, ...], start: int
) -> pd.DataFrame:
    width = len(columns)
    padded = [row + (None,) * (width - len(row)) if len(row) < width else row for row in block]
    texts: list[np.ndarray | None] = []
    for values in zip(*padded, strict=True):
        text = np.empty(len(block), dtype=object)
        text[:] = [_cell(value) for value in values]
        texts.append(text)
    return _chunk(texts, columns, start, len(block))


def _cell(value: object) -> str:
    """A cell as the text a person sees: a whole number without ``.0`` (postal codes, SIRETs)."""
    if type(value) is str:
        return value.strip()
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


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
        found = ", ".join(repr(h) for h in header if h) or "none"
        hint = " (or give --region)" if missing == ["region"] else ""
        raise InvalidInput(
            f"{path} line 1: missing column(s) {', '.join(missing)}{hint}; columns found: {found}"
        )
    return mapping


class _workbook:
    """An XLSX workbook opened read-only (streamed), closed on exit; InvalidInput when unreadable."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> Any:
        import openpyxl

        try:
            self.book = openpyxl.load_workbook(self.path, read_only=True, data_only=True)
        except Exception as error:  # openpyxl raises several unrelated types for a broken file
            raise InvalidInput(f"{self.path}: not a readable XLSX file ({error})") from None
        return self.book

    def __exit__(self, *exc: object) -> None:
        self.book.close()


def _choose_sheet(path: Path, sheet: str | None) -> str:
    _check_unpacked_size(path)
    with _workbook(path) as book:
        names = [str(n) for n in book.sheetnames]
    if sheet is None:
        if len(names) == 1:
            return names[0]
        raise InvalidInput(
            f"{path} has {len(names)} sheets ({', '.join(names)}): choose one with --sheet"
        )
    if sheet not in names:
        raise InvalidInput(f"{path}: no sheet {sheet!r} (sheets: {', '.join(names)})")
    return sheet


def _check_unpacked_size(path: Path) -> None:
    """Refuse a workbook whose worksheets and shared strings unpack to more than the limit (the
    shared strings are held in memory while the sheet streams)."""
    try:
        with zipfile.ZipFile(path) as archive:
            unpacked = sum(
                info.file_size
                for info in archive.infolist()
                if info.filename.startswith("xl/worksheets/") or "sharedStrings" in info.filename
            )
    except (zipfile.BadZipFile, OSError) as error:
        raise InvalidInput(f"{path}: not a readable XLSX file ({error})") from None
    if unpacked > MAX_XLSX_UNPACKED_BYTES:
        raise InvalidInput(
            _too_big(path, unpacked, MAX_XLSX_UNPACKED_BYTES, "its sheets unpack to")
        )


def _xlsx_header(path: Path, sheet: str) -> tuple[Any, ...]:
    with _workbook(path) as book:
        for row in book[sheet].iter_rows(min_row=1, max_row=1, values_only=True):
            return tuple(row)
    return ()


def _too_big(path: Path, size: int, limit: int, what: str) -> str:
    return (
        f"{path}: {what} {size / 1e6:.0f} MB, more than the {limit / 1e6:.0f} MB a directory "
        "import reads (nothing imported): split the list into several files"
    )


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

"""Importing supplier directories (DIRECCTE and pôles lists) into one de-duplicated directory.

A file is imported whole or not at all: it is read in chunks, each chunk validated column by column
(:mod:`suppliers.validate`) and each rejected row reported with its line and reason; rows are
written in bulk, a few statements per chunk and table, as they are read and rolled back with the
caller's transaction when any row is rejected. A listing is the same company as an
existing supplier when their SIRETs match, or, without a SIRET on either side, when their
normalised names and postal codes match; every directory a supplier came from is kept. Importing
the same file twice changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, bindparam, func, select, text, update
from sqlmodel import Session

from fabcoord.clock import utc_now
from fabcoord.errors import InvalidInput
from fabcoord.ledger.models import Item
from fabcoord.records import CompetitivenessCluster, Region
from fabcoord.regions import require_region
from suppliers import files
from suppliers.bulk import insert_columns
from suppliers.errors import DirectoryRejected, Rejection
from suppliers.models import (
    DirectoryImport,
    DirectoryKind,
    Supplier,
    SupplierMaterial,
    SupplierSource,
    table,
)
from suppliers.normalise import name_key
from suppliers.validate import Rules, check_chunk

FILLABLE = ("siret", "address", "city", "contact", "products", "capacity", "lead_time_days")


@dataclass
class ImportReport:
    """What an import did."""

    file: str
    kind: str
    directory: str
    rows: int = 0
    added: int = 0
    merged: int = 0
    unchanged: int = 0
    already_imported: bool = False
    rejections: list[Rejection] = field(default_factory=list)


def import_directory(
    *,
    session: Session,
    path: Path,
    kind: DirectoryKind,
    actor: str,
    region: str | None = None,
    pole: str | None = None,
    sheet: str | None = None,
    chunk_rows: int = files.CHUNK_ROWS,
) -> ImportReport:
    """Import one directory file; raises DirectoryRejected (nothing imported) when a row is bad."""
    default_region = require_region(region, "--region") if region else None
    directory = _directory_name(session, kind, default_region, pole)
    source = files.open_directory(path, sheet=sheet, region_given=default_region is not None)
    report = ImportReport(path.name, kind.value, directory or "DIRECCTE (per row)")
    if _already_imported(session, source.digest, kind, report.directory):
        report.already_imported = True
        return report
    state = _State.load(session, kind)
    rules = Rules(
        regions=state.regions,
        items=state.items,
        default_region=default_region,
        direccte=kind is DirectoryKind.DIRECCTE,
        directory=directory,
    )
    now = utc_now()
    for chunk in files.chunks(source, chunk_rows=chunk_rows):
        report.rows += len(chunk)
        valid, rejected = check_chunk(chunk, rules)
        report.rejections += rejected
        if not report.rejections and len(valid):
            _write(session, state, valid, kind, path.name, now, report)
    if report.rejections:
        raise DirectoryRejected(path.name, report.rejections)
    if report.rows == 0:
        raise InvalidInput(f"{path.name}: no data rows under the header")
    session.add(
        DirectoryImport(
            digest=source.digest,
            kind=kind,
            directory=report.directory,
            file_name=path.name[:300],
            rows=report.rows,
            added=report.added,
            merged=report.merged,
            imported_at=now,
            actor=actor,
        )
    )
    session.flush()
    return report


def _directory_name(
    session: Session, kind: DirectoryKind, region: str | None, pole: str | None
) -> str | None:
    if kind is DirectoryKind.POLE:
        if not pole:
            raise InvalidInput("a pôle's list needs --pole NAME (see the reference pôles)")
        clusters = table(CompetitivenessCluster)
        found = [str(n) for (n,) in session.connection().execute(select(clusters.c.name))]
        name = {name_key(n): n for n in found}.get(name_key(pole))
        if name is None:
            hint = "" if found else ": run 'fabcoord reference load' first"
            raise InvalidInput(f"unknown pôle de compétitivité {pole!r}{hint}")
        return name
    if pole:
        raise InvalidInput("--pole is for --source pole")
    return f"DIRECCTE {region}" if region else None


def _already_imported(session: Session, digest: str, kind: DirectoryKind, directory: str) -> bool:
    imports = table(DirectoryImport)
    query = select(imports.c.id).where(
        imports.c.digest == digest,
        imports.c.kind == kind.value,
        imports.c.directory == directory,
    )
    return session.connection().execute(query).first() is not None


@dataclass
class _State:
    """What the database already holds, loaded once per file, kept current while writing. Names
    are keyed ``name key, U+001F, postal code``."""

    regions: dict[str, int]
    by_siret: dict[str, int]
    by_name: dict[str, int]
    sources: set[tuple[int, str]]
    materials: set[tuple[int, str]]
    items: set[str]
    siret_of: dict[int, str] = field(default_factory=dict)

    @classmethod
    def load(cls, session: Session, kind: DirectoryKind) -> _State:
        connection = session.connection()
        reg = table(Region)
        regions = {str(n): int(i) for i, n in connection.execute(select(reg.c.id, reg.c.name))}
        if not regions:
            raise InvalidInput("no regions known: run 'fabcoord reference load' first")
        by_siret: dict[str, int] = {}
        by_name: dict[str, int] = {}
        sup = table(Supplier)
        for sid, siret, key, postal in connection.execute(
            select(sup.c.id, sup.c.siret, sup.c.name_key, sup.c.postal_code)
        ):
            if siret:
                by_siret[siret] = sid
            by_name.setdefault(f"{key}\x1f{postal}", sid)
        siret_of = {sid: siret for siret, sid in by_siret.items()}
        src = table(SupplierSource)
        sources = {
            (int(sid), str(d))
            for sid, d in connection.execute(
                select(src.c.supplier_id, src.c.directory).where(src.c.kind == kind.value)
            )
        }
        mat = table(SupplierMaterial)
        mats = {
            (int(s), str(c))
            for s, c in connection.execute(select(mat.c.supplier_id, mat.c.item_code))
        }
        items = {str(c) for (c,) in connection.execute(select(table(Item).c.code))}
        return cls(regions, by_siret, by_name, sources, mats, items, siret_of)

    def existing(self, valid: pd.DataFrame) -> np.ndarray:
        """Per row, the supplier it is (0: a new one): same SIRET, else same name and postal code
        unless both have SIRETs and they differ (two establishments)."""
        if not self.by_siret and not self.by_name:
            return np.zeros(len(valid), dtype=np.int64)
        sirets = valid["siret"].tolist()
        by_siret = np.fromiter(
            (self.by_siret.get(s, 0) if s else 0 for s in sirets), np.int64, len(sirets)
        )
        by_name = np.fromiter(
            (self.by_name.get(k, 0) for k in _name_keys(valid)), np.int64, len(sirets)
        )
        other = np.fromiter(
            (
                bool(s and self.siret_of.get(n))
                for s, n in zip(sirets, by_name.tolist(), strict=True)
            ),
            bool,
            len(sirets),
        )
        return np.where(by_siret > 0, by_siret, np.where(other, 0, by_name))

    def remember(self, ids: list[int], new: pd.DataFrame) -> None:
        for sid, siret in zip(ids, new["siret"].tolist(), strict=True):
            if siret:
                self.by_siret[siret] = sid
                self.siret_of[sid] = siret
        for sid, key in zip(ids, _name_keys(new), strict=True):
            self.by_name.setdefault(key, sid)


def _name_keys(frame: pd.DataFrame) -> list[str]:
    """Each row's ``name key, U+001F, postal code`` (``name_place``, made by the check)."""
    keys: list[str] = frame["name_place"].tolist()
    return keys


SUPPLIER_COLUMNS = (
    "siret",
    "name",
    "name_key",
    "address",
    "postal_code",
    "city",
    "region_id",
    "contact",
    "products",
    "capacity",
    "lead_time_days",
)


def _write(
    session: Session,
    state: _State,
    valid: pd.DataFrame,
    kind: DirectoryKind,
    file_name: str,
    now: datetime,
    report: ImportReport,
) -> None:
    """Write one chunk's valid rows: known suppliers completed, new ones inserted, then the
    listings and materials none had yet; a few bulk statements whatever the chunk's size."""
    connection = session.connection()
    sids = state.existing(valid)
    known = sids > 0
    if known.any():
        _merge(session, state, sids[known].tolist(), valid[known], report)
    fresh = valid[~known]
    if len(fresh):
        ids = _allocate_ids(session, len(fresh))
        columns: dict[str, Any] = {"id": ids}
        columns |= {name: fresh[name].tolist() for name in SUPPLIER_COLUMNS}
        columns["created_at"] = [now] * len(ids)
        insert_columns(connection, table(Supplier), columns)
        state.remember(ids, fresh)
        sids[~known] = ids
        report.added += len(ids)
    _add_listings(connection, state, sids, known, valid, kind, file_name, now)
    _add_materials(connection, state, sids, known, valid)


def _add_listings(
    connection: Connection,
    state: _State,
    sids: np.ndarray,
    known: np.ndarray,
    valid: pd.DataFrame,
    kind: DirectoryKind,
    file_name: str,
    now: datetime,
) -> None:
    """A listing per supplier and directory not yet listed: every new supplier's, and those of
    known suppliers the state lacks (the first line of each kept)."""
    fresh = ~known
    pairs = zip(sids[fresh].tolist(), valid["directory"][fresh], strict=True)
    listings = dict(zip(pairs, valid["line"][fresh].tolist(), strict=True))
    for sid, directory, line in zip(
        sids[known].tolist(), valid["directory"][known], valid["line"][known], strict=True
    ):
        if (sid, directory) not in state.sources:
            listings.setdefault((sid, directory), int(line))
    state.sources.update(listings)
    if listings:
        insert_columns(
            connection,
            table(SupplierSource),
            {
                "supplier_id": [sid for sid, _ in listings],
                "kind": [kind] * len(listings),
                "directory": [directory for _, directory in listings],
                "file_name": [file_name[:300]] * len(listings),
                "line": list(listings.values()),
                "imported_at": [now] * len(listings),
            },
        )


def _add_materials(
    connection: Connection,
    state: _State,
    sids: np.ndarray,
    known: np.ndarray,
    valid: pd.DataFrame,
) -> None:
    """The items each supplier supplies that were not recorded yet (a new supplier's all)."""
    supplies = {
        (sid, code): words
        for sid, found in zip(sids[~known].tolist(), valid["materials"][~known], strict=True)
        for code, words in found
    }
    for sid, found in zip(sids[known].tolist(), valid["materials"][known], strict=True):
        for code, words in found:
            if (sid, code) not in state.materials:
                supplies.setdefault((sid, code), words)
    state.materials.update(supplies)
    if supplies:
        insert_columns(
            connection,
            table(SupplierMaterial),
            {
                "supplier_id": [sid for sid, _ in supplies],
                "item_code": [code for _, code in supplies],
                "keywords": list(supplies.values()),
            },
        )


def _allocate_ids(session: Session, count: int) -> list[int]:
    """Ids for ``count`` new suppliers, so they are inserted in one batch without RETURNING
    (SQLite returns ordered ids only row by row). PostgreSQL: from the sequence; SQLite: after the
    highest, safe under the write lock the transaction holds (``BEGIN IMMEDIATE``)."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        rows = connection.execute(
            text("SELECT nextval('supplier_id_seq') FROM generate_series(1, :n)"), {"n": count}
        )
        return [int(row[0]) for row in rows]
    highest = connection.execute(select(func.max(table(Supplier).c.id))).scalar() or 0
    return list(range(highest + 1, highest + 1 + count))


def _merge(
    session: Session, state: _State, sids: list[int], rows: pd.DataFrame, report: ImportReport
) -> None:
    """Fill the fields existing suppliers lack from new listings of them (nothing is erased).

    The listings that could fill nothing are told apart column-wise; the others are merged one
    by one, in file order (two listings of one supplier both count)."""
    sup = table(Supplier)
    distinct = sorted(set(sids))
    current: dict[int, dict[str, Any]] = {}
    for start in range(0, len(distinct), 5000):
        query = select(sup.c.id, *(sup.c[k] for k in FILLABLE)).where(
            sup.c.id.in_(distinct[start : start + 5000])
        )
        for row in session.connection().execute(query):
            current[row.id] = dict(row._mapping)
    before = pd.DataFrame([current[sid] for sid in sids], columns=["id", *FILLABLE])
    could = np.zeros(len(sids), dtype=bool)
    for key in FILLABLE:
        lacking = before[key].isna().to_numpy() | (before[key] == "").to_numpy()
        offered = rows[key].notna().to_numpy() & (rows[key] != "").to_numpy()
        could |= lacking & offered
    report.unchanged += int((~could).sum())
    updates: list[dict[str, Any]] = []
    for position in np.flatnonzero(could).tolist():
        sid, values = sids[position], rows.iloc[position]
        existing = current[sid]
        changed = {
            k: values[k]
            for k in FILLABLE
            if existing[k] in (None, "") and values[k] is not None and values[k] != ""
        }
        if changed.get("siret") and changed["siret"] in state.by_siret:
            changed.pop("siret")
        if changed:
            existing.update(changed)
            if changed.get("siret"):
                state.by_siret[changed["siret"]] = sid
                state.siret_of[sid] = changed["siret"]
            updates.append({"sid": sid, **{k: existing[k] for k in FILLABLE}})
            report.merged += 1
        else:
            report.unchanged += 1
    if updates:
        session.connection().execute(
            update(sup)
            .where(sup.c.id == bindparam("sid"))
            .values({k: bindparam(k) for k in FILLABLE}),
            updates,
        )

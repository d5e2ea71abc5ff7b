"""Importing supplier directories (DIRECCTE and pôles lists) into one de-duplicated directory.

A file is imported whole or not at all: every row is validated (streamed, chunk by chunk) and each
rejected row is reported with its line and reason; rows are written as they are read and rolled
back with the caller's transaction when any row is rejected. A listing is the same company as an
existing supplier when their SIRETs match, or, without a SIRET on either side, when their
normalised names and postal codes match; every directory a supplier came from is kept. Importing
the same file twice changes nothing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Table, bindparam, func, select, text, update
from sqlmodel import Session

from fabcoord.clock import utc_now
from fabcoord.errors import InvalidInput
from fabcoord.ledger.models import Item
from fabcoord.records import CompetitivenessCluster, Region
from fabcoord.regions import canonical_region, require_region
from suppliers import files
from suppliers.errors import DirectoryRejected, Rejection
from suppliers.models import (
    DirectoryImport,
    DirectoryKind,
    Supplier,
    SupplierMaterial,
    SupplierSource,
    table,
)
from suppliers.normalise import (
    clean_postal_code,
    clean_siret,
    lead_time_days,
    materials,
    name_key,
    siret_problem,
)

LIMITS = {"name": 200, "address": 300, "city": 120, "contact": 300, "products": 2000}
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


@dataclass
class _Record:
    line: int
    values: dict[str, Any]
    directory: str
    materials: list[tuple[str, str]]


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
    now = utc_now()
    for chunk in files.rows(source, chunk_rows=chunk_rows):
        records = []
        for line, row in chunk:
            report.rows += 1
            record = _validate(line, row, default_region, state, kind, directory)
            if isinstance(record, Rejection):
                report.rejections.append(record)
            else:
                records.append(record)
        if not report.rejections:
            _write(session, state, records, kind, path.name, now, report)
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
    """What the database already holds, loaded once per file, kept current while writing."""

    regions: dict[str, int]
    by_siret: dict[str, int]
    by_name: dict[tuple[str, str], int]
    sources: set[tuple[int, str]]
    materials: set[tuple[int, str]]
    items: set[str]
    siret_of: dict[int, str] = field(default_factory=dict)
    seen_siret: dict[str, int] = field(default_factory=dict)
    seen_name: dict[tuple[str, str], int] = field(default_factory=dict)

    @classmethod
    def load(cls, session: Session, kind: DirectoryKind) -> _State:
        connection = session.connection()
        reg = table(Region)
        regions = {str(n): int(i) for i, n in connection.execute(select(reg.c.id, reg.c.name))}
        if not regions:
            raise InvalidInput("no regions known: run 'fabcoord reference load' first")
        by_siret: dict[str, int] = {}
        by_name: dict[tuple[str, str], int] = {}
        sup = table(Supplier)
        for sid, siret, key, postal in connection.execute(
            select(sup.c.id, sup.c.siret, sup.c.name_key, sup.c.postal_code)
        ):
            if siret:
                by_siret[siret] = sid
            by_name.setdefault((key, postal), sid)
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


def _validate(
    line: int,
    row: dict[str, str],
    default_region: str | None,
    state: _State,
    kind: DirectoryKind,
    directory: str | None,
) -> _Record | Rejection:
    problems: list[str] = []
    name = row.get("name", "")
    if not name:
        problems.append("no company name")
    for key, limit in LIMITS.items():
        if len(row.get(key, "")) > limit:
            problems.append(f"{key} longer than {limit} characters")
    siret = clean_siret(row.get("siret", "")) or None
    if siret is not None and (problem := siret_problem(siret)):
        problems.append(problem)
    postal = clean_postal_code(row.get("postal_code", ""))
    if postal is None:
        problems.append(f"postal code {row.get('postal_code', '')!r} is not 5 digits")
    region_text = row.get("region", "") or (default_region or "")
    region = canonical_region(region_text) if region_text else None
    if region is None:
        problems.append(
            f"region {region_text!r} is not one of the 18 French regions"
            if region_text
            else "no region (give --region for a DIRECCTE list)"
        )
    elif default_region and region != default_region and kind is DirectoryKind.DIRECCTE:
        problems.append(f"region {region} in the list of DIRECCTE {default_region}")
    products = row.get("products", "")
    found = [(m.item_code, m.keywords) for m in materials(products) if m.item_code in state.items]
    if not products:
        problems.append("no products or capabilities")
    lead_text = row.get("lead_time", "")
    lead = lead_time_days(lead_text) if lead_text else None
    if lead_text and lead is None:
        problems.append(f"lead time {lead_text!r} is not a number of hours, days or weeks")
    key = name_key(name)
    if not problems:
        earlier = state.seen_siret.get(siret) if siret else state.seen_name.get((key, postal or ""))
        if earlier is not None:
            what = f"SIRET {siret}" if siret else "name and postal code"
            problems.append(f"duplicate of line {earlier} (same {what})")
        elif siret:
            state.seen_siret[siret] = line
        else:
            state.seen_name[(key, postal or "")] = line
    if problems:
        return Rejection(line, "; ".join(problems))
    assert region is not None and postal is not None
    return _Record(
        line,
        {
            "siret": siret,
            "name": name,
            "name_key": key[:200],
            "address": row.get("address", ""),
            "postal_code": postal,
            "city": row.get("city", ""),
            "region_id": state.regions[region],
            "contact": row.get("contact", ""),
            "products": products,
            "capacity": row.get("capacity", "")[:200],
            "lead_time_days": lead,
        },
        directory or f"DIRECCTE {region}",
        found,
    )


def _write(
    session: Session,
    state: _State,
    records: list[_Record],
    kind: DirectoryKind,
    file_name: str,
    now: datetime,
    report: ImportReport,
) -> None:
    new: list[_Record] = []
    known: list[tuple[int, _Record]] = []
    for record in records:
        sid = _existing(state, record.values)
        if sid is None:
            new.append(record)
        else:
            known.append((sid, record))
    _merge(session, state, known, report)
    connection = session.connection()
    sup = table(Supplier)
    if new:
        ids = _allocate_ids(session, len(new))
        _bulk_insert(
            connection,
            sup,
            [{**r.values, "id": sid, "created_at": now} for sid, r in zip(ids, new, strict=True)],
        )
        for sid, record in zip(ids, new, strict=True):
            _remember(state, sid, record.values)
            known.append((sid, record))
        report.added += len(new)
    sources = [
        {
            "supplier_id": sid,
            "kind": kind.value,
            "directory": r.directory,
            "file_name": file_name[:300],
            "line": r.line,
            "imported_at": now,
        }
        for sid, r in known
        if (sid, r.directory) not in state.sources
    ]
    state.sources.update((sid, r.directory) for sid, r in known)
    mats = [
        {"supplier_id": sid, "item_code": code, "keywords": words}
        for sid, r in known
        for code, words in r.materials
        if (sid, code) not in state.materials
    ]
    state.materials.update((sid, code) for sid, r in known for code, _ in r.materials)
    if sources:
        _bulk_insert(connection, table(SupplierSource), sources)
    if mats:
        _bulk_insert(connection, table(SupplierMaterial), mats)


def _bulk_insert(connection: Connection, target: Table, rows: list[dict[str, Any]]) -> None:
    """One ``executemany`` of plain tuples built column by column: a column's bind processor (dates
    on SQLite) runs once per distinct value (the import's timestamps are all one), not per cell,
    and none of SQLAlchemy's per-row statement machinery runs."""
    names = list(rows[0])
    columns: list[list[Any]] = []
    for name in names:
        column = [row[name] for row in rows]
        process = target.c[name].type.bind_processor(connection.dialect)
        if process is not None:
            done = {value: _adapted(connection, process(value)) for value in set(column)}
            column = [done[value] for value in column]
        columns.append(column)
    if connection.dialect.driver == "psycopg":
        _copy(connection, target.name, names, zip(*columns, strict=True))
        return
    mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    sql = (
        f"INSERT INTO {target.name} ({', '.join(names)}) VALUES ({', '.join(mark for _ in names)})"
    )
    connection.exec_driver_sql(sql, list(zip(*columns, strict=True)))


def _copy(
    connection: Connection, name: str, names: list[str], rows: Iterable[tuple[Any, ...]]
) -> None:
    """PostgreSQL: the rows sent by one ``COPY … FROM STDIN`` on the transaction's own connection
    (no statement per row)."""
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        with cursor.copy(f"COPY {name} ({', '.join(names)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    finally:
        cursor.close()


def _adapted(connection: Connection, value: Any) -> Any:
    """``value`` as the sqlite3 driver would adapt it (its registered adapters, e.g. a datetime to
    ISO text), so that is done once per distinct value rather than by the driver per row."""
    if connection.dialect.driver != "pysqlite":
        return value
    adapt = sqlite3.adapters.get((type(value), sqlite3.PrepareProtocol))
    return value if adapt is None else adapt(value)


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


def _existing(state: _State, values: dict[str, Any]) -> int | None:
    """The supplier a listing is: same SIRET, else same name and postal code unless both have
    SIRETs and they differ (two establishments)."""
    siret = values["siret"]
    if siret and siret in state.by_siret:
        return state.by_siret[siret]
    sid = state.by_name.get((values["name_key"], values["postal_code"]))
    if sid is not None and siret and state.siret_of.get(sid):
        return None
    return sid


def _remember(state: _State, sid: int, values: dict[str, Any]) -> None:
    if values["siret"]:
        state.by_siret[values["siret"]] = sid
        state.siret_of[sid] = values["siret"]
    state.by_name.setdefault((values["name_key"], values["postal_code"]), sid)


def _merge(
    session: Session, state: _State, known: Iterable[tuple[int, _Record]], report: ImportReport
) -> None:
    """Fill the fields an existing supplier lacks from a new listing of it (nothing is erased)."""
    pairs = list(known)
    if not pairs:
        return
    sup = table(Supplier)
    ids = sorted({sid for sid, _ in pairs})
    current: dict[int, dict[str, Any]] = {}
    for start in range(0, len(ids), 5000):
        for row in session.connection().execute(
            select(sup).where(sup.c.id.in_(ids[start : start + 5000]))
        ):
            current[row.id] = dict(row._mapping)
    updates: list[dict[str, Any]] = []
    for sid, record in pairs:
        existing = current[sid]
        changed = {
            k: record.values[k]
            for k in FILLABLE
            if existing[k] in (None, "") and record.values[k] not in (None, "")
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

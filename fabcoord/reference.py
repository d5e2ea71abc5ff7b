"""Loading the public reference data (CHU, DIRECCTE, pôles de compétitivité) from ``data/``.

Idempotent: a second load changes nothing and says so. Each hospital gets a ledger location
``hospital/<slug>`` where delivered visors are counted.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlmodel import Session, SQLModel, select

from fabcoord.errors import InvalidInput, UnknownHospital
from fabcoord.fablabs import slugify
from fabcoord.ledger.catalogue import add_location
from fabcoord.ledger.models import Location, LocationKind
from fabcoord.records import CompetitivenessCluster, Direccte, Hospital, Region
from fabcoord.regions import OFFICIAL_REGIONS, canonical_region

FILES = {
    "hospitals": ("chu.csv", ("name", "city", "region", "finess")),
    "direccte": ("direccte.csv", ("region", "name", "seat_city", "seat_source")),
    "clusters": (
        "poles_competitivite.csv",
        (
            "name",
            "regions",
            "main_domains",
            "relevant_flag",
            "phase_iv_label_2019",
            "notes",
            "sources",
        ),
    ),
}


@dataclass
class LoadReport:
    """How many records of each kind were added, updated or already up to date."""

    added: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    unchanged: dict[str, int] = field(default_factory=dict)
    changes: list[str] = field(default_factory=list)

    def count(self, kind: str, outcome: str, change: str = "") -> None:
        bucket: dict[str, int] = getattr(self, outcome)
        bucket[kind] = bucket.get(kind, 0) + 1
        if change:
            self.changes.append(change)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated)


LINE = "_line"
"""Key under which :func:`read_rows` keeps each row's line number in its file."""


def hospital_location_code(slug: str) -> str:
    return f"hospital/{slug}"


def read_rows(data_dir: Path, kind: str) -> list[dict[str, str]]:
    """Read one reference CSV, checking its columns. Raises InvalidInput naming the problem."""
    filename, columns = FILES[kind]
    path = data_dir / filename
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in columns if c not in (reader.fieldnames or [])]
            if missing:
                raise InvalidInput(f"{path}: missing column(s) {', '.join(missing)}")
            rows = []
            for row in reader:
                cleaned = {k: (v or "").strip() for k, v in row.items() if k}
                cleaned[LINE] = str(reader.line_num)
                rows.append(cleaned)
            return rows
    except FileNotFoundError:
        raise InvalidInput(f"reference file {path} not found (set FABCOORD_DATA_DIR)") from None
    except (UnicodeDecodeError, csv.Error) as error:
        raise InvalidInput(f"{path} is not a readable UTF-8 CSV: {error}") from None


def load_reference_data(*, session: Session, data_dir: Path) -> LoadReport:
    """Insert or update regions, hospitals, DIRECCTE and pôles from ``data_dir``."""
    hospitals = read_rows(data_dir, "hospitals")
    direccte = read_rows(data_dir, "direccte")
    clusters = read_rows(data_dir, "clusters")
    report = LoadReport()
    _check_regions(data_dir, hospitals, direccte, clusters)
    regions = _load_regions(session, sorted(OFFICIAL_REGIONS), report)
    for row in hospitals:
        slug = slugify(row["name"])
        hospital = _upsert(
            session,
            report,
            "hospitals",
            Hospital,
            select(Hospital).where(Hospital.slug == slug),
            {
                "slug": slug,
                "name": row["name"],
                "city": row["city"],
                "region_id": regions[canonical_region(row["region"]) or ""],
                "finess": row["finess"],
                "address": f"{row['name']}, {row['city']}",
            },
            keep=("address",),
        )
        _ensure_hospital_location(session, hospital)
    for row in direccte:
        region_id = regions[canonical_region(row["region"]) or ""]
        _upsert(
            session,
            report,
            "direccte",
            Direccte,
            select(Direccte).where(Direccte.region_id == region_id),
            {
                "region_id": region_id,
                "name": row["name"],
                "seat_city": row["seat_city"],
                "sources": row["seat_source"],
            },
        )
    for row in clusters:
        _upsert(
            session,
            report,
            "clusters",
            CompetitivenessCluster,
            select(CompetitivenessCluster).where(CompetitivenessCluster.name == row["name"]),
            {
                "name": row["name"],
                "regions": "; ".join(
                    canonical_region(name) or name for name in cluster_regions(row["regions"])
                ),
                "main_domains": row["main_domains"],
                "relevant": row["relevant_flag"],
                "label": row["phase_iv_label_2019"],
                "notes": row["notes"],
                "sources": row["sources"],
            },
        )
    session.flush()
    return report


def cluster_regions(text: str) -> list[str]:
    """The region names of a pôle's ``regions`` field (``;``-separated)."""
    return [part.strip() for part in text.split(";") if part.strip()]


def _check_regions(
    data_dir: Path,
    hospitals: list[dict[str, str]],
    direccte: list[dict[str, str]],
    clusters: list[dict[str, str]],
) -> None:
    """Every region named in the files must be one of the 18 official regions (a note is not a
    region). Raises InvalidInput listing each offending line."""
    problems: list[str] = []
    for kind, rows in (("hospitals", hospitals), ("direccte", direccte)):
        for row in rows:
            if canonical_region(row["region"]) is None:
                problems.append(f"{FILES[kind][0]} line {row[LINE]}: {row['region']!r}")
    for row in clusters:
        names = cluster_regions(row["regions"])
        if not names:
            problems.append(f"{FILES['clusters'][0]} line {row[LINE]}: no region")
        problems.extend(
            f"{FILES['clusters'][0]} line {row[LINE]}: {name!r}"
            for name in names
            if canonical_region(name) is None
        )
    if problems:
        shown = "; ".join(problems[:10]) + (
            f"; … {len(problems) - 10} more" if len(problems) > 10 else ""
        )
        raise InvalidInput(
            f"{data_dir}: region(s) not among the 18 official French regions: {shown}"
        )


def _load_regions(session: Session, names: list[str], report: LoadReport) -> dict[str, int]:
    ids: dict[str, int] = {}
    for name in names:
        region = session.exec(select(Region).where(Region.name == name)).first()
        if region is None:
            region = Region(name=name)
            session.add(region)
            session.flush()
            report.count("regions", "added", f"added region {name}")
        else:
            report.count("regions", "unchanged")
        assert region.id is not None
        ids[name] = region.id
    return ids


def _upsert(
    session: Session,
    report: LoadReport,
    kind: str,
    model: type[SQLModel],
    query: Any,
    values: dict[str, Any],
    keep: tuple[str, ...] = (),
) -> Any:
    """Insert, or update the fields that differ (except ``keep``, which users may have edited)."""
    existing = session.exec(query).first()
    if existing is None:
        record = model(**values)
        session.add(record)
        session.flush()
        report.count(kind, "added", f"added {kind[:-1]} {values.get('name', '')}")
        return record
    changed = {k: v for k, v in values.items() if k not in keep and getattr(existing, k) != v}
    described = ", ".join(f"{k} {getattr(existing, k)!r} → {v!r}" for k, v in changed.items())
    for name, value in changed.items():
        setattr(existing, name, value)
    if changed:
        report.count(kind, "updated", f"updated {kind[:-1]} {values.get('name', '')}: {described}")
    else:
        report.count(kind, "unchanged")
    return existing


def _ensure_hospital_location(session: Session, hospital: Hospital) -> None:
    code = hospital_location_code(hospital.slug)
    if session.exec(select(Location).where(Location.code == code)).first() is None:
        add_location(
            session=session,
            code=code,
            name=hospital.name,
            kind=LocationKind.HOSPITAL,
            hospital_id=hospital.id,
        )


def get_hospital(*, session: Session, name: str) -> Hospital:
    """Find a hospital by slug or name (case and accents ignored)."""
    slug = slugify(name)
    hospital = session.exec(select(Hospital).where(Hospital.slug == slug)).first()
    if hospital is None:
        raise UnknownHospital(f"unknown hospital {name!r} (see 'fabcoord reference hospitals')")
    return hospital


def list_hospitals(*, session: Session) -> list[tuple[Hospital, str]]:
    return [
        (hospital, region)
        for hospital, region in session.exec(
            select(Hospital, Region.name).join(Region).order_by(Hospital.slug)
        )
    ]

"""Designs and their G-code, stored once by content hash and uploaded to printers under that hash."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from sqlmodel import Session, col, select

from fabcoord.errors import AlreadyExists, InvalidInput
from fabcoord.ledger.posting import utc_now
from print_farm.errors import InvalidGcode, UnknownDesign
from print_farm.models import Design, GcodeBlob
from print_farm.spools import material_code

MAX_GCODE_BYTES = 64 * 1024 * 1024
_COMMAND = re.compile(r"^(N\d+\s*)?[GMT]\d+(\.\d+)?([A-Z\s*;]|$)", re.IGNORECASE)


@dataclass(frozen=True)
class DesignPublic:
    name: str
    units_per_print: int
    material: str
    grams: int
    minutes: int
    sha256: str
    file_name: str
    size: int


def file_name_for(sha256: str) -> str:
    """The name a design's G-code has on every printer: derived from its content."""
    return f"fabcoord-{sha256[:20]}.gcode"


def validate_gcode(content: bytes) -> None:
    """Refuse empty, binary or non-G-code content.

    Every line must be blank, a comment (``;``), a host command (``@pause``) or a G/M/T command,
    and at least one command must be present.

    Raises:
        InvalidGcode: with the first offending line number.
    """
    if not content.strip():
        raise InvalidGcode("the G-code file is empty")
    if len(content) > MAX_GCODE_BYTES:
        raise InvalidGcode(f"the G-code file is larger than {MAX_GCODE_BYTES // 2**20} MiB")
    if b"\x00" in content:
        raise InvalidGcode("the file is binary, not G-code text")
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidGcode("the file is not text (not UTF-8/ASCII G-code)") from None
    commands = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split(";", 1)[0].strip()
        if not line or line.startswith("@"):
            continue
        if not _COMMAND.match(line):
            shown = raw.strip()[:40]
            raise InvalidGcode(f"line {number} is not G-code: {shown!r}")
        commands += 1
    if commands == 0:
        raise InvalidGcode("the file has comments only, no G-code command")


def store_gcode(*, session: Session, content: bytes) -> GcodeBlob:
    """Store the content once: the same bytes give the same blob."""
    validate_gcode(content)
    digest = hashlib.sha256(content).hexdigest()
    blob = session.exec(select(GcodeBlob).where(GcodeBlob.sha256 == digest)).first()
    if blob is None:
        blob = GcodeBlob(sha256=digest, size=len(content), content=content, created_at=utc_now())
        session.add(blob)
        session.flush()
    return blob


def add_design(
    *,
    session: Session,
    name: str,
    gcode: bytes,
    units_per_print: int,
    material: str,
    grams: int,
    minutes: int,
) -> DesignPublic:
    """Register a design.

    Raises:
        InvalidInput (units per print < 1, grams or minutes <= 0), InvalidGcode, UnknownItem,
        AlreadyExists.
    """
    name = " ".join(name.split())
    if not name or len(name) > 120:
        raise InvalidInput("design name must be 1 to 120 characters")
    if not 1 <= units_per_print <= 1000:
        raise InvalidInput(f"--units-per-print must be 1 to 1000, got {units_per_print}")
    if not 0 < grams <= 100_000:
        raise InvalidInput(f"--grams must be more than 0 and at most 100000, got {grams}")
    if not 0 < minutes <= 100_000:
        raise InvalidInput(f"--minutes must be more than 0 and at most 100000, got {minutes}")
    code = material_code(session=session, material=material)
    if session.exec(select(Design).where(Design.name == name)).first() is not None:
        raise AlreadyExists(f"design {name!r} exists already")
    blob = store_gcode(session=session, content=gcode)
    assert blob.id is not None
    design = Design(
        name=name,
        blob_id=blob.id,
        units_per_print=units_per_print,
        material=code,
        grams=grams,
        minutes=minutes,
        created_at=utc_now(),
    )
    session.add(design)
    session.flush()
    return _public(design, blob)


def get_design(*, session: Session, name: str) -> Design:
    design = session.exec(select(Design).where(Design.name == " ".join(name.split()))).first()
    if design is None:
        raise UnknownDesign(f"unknown design {name!r} (see 'fabcoord designs list')")
    return design


def list_designs(*, session: Session) -> list[DesignPublic]:
    rows = session.exec(select(Design, GcodeBlob).join(GcodeBlob).order_by(col(Design.name))).all()
    return [_public(design, blob) for design, blob in rows]


def design_file(*, session: Session, design: Design) -> tuple[str, bytes]:
    """The printer file name and the G-code bytes of a design."""
    blob = session.get(GcodeBlob, design.blob_id)
    assert blob is not None
    return file_name_for(blob.sha256), blob.content


def _public(design: Design, blob: GcodeBlob) -> DesignPublic:
    return DesignPublic(
        name=design.name,
        units_per_print=design.units_per_print,
        material=design.material,
        grams=design.grams,
        minutes=design.minutes,
        sha256=blob.sha256,
        file_name=file_name_for(blob.sha256),
        size=blob.size,
    )

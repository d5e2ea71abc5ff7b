"""A fablab with components in stock, a printer's print job behind some frames, and an open order."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from fabcoord.db import unit_of_work
from fabcoord.ledger import catalogue
from fabcoord.ledger.models import LocationKind, MoveReason
from fabcoord.ledger.posting import Leg, PostingRequest, post
from fabcoord.records import Hospital
from tests.factories import Runner as CliRunner

FABLAB = "fablab/fablab-des-usines"


class Runner(CliRunner):
    """The CLI runner, and a check that a refused command changes nothing."""

    def refused(self, *args: str) -> str:
        """Run a command that must fail and leave the ledger byte-identical; its message."""
        before = self.ok("ledger", "show", "--json")
        code, _, err = self(*args)
        assert code != 0
        assert self.ok("ledger", "show", "--json") == before
        return err


def print_frames(engine: Engine, *, job: str, frames: int, printer: str = "prusa-1") -> None:
    """What the print farm posts for a finished print job: frames in, filament used."""
    code = f"printer/{printer}"
    with unit_of_work(engine) as session:
        if not catalogue.list_locations(session=session, kind=LocationKind.PRINTER):
            catalogue.add_location(
                session=session, code=code, name=printer, kind=LocationKind.PRINTER
            )
            post(
                session=session,
                request=PostingRequest(
                    reason=MoveReason.RECEIPT,
                    doc_type="receipt",
                    doc_id="BL-SPOOL",
                    legs=(
                        Leg("petg", "supplier", -(10**6), "SPOOL-7"),
                        Leg("petg", code, 10**6, "SPOOL-7"),
                    ),
                    actor="tester",
                ),
            )
        post(
            session=session,
            request=PostingRequest(
                reason=MoveReason.PRINT_OUTPUT,
                doc_type="print_job",
                doc_id=job,
                legs=(
                    Leg("visor-frame", "production", -frames),
                    Leg("visor-frame", FABLAB, frames),
                    Leg("petg", code, -45 * frames, "SPOOL-7"),
                    Leg("petg", "production", 45 * frames, "SPOOL-7"),
                ),
                actor="tester",
            ),
        )


def open_order(engine: Engine, quantity: int = 30) -> tuple[str, str]:
    """An accepted order of visors, made by the orders package: (reference, hospital slug)."""
    from orders import lifecycle, service
    from orders.schemas import OrderCreate
    from tests.orders.conftest import valid_order

    with unit_of_work(engine) as session:
        hospital = session.exec(select(Hospital).where(Hospital.name == "CHU de Poitiers")).one()
        assert hospital.id is not None
        order, _ = service.create_order(
            session=session,
            hospital_id=hospital.id,
            order=OrderCreate.model_validate(valid_order(quantity=quantity)),
            actor="tester",
            channel="api",
        )
        lifecycle.accept_order(session=session, reference=order.reference, actor="tester")
        return order.reference, hospital.slug


@pytest.fixture
def fabcoord(database_url: str, capsys: pytest.CaptureFixture[str], engine: Engine) -> Runner:
    runner = Runner(database_url, capsys)
    runner.ok("reference", "load")
    runner.ok(
        "fablab", "add", "Fablab des Usines", "--city", "Ligugé", "--region", "Nouvelle-Aquitaine"
    )
    print_frames(engine, job="42", frames=12)
    runner.ok("stock", "receive", "visor-frame", "20", "--to", FABLAB, "--ref", "BL-FRAMES")
    runner.ok(
        "stock",
        "receive",
        "pet-sheet-a4",
        "100",
        "--to",
        FABLAB,
        "--ref",
        "BL-PET",
        "--lot",
        "PET-A",
    )
    runner.ok(
        "stock",
        "receive",
        "elastic",
        "30",
        "--unit",
        "m",
        "--to",
        FABLAB,
        "--ref",
        "BL-EL",
        "--lot",
        "EL-1",
    )
    return runner


def pdf_text(path: Path) -> str:
    from pypdf import PdfReader

    return "\n".join(page.extract_text() for page in PdfReader(path).pages)


def pages_not_blank(path: Path, tmp_path: Path) -> int:
    """Render every page to PNG with pdftoppm; each must have dark pixels. Returns the count."""
    prefix = tmp_path / path.stem
    subprocess.run(["pdftoppm", "-png", "-r", "30", str(path), str(prefix)], check=True)
    pngs = sorted(tmp_path.glob(f"{path.stem}*.png"))
    assert pngs
    for png in pngs:
        assert _has_ink(png), f"{png} is blank"
    return len(pngs)


def _has_ink(png: Path) -> bool:
    from PIL import Image  # reportlab's own dependency

    with Image.open(png) as image:
        darkest, _ = image.convert("L").getextrema()
    return bool(darkest < 128)

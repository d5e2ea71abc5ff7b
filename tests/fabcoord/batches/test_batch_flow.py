"""From frames to a signed-for visor on the command line, on both databases."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import Engine

from tests.fabcoord.batches.conftest import (
    FABLAB,
    Runner,
    open_order,
    pages_not_blank,
    pdf_text,
)

CLEAN = ("--cleaning-product", "Surfanios", "--cleaning-date", "2026-12-01")


def _stock(fabcoord: Runner, location: str, lot: str) -> int:
    rows = fabcoord.json("stock", "show", "--item", "visor")
    return sum(r["qty"] for r in rows if r["location"] == location and r["lot"] == lot)  # type: ignore[index,union-attr,misc]


def _released_batch(fabcoord: Runner, qty: int = 20) -> str:
    number = fabcoord.json("batch", "assemble", "--fablab", "Fablab des Usines", "--qty", str(qty))
    batch = number["number"]  # type: ignore[index,call-overload]
    fabcoord.ok("batch", "inspect", batch, "--all-pass", *CLEAN)
    return str(batch)


def test_assembly_takes_components_by_lot_and_numbers_the_batch(fabcoord: Runner) -> None:
    made = fabcoord.json("batch", "assemble", "--fablab", "Fablab des Usines", "--qty", "15")
    assert made["number"].startswith("LOT-") and made["number"].endswith("-0001")  # type: ignore[index,union-attr]
    moves = fabcoord.json("ledger", "show", "--doc", f"batch:{made['number']}")  # type: ignore[index,call-overload]
    legs = {(m["item"], m["location"], m["lot"]): m["qty"] for m in moves}  # type: ignore[index,union-attr,attr-defined]
    assert legs[("visor", FABLAB, made["number"])] == 15  # type: ignore[index,call-overload]
    assert legs[("pet-sheet-a4", FABLAB, "PET-A")] == -15
    assert legs[("elastic", FABLAB, "EL-1")] == -4500
    assert legs[("visor-frame", FABLAB, "")] == -15
    assert {m["reason"] for m in moves} == {"assembly"}  # type: ignore[index,union-attr,attr-defined]
    second = fabcoord.json("batch", "assemble", "--fablab", "Fablab des Usines", "--qty", "2")
    assert second["number"].endswith("-0002")  # type: ignore[index,union-attr]


def test_assembly_without_enough_components_is_refused(fabcoord: Runner) -> None:
    err = fabcoord.refused("batch", "assemble", "--fablab", "Fablab des Usines", "--qty", "33")
    assert "not enough visor-frame" in err and "33 needed, 32 in stock" in err


def test_only_a_released_batch_ships_and_within_what_it_holds_and_the_order_needs(
    fabcoord: Runner, engine: Engine, tmp_path: Path
) -> None:
    order, _ = open_order(engine, quantity=18)
    batch = fabcoord.json("batch", "assemble", "--fablab", "Fablab des Usines", "--qty", "20")
    number = str(batch["number"])  # type: ignore[index,call-overload]
    out = str(tmp_path)
    err = fabcoord.refused("ship", order, "--batch", number, "--qty", "5", "--out", out)
    assert "not inspected yet" in err
    err = fabcoord.refused("batch", "inspect", number, "--pass", "aspect", "--pass", "fit")
    assert "missing: dimensions, optics, cleaning" in err
    err = fabcoord.refused("batch", "inspect", number, "--all-pass")
    assert "product and the date" in err
    fabcoord.ok("batch", "inspect", number, "--all-pass", *CLEAN, "--inspector", "Anne Q.")
    assert "holds 20 visors" in fabcoord.refused(
        "ship", order, "--batch", number, "--qty", "21", "--out", out
    )
    assert "still needs 18" in fabcoord.refused(
        "ship", order, "--batch", number, "--qty", "19", "--out", out
    )
    assert "unknown order" in fabcoord.refused(
        "ship", "CMD-NOPE", "--batch", number, "--qty", "1", "--out", out
    )


def test_a_failed_inspection_quarantines_and_a_quarantined_batch_does_not_ship(
    fabcoord: Runner, engine: Engine, tmp_path: Path
) -> None:
    order, _ = open_order(engine)
    batch = fabcoord.json("batch", "assemble", "--fablab", "Fablab des Usines", "--qty", "10")
    number = str(batch["number"])  # type: ignore[index,call-overload]
    fabcoord.ok("batch", "inspect", number, "--all-pass", "--fail", "optics", *CLEAN)
    assert _stock(fabcoord, FABLAB + "/quarantine", number) == 10
    assert _stock(fabcoord, FABLAB, number) == 0
    assert "quarantined" in fabcoord.refused(
        "ship", order, "--batch", number, "--qty", "1", "--out", str(tmp_path)
    )
    fabcoord.ok("batch", "scrap", number, "--reason", "écrans rayés")
    assert _stock(fabcoord, "scrap", number) == 10


def test_ship_receive_and_recall_through_the_ledger(
    fabcoord: Runner, engine: Engine, tmp_path: Path
) -> None:
    order, hospital = open_order(engine, quantity=30)
    number = _released_batch(fabcoord, 20)
    shipped = fabcoord.json(
        "ship",
        order,
        "--batch",
        number,
        "--qty",
        "15",
        "--carrier",
        "La Poste",
        "--out",
        str(tmp_path),
    )
    shipment = str(shipped["shipment"])  # type: ignore[index,call-overload]
    assert _stock(fabcoord, "transit", number) == 15
    note = Path(str(shipped["delivery_note"]))  # type: ignore[index,call-overload]
    text = pdf_text(note)
    assert f"Bon de livraison {shipment}" in text and order in text and number in text
    assert "Site de livraison : 2 rue de la Milétrie" in text and "La Poste" in text
    assert pages_not_blank(note, tmp_path) == 1

    assert "must add up" in fabcoord.refused(
        "deliver", "confirm", shipment, "--received", "16", "--signed-by", "Dr Martin"
    )
    assert "need a reason" in fabcoord.refused(
        "deliver",
        "confirm",
        shipment,
        "--received",
        "14",
        "--refused",
        "1",
        "--signed-by",
        "Dr Martin",
    )
    fabcoord.ok(
        "deliver",
        "confirm",
        shipment,
        "--received",
        "14",
        "--refused",
        "1",
        "--reason",
        "écran fissuré",
        "--signed-by",
        "Dr Martin",
    )
    assert _stock(fabcoord, f"hospital/{hospital}", number) == 14
    assert _stock(fabcoord, FABLAB, number) == 6  # 5 never shipped, 1 refused came back
    assert _stock(fabcoord, "transit", number) == 0
    assert "already recorded" in fabcoord.refused(
        "deliver", "confirm", shipment, "--received", "15", "--signed-by", "Dr Martin"
    )

    recalled = fabcoord.json("batch", "recall", number, "--reason", "élastique défectueux")
    assert [(r["shipment"], r["shipped"], r["received"]) for r in recalled] == [  # type: ignore[index,union-attr]
        (shipment, 15, 14)
    ]
    assert "recalled" in fabcoord.refused(
        "ship", order, "--batch", number, "--qty", "1", "--out", str(tmp_path)
    )


def test_the_batch_documents_say_what_went_into_the_visors(
    fabcoord: Runner, engine: Engine, tmp_path: Path
) -> None:
    number = _released_batch(fabcoord, 20)
    record = tmp_path / "record.pdf"
    fabcoord.ok("batch", "record", number, "--out", str(record))
    text = pdf_text(record)
    assert f"Dossier de lot {number}" in text
    assert "print_job 42" in text and "prusa-1" in text and "SPOOL-7" in text  # the printed frames
    assert "receipt BL-FRAMES" in text and "PET-A" in text and "EL-1" in text
    assert "Surfanios" in text and "conforme" in text
    assert pages_not_blank(record, tmp_path) >= 1
    shown = fabcoord.json("batch", "show", number)
    assert [(s["doc_type"], s["frames"]) for s in shown["sources"]] == [  # type: ignore[index,call-overload]
        ("print_job", 12),
        ("receipt", 8),
    ]

    labels = tmp_path / "labels.pdf"
    fabcoord.ok("batch", "labels", number, "--out", str(labels), "--per-box", "3")
    text = pdf_text(labels)
    assert f"LOT {number}" in text and "Carton 7/7" in text and "2 visières" in text
    assert "Ne remplace pas un appareil de protection respiratoire" in text
    assert pages_not_blank(labels, tmp_path) == 1

    notice = tmp_path / "notice.pdf"
    fabcoord.ok("batch", "notice", number, "--out", str(notice))
    text = pdf_text(notice)
    assert "Notice d'utilisation" in text and number in text and "Fablab des Usines" in text
    assert pages_not_blank(notice, tmp_path) == 1


def test_inspection_from_a_file(fabcoord: Runner, tmp_path: Path) -> None:
    batch = fabcoord.json("batch", "assemble", "--fablab", "Fablab des Usines", "--qty", "4")
    number = str(batch["number"])  # type: ignore[index,call-overload]
    sheet = tmp_path / "check.json"
    results = dict.fromkeys(["aspect", "dimensions", "optics", "fit", "cleaning"], True)
    sheet.write_text(
        json.dumps(
            {
                "inspector": "Anne Q.",
                "results": results,
                "cleaning_product": "alcool 70°",
                "cleaning_date": "2026-12-02",
            }
        )
    )
    assert "is now released" in fabcoord.ok("batch", "inspect", number, "--from-file", str(sheet))
    assert fabcoord.json("batch", "show", number)["checks"][0]["sample_size"] == 2  # type: ignore[index,call-overload]

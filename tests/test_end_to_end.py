"""The whole chain on each database: the demo's scenario, smaller, with two real OctoPrint servers in
the farm beside a simulated printer. Every order's final state and the ledger's final balances are
checked against values worked out by hand below, not computed by the code under test."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import cli
from scripts.demo import RealPrinter, Region, Scenario
from tests.print_farm.farm_runs import reset_servers
from tests.print_farm.octoprint_servers import (
    OctoPrintServer,
    dwell_gcode,
    start_servers,
    stop_servers,
)

# Poitiers 24 (makers 12 + 12), Nantes 16 (the farm: 4 prints of 4 frames), Bordeaux 300 in 3 days
# (more than the makers can deliver there by then: the plan gives it to the partner, delivered as
# 200 + 100). One batch of 24 + 16 = 40 visors.
REGION = dict(poitiers=24, nantes=16, bordeaux=300, farm_frames=16, simulated_printers=1)

EXPECTED_ORDERS = {"chu-de-poitiers": "delivered", "chu-de-nantes": "shipped",
                   "chu-de-bordeaux": "delivered"}  # fmt: skip

# (location, item, lot) → quantity in the item's base unit, by hand:
# - PETG lot A: 10 kg received, 3 kg moved to Niort, 3 printers loaded with 1,000 g each
#   (10,000 − 3,000 − 3,000 = 4,000 g left at the Usines); lot B (5 kg) reversed: nothing.
# - printers: 3 × 1,000 g − 4 prints × 60 g = 2,760 g between them (which printer printed what
#   is the dispatcher's choice, so only their sum is fixed).
# - elastic: 200 m − 2 m written off − 40 visors × 300 mm = 186,000 mm.
# - PET sheets: lot PET-OYO-0412 600 − 40 = 560 (first received, first used), PET-OYO-0415 400.
# - visors: 24 at Poitiers (signed for), 16 in transit to Nantes (not signed), 300 at Bordeaux from
#   the partner (no lot of ours); frames: 40 made (16 printed + 24 from makers), 40 assembled.
EXPECTED_STOCK = {
    ("fablab/fablab-de-niort", "petg", "PETG-2020-03-A"): 3_000,
    ("fablab/fablab-des-usines", "petg", "PETG-2020-03-A"): 4_000,
    ("fablab/fablab-des-usines", "elastic", "EL-0401"): 186_000,
    ("fablab/fablab-des-usines", "pet-sheet-a4", "PET-OYO-0412"): 560,
    ("fablab/fablab-des-usines", "pet-sheet-a4", "PET-OYO-0415"): 400,
    ("hospital/chu-de-poitiers", "visor", "LOT-*"): 24,
    ("transit", "visor", "LOT-*"): 16,
    ("hospital/chu-de-bordeaux", "visor", ""): 300,
}
PETG_ON_PRINTERS = 2_760


@pytest.fixture(scope="module")
def two_octoprint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[OctoPrintServer]]:
    servers = start_servers(Path(tmp_path_factory.mktemp("octoprint-e2e")), 2)
    try:
        yield servers
    finally:
        stop_servers(servers)


def test_the_whole_chain_ends_with_the_orders_and_balances_worked_out_by_hand(
    empty_database_url: str,
    two_octoprint: list[OctoPrintServer],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    reset_servers(two_octoprint)
    region = Region(
        **REGION,  # type: ignore[arg-type]
        octoprint=tuple(RealPrinter(s.url, s.api_key) for s in two_octoprint),
        print_seconds=1.0,
        gcode=dwell_gcode(300).decode(),
    )
    outcome = Scenario(tmp_path / "demo", empty_database_url, region, quiet=True).run()

    statuses = {
        hospital: read(empty_database_url, capsys, "orders", "show", reference)["status"]
        for hospital, reference in outcome.references.items()
    }
    assert statuses == EXPECTED_ORDERS

    rows = read(empty_database_url, capsys, "stock", "show")
    stock: dict[tuple[str, str, str], float] = {}
    on_printers = 0.0
    for row in rows:
        if row["location"].startswith("printer/"):
            assert (row["item"], row["lot"]) == ("petg", "PETG-2020-03-A")
            on_printers += row["qty"]
            continue
        lot = row["lot"]
        key = (row["location"], row["item"], "LOT-*" if lot and lot.startswith("LOT-") else lot)
        stock[key] = stock.get(key, 0) + row["qty"]
    assert stock == EXPECTED_STOCK
    assert on_printers == PETG_ON_PRINTERS

    jobs = read(empty_database_url, capsys, "farm", "queue", "--all")
    assert [job["status"] for job in jobs] == ["done"] * 4
    printed_on = {job["printer"] for job in jobs}
    assert printed_on & {"octoprint-1", "octoprint-2"}, printed_on  # real OctoPrint printed
    shipped = read(
        empty_database_url, capsys, "trace", "--shipment", outcome.shipments["chu-de-poitiers"]
    )
    assert {"maker Léa (Ligugé)", "maker Karim (Chasseneuil)"} <= set(shipped["makers"])
    assert not [who for who in shipped["makers"] if who.startswith("hospital-link")]
    sheets = read(empty_database_url, capsys, "trace", "PET-OYO-0412")
    assert sheets["makers"] == [] and sheets["hospitals"] == {
        "hospital/chu-de-poitiers (visor)": 24
    }

    names = {path.name for path in outcome.documents}
    assert {f"bl-{number}.pdf" for number in outcome.shipments.values()} <= names
    assert {"purchase-order-1.pdf", "FABCOORD-HO-1.pdf"} <= names
    # the partner's volume came from the accepted plan: its draft, with the line it serves, sent
    [handoff] = read(empty_database_url, capsys, "handoff", "list")
    assert (handoff["state"], handoff["orders"]) == (
        "delivered",
        [outcome.references["chu-de-bordeaux"]],
    )
    shown = read(empty_database_url, capsys, "handoff", "show", str(handoff["id"]))
    assert shown["plan"] == 1 and shown["lines"] == [
        {"reference": outcome.references["chu-de-bordeaux"], "line": 1, "quantity": 300}
    ]
    assert any(name.startswith("weekly-") for name in names)


def read(url: str, capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    capsys.readouterr()
    assert cli.run(["--db", url, *argv, "--json"]) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)

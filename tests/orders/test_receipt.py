"""The hospital signs for a shipment on its status page (Chromium) and through the JSON API."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from fastapi.testclient import TestClient
from playwright.sync_api import sync_playwright
from sqlalchemy import Engine

from fabcoord import events
from fabcoord.batches import service as batches
from fabcoord.batches.quality import load
from fabcoord.config import PROJECT_DATA_DIR
from fabcoord.db import unit_of_work
from fabcoord.fablabs import add_fablab
from fabcoord.ledger.models import MoveReason
from fabcoord.ledger.posting import PostingRequest, post, transfer
from fabcoord.shipping import service as shipping
from orders import handlers, lifecycle, links
from tests.factories import ledger_snapshot
from tests.orders.conftest import invite, valid_order
from tests.orders.test_browser import CHROMIUM, CHROMIUM_ARGS, server  # noqa: F401  (fixture)

STOCK = "fablab/fablab-de-poitiers"


def ordered_and_shipped(
    engine: Engine, client: TestClient, token: str, qty: int = 20
) -> tuple[str, str]:
    """An accepted order of ``qty`` visors and one shipment of all of them: (reference, shipment)."""
    handlers.subscribe(events.subscribers)  # what the composition root does
    made = client.post(
        "/api/v1/orders",
        json=valid_order(quantity=qty),
        headers={"Authorization": f"Bearer {token}"},
    )
    assert made.status_code == 201, made.text
    reference = made.json()["reference"]
    quality = load(PROJECT_DATA_DIR)
    with unit_of_work(engine) as session:
        lifecycle.accept_order(session=session, reference=reference, actor="tester")
        add_fablab(
            session=session, name="Fablab de Poitiers", city="Poitiers", region="Nouvelle-Aquitaine"
        )
        for item, n in (("visor-frame", qty), ("pet-sheet-a4", qty), ("elastic", 300 * qty)):
            post(
                session=session,
                request=PostingRequest(
                    MoveReason.RECEIPT,
                    "receipt",
                    f"BL-{item}",
                    transfer(item=item, qty=n, source="supplier", destination=STOCK),
                    "tester",
                ),
            )
        batch = batches.assemble(
            session=session, fablab="Fablab de Poitiers", qty=qty, actor="tester", quality=quality
        )
        batches.inspect(
            session=session,
            number=batch.number,
            quality=quality,
            actor="tester",
            filled=batches.InspectionInput(
                results={c.code: True for c in quality.checks},
                inspector="Anne Q.",
                cleaning_product="Surfanios",
                cleaning_date=date(2026, 12, 1),
            ),
        )
        shipment = shipping.ship(
            session=session,
            reference=reference,
            batch_number=batch.number,
            qty=qty,
            actor="tester",
            carrier="La Poste",
        )
        return reference, shipment.number


def test_the_api_records_the_receipt_once_and_the_order_is_delivered(
    client: TestClient, token: str, reference_loaded: Engine
) -> None:
    reference, shipment = ordered_and_shipped(reference_loaded, client, token)
    auth = {"Authorization": f"Bearer {token}"}
    listed = client.get(f"/api/v1/orders/{reference}/shipments", headers=auth).json()
    assert [(s["number"], s["quantity"], s["state"]) for s in listed] == [(shipment, 20, "shipped")]
    url = f"/api/v1/orders/{reference}/shipments/{shipment}/receipt"
    before = ledger_snapshot(reference_loaded)
    too_many = client.post(url, json={"received": 21, "signed_by": "Dr Martin"}, headers=auth)
    assert too_many.status_code == 409 and "must add up" in too_many.json()["detail"]
    assert ledger_snapshot(reference_loaded) == before
    done = client.post(url, json={"received": 20, "signed_by": "Dr Martin"}, headers=auth)
    assert done.status_code == 200, done.text
    assert done.json()["received"] == 20 and done.json()["signed_by"] == "Dr Martin"
    order = client.get(f"/api/v1/orders/{reference}", headers=auth).json()
    assert order["status"] == "delivered"
    again = client.post(url, json={"received": 20, "signed_by": "Dr Martin"}, headers=auth)
    assert again.status_code == 409 and "already recorded" in again.json()["detail"]


def test_another_hospital_or_a_revoked_link_cannot_sign(
    client: TestClient, token: str, reference_loaded: Engine
) -> None:
    reference, shipment = ordered_and_shipped(reference_loaded, client, token)
    other = invite(reference_loaded, "CHU de Bordeaux")
    url = f"/api/v1/orders/{reference}/shipments/{shipment}/receipt"
    body = {"received": 20, "signed_by": "X"}
    assert (
        client.post(url, json=body, headers={"Authorization": f"Bearer {other}"}).status_code == 404
    )
    wrong = client.get(f"/h/not-a-link/commandes/{reference}")
    with unit_of_work(reference_loaded) as session:
        links.revoke(session=session, hospital="CHU de Poitiers", actor="tester")
    before = ledger_snapshot(reference_loaded)
    revoked = client.post(
        f"/h/{token}/commandes/{reference}/reception/{shipment}",
        data={"received": "20", "signed_by": "X"},
    )
    assert revoked.status_code == 404 == wrong.status_code and revoked.text == wrong.text
    assert ledger_snapshot(reference_loaded) == before


def test_the_hospital_signs_for_a_shipment_on_its_page_in_chromium(
    server: str,  # noqa: F811  (the fixture imported above)
    client: TestClient,
    token: str,
    reference_loaded: Engine,
    tmp_path: Path,
) -> None:
    reference, shipment = ordered_and_shipped(reference_loaded, client, token)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 390, "height": 844})
            page.goto(f"{server}/h/{token}/commandes/{reference}")
            card = page.inner_text(f"#shipment-{shipment}")
            assert "20 visières" in card and "LOT-" in card
            note = page.request.get(f"{server}/h/{token}/commandes/{reference}/bl/{shipment}")
            assert note.ok and note.body().startswith(b"%PDF")
            page.fill(f"#received-{shipment}", "25")
            page.fill(f"#signed-{shipment}", "Dr Claire Martin")
            page.click(f"#shipment-{shipment} button[type=submit]")
            assert "must add up" in page.inner_text(f"#receipt-error-{shipment}")
            page.fill(f"#received-{shipment}", "19")
            page.fill(f"#refused-{shipment}", "1")
            page.fill(f"#reason-{shipment}", "écran fissuré")
            page.fill(f"#signed-{shipment}", "Dr Claire Martin")
            page.click(f"#shipment-{shipment} button[type=submit]")
            status = page.inner_text(f"#shipment-{shipment}")
            assert "Reçu : 19, refusé : 1" in status and "Dr Claire Martin" in status
            page.screenshot(path=tmp_path / "receipt.png", full_page=True)
        finally:
            browser.close()
    assert (tmp_path / "receipt.png").stat().st_size > 1000

"""The JSON API under /api/v1, through HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event
from sqlmodel import select

from fabcoord import demand
from fabcoord.config import Settings
from fabcoord.db import unit_of_work
from orders import lifecycle, links, sites
from orders.models import HospitalSite
from orders.schemas import today
from orders.web import create_app
from tests.orders.conftest import HOSPITAL, OTHER_HOSPITAL, invite, order_count, state, valid_order


def auth(token: str, key: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {token}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return headers


def test_creating_an_order_returns_its_reference_and_state(client: TestClient, token: str) -> None:
    response = client.post("/api/v1/orders", json=valid_order(), headers=auth(token))
    assert response.status_code == 201
    body = response.json()
    assert body["reference"].startswith("CMD-")
    assert body["status"] == "received"
    assert body["hospital"] == HOSPITAL
    assert (body["quantity"], body["allocated"], body["delivered"]) == (250, 0, 0)
    assert body["events"][0]["to_status"] == "received"


@pytest.mark.parametrize("key", [None, "k-1"])
def test_creating_an_order_reads_each_row_once_and_takes_no_savepoint(
    client: TestClient, token: str, key: str | None
) -> None:
    client.post("/api/v1/orders", json=valid_order(), headers=auth(token))  # the site exists now
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(" ".join(str(args[2]).split()).upper())

    event.listen(Engine, "before_cursor_execute", record)
    try:
        response = client.post("/api/v1/orders", json=valid_order(), headers=auth(token, key))
    finally:
        event.remove(Engine, "before_cursor_execute", record)
    assert response.status_code == 201
    assert response.json()["lines"] == [{"line": 1, "item": "visor", "quantity": 250}]
    reads = [s.split(" FROM ")[1].split()[0] for s in seen if s.startswith("SELECT")]
    assert sorted(reads) == ["HOSPITAL_LINK", "HOSPITAL_SITE", "ITEM"]  # link + hospital joined
    assert not [s for s in seen if "SAVEPOINT" in s]  # a used key makes the insert write nothing
    writes = sorted(s.split()[2] for s in seen if s.startswith("INSERT"))
    assert writes == [
        "DEMAND_LINE",
        "HOSPITAL_ORDER",
        "HOSPITAL_ORDER_EVENT",
        "HOSPITAL_ORDER_LINE",
        "ORDER_MAIL",  # the hospital's and the managers' messages in one statement
    ]
    if key is not None:  # and the replay answers the same order
        again = client.post("/api/v1/orders", json=valid_order(), headers=auth(token, key))
        assert again.status_code == 200
        assert again.json()["reference"] == response.json()["reference"]


def test_the_longest_allowed_key_is_stored_and_a_longer_one_refused(
    client: TestClient, token: str, reference_loaded: Engine
) -> None:
    longest = client.post("/api/v1/orders", json=valid_order(), headers=auth(token, "k" * 196))
    assert longest.status_code == 201
    too_long = client.post("/api/v1/orders", json=valid_order(), headers=auth(token, "k" * 197))
    assert too_long.status_code == 422
    assert order_count(reference_loaded) == 1


def test_replaying_a_key_with_the_same_body_returns_the_original_order(
    client: TestClient, token: str, reference_loaded: Engine
) -> None:
    first = client.post("/api/v1/orders", json=valid_order(), headers=auth(token, "key-1"))
    again = client.post("/api/v1/orders", json=valid_order(), headers=auth(token, "key-1"))
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["reference"] == first.json()["reference"]
    assert order_count(reference_loaded) == 1


def test_replaying_a_key_makes_no_site_even_when_the_orders_site_was_removed(
    client: TestClient, token: str, reference_loaded: Engine
) -> None:
    first = client.post("/api/v1/orders", json=valid_order(), headers=auth(token, "key-1"))
    site_id = first.json()["site"]["id"]
    with unit_of_work(reference_loaded) as session:
        sites.remove_site(session=session, hospital=HOSPITAL, site=site_id)
        count = len(session.exec(select(HospitalSite)).all())
    again = client.post("/api/v1/orders", json=valid_order(), headers=auth(token, "key-1"))
    assert again.status_code == 200
    assert again.json()["reference"] == first.json()["reference"]
    with unit_of_work(reference_loaded, read_only=True) as session:
        assert len(session.exec(select(HospitalSite)).all()) == count


def test_reusing_a_key_with_another_body_is_a_conflict_and_changes_nothing(
    client: TestClient, token: str, reference_loaded: Engine
) -> None:
    client.post("/api/v1/orders", json=valid_order(), headers=auth(token, "key-1"))
    before = state(reference_loaded)
    response = client.post(
        "/api/v1/orders", json=valid_order(quantity=251), headers=auth(token, "key-1")
    )
    assert response.status_code == 409
    assert "key-1" in response.json()["detail"]
    assert state(reference_loaded) == before


def test_list_and_read_show_only_the_hospitals_own_orders(
    client: TestClient, token: str, reference_loaded: Engine
) -> None:
    other = invite(reference_loaded, OTHER_HOSPITAL)
    mine = client.post("/api/v1/orders", json=valid_order(), headers=auth(token)).json()
    theirs = client.post("/api/v1/orders", json=valid_order(), headers=auth(other)).json()
    listed = client.get("/api/v1/orders", headers=auth(token)).json()["orders"]
    assert [o["reference"] for o in listed] == [mine["reference"]]
    assert client.get(f"/api/v1/orders/{mine['reference']}", headers=auth(token)).status_code == 200
    refused = client.get(f"/api/v1/orders/{theirs['reference']}", headers=auth(token))
    assert refused.status_code == 404
    assert refused.json()["detail"]
    filtered = client.get("/api/v1/orders?status=delivered", headers=auth(token))
    assert filtered.json() == {"orders": []}


BAD_BODIES: list[tuple[str, dict[str, Any], str]] = [
    ("quantity zero", valid_order(quantity=0), "quantity"),
    ("quantity negative", valid_order(quantity=-5), "quantity"),
    ("quantity fractional", valid_order(quantity=1.5), "quantity"),
    ("quantity huge", valid_order(quantity=100_001), "quantity"),
    ("quantity text", valid_order(quantity="dix"), "quantity"),
    ("quantity numeric string", valid_order(quantity="10"), "quantity"),
    ("quantity missing", valid_order(quantity=None), "quantity"),
    ("date in the past", valid_order(needed_by="2020-03-17"), "needed_by"),
    ("date unparseable", valid_order(needed_by="demain"), "needed_by"),
    ("e-mail not one", valid_order(contact_email="claire at chu"), "contact_email"),
    ("e-mail with script", valid_order(contact_email="<script>@x.fr"), "contact_email"),
    ("phone not one", valid_order(contact_phone="appelez-moi"), "contact_phone"),
    ("department missing", valid_order(department=None), "department"),
    ("department blank", valid_order(department="   "), "department"),
    ("department overlong", valid_order(department="x" * 121), "department"),
    ("notes overlong", valid_order(notes="x" * 2001), "notes"),
    ("address overlong", valid_order(delivery_address="x" * 301), "delivery_address"),
    ("control character", valid_order(contact_name="Claire\x00Martin"), "contact_name"),
    ("unknown priority", valid_order(priority="extreme"), "priority"),
    ("urgent without reason", valid_order(urgency_reason=""), "urgency_reason"),
    ("unknown model", valid_order(item="visor-child"), "item"),
    ("unknown field", valid_order(discount=10), "discount"),
]


@pytest.mark.parametrize(
    ("body", "field"), [c[1:] for c in BAD_BODIES], ids=[c[0] for c in BAD_BODIES]
)
def test_bad_bodies_are_refused_field_by_field_and_change_nothing(
    client: TestClient, token: str, reference_loaded: Engine, body: dict[str, Any], field: str
) -> None:
    before = state(reference_loaded)
    response = client.post("/api/v1/orders", json=body, headers=auth(token, "k"))
    assert response.status_code == 422
    assert field in response.json()["errors"]
    assert state(reference_loaded) == before


REPEATED = (
    "Modèle « visor » déjà sur une autre ligne : une ligne par modèle, additionnez les quantités."
)


def test_an_order_with_a_model_on_two_lines_is_a_422_naming_the_line_and_changes_nothing(
    client: TestClient, token: str, reference_loaded: Engine, second_model: str
) -> None:
    before = state(reference_loaded)
    lines = [
        {"item": "visor", "quantity": 10},
        {"item": second_model, "quantity": 3},
        {"item": "visor", "quantity": 5},
    ]
    response = client.post(
        "/api/v1/orders", json=valid_order(quantity=None, lines=lines), headers=auth(token, "k")
    )
    assert response.status_code == 422
    assert response.json() == {
        "detail": f"invalid order: lines.2.item: {REPEATED}",
        "errors": {"lines.2.item": REPEATED},
    }
    assert state(reference_loaded) == before


def test_amending_an_order_to_a_model_on_two_lines_is_a_422_and_changes_nothing(
    client: TestClient, token: str, reference_loaded: Engine
) -> None:
    ref = client.post("/api/v1/orders", json=valid_order(), headers=auth(token)).json()["reference"]
    before = state(reference_loaded)
    lines = [{"item": "visor", "quantity": 40}, {"item": "visor", "quantity": 2}]
    response = client.patch(f"/api/v1/orders/{ref}", json={"lines": lines}, headers=auth(token))
    assert response.status_code == 422
    assert response.json()["errors"] == {"lines.1.item": REPEATED}
    assert state(reference_loaded) == before


@pytest.mark.parametrize(
    "raw",
    [b"", b"{", b"[]", b'"order"', b"\xff\xfe"],
    ids=["empty", "truncated", "list", "str", "binary"],
)
def test_malformed_json_is_a_422_with_a_json_body(
    client: TestClient, token: str, reference_loaded: Engine, raw: bytes
) -> None:
    before = state(reference_loaded)
    response = client.post(
        "/api/v1/orders",
        content=raw,
        headers={**auth(token), "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert "detail" in response.json()
    assert state(reference_loaded) == before


def test_wrong_revoked_or_absent_tokens_get_401_and_change_nothing(
    client: TestClient, token: str, reference_loaded: Engine
) -> None:
    with unit_of_work(reference_loaded) as session:
        revoked = links.invite(session=session, hospital=OTHER_HOSPITAL, actor="t").token
        links.revoke(session=session, hospital=OTHER_HOSPITAL, actor="t")
    before = state(reference_loaded)
    attempts = [auth(token[:-2] + "xx"), auth(revoked), {}, {"Authorization": f"Basic {token}"}]
    for headers in attempts:
        response = client.post("/api/v1/orders", json=valid_order(), headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["www-authenticate"] == "Bearer"
        assert HOSPITAL not in response.text and OTHER_HOSPITAL not in response.text
        assert client.get("/api/v1/orders", headers=headers).status_code == 401
    assert state(reference_loaded) == before


def test_a_body_over_the_size_limit_is_refused_with_413(
    client: TestClient, token: str, web_settings: Settings, reference_loaded: Engine
) -> None:
    before = state(reference_loaded)
    body = valid_order(notes="x" * (web_settings.web_max_body_bytes + 1))
    response = client.post("/api/v1/orders", json=body, headers=auth(token))
    assert response.status_code == 413
    assert response.json()["detail"]
    assert state(reference_loaded) == before


def test_a_burst_over_the_per_link_limit_gets_429_with_retry_after(
    web_settings: Settings, token: str, reference_loaded: Engine
) -> None:
    tight = web_settings.model_copy(update={"web_rate_per_link": 3})
    with TestClient(create_app(tight)) as client:
        codes = [
            client.post("/api/v1/orders", json=valid_order(), headers=auth(token, f"k{i}"))
            for i in range(5)
        ]
    assert [r.status_code for r in codes] == [201, 201, 201, 429, 429]
    assert int(codes[3].headers["retry-after"]) >= 1
    assert codes[3].json()["detail"]
    assert order_count(reference_loaded) == 3


def test_a_burst_from_one_address_gets_429_whatever_the_token(
    web_settings: Settings, token: str
) -> None:
    tight = web_settings.model_copy(update={"web_rate_per_address": 4})
    with TestClient(create_app(tight)) as client:
        codes = [
            client.get("/api/v1/orders", headers=auth(f"guess{i:020d}")).status_code
            for i in range(6)
        ]
    assert codes == [401, 401, 401, 401, 429, 429]


def test_the_openapi_document_describes_the_api(client: TestClient) -> None:
    document = client.get("/api/v1/openapi.json").json()
    assert set(document["paths"]) == {
        "/api/v1/orders",
        "/api/v1/orders/{reference}",
        "/api/v1/orders/{reference}/cancel",
        "/api/v1/orders/{reference}/shipments",
        "/api/v1/orders/{reference}/shipments/{number}/receipt",
        "/api/v1/models",
        "/api/v1/sites",
    }
    create = document["paths"]["/api/v1/orders"]["post"]
    assert {"201", "200", "401", "409", "413", "422", "429"} <= set(create["responses"])
    quantity = document["components"]["schemas"]["OrderCreate"]["properties"]["quantity"]
    quantity = next(t for t in quantity["anyOf"] if t.get("type") == "integer")
    assert (quantity["minimum"], quantity["maximum"]) == (1, 100_000)
    line = document["components"]["schemas"]["OrderLineIn"]["properties"]["item"]
    assert line["enum"] == ["visor"] and line["examples"] == ["visor"]
    assert document["components"]["schemas"]["OrderCreate"]["examples"][0]["lines"]


def test_the_catalogue_lists_the_models_that_can_be_ordered(client: TestClient, token: str) -> None:
    answer = client.get("/api/v1/models", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200
    assert answer.json() == {
        "models": [{"code": "visor", "label": "Visière de protection, adulte"}]
    }
    assert client.get("/api/v1/models").status_code == 401


def test_an_order_with_lines_a_site_and_a_purchase_order_number(
    client: TestClient, token: str, second_model: str
) -> None:
    auth = {"Authorization": f"Bearer {token}"}
    first = client.post(
        "/api/v1/orders",
        json=valid_order(
            quantity=None,
            lines=[{"item": "visor", "quantity": 10}, {"item": second_model, "quantity": 5}],
            purchase_order="BC-77",
        ),
        headers=auth,
    )
    assert first.status_code == 201, first.text
    body = first.json()
    assert (body["quantity"], body["purchase_order"]) == (15, "BC-77")
    assert [line["quantity"] for line in body["lines"]] == [10, 5]
    (site,) = client.get("/api/v1/sites", headers=auth).json()["sites"]
    assert site["id"] == body["site"]["id"]
    again = client.post(
        "/api/v1/orders", json=valid_order(site=site["id"], delivery_address=None), headers=auth
    )
    assert again.status_code == 201 and again.json()["site"]["id"] == site["id"]
    unknown = client.post("/api/v1/orders", json=valid_order(site=99999), headers=auth)
    assert unknown.status_code == 422 and "site" in unknown.json()["errors"]


def test_the_hospital_amends_then_cancels_a_received_order(
    client: TestClient, token: str, reference_loaded: Engine, second_model: str
) -> None:
    auth = {"Authorization": f"Bearer {token}"}
    ref = client.post("/api/v1/orders", json=valid_order(), headers=auth).json()["reference"]
    later = (today() + timedelta(days=20)).isoformat()
    amended = client.patch(
        f"/api/v1/orders/{ref}",
        json={
            "lines": [{"item": "visor", "quantity": 40}, {"item": second_model, "quantity": 2}],
            "needed_by": later,
        },
        headers=auth,
    )
    assert amended.status_code == 200, amended.text
    body = amended.json()
    assert (body["quantity"], body["needed_by"]) == (42, later)
    assert body["events"][-1]["link_id"] is not None and "modifiée" in body["events"][-1]["reason"]
    with unit_of_work(reference_loaded, read_only=True) as session:
        assert [(x.line, x.quantity) for x in demand.lines_of(session=session, reference=ref)] == [
            (1, 40),
            (2, 2),
        ]
    refused = client.post(f"/api/v1/orders/{ref}/cancel", json={"reason": ""}, headers=auth)
    assert refused.status_code == 422
    cancelled = client.post(
        f"/api/v1/orders/{ref}/cancel", json={"reason": "doublon"}, headers=auth
    )
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert "doublon" in cancelled.json()["events"][-1]["reason"]


def test_an_accepted_order_can_no_longer_be_amended_or_cancelled_by_the_hospital(
    client: TestClient, token: str, reference_loaded: Engine
) -> None:
    auth = {"Authorization": f"Bearer {token}"}
    ref = client.post("/api/v1/orders", json=valid_order(), headers=auth).json()["reference"]
    with unit_of_work(reference_loaded) as session:
        lifecycle.accept_order(session=session, reference=ref, actor="anne")
    before = state(reference_loaded)
    amended = client.patch(f"/api/v1/orders/{ref}", json={"site": 1}, headers=auth)
    cancelled = client.post(f"/api/v1/orders/{ref}/cancel", json={"reason": "x"}, headers=auth)
    assert (amended.status_code, cancelled.status_code) == (409, 409)
    assert "acceptée" in amended.json()["detail"] or "accepted" in amended.json()["detail"]
    assert state(reference_loaded) == before

"""The hospital's pages for order lines: several lines on the form, and amending a received
order (lines, date, site) with its errors beside the fields."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from fabcoord.db import unit_of_work
from orders import lifecycle
from orders.schemas import today
from tests.orders.conftest import state
from tests.orders.test_model import add_site, read
from tests.orders.test_web import form_fields, open_form, submit


def placed(client: TestClient, token: str, **changes: Any) -> str:
    response = submit(client, token, open_form(client, token), **changes)
    assert response.status_code == 303, response.text
    found = re.search(r"(CMD-\d{4}-\d{6})", response.headers["location"])
    assert found is not None
    return found.group(1)


def amend_page(client: TestClient, token: str, ref: str) -> tuple[str, dict[str, str]]:
    page = client.get(f"/h/{token}/commandes/{ref}/modification")
    assert page.status_code == 200
    return page.text, form_fields(page.text)


def amend(client: TestClient, token: str, ref: str, **values: str) -> Any:
    _, hidden = amend_page(client, token, ref)
    return client.post(
        f"/h/{token}/commandes/{ref}/modification",
        data={**hidden, **values},
        follow_redirects=False,
    )


def test_the_form_takes_several_lines(
    client: TestClient, token: str, reference_loaded: Engine, second_model: str
) -> None:
    page = client.get(f"/h/{token}")
    assert 'name="quantity_2"' in page.text and 'name="item_3"' not in page.text  # 2 models
    ref = placed(client, token, quantity="200", item_2=second_model, quantity_2="1 500")
    order = read(reference_loaded, ref)
    assert [(x.item, x.quantity) for x in order.lines] == [("visor", 200), (second_model, 1500)]
    assert order.quantity == 1700
    shown = client.get(f"/h/{token}/commandes/{ref}").text
    assert "200 × Visière" in shown and f"1500 × {second_model}" in shown


def test_the_form_offers_one_line_per_model_the_catalogue_has(
    client: TestClient, token: str, reference_loaded: Engine
) -> None:
    page = client.get(f"/h/{token}").text
    assert 'name="quantity"' in page and 'name="quantity_2"' not in page
    assert "lignes 2 et suivantes" not in page


def test_a_line_sent_beyond_the_models_offered_is_shown_with_its_error(
    client: TestClient, token: str, reference_loaded: Engine
) -> None:
    before = state(reference_loaded)
    response = submit(
        client, token, open_form(client, token), quantity="10", item_2="visor", quantity_2="5"
    )
    assert response.status_code == 422
    assert 'name="quantity_2"' in response.text and "déjà sur une autre ligne" in response.text
    assert state(reference_loaded) == before


def test_a_bad_line_is_shown_beside_its_own_field_and_changes_nothing(
    client: TestClient, token: str, reference_loaded: Engine
) -> None:
    before = state(reference_loaded)
    response = submit(client, token, open_form(client, token), quantity="10", quantity_3="0")
    assert response.status_code == 422
    assert re.search(r'id="quantity_3"[^>]*aria-invalid="true"', response.text)
    assert 'id="quantity_3-error">Au moins 1.' in response.text
    assert 'id="quantity-error"' not in response.text
    assert 'value="0"' in response.text  # the input is kept
    assert state(reference_loaded) == before


def test_the_hospital_amends_a_received_order_from_its_page(
    client: TestClient, token: str, reference_loaded: Engine, second_model: str
) -> None:
    ref = placed(client, token)
    site = add_site(reference_loaded, "Hôpital Nord")
    assert 'id="amend"' in client.get(f"/h/{token}/commandes/{ref}").text
    text, _ = amend_page(client, token, ref)
    assert 'name="quantity" inputmode="numeric" required aria-required="true" value="250"' in text
    later = today() + timedelta(days=20)
    response = amend(
        client,
        token,
        ref,
        item="visor",
        quantity="300",
        item_2=second_model,
        quantity_2="50",
        needed_by=later.strftime("%d/%m/%Y"),
        site=str(site),
        reason="effectif renforcé",
    )
    assert response.status_code == 303
    assert response.headers["location"].endswith(f"/commandes/{ref}")
    order = read(reference_loaded, ref)
    assert [(x.item, x.quantity) for x in order.lines] == [("visor", 300), (second_model, 50)]
    assert order.needed_by == later and order.site is not None and order.site.id == site
    assert "effectif renforcé" in order.events[-1].reason


def test_a_model_on_two_lines_is_shown_beside_the_second_and_changes_nothing(
    client: TestClient, token: str, reference_loaded: Engine, second_model: str
) -> None:
    before = state(reference_loaded)
    response = submit(
        client,
        token,
        open_form(client, token),
        quantity="200",
        item_2=second_model,
        quantity_2="30",
        item_3="visor",
        quantity_3="1 500",
    )
    assert response.status_code == 422
    assert re.search(r'id="item_3"[^>]*aria-invalid="true"[^>]*autofocus', response.text)
    assert (
        'id="item_3-error">Modèle « visor » déjà sur une autre ligne : une ligne par modèle, '
        "additionnez les quantités.</p>" in response.text
    )
    assert 'id="item-error"' not in response.text and 'id="item_2-error"' not in response.text
    assert 'value="1 500"' in response.text and 'value="30"' in response.text  # input kept
    assert state(reference_loaded) == before


def test_a_repeated_model_shows_with_the_other_errors_at_once(
    client: TestClient, token: str, reference_loaded: Engine
) -> None:
    before = state(reference_loaded)
    hidden = open_form(client, token)
    response = submit(
        client, token, hidden, quantity="5", item_2="visor", quantity_2="9", department=""
    )
    assert response.status_code == 422
    assert 'id="department-error">Champ obligatoire.' in response.text
    assert 'id="item_2-error">Modèle « visor » déjà sur une autre ligne' in response.text
    assert state(reference_loaded) == before


def test_an_amend_with_a_model_on_two_lines_is_refused_beside_the_line(
    client: TestClient, token: str, reference_loaded: Engine
) -> None:
    ref = placed(client, token)
    before = state(reference_loaded)
    refused = amend(
        client, token, ref, item="visor", quantity="300", item_2="visor", quantity_2="5"
    )
    assert refused.status_code == 422
    assert 'id="item_2-error">Modèle « visor » déjà sur une autre ligne' in refused.text
    assert 'value="300"' in refused.text and 'value="5"' in refused.text
    assert state(reference_loaded) == before


def test_amend_errors_show_beside_their_fields_and_change_nothing(
    client: TestClient, token: str, reference_loaded: Engine
) -> None:
    ref = placed(client, token)
    before = state(reference_loaded)
    past = (today() - timedelta(days=1)).isoformat()
    refused = amend(client, token, ref, item="visor", quantity="", needed_by=past)
    assert refused.status_code == 422
    assert 'id="quantity-error">Indiquez au moins une ligne' in refused.text
    assert re.search(r'id="needed_by"[^>]*aria-invalid="true"', refused.text)
    assert 'id="needed_by-error">La date ne peut pas être passée.' in refused.text
    unchanged = amend(
        client,
        token,
        ref,
        item="visor",
        quantity="250",
        needed_by=read(reference_loaded, ref).needed_by.isoformat(),
    )
    assert unchanged.status_code == 422 and "Rien n&#39;a changé" in unchanged.text
    forged = client.post(
        f"/h/{token}/commandes/{ref}/modification",
        data={"csrf_token": "1.x", "quantity": "9"},
        follow_redirects=False,
    )
    assert forged.status_code == 403 and "Formulaire expiré" in forged.text
    assert state(reference_loaded) == before


def test_an_accepted_order_is_no_longer_amended_from_its_page(
    client: TestClient, token: str, reference_loaded: Engine
) -> None:
    ref = placed(client, token)
    _, hidden = amend_page(client, token, ref)
    with unit_of_work(reference_loaded) as session:
        lifecycle.accept_order(session=session, reference=ref, actor="anne")
    before = state(reference_loaded)
    late = client.post(
        f"/h/{token}/commandes/{ref}/modification",
        data={**hidden, "item": "visor", "quantity": "999"},
        follow_redirects=False,
    )
    assert late.status_code == 409 and "acceptée" in late.text
    assert state(reference_loaded) == before
    page = client.get(f"/h/{token}/commandes/{ref}/modification", follow_redirects=False)
    assert (
        page.status_code == 303
        and 'id="amend"' not in client.get(f"/h/{token}/commandes/{ref}").text
    )

"""The real odoo-client-lib, wrapped, against a partner's Odoo: protocols, versions, errors, traps."""

from __future__ import annotations

import logging
import time
import uuid
import xmlrpc.client
from datetime import date

import pytest

from suppliers.handoff.errors import (
    PartnerAuthFailed,
    PartnerRefused,
    PartnerUnavailable,
)
from suppliers.handoff.odoo import Client
from suppliers.handoff.partners import check
from suppliers.handoff.remote import OrderSpec, PartnerApi
from tests.suppliers.handoff.conftest import Partner

VERSIONS_PROTOCOLS = [
    (14, "xmlrpc"),
    (14, "jsonrpc"),
    (17, "xmlrpc"),
    (17, "jsonrpc"),
    (19, "json2"),
]


def _spec(ref: str | None = None, quantity: int = 100) -> OrderSpec:
    return OrderSpec(
        ref=ref or f"FABCOORD-TEST-{uuid.uuid4().hex[:8]}",
        customer="fabcoord test",
        product_code="visor",
        product_name="Face-shield visor",
        quantity=quantity,
        needed_by=date(2026, 12, 31),
    )


@pytest.mark.parametrize(("version", "protocol"), VERSIONS_PROTOCOLS)
def test_check_reports_version_and_models(partner: Partner, version: int, protocol: str) -> None:
    partner.reset(version, protocol)
    report = check(partner.endpoint())
    assert report.version == f"{version}.0"
    assert report.models["sale.order"] and report.models["stock.picking"]


@pytest.mark.parametrize(("version", "protocol"), VERSIONS_PROTOCOLS)
def test_placing_twice_makes_one_confirmed_order(
    partner: Partner, version: int, protocol: str
) -> None:
    partner.reset(version, protocol)
    spec = _spec()
    with Client(partner.endpoint()) as client:
        api = PartnerApi(client)
        first = api.place(spec)
        again = api.place(spec)
    assert first.id == again.id and again.state == "sale"
    assert partner.orders_by_ref()[spec.ref] == 1


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        (14, {"type": "product"}),
        (17, {"detailed_type": "product"}),
        (19, {"type": "consu", "is_storable": True}),
    ],
)
def test_a_storable_product_is_declared_as_the_version_asks(
    partner: Partner, version: int, expected: dict[str, object]
) -> None:
    partner.reset(version, "json2" if version >= 19 else "jsonrpc")
    with Client(partner.endpoint()) as client:
        api = PartnerApi(client)
        assert api.storable() == expected
        assert api.done_field() == ("quantity" if version >= 17 else "quantity_done")


@pytest.mark.parametrize("protocol", ["xmlrpc", "jsonrpc"])
def test_a_field_missing_in_that_version_is_a_refusal_naming_it(
    partner: Partner, protocol: str
) -> None:
    partner.reset(19, protocol)
    with Client(partner.endpoint()) as client, pytest.raises(PartnerRefused, match="product_uom"):
        client.call("sale.order.line", "search", [[("product_uom", "=", 1)]])


def test_a_field_missing_over_json2_is_a_refusal(partner: Partner) -> None:
    partner.reset(19, "json2")
    with Client(partner.endpoint()) as client, pytest.raises(PartnerRefused, match="detailed_type"):
        client.call("product.product", "create", [{"name": "x", "detailed_type": "product"}])


@pytest.mark.parametrize("protocol", ["xmlrpc", "jsonrpc", "json2"])
def test_a_wrong_api_key_is_an_authentication_failure(partner: Partner, protocol: str) -> None:
    partner.reset(19, protocol)
    with (
        Client(partner.endpoint(api_key="wrong-key")) as client,
        pytest.raises(PartnerAuthFailed) as caught,
    ):
        client.login()
    assert "wrong-key" not in str(caught.value)


@pytest.mark.parametrize("protocol", ["xmlrpc", "jsonrpc"])
def test_a_wrong_database_is_refused_by_name(partner: Partner, protocol: str) -> None:
    partner.reset(17, protocol)
    with (
        Client(partner.endpoint(database="no_such_db")) as client,
        pytest.raises(PartnerRefused, match="no such database"),
    ):
        client.login()


def test_a_bad_address_is_not_an_odoo(partner: Partner) -> None:
    partner.reset(17, "jsonrpc")
    with Client(partner.endpoint(url=partner.url.replace("127.0.0.1", "localhost") + "/")) as c:
        c.login()  # a trailing slash is fine
    refused_port = partner.url.rsplit(":", 1)[0] + ":1"
    with (
        Client(partner.endpoint(url=refused_port)) as client,
        pytest.raises(PartnerUnavailable, match="unreachable"),
    ):
        client.login()


def test_a_slow_partner_times_out_and_the_retry_finds_the_order(partner: Partner) -> None:
    partner.reset(17, "jsonrpc")
    spec = _spec()
    partner.control("fault", model="sale.order", method="create", mode="delay", seconds=1.5)
    with (
        Client(partner.endpoint(timeout_s=0.5)) as client,
        pytest.raises(PartnerUnavailable, match=r"did not answer within 0\.5 s"),
    ):
        PartnerApi(client).place(spec)
    time.sleep(1.2)  # the outbox's back-off: the partner finished the slow create meanwhile
    with Client(partner.endpoint(timeout_s=5)) as client:
        partner.control("latency", seconds=0.2)  # slow, but within our timeout
        PartnerApi(client).place(spec)
    assert partner.orders_by_ref()[spec.ref] == 1


@pytest.mark.parametrize("protocol", ["xmlrpc", "jsonrpc"])
def test_a_lost_reply_to_create_is_not_resent_and_the_retry_finds_the_order(
    partner: Partner, protocol: str
) -> None:
    partner.reset(17, protocol)
    spec = _spec()
    partner.control("fault", model="sale.order", method="create", mode="drop")
    with Client(partner.endpoint()) as client:
        api = PartnerApi(client)
        with pytest.raises(PartnerUnavailable):
            api.place(spec)
        assert partner.orders_by_ref()[spec.ref] == 1  # created, reply lost, not sent again
        assert api.place(spec).state == "sale"
    assert partner.orders_by_ref()[spec.ref] == 1


def test_the_stdlib_xmlrpc_transport_would_have_created_a_second_order(partner: Partner) -> None:
    """The trap itself: Python's xmlrpc.client re-sends once when the reply is lost."""
    partner.reset(17, "xmlrpc")
    with Client(partner.endpoint()) as client:  # warm: customer and product exist
        PartnerApi(client).place(_spec())
        customer = PartnerApi(client).customer("fabcoord test")
    partner.control("fault", model="sale.order", method="create", mode="drop")
    proxy = xmlrpc.client.ServerProxy(f"{partner.url}/xmlrpc/object")
    values = {"partner_id": customer, "client_order_ref": "STDLIB-RESENT"}
    proxy.execute_kw(partner.database, 2, partner.api_key, "res.partner", "search", [[]])
    proxy.execute_kw(partner.database, 2, partner.api_key, "sale.order", "create", [values])
    assert partner.orders_by_ref()["STDLIB-RESENT"] == 2


def test_cancelling_a_confirmed_order_needs_the_context_or_gets_the_wizard(
    partner: Partner,
) -> None:
    partner.reset(17, "jsonrpc")
    with Client(partner.endpoint()) as client:
        api = PartnerApi(client)
        order = api.place(_spec())
        wizard = client.call("sale.order", "action_cancel", [[order.id]])
        assert wizard["res_model"] == "sale.order.cancel"
        assert api.read_orders([order.id])[order.id].state == "sale"
        api.cancel(order.id)
        assert api.read_orders([order.id])[order.id].state == "cancel"


def test_partial_deliveries_with_a_backorder_are_all_read(partner: Partner) -> None:
    partner.reset(16, "xmlrpc")
    spec = _spec(quantity=100)
    with Client(partner.endpoint()) as client:
        api = PartnerApi(client)
        order = api.place(spec)
        partner.control("deliver", ref=spec.ref, quantity=60)
        partner.control("deliver", ref=spec.ref, quantity=15)
        pickings = api.deliveries([order.id])[order.id]
    assert [(p.state, p.done) for p in pickings] == [("done", 60), ("done", 15), ("assigned", 0)]
    assert pickings[1].backorder_of == pickings[0].id


@pytest.mark.parametrize("protocol", ["xmlrpc", "jsonrpc", "json2"])
def test_the_api_key_never_reaches_the_logs(
    partner: Partner, protocol: str, caplog: pytest.LogCaptureFixture
) -> None:
    partner.reset(19, protocol)
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("odoolib").setLevel(logging.DEBUG)  # as a careless configuration would
        from suppliers.handoff.odoo import quiet_client_logs

        quiet_client_logs()
        with Client(partner.endpoint()) as client:
            PartnerApi(client).place(_spec())
    assert partner.api_key not in caplog.text
    assert all(r.levelno > logging.DEBUG for r in caplog.records if r.name.startswith("odoolib"))


def test_the_mutable_xmlrpc_default_port_is_passed_as_an_int(partner: Partner) -> None:
    """odoolib builds URLs with %d: a URL without a port still works (the scheme's port)."""
    from suppliers.handoff.odoo import parse_url

    assert parse_url("https://odoo.example.com") == ("https", "odoo.example.com", 443)
    assert parse_url("http://odoo.example.com:8069/") == ("http", "odoo.example.com", 8069)

"""The demo's HTTP client (standard library only): what a hospital's system and a partner send."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from datetime import date, timedelta
from typing import Any


class HttpFailed(Exception):
    """A server answered with an error, or never answered."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def call(url: str, body: Any = None, token: str | None = None) -> Any:
    """GET (or POST ``body`` as JSON) and return the decoded JSON answer."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        raise HttpFailed(f"HTTP {error.code} from {url}: {error.read().decode()[:300]}") from None


def wait(url: str, timeout_s: float = 60.0) -> None:
    """Wait until ``url`` answers at all (any HTTP status)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # the server answers
        except OSError:
            if time.monotonic() > deadline:
                raise HttpFailed(f"{url} did not answer within {timeout_s:.0f} s") from None
            time.sleep(0.2)


def order(
    url: str,
    token: str,
    *,
    quantity: int,
    days: int,
    department: str,
    contact: str,
    address: str,
    purchase_order: str,
) -> dict[str, Any]:
    """``POST /api/v1/orders`` as a hospital's purchasing system would; the created order.

    Delivered to the hospital's first site when it has one, else to ``address`` (which then
    becomes one of its sites).
    """
    name, _, mail = contact.partition(" <")
    sites = call(f"{url}/api/v1/sites", token=token)["sites"]
    where: dict[str, Any] = {"site": sites[0]["id"]} if sites else {"delivery_address": address}
    body = {
        **where,
        "purchase_order": purchase_order,
        "department": department,
        "contact_name": name,
        "contact_email": mail.rstrip(">"),
        "contact_phone": "05 49 44 44 44",
        "lines": [{"item": "visor", "quantity": quantity}],
        "needed_by": (date.today() + timedelta(days=days)).isoformat(),
        "priority": "urgent",
        "urgency_reason": "Afflux de patients COVID",
    }
    created: dict[str, Any] = call(f"{url}/api/v1/orders", body, token)
    return created


def receipt(
    url: str, token: str, reference: str, shipment: str, *, received: int, signed_by: str
) -> str:
    """Sign for a shipment through the API; the order's status afterwards."""
    path = f"{url}/api/v1/orders/{reference}/shipments/{shipment}/receipt"
    call(path, {"received": received, "signed_by": signed_by}, token)
    return str(call(f"{url}/api/v1/orders/{reference}", token=token)["status"])


def standin(url: str, action: str, body: dict[str, Any]) -> Any:
    """A control endpoint of the Odoo stand-in (what the partner's staff would do in Odoo)."""
    return call(f"{url}/__standin__/{action}", body)

"""The demo's HTTP client (standard library only): what a hospital's system and a partner do.

python scripts/demo_http.py free-port
python scripts/demo_http.py wait URL                       wait until URL answers (≤ 30 s)
python scripts/demo_http.py order URL TOKEN QTY DAYS DEPT ADDRESS   prints the new reference
python scripts/demo_http.py receipt URL TOKEN REF SHIPMENT QTY SIGNED_BY
python scripts/demo_http.py standin URL ACTION JSON        a stand-in control endpoint
"""

from __future__ import annotations

import json
import socket
import sys
import time
import urllib.error
import urllib.request
from datetime import date, timedelta
from typing import Any


def out(text: object) -> None:
    sys.stdout.write(f"{text}\n")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def call(url: str, body: Any = None, token: str | None = None) -> Any:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        sys.exit(f"HTTP {error.code} from {url}: {error.read().decode()[:300]}")


def wait(url: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # the server answers
        except OSError:
            if time.monotonic() > deadline:
                sys.exit(f"{url} did not answer within 30 s")
            time.sleep(0.2)


def order(url: str, token: str, qty: str, days: str, department: str, address: str) -> None:
    body = {
        "department": department,
        "contact_name": "Claire Martin",
        "contact_email": "claire.martin@chu.example",
        "contact_phone": "05 49 44 44 44",
        "item": "visor",
        "quantity": int(qty),
        "needed_by": (date.today() + timedelta(days=int(days))).isoformat(),
        "delivery_address": address,
        "priority": "urgent",
        "urgency_reason": "Afflux de patients COVID",
    }
    created = call(f"{url}/api/v1/orders", body, token)
    out(created["reference"])


def receipt(url: str, token: str, ref: str, shipment: str, qty: str, signed_by: str) -> None:
    path = f"{url}/api/v1/orders/{ref}/shipments/{shipment}/receipt"
    done = call(path, {"received": int(qty), "signed_by": signed_by}, token)
    status = call(f"{url}/api/v1/orders/{ref}", token=token)["status"]
    out(
        f"{ref}: shipment {shipment}, {done['received']} received, signed by "
        f"{done['signed_by']}; order is now {status}"
    )


def main(argv: list[str]) -> None:
    command, args = argv[0], argv[1:]
    if command == "free-port":
        out(free_port())
    elif command == "wait":
        wait(args[0])
    elif command == "order":
        order(*args)
    elif command == "receipt":
        receipt(*args)
    elif command == "standin":
        out(json.dumps(call(f"{args[0]}/__standin__/{args[1]}", json.loads(args[2]))))
    else:
        sys.exit(f"unknown command {command}")


if __name__ == "__main__":
    main(sys.argv[1:])

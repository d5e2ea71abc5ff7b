"""An Odoo stand-in: a real HTTP server on 127.0.0.1 speaking Odoo's external API formats.

Endpoints, as Odoo answers them:

- ``POST /xmlrpc/<service>`` (legacy, string fault codes) and ``/xmlrpc/2/<service>`` (int codes)
- ``POST /jsonrpc`` (``{"error": {"code": 200, "message": "Odoo Server Error", "data": …}}``)
- ``POST /json/2/<model>/<method>`` (Odoo 19+: bearer API key, ``X-Odoo-Database``, HTTP statuses)
- ``GET /web/version``

Control endpoints (``POST /__standin__/<action>`` with a JSON body), for tests and the benchmark:
``reset`` (version, database, login, api_key), ``fault`` (model, method, mode drop|drop_before|
delay|error, times, seconds), ``latency`` (seconds added to every call), ``outage`` (seconds the
server refuses connections), ``deliver`` (ref, quantity, backorder), ``stats``.
"""

from __future__ import annotations

import json
import threading
import time
import traceback
import xmlrpc.client
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from suppliers.handoff.standin.store import (
    ACCESS_DENIED,
    ACCESS_ERROR,
    MISSING_ERROR,
    USER_ERROR,
    VALIDATION_ERROR,
    OdooError,
    Store,
)

_USER_KINDS = {USER_ERROR, VALIDATION_ERROR}


@dataclass
class Fault:
    model: str
    method: str
    mode: str
    times: int
    seconds: float = 0.0


class StandIn:
    """The stand-in's state and its HTTP server (restartable for outages, same port)."""

    def __init__(self, *, port: int = 0, **store_options: Any) -> None:
        self.store = Store(**store_options)
        self.faults: list[Fault] = []
        self.latency = 0.0
        self.calls: dict[str, int] = {}
        self.down_until = 0.0
        self.lock = threading.Lock()
        self._httpd = self._bind(port)
        self.port = self._httpd.server_address[1]
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _bind(self, port: int) -> ThreadingHTTPServer:
        standin = self

        class Handler(_Handler):
            owner = standin

        httpd = _Server(("127.0.0.1", port), Handler)
        httpd.daemon_threads = True
        return httpd

    def start(self) -> StandIn:
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def outage(self, seconds: float) -> None:
        """Refuse every connection for ``seconds`` (listening socket closed), then come back."""
        self.down_until = time.monotonic() + seconds
        old = self._httpd

        def cycle() -> None:
            old.shutdown()
            old.server_close()
            time.sleep(max(0.0, self.down_until - time.monotonic()))
            self._httpd = self._bind(self.port)
            self.down_until = 0.0
            self._httpd.serve_forever()

        self._thread = threading.Thread(target=cycle, daemon=True)
        self._thread.start()

    def reset(self, **store_options: Any) -> None:
        with self.lock:
            self.store = Store(**store_options)
            self.faults, self.latency, self.calls = [], 0.0, {}

    def take_fault(self, model: str, method: str) -> Fault | None:
        with self.lock:
            self.calls[f"{model}.{method}"] = self.calls.get(f"{model}.{method}", 0) + 1
            for fault in self.faults:
                if fault.model in (model, "*") and fault.method in (method, "*") and fault.times:
                    fault.times -= 1
                    return fault
            return None

    def control(self, action: str, body: dict[str, Any]) -> Any:
        if action == "reset":
            self.reset(**body)
            return True
        if action == "fault":
            self.faults.append(
                Fault(
                    body.get("model", "*"),
                    body.get("method", "*"),
                    body["mode"],
                    int(body.get("times", 1)),
                    float(body.get("seconds", 0.0)),
                )
            )
            return True
        if action == "latency":
            self.latency = float(body["seconds"])
            return True
        if action == "outage":
            self.outage(float(body["seconds"]))
            return True
        if action == "deliver":
            return self.store.deliver(
                body["ref"], float(body["quantity"]), bool(body.get("backorder", True))
            )
        if action == "internal_step":
            return self.store.internal_step(body["ref"], float(body["quantity"]))
        if action == "stats":
            return {
                "calls": dict(self.calls),
                "total": sum(self.calls.values()),
                "orders_by_ref": self.store.orders_by_ref(),
                "version": self.store.version,
            }
        raise KeyError(action)


class _Server(ThreadingHTTPServer):
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (timeout) closed its end: nothing to report."""


class _Drop(Exception):
    """Close the connection without an answer."""


class _Handler(BaseHTTPRequestHandler):
    owner: StandIn
    protocol_version = "HTTP/1.1"
    # headers and body leave in two writes: with Nagle's algorithm, delayed ACKs add ~40 ms
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        return

    # -- plumbing -------------------------------------------------------------------------------

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, data: Any) -> None:
        self._send(status, json.dumps(data).encode(), "application/json; charset=utf-8")

    def _not_found(self) -> None:
        self._send(404, b"<html><body><h1>404: Not Found</h1></body></html>", "text/html")

    def _drop(self) -> None:
        self.close_connection = True

    def _call(self, model: str, method: str, run: Any) -> Any:
        fault = self.owner.take_fault(model, method)
        if self.owner.latency:
            time.sleep(self.owner.latency)
        if fault is not None:
            if fault.mode == "drop_before":
                raise _Drop
            if fault.mode == "delay":
                time.sleep(fault.seconds)
            if fault.mode == "error":
                raise OdooError("builtins.KeyError", "KeyError: 'server bug'")
        result = run()
        if fault is not None and fault.mode == "drop":
            raise _Drop
        return result

    # -- routes ---------------------------------------------------------------------------------

    def do_GET(self) -> None:
        if self.owner.down_until:
            return self._drop()
        if self.path == "/web/version":
            version = self.owner.store.version
            return self._json(
                200, {"version_info": [version, 0, 0, "final", 0, ""], "version": f"{version}.0"}
            )
        return self._not_found()

    def do_POST(self) -> None:
        if self.owner.down_until:
            return self._drop()
        body = self._body()
        try:
            if self.path.startswith("/__standin__/"):
                data = json.loads(body or b"{}")
                return self._json(200, self.owner.control(self.path.rsplit("/", 1)[1], data))
            if self.path.startswith("/xmlrpc/"):
                return self._xmlrpc(body, numeric=self.path.startswith("/xmlrpc/2/"))
            if self.path == "/jsonrpc":
                return self._jsonrpc(body)
            if self.path.startswith("/json/2/") and self.owner.store.version >= 19:
                return self._json2(body)
        except _Drop:
            return self._drop()
        return self._not_found()

    def _service(self, service: str, method: str, params: list[Any]) -> Any:
        store = self.owner.store
        if service == "common":
            if method == "version":
                return self._call("common", "version", lambda: _version(store.version))
            if method in ("login", "authenticate"):
                db, login, password = params[:3]
                return self._call("common", "login", lambda: _login(store, db, login, password))
            raise OdooError("builtins.AttributeError", f"no method {method} in common")
        if service == "object" and method == "execute_kw":
            db, uid, password, model, name, *rest = params
            args = rest[0] if rest else []
            kwargs = rest[1] if len(rest) > 1 else {}

            def run() -> Any:
                _check_database(store, db)
                if uid != store.uid or password != store.api_key:
                    raise OdooError(ACCESS_DENIED, "Access Denied")
                return store.call(model, name, list(args), dict(kwargs))

            return self._call(model, name, run)
        raise OdooError("builtins.KeyError", f"unknown service {service}.{method}")

    def _xmlrpc(self, body: bytes, *, numeric: bool) -> None:
        service = self.path.rstrip("/").rsplit("/", 1)[1]
        try:
            params, method = xmlrpc.client.loads(body, use_builtin_types=True)
            result = self._service(service, method or "", list(params))
            payload = xmlrpc.client.dumps((result,), methodresponse=True, allow_none=False)
        except OdooError as error:
            payload = xmlrpc.client.dumps(
                _xmlrpc_fault(error, numeric=numeric), methodresponse=True
            )
        except TypeError as error:  # Odoo's marshaller refuses None results
            payload = xmlrpc.client.dumps(_fault(str(error), ""), methodresponse=True)
        self._send(200, payload.encode(), "text/xml")

    def _jsonrpc(self, body: bytes) -> None:
        request = json.loads(body)
        params = request.get("params", {})
        try:
            result = self._service(params["service"], params["method"], list(params["args"]))
            self._json(200, {"jsonrpc": "2.0", "id": request.get("id"), "result": result})
        except OdooError as error:
            self._json(
                200,
                {
                    "jsonrpc": "2.0",
                    "id": request.get("id"),
                    "error": {"code": 200, "message": "Odoo Server Error", "data": _data(error)},
                },
            )

    def _json2(self, body: bytes) -> None:
        store = self.owner.store
        parts = self.path.split("?", 1)[0].split("/")
        if len(parts) != 5:
            return self._not_found()
        model, method = parts[3], parts[4]
        if self.headers.get("Authorization") != f"Bearer {store.api_key}":
            return self._json(401, _data(OdooError(ACCESS_DENIED, "Invalid apikey")))
        try:
            _check_database(store, self.headers.get("X-Odoo-Database") or "")
            data = json.loads(body or b"{}")
            ids = data.pop("ids", None)
            args = [ids] if ids is not None else []
            if method == "create":
                args = [data.pop("vals_list")]
            result = self._call(model, method, lambda: store.call(model, method, args, data))
        except OdooError as error:
            status = {
                ACCESS_DENIED: 401,
                ACCESS_ERROR: 403,
                MISSING_ERROR: 404,
                USER_ERROR: 422,
                VALIDATION_ERROR: 422,
            }.get(error.kind, 500)
            if "doesn't exist" in error.message and error.kind == USER_ERROR:
                status = 404
            return self._json(status, _data(error))
        self._json(200, result)


def _version(version: int) -> dict[str, Any]:
    return {
        "server_version": f"{version}.0",
        "server_version_info": [version, 0, 0, "final", 0, ""],
        "server_serie": f"{version}.0",
        "protocol_version": 1,
    }


def _check_database(store: Store, db: str) -> None:
    if db != store.database:
        raise OdooError(
            "psycopg2.OperationalError",
            f'connection to server on socket "/var/run/postgresql/.s.PGSQL.5432" failed: '
            f'FATAL:  database "{db}" does not exist',
        )


def _login(store: Store, db: str, login: str, password: str) -> Any:
    _check_database(store, db)
    return store.uid if (login, password) == (store.login, store.api_key) else False


def _data(error: OdooError) -> dict[str, Any]:
    return {
        "name": error.kind,
        "message": error.message,
        "arguments": [error.message],
        "context": {},
        "debug": "Traceback (most recent call last):\n" + "".join(traceback.format_stack(limit=3)),
    }


def _xmlrpc_fault(error: OdooError, *, numeric: bool) -> xmlrpc.client.Fault:
    kind = error.kind
    if numeric:
        code = {ACCESS_DENIED: 3, ACCESS_ERROR: 4, MISSING_ERROR: 2}.get(kind)
        code = code or (2 if kind in _USER_KINDS else 1)
        return _fault(code, error.message)
    if kind == ACCESS_DENIED:
        return _fault("AccessDenied", "Access Denied")
    if kind == ACCESS_ERROR:
        return _fault(f"warning -- AccessError\n\n{error.message}", "")
    if kind == MISSING_ERROR:
        return _fault(f"warning -- MissingError\n\n{error.message}", "")
    if kind in _USER_KINDS:
        return _fault(f"warning -- UserError\n\n{error.message}", "")
    return _fault(error.message, "Traceback (most recent call last):\n  …")


def _fault(code: Any, text: str) -> xmlrpc.client.Fault:
    """A fault whose code is a string on the legacy endpoint (an int on ``/xmlrpc/2/``)."""
    return xmlrpc.client.Fault(code, text)

"""The one module that imports odoolib (odoo-client-lib 2.0.1): connections and error translation.

What it fixes in the client (``shared/docs/odoo.md``):

- xmlrpc: one :class:`ServerProxy` per service with a transport that has a timeout and never
  silently re-sends (the stdlib one re-sends once when a connection closes without an answer, so a
  lost reply to ``create`` became a second order). A read on a *reused* connection that went cold is
  tried again once; a write never is.
- jsonrpc and json2: one ``httpx.Client`` per connection (keep-alive) instead of a new client per
  call, with our timeout instead of the hidden 5 s (jsonrpc) or 60 s (json2).
- json2 is called with named arguments only (positional ones make the client fetch a doc route that
  needs a special group).
- The client's loggers write the API key at DEBUG: they are forced to INFO here.
- Every failure becomes a :class:`~suppliers.handoff.errors.PartnerError` whose message never holds
  the key.
"""

from __future__ import annotations

import http.client
import json
import logging
import xmlrpc.client
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import odoolib
from odoolib.json2 import Json2Connection, JsonModel
from odoolib.rpc import Connection, JsonRPCConnector, XmlRPCConnector
from odoolib.tools import AuthenticationError, JsonRPCException

from fabcoord.errors import InvalidInput
from suppliers.handoff.errors import (
    PartnerAuthFailed,
    PartnerError,
    PartnerRefused,
    PartnerServerError,
    PartnerUnavailable,
)

PROTOCOLS = ("jsonrpc", "xmlrpc", "json2")
_READS = frozenset(
    {"search", "read", "search_read", "search_count", "fields_get", "context_get", "version"}
)
_NAMES: dict[str, tuple[str, ...]] = {
    "search": ("domain", "offset", "limit", "order"),
    "search_count": ("domain",),
    "search_read": ("domain", "fields", "offset", "limit", "order"),
    "read": ("ids", "fields"),
    "create": ("vals_list",),
    "write": ("ids", "vals"),
    "fields_get": ("allfields", "attributes"),
    "action_confirm": ("ids",),
    "action_cancel": ("ids",),
    "context_get": (),
}


def quiet_client_logs() -> None:
    """Keep odoolib's loggers above DEBUG: at DEBUG they write passwords and API keys."""
    names = [n for n in logging.root.manager.loggerDict if n.startswith("odoolib")]
    for name in ["odoolib", *names]:
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() < logging.INFO or logger.level < logging.INFO:
            logger.setLevel(logging.INFO)


quiet_client_logs()


@dataclass(frozen=True)
class Endpoint:
    """Where and how to reach a partner's Odoo. ``api_key`` is never shown in ``repr``."""

    url: str
    database: str
    login: str
    api_key: str = field(repr=False)
    protocol: str = "jsonrpc"
    timeout_s: float = 30.0
    name: str = "partner"


def parse_url(url: str) -> tuple[str, str, int]:
    """``(scheme, host, port)`` of an Odoo address; the port defaults to the scheme's.

    Raises:
        InvalidInput: not an http(s) address with a host.
    """
    parts = urlsplit(url.strip())
    try:
        port = parts.port
    except ValueError:
        port = -1
    if parts.scheme not in ("http", "https") or not parts.hostname or port == -1:
        raise InvalidInput(f"Odoo address {url!r} must look like https://odoo.example.com[:port]")
    if parts.path.strip("/"):
        raise InvalidInput(f"Odoo address {url!r} must not have a path (give the server's root)")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80)


class _OneShotTransport(xmlrpc.client.Transport):
    """An xmlrpc transport with a timeout that never re-sends a request by itself."""

    def __init__(self, timeout: float, secure: bool) -> None:
        super().__init__()
        self._timeout, self._secure = timeout, secure
        self.reused = False

    def make_connection(self, host: Any) -> http.client.HTTPConnection:
        if self._connection[1] is not None and host == self._connection[0]:
            self.reused = True
            return self._connection[1]
        self.reused = False
        chost, self._extra_headers, _x509 = self.get_host_info(host)
        connection: http.client.HTTPConnection
        if self._secure:
            connection = http.client.HTTPSConnection(chost, timeout=self._timeout)
        else:
            connection = http.client.HTTPConnection(chost, timeout=self._timeout)
        self._connection = host, connection
        return connection

    def request(self, host: Any, handler: Any, request_body: Any, verbose: bool = False) -> Any:
        return self.single_request(host, handler, request_body, verbose)


class _XmlRpc(XmlRPCConnector):  # type: ignore[misc]
    def __init__(self, base: str, timeout: float) -> None:
        self.url = f"{base}/xmlrpc"
        self._timeout, self._secure = timeout, base.startswith("https")
        self._proxies: dict[str, tuple[xmlrpc.client.ServerProxy, _OneShotTransport]] = {}

    def _proxy(self, service: str) -> tuple[xmlrpc.client.ServerProxy, _OneShotTransport]:
        if service not in self._proxies:
            transport = _OneShotTransport(self._timeout, self._secure)
            proxy = xmlrpc.client.ServerProxy(f"{self.url}/{service}", transport=transport)
            self._proxies[service] = (proxy, transport)
        return self._proxies[service]

    def send(self, service_name: str, method: str, *args: Any) -> Any:
        proxy, transport = self._proxy(service_name)
        safe = (
            method in _READS
            or method == "login"
            or (method == "execute_kw" and len(args) > 4 and args[4] in _READS)
        )
        try:
            return getattr(proxy, method)(*args)
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            transport.close()
            if not (safe and transport.reused):
                raise
        return getattr(proxy, method)(*args)  # a cold keep-alive connection, read again once

    def close(self) -> None:
        for _proxy, transport in self._proxies.values():
            transport.close()


class _JsonRpc(JsonRPCConnector):  # type: ignore[misc]
    def __init__(self, base: str, client: httpx.Client) -> None:
        self.url = f"{base}/jsonrpc"
        self._client = client
        self._id = 0

    def send(self, service_name: str, method: str, *args: Any) -> Any:
        self._id += 1
        data = {
            "jsonrpc": "2.0",
            "method": "call",
            "params": {"service": service_name, "method": method, "args": args},
            "id": self._id,
        }
        response = self._client.post(self.url, json=data)
        _raise_for_proxy_status(response)
        result = response.json()
        if result.get("error"):
            raise JsonRPCException(result["error"])
        return result.get("result", False)


class _Json2Model(JsonModel):  # type: ignore[misc]
    client: httpx.Client

    def __getattr__(self, method: str) -> Any:
        def proxy(**named: Any) -> Any:
            response = self.client.post(
                self._url(method), headers=self.connection.bearer_header, json=named
            )
            if response.status_code == 401:
                raise AuthenticationError("Authentication failed. Please check your API key.")
            _raise_for_proxy_status(response)
            if response.status_code != 200:
                raise _Json2Status(response.status_code, response.text)
            return response.json()

        return proxy


class _Json2Status(Exception):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}")
        self.status, self.body = status, body


class _ProxyStatus(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


def _raise_for_proxy_status(response: httpx.Response) -> None:
    if response.status_code in (502, 503, 504):
        raise _ProxyStatus(response.status_code)


class Client:
    """One authenticated connection to a partner's Odoo; ``call`` is one round trip."""

    def __init__(self, endpoint: Endpoint) -> None:
        scheme, host, port = parse_url(endpoint.url)
        if endpoint.protocol not in PROTOCOLS:
            raise InvalidInput(
                f"protocol {endpoint.protocol!r} is not one of {', '.join(PROTOCOLS)}"
            )
        self.endpoint = endpoint
        self.calls = 0
        base = f"{scheme}://{host}:{port}"
        self._base = base
        self._http = httpx.Client(timeout=endpoint.timeout_s)
        self._xml: _XmlRpc | None = None
        self._json2: Json2Connection | None = None
        self._conn: Connection | None = None
        if endpoint.protocol == "json2":
            connector = odoolib.get_connector(
                host, "json2s" if scheme == "https" else "json2", port
            )
            self._json2 = Json2Connection(connector, endpoint.database, endpoint.api_key)
        else:
            connector = (
                _JsonRpc(base, self._http)
                if endpoint.protocol == "jsonrpc"
                else _XmlRpc(base, endpoint.timeout_s)
            )
            self._xml = connector if isinstance(connector, _XmlRpc) else None
            self._conn = Connection(connector, endpoint.database, endpoint.login, endpoint.api_key)

    def close(self) -> None:
        self._http.close()
        if self._xml is not None:
            self._xml.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def login(self) -> None:
        """Check the credentials now (the first call would otherwise do it).

        Raises:
            PartnerAuthFailed, PartnerRefused, PartnerUnavailable.
        """
        with self._translated():
            if self._conn is not None:
                self.calls += 1
                self._conn.check_login(force=True)
        if self._conn is None:
            self.call("res.users", "context_get")

    def version(self) -> str:
        """The server's version, as it says (``17.0``)."""
        with self._translated():
            self.calls += 1
            if self._conn is not None:
                info = self._conn.get_service("common").version()
                return str(info.get("server_version", "?"))
            response = self._http.get(f"{self._base}/web/version")
            if response.status_code != 200:
                raise _Json2Status(response.status_code, response.text)
            return str(response.json().get("version", "?"))

    def call(
        self,
        model: str,
        method: str,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
    ) -> Any:
        """Call ``model.method`` on the partner's Odoo (one round trip; no client-side helpers).

        Raises:
            PartnerUnavailable, PartnerServerError, PartnerRefused, PartnerAuthFailed.
        """
        kwargs = dict(kwargs or {})
        with self._translated():
            if self._conn is not None and self._conn.user_id is None:
                self.calls += 1
                self._conn.check_login(force=False)
            self.calls += 1
            if self._json2 is not None:
                names = _NAMES.get(method)
                if names is None and args:
                    raise InvalidInput(f"no named parameters known for {method} over json2")
                named = dict(zip(names or (), args, strict=False))
                model_proxy = _Json2Model(self._json2, model)
                model_proxy.client = self._http
                return model_proxy.__getattr__(method)(**named, **kwargs)
            assert self._conn is not None
            proxy = self._conn.get_model(model)
            return odoolib.rpc.Model.__getattr__(proxy, method)(*args, **kwargs)

    @contextmanager
    def _translated(self) -> Iterator[None]:
        """Turn the client's exceptions into typed hand-off errors."""
        try:
            yield
        except (PartnerError, InvalidInput):
            raise
        except Exception as error:
            raise translate(error, self.endpoint) from None


def translate(error: Exception, endpoint: Endpoint) -> PartnerError:
    """The typed error for a failure of the client (messages never hold the API key)."""
    where = f"partner {endpoint.name} ({endpoint.url})"
    text = _scrub(_describe(error), endpoint)
    if isinstance(error, AuthenticationError):
        return PartnerAuthFailed(f"{where} refused login {endpoint.login!r} or its API key")
    if isinstance(error, httpx.TimeoutException | TimeoutError):
        return PartnerUnavailable(f"{where} did not answer within {endpoint.timeout_s:g} s")
    if isinstance(error, _ProxyStatus):
        return PartnerUnavailable(f"{where} is unavailable (HTTP {error.status})")
    if isinstance(error, httpx.TransportError | OSError | http.client.HTTPException):
        return PartnerUnavailable(f"{where} is unreachable: {text}")
    if isinstance(error, xmlrpc.client.ProtocolError):
        if error.errcode in (502, 503, 504):
            return PartnerUnavailable(f"{where} is unavailable (HTTP {error.errcode})")
        return PartnerRefused(f"{where} does not answer as an Odoo API (HTTP {error.errcode})")
    if isinstance(error, json.JSONDecodeError | xmlrpc.client.ResponseError) or (
        type(error).__name__ == "ExpatError"
    ):
        return PartnerRefused(f"{where} does not answer as an Odoo API: check the address")
    if isinstance(error, xmlrpc.client.Fault):
        return _classify(where, _fault_kind(error), text)
    if isinstance(error, JsonRPCException):
        data = error.error.get("data") or {}
        return _classify(where, str(data.get("name", "")), text)
    if isinstance(error, _Json2Status):
        if "database" in text and "does not exist" in text:
            return PartnerRefused(f"{where} has no such database: {text}")
        if error.status in (403, 404, 422, 400):
            return PartnerRefused(f"{where} refused the request (HTTP {error.status}): {text}")
        return _classify(where, _json2_name(error.body), text)
    return PartnerServerError(f"{where} failed: {text}")


def _json2_name(body: str) -> str:
    try:
        return str(json.loads(body).get("name", ""))
    except (ValueError, AttributeError):
        return ""


def _fault_kind(fault: xmlrpc.client.Fault) -> str:
    code = fault.faultCode
    if isinstance(code, int):
        return {3: "AccessDenied", 4: "AccessError", 2: "UserError"}.get(code, "")
    if code == "AccessDenied":
        return "AccessDenied"
    if code.startswith("warning -- "):
        return code.removeprefix("warning -- ").split("\n", 1)[0]
    return ""


def _classify(where: str, kind: str, text: str) -> PartnerError:
    short = kind.rsplit(".", 1)[-1]
    if short == "AccessDenied":
        return PartnerAuthFailed(f"{where} refused the login or API key")
    if "database" in text and "does not exist" in text:
        return PartnerRefused(f"{where} has no such database: {text}")
    if short in {"AccessError", "UserError", "ValidationError", "MissingError", "Warning"}:
        return PartnerRefused(f"{where} refused ({short}): {text}")
    if "Invalid field" in text or short in {"ValueError", "TypeError", "AttributeError"}:
        return PartnerRefused(f"{where} refused the request: {text}")
    return PartnerServerError(f"{where} failed: {text}")


def _describe(error: Exception) -> str:
    if isinstance(error, xmlrpc.client.Fault):
        code = error.faultCode
        text = code.split("\n\n", 1)[-1] if isinstance(code, str) else error.faultString
        return " ".join(str(text or error.faultString).split())[:400]
    if isinstance(error, JsonRPCException):
        data = error.error.get("data") or {}
        return " ".join(str(data.get("message") or error.error.get("message")).split())[:400]
    if isinstance(error, _Json2Status):
        try:
            body = json.loads(error.body)
            return " ".join(str(body.get("message", error.body)).split())[:400]
        except (ValueError, AttributeError):
            return error.body[:200]
    return " ".join((str(error) or type(error).__name__).split())[:400]


def _scrub(text: str, endpoint: Endpoint) -> str:
    return text.replace(endpoint.api_key, "***") if endpoint.api_key else text

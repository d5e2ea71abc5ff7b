"""Async client for one OctoPrint server's REST API (the only print-farm module importing httpx).

API (all methods are coroutines and raise :mod:`print_farm.errors` types)::

    async with OctoPrintClient(base_url, api_key, timeout=5.0, transport=None) as client:
        await client.version() -> str                      # "1.11.8"; NotOctoPrint if not OctoPrint
        await client.connect(port=None, baudrate=None)     # 204; OctoPrintError if refused (400)
        await client.disconnect()
        await client.connection_state() -> str             # "Operational", "Closed", ...
        await client.printer() -> PrinterStatus            # a 409 is a status with operational False
        await client.job() -> JobStatus                    # .finished / .cancelled / .failed_offline
        await client.list_files() -> set[str]
        await client.file_history(name) -> PrintHistory  # FileMissing if no such file
        await client.upload(name, content, select=False, print_after=False) -> UploadResult
        await client.delete_file(name)
        await client.select(name, print_after=False)
        await client.start() / pause() / resume() / cancel()
        await client.send_commands(["!!DEBUG:trigger_fatal_error_marlin"])
        await client.passive_login() -> (user, session)    # for the push socket

Traps of a real 1.11.8 handled here: a 201/204 that started nothing raises :class:`PrintDidNotStart`;
the misleading 409 of a select on a disconnected printer and OctoPrint's start-up server (bare
``Not found``) are told apart (:class:`PrinterNotOperational`, :class:`OctoPrintStarting`).
"""

from __future__ import annotations

import functools
import json
import ssl
import urllib.request
from typing import Any

import httpx

from print_farm.errors import (
    AuthenticationFailed,
    FileMissing,
    FileRejected,
    NotOctoPrint,
    OctoPrintError,
    OctoPrintStarting,
    PrintDidNotStart,
    PrinterBusy,
    PrinterNotOperational,
    PrinterUnreachable,
)
from print_farm.printer_status import (
    ACTIVE_STATES,
    JobStatus,
    PrinterStatus,
    PrintHistory,
    UploadResult,
)
from print_farm.startup_probe import answers_bare_not_found

__all__ = [
    "ACTIVE_STATES",
    "JobStatus",
    "OctoPrintClient",
    "PrintHistory",
    "PrinterStatus",
    "UploadResult",
]


def _body(response: httpx.Response) -> object:
    try:
        return response.json()
    except ValueError:
        return None


def _object(response: httpx.Response) -> dict[str, Any]:
    body = _body(response)
    if not isinstance(body, dict):
        url = response.request.url
        raise OctoPrintError(
            f"reply to {url.path} is not a JSON object",
            base_url=f"{url.scheme}://{url.netloc.decode()}",
            status_code=response.status_code,
        )
    return body


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """One verified TLS context shared by every client (building one per client costs ~1 MB)."""
    return ssl.create_default_context()


def _message(response: httpx.Response) -> str:
    body = _body(response)
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return str(body["error"])
    return " ".join(response.text.split())[:200] or response.reason_phrase


def _proxied() -> bool:
    """The environment names an HTTP proxy (``HTTP_PROXY``, ``ALL_PROXY``…), which the client
    would route requests through (then every request goes through the client)."""
    return any(scheme in ("http", "https", "all") for scheme in urllib.request.getproxies())


MAX_URLS = 64  # URLs kept parsed per printer: the API's few paths and the designs' files
UPLOAD_SLOWEST_BYTES_S = 50_000  # the slowest link an upload must survive: 400 kbit/s


def upload_timeout(size: int, timeout: float) -> float:
    """How long an upload of ``size`` bytes may take to be sent and answered: ``timeout`` plus
    the time to send it at ``UPLOAD_SLOWEST_BYTES_S`` (a 60 MB file: 20 minutes, not 5 s)."""
    return timeout + size / UPLOAD_SLOWEST_BYTES_S


class OctoPrintClient:
    """One OctoPrint server. ``base_url`` may carry a path prefix (``http://host:port/p/7``)."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        # the API's small requests go straight to the transport (:meth:`_send_direct`) unless
        # the environment names a proxy: the client then routes them through it (as it does
        # only when it builds its own transport)
        direct = transport
        if transport is None and not _proxied():  # the client's default transport, held here
            transport = direct = httpx.AsyncHTTPTransport(verify=_ssl_context())
        self._http = httpx.AsyncClient(
            base_url=self.base_url + "/",
            headers={"X-Api-Key": api_key},
            timeout=timeout,
            transport=transport,
            verify=_ssl_context(),
        )
        self._timeout = timeout
        self._urls: dict[str, httpx.URL] = {}  # parsing a URL costs more than sending it
        self._transport = direct
        self._headers = list(self._http.headers.raw)  # the client's defaults and the key
        self._json_headers = [*self._headers, (b"Content-Type", b"application/json")]
        self._timeouts = httpx.Timeout(timeout).as_dict()

    async def __aenter__(self) -> OctoPrintClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    def _error(self, cls: type[OctoPrintError], message: str, status: int | None) -> OctoPrintError:
        return cls(message, base_url=self.base_url, status_code=status)

    def _url(self, path: str) -> httpx.URL:
        """The absolute URL of ``path``, parsed once (a few paths, asked for on every poll)."""
        url = self._urls.get(path)
        if url is None:
            url, base = httpx.URL(path.lstrip("/")), self._http.base_url
            if url.is_relative_url:  # as httpx merges it with the client's base URL
                url = base.copy_with(raw_path=base.raw_path + url.raw_path)
            if len(self._urls) < MAX_URLS:
                self._urls[path] = url
        return url

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            if self._transport is not None and kwargs.keys() <= {"json"}:
                return await self._send_direct(method, self._url(path), kwargs.get("json"))
            return await self._http.request(method, self._url(path), **kwargs)
        except httpx.TimeoutException as exc:
            raise self._error(
                PrinterUnreachable, f"timed out ({type(exc).__name__})", None
            ) from exc
        except httpx.RemoteProtocolError as exc:
            if "status line" in str(exc).lower() or await self._starting(path):
                raise self._error(OctoPrintStarting, "OctoPrint is starting", None) from exc
            raise self._error(PrinterUnreachable, f"connection broken: {exc}", None) from exc
        except httpx.TransportError as exc:
            raise self._error(PrinterUnreachable, f"unreachable: {exc}", None) from exc

    async def _send_direct(self, method: str, url: httpx.URL, body: object) -> httpx.Response:
        """A request without a file, form or timeout of its own (every poll, select and start),
        sent on the transport as :class:`httpx.AsyncClient` would send it (its default headers
        and timeout; it follows no redirects, holds no auth and sets no cookie for these
        requests): the client's own request building and sending cost about half a millisecond
        of CPU a request on top of the transport's."""
        if self._http.is_closed:  # as the client refuses (its pool would open a new connection)
            raise RuntimeError("Cannot send a request, as the client has been closed.")
        if body is None:
            request = httpx.Request(method, url, headers=self._headers)
        else:
            content = json.dumps(body, separators=(",", ":")).encode()
            request = httpx.Request(method, url, headers=self._json_headers, content=content)
        request.extensions = {"timeout": self._timeouts}
        assert self._transport is not None
        response = await self._transport.handle_async_request(request)
        response.request = request
        try:
            await response.aread()
        finally:
            await response.aclose()
        return response

    async def _starting(self, path: str) -> bool:
        url = httpx.URL(self.base_url + "/" + path.lstrip("/"))
        if url.scheme != "http" or url.host == "":
            return False
        return await answers_bare_not_found(url.host, url.port or 80, url.raw_path.decode())

    async def _call(
        self, method: str, path: str, *, ok: tuple[int, ...] = (200, 204), **kwargs: Any
    ) -> httpx.Response:
        response = await self._send(method, path, **kwargs)
        if response.status_code in ok:
            return response
        status, message = response.status_code, _message(response)
        if status == 403:
            raise self._error(AuthenticationFailed, "API key refused (403)", status)
        if status == 404:
            raise self._error(FileMissing, f"not found: {message}", status)
        if status == 409:
            cls = PrinterNotOperational if "not operational" in message.lower() else PrinterBusy
            raise self._error(cls, message, status)
        if status == 415:
            raise self._error(FileRejected, message, status)
        if status in (502, 503, 504):
            raise self._error(PrinterUnreachable, f"{status} {message}", status)
        raise self._error(OctoPrintError, f"{status} {message}", status)

    async def version(self) -> str:
        """The server's OctoPrint version; raises :class:`NotOctoPrint` for any other server."""
        try:
            body = _object(await self._call("GET", "/api/version", ok=(200,)))
        except (PrinterUnreachable, AuthenticationFailed):
            raise
        except OctoPrintError as exc:
            raise self._error(NotOctoPrint, "this URL does not answer as OctoPrint", None) from exc
        server = body.get("server")
        if not isinstance(server, str) or "api" not in body:
            raise self._error(NotOctoPrint, "this URL does not answer as OctoPrint", 200)
        return server

    async def connect(self, port: str | None = None, baudrate: int | None = None) -> None:
        """Connect the printer (the server's configured port when ``port`` is None)."""
        body: dict[str, Any] = {"command": "connect", "autoconnect": False}
        body |= {k: v for k, v in (("port", port), ("baudrate", baudrate)) if v is not None}
        await self._call("POST", "/api/connection", json=body)

    async def disconnect(self) -> None:
        """Disconnect the printer."""
        await self._call("POST", "/api/connection", json={"command": "disconnect"})

    async def connection_state(self) -> str:
        """``current.state`` of ``/api/connection`` ("Operational", "Printing", "Closed", ...)."""
        body = _object(await self._call("GET", "/api/connection", ok=(200,)))
        return str(body.get("current", {}).get("state") or "Offline")

    async def printer(self) -> PrinterStatus:
        """The printer's state; a disconnected or failed printer is reported, not raised."""
        try:
            response = await self._call("GET", "/api/printer?exclude=temperature,sd", ok=(200,))
        except PrinterNotOperational:
            state = await self.connection_state()
            error = "error" in state.lower()
            return PrinterStatus(state, False, False, False, False, error, True)
        state = _object(response).get("state", {})
        flags = state.get("flags", {})
        names = ("operational", "printing", "paused", "ready", "error", "closedOrError")
        return PrinterStatus(str(state.get("text", "")), *(bool(flags.get(n)) for n in names))

    async def job(self) -> JobStatus:
        """The current job and its progress (a reply not of that shape is an OctoPrintError)."""
        body = _object(await self._call("GET", "/api/job", ok=(200,)))
        try:
            job = body.get("job") or {}
            progress = body.get("progress") or {}
            completion = progress.get("completion")
            return JobStatus(
                state=str(body.get("state", "")),
                file_name=(job.get("file") or {}).get("name"),
                completion=None if completion is None else float(completion),
                print_time=progress.get("printTime"),
                print_time_left=progress.get("printTimeLeft"),
                error=body.get("error"),
            )
        except (AttributeError, TypeError, ValueError) as exc:
            raise self._error(OctoPrintError, f"malformed /api/job reply: {exc}", 200) from exc

    async def list_files(self) -> set[str]:
        """Names of the files in local storage (top level)."""
        body = _object(await self._call("GET", "/api/files/local", ok=(200,)))
        files = body.get("files", [])
        return {str(f["name"]) for f in files if f.get("type", "machinecode") != "folder"}

    async def file_history(self, name: str) -> PrintHistory:
        """The file's print statistics (``prints``: absent until the file was first printed)."""
        body = _object(await self._call("GET", f"/api/files/local/{name}", ok=(200,)))
        prints = body.get("prints") or {}
        last = prints.get("last") or {}
        date, success = last.get("date"), last.get("success")
        return PrintHistory(
            successes=_count(prints.get("success")),
            failures=_count(prints.get("failure")),
            last_date=float(date) if isinstance(date, int | float) else None,
            last_success=success if isinstance(success, bool) else None,
        )

    async def upload(
        self, name: str, content: bytes, *, select: bool = False, print_after: bool = False
    ) -> UploadResult:
        """Upload a file; with ``print_after``, raise :class:`PrintDidNotStart` if nothing started."""
        data = {"select": str(select or print_after).lower(), "print": str(print_after).lower()}
        files = {"file": (name, content, "application/octet-stream")}
        wait = upload_timeout(len(content), self._timeout)
        try:
            response = await self._call(
                "POST",
                "/api/files/local",
                ok=(200, 201),
                data=data,
                files=files,
                timeout=httpx.Timeout(self._timeout, read=wait, write=wait),
            )
        except OctoPrintError as exc:
            if exc.status_code == 400:
                raise self._error(FileRejected, str(exc), 400) from exc
            raise
        body = _object(response)
        stored = (body.get("files", {}).get("local") or {}).get("name") or name
        result = UploadResult(
            name=str(stored),
            effective_select=bool(body.get("effectiveSelect", False)),
            effective_print=bool(body.get("effectivePrint", False)),
        )
        if print_after and not result.effective_print:
            raise self._error(PrintDidNotStart, f"uploaded {name} but the print did not start", 201)
        return result

    async def delete_file(self, name: str) -> None:
        """Delete a file from local storage."""
        await self._call("DELETE", f"/api/files/local/{name}")

    async def select(self, name: str, *, print_after: bool = False) -> None:
        """Select a stored file (and start it with ``print_after``)."""
        body = {"command": "select", "print": print_after}
        try:
            await self._call("POST", f"/api/files/local/{name}", json=body)
        except PrinterBusy:
            status = await self.printer()
            if not status.operational:
                raise self._error(
                    PrinterNotOperational, "printer is not operational", 409
                ) from None
            raise

    async def _job_command(self, body: dict[str, str]) -> None:
        await self._call("POST", "/api/job", json=body)

    async def start(self, *, verify: bool = True) -> None:
        """Start the selected file; raises :class:`PrintDidNotStart` when nothing started.

        OctoPrint answers 204 even with no file selected, so the job is read before and after;
        ``verify=False`` only sends the command (for a caller that watches the printer itself).
        """
        if not verify:
            await self._job_command({"command": "start"})
            return
        before = await self.job()
        await self._job_command({"command": "start"})
        after = await self.job()
        idle = after.state == "Operational" and (after.completion is None or after == before)
        if after.file_name is None or idle:
            raise self._error(PrintDidNotStart, "start accepted but no print started", 204)

    async def pause(self) -> None:
        """Pause the running print."""
        await self._job_command({"command": "pause", "action": "pause"})

    async def resume(self) -> None:
        """Resume a paused print."""
        await self._job_command({"command": "pause", "action": "resume"})

    async def cancel(self) -> None:
        """Cancel the running print."""
        await self._job_command({"command": "cancel"})

    async def send_commands(self, commands: list[str]) -> None:
        """Send raw G-code (or ``!!DEBUG:`` commands to the Virtual Printer)."""
        await self._call("POST", "/api/printer/command", json={"commands": commands})

    async def passive_login(self) -> tuple[str, str]:
        """Log in with the API key; returns ``(user name, session)`` for the push socket's auth."""
        try:
            response = await self._call("POST", "/api/login", ok=(200,), json={"passive": True})
        except OctoPrintError as exc:
            if exc.status_code in (400, 401):
                raise self._error(
                    AuthenticationFailed,
                    f"API key refused (passive login answered {exc.status_code})",
                    403,
                ) from exc
            raise
        body = _object(response)
        name, session = body.get("name"), body.get("session")
        if not isinstance(name, str) or not isinstance(session, str):
            raise self._error(AuthenticationFailed, "passive login gave no session", 200)
        return name, session

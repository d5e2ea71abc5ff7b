"""aiohttp application serving many :class:`SimPrinter` under ``/p/<n>`` (REST + raw push socket).

Faults (``POST /p/<n>/sim/fault {"fault": NAME | null, "seconds": S}`` with the API key, or
``--fault n=NAME`` on the command line):

- ``hang``: REST requests to the printer never answer, its socket goes silent;
- ``busy409``: every POST answers 409;
- ``reset``: every HTTP connection is closed without a reply, sockets are dropped;
- ``silent_nostart``: a start (or upload/select with print) answers success and starts nothing;
- ``restart``: the "server" restarts: sockets closed, bare ``Not found`` bytes (no status line) for
  ``seconds``, then the printer is disconnected ("Offline") with its job lost and its files kept.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from print_farm.simulator.printer import Conflict, SimPrinter
from print_farm.simulator.sockets import PRINTERS, SETTINGS, SOCKETS, printer_of, push_socket

VERSION = {"api": "0.1", "server": "1.11.8", "text": "OctoPrint 1.11.8"}
GCODE_SUFFIXES = (".gcode", ".gco", ".g")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _key_of(request: web.Request) -> str | None:
    auth = request.headers.get("Authorization", "")
    if auth.startswith("Bearer "):
        return auth[len("Bearer ") :]
    return request.headers.get("X-Api-Key") or request.query.get("apikey")


def _drop(request: web.Request, raw: bytes = b"") -> web.Response:
    transport = request.transport
    if transport is not None:
        if raw:
            transport.write(raw)
        transport.close()
    return web.Response(status=500)


@web.middleware
async def faults_and_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Apply the printer's fault, then check the API key (the push socket authenticates itself)."""
    if "n" not in request.match_info:
        return await handler(request)
    printer = printer_of(request)
    control = "/sim/" in request.path  # the fault switch itself is never faulty
    if not control and time.monotonic() < printer.restarting_until:
        return _drop(request, b"Not found")
    if not control and printer.fault == "reset":
        return _drop(request)
    while printer.fault == "hang" and not control:
        await asyncio.sleep(0.05)
    if request.path.endswith("/sockjs/websocket"):
        return await handler(request)
    key_ok = _key_of(request) == request.app[SETTINGS]["api_key"]
    if request.path.endswith("/api/login") and not key_ok:
        return _error(400, "CSRF validation failed")
    if not key_ok:
        return _error(403, "Forbidden")
    if printer.fault == "busy409" and request.method == "POST" and not control:
        return _error(409, "Printer is busy (simulated fault)")
    try:
        return await handler(request)
    except Conflict as exc:
        return _error(409, str(exc))


async def version(request: web.Request) -> web.Response:
    return web.json_response(VERSION)


async def connection(request: web.Request) -> web.Response:
    p = printer_of(request)
    if request.method == "GET":
        state = p.state if p.operational else "Closed"
        current = {"state": state, "port": "VIRTUAL" if p.operational else None}
        options = {"ports": ["VIRTUAL"], "baudrates": [115200]}
        return web.json_response({"current": {**current, "baudrate": 115200}, "options": options})
    body = await request.json()
    command = body.get("command")
    if command == "connect":
        if body.get("port") not in (None, "VIRTUAL"):
            return _error(400, "port is not available")
        p.connect()
    elif command == "disconnect":
        if p.operational or p.state == "Offline after error":
            p.disconnect()
    else:
        return _error(400, "command is invalid")
    return web.Response(status=204)


async def printer_state(request: web.Request) -> web.Response:
    p = printer_of(request)
    if not p.operational:
        return _error(409, "Printer is not operational")
    return web.json_response({"state": {"text": p.state, "flags": p.flags()}, "temperature": {}})


async def printer_command(request: web.Request) -> web.Response:
    p = printer_of(request)
    if not p.operational:
        return _error(409, "Printer is not operational")
    body = await request.json()
    for command in body.get("commands") or [body.get("command", "")]:
        if command == "!!DEBUG:trigger_fatal_error_marlin":
            p.fatal_error()
        elif command == "!!DEBUG:drop_connection":
            asyncio.get_running_loop().call_later(1.5, p.fatal_error, "Connection closed")
    return web.Response(status=204)


async def job(request: web.Request) -> web.Response:
    p = printer_of(request)
    if request.method == "GET":
        return web.json_response(p.job())
    body = await request.json()
    command, action = body.get("command"), body.get("action", "toggle")
    if command in ("start", "pause", "cancel", "restart") and not p.operational:
        return _error(409, "Printer is not operational")
    if command == "start":
        p.start()
    elif command == "pause" and (action == "pause" or (action == "toggle" and p.state != "Paused")):
        p.pause()
    elif command == "pause" and action in ("resume", "toggle"):
        p.resume()
    elif command == "cancel":
        p.cancel()
    else:
        return _error(400, "command is invalid")
    return web.Response(status=204)


async def files(request: web.Request) -> web.Response:
    p = printer_of(request)
    if request.method == "GET":
        listing = [
            {
                "name": f.name,
                "path": f.name,
                "type": "machinecode",
                "origin": "local",
                "size": f.size,
            }
            for f in p.files.values()
        ]
        return web.json_response({"files": listing, "free": 10**10})
    form = await request.post()
    upload = form.get("file")
    if not isinstance(upload, web.FileField):
        return _error(400, "No file included")
    name = str(upload.filename or "")
    if not name.lower().endswith(GCODE_SUFFIXES):
        return _error(415, "Could not upload file, invalid type")
    p.add_file(name, upload.file.read())
    want_select = str(form.get("select", "false")).lower() == "true"
    want_print = str(form.get("print", "false")).lower() == "true"
    selected = printing = False
    if (want_select or want_print) and p.operational and p.state not in ("Printing", "Paused"):
        p.select(name)
        selected = True
        if want_print and p.fault != "silent_nostart":
            p.start()
            printing = True
    location = {"name": name, "origin": "local", "path": name, "refs": {"resource": name}}
    result = {"done": True, "effectiveSelect": selected, "effectivePrint": printing}
    return web.json_response({**result, "files": {"local": location}}, status=201)


async def file_item(request: web.Request) -> web.Response:
    p = printer_of(request)
    name = request.match_info["name"]
    if name not in p.files:
        return _error(404, "File not found")
    if request.method == "DELETE":
        if p.selected is not None and p.selected.name == name and p.state in ("Printing", "Paused"):
            return _error(409, "Trying to delete a file that is currently in use")
        del p.files[name]
        return web.Response(status=204)
    if request.method == "GET":
        return web.json_response(p.files[name].metadata())
    body = await request.json()
    if body.get("command") != "select":
        return _error(400, "command is invalid")
    p.select(name)
    if body.get("print"):
        p.start()
    return web.Response(status=204)


async def login(request: web.Request) -> web.Response:
    session = secrets.token_hex(16)
    request.app[SETTINGS]["sessions"].add(session)
    return web.json_response({"name": "admin", "session": session, "active": True, "admin": True})


async def set_fault(request: web.Request) -> web.Response:
    p = printer_of(request)
    body = await request.json()
    fault, seconds = body.get("fault"), float(body.get("seconds", 1.0))
    apply_fault(request.app, p, fault, seconds)
    return web.Response(status=204)


def apply_fault(app: web.Application, p: SimPrinter, fault: str | None, seconds: float) -> None:
    """Set a printer's fault (``None`` clears it); ``restart`` acts at once and clears itself."""
    if fault in ("reset", "restart"):
        for socket in list(app[SOCKETS].get(p.key, ())):
            asyncio.get_running_loop().create_task(socket.close())
    if fault == "restart":
        p.restarting_until = time.monotonic() + seconds
        p.listeners.clear()
        p.disconnect()
        p.fault = None
        return
    p.fault = fault


def make_app(
    printers: list[SimPrinter], *, api_key: str, current_interval: float
) -> web.Application:
    """The simulator application for ``printers`` (printer n under ``/p/n``)."""
    app = web.Application(middlewares=[faults_and_auth], client_max_size=64 * 2**20)
    app[PRINTERS] = printers
    app[SETTINGS] = {"api_key": api_key, "sessions": set(), "current_interval": current_interval}
    app[SOCKETS] = {}
    prefix = "/p/{n}"
    app.router.add_get(prefix + "/api/version", version)
    app.router.add_route("*", prefix + "/api/connection", connection)
    app.router.add_get(prefix + "/api/printer", printer_state)
    app.router.add_post(prefix + "/api/printer/command", printer_command)
    app.router.add_route("*", prefix + "/api/job", job)
    app.router.add_route("*", prefix + "/api/files/local", files)
    app.router.add_route("*", prefix + "/api/files/local/{name}", file_item)
    app.router.add_post(prefix + "/api/login", login)
    app.router.add_post(prefix + "/sim/fault", set_fault)
    app.router.add_get(prefix + "/sockjs/websocket", push_socket)
    return app

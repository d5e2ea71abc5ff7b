"""The simulator's push socket: OctoPrint's raw ``/sockjs/websocket`` for one simulated printer.

``{"connected": ...}`` first; after ``{"auth": "user:session"}`` with a session from the passive login,
``ClientAuthed``, ``history`` and then every event and state change, plus a ``current`` heartbeat every
``current_interval`` seconds. A bad session gets ``{"reauthRequired": ...}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from aiohttp import WSMsgType, web

from print_farm.simulator.printer import SimPrinter

PRINTERS: web.AppKey[list[SimPrinter]] = web.AppKey("printers", list)
SETTINGS: web.AppKey[dict[str, Any]] = web.AppKey("settings", dict)
SOCKETS: web.AppKey[dict[str, set[web.WebSocketResponse]]] = web.AppKey("sockets", dict)


def printer_of(request: web.Request) -> SimPrinter:
    """The printer named by ``/p/<n>`` in the request path (404 if none)."""
    try:
        return request.app[PRINTERS][int(request.match_info["n"])]
    except (ValueError, IndexError):
        raise web.HTTPNotFound(text="Not found") from None


async def push_socket(request: web.Request) -> web.WebSocketResponse:
    p = printer_of(request)
    settings = request.app[SETTINGS]
    socket = web.WebSocketResponse(autoping=True, max_msg_size=2**20)
    await socket.prepare(request)
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    sockets = request.app[SOCKETS].setdefault(p.key, set())
    sockets.add(socket)
    writer = asyncio.get_running_loop().create_task(
        _write(socket, p, queue, settings["current_interval"])
    )
    try:
        await socket.send_str(json.dumps({"connected": {"version": "1.11.8", "branch": "sim"}}))
        async for message in socket:
            if message.type != WSMsgType.TEXT:
                break
            data = json.loads(message.data)
            if "auth" in data:
                _, _, session = str(data["auth"]).partition(":")
                if session not in settings["sessions"]:
                    queue.put_nowait({"reauthRequired": {"reason": "stale"}})
                    continue
                p.listeners.add(queue.put_nowait)
                queue.put_nowait({"event": {"type": "ClientAuthed", "payload": {}}})
                queue.put_nowait({"history": p.current()})
    finally:
        p.listeners.discard(queue.put_nowait)
        sockets.discard(socket)
        writer.cancel()
    return socket


async def _write(
    socket: web.WebSocketResponse, p: SimPrinter, queue: asyncio.Queue[dict[str, Any]], every: float
) -> None:
    with contextlib.suppress(ConnectionError, RuntimeError):
        while not socket.closed:
            try:
                async with asyncio.timeout(every):
                    message = await queue.get()
            except TimeoutError:
                if queue.put_nowait not in p.listeners:
                    continue
                message = {"current": p.current()}
            if p.fault != "hang":
                await socket.send_str(json.dumps(message))

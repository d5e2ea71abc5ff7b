"""The simulator's push socket: OctoPrint's raw ``/sockjs/websocket`` for one simulated printer.

``{"connected": ...}`` first; after ``{"auth": "user:session"}`` with a session from the passive login,
``ClientAuthed``, ``history`` and then every event and state change, plus a ``current`` heartbeat every
``current_interval`` seconds. A bad session gets ``{"reauthRequired": ...}``. As OctoPrint 1.11 does,
``{"subscribe": {"events": [...], "state": false, ...}}`` keeps only the events listed (``true``: all,
``false``: none) and stops the heartbeat when ``state`` is false, and ``{"throttle": n}`` spaces the
heartbeats ``n`` times further apart.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass
from typing import Any

from aiohttp import WSMsgType, web

from print_farm.simulator.printer import SimPrinter

PRINTERS: web.AppKey[list[SimPrinter]] = web.AppKey("printers", list)
SETTINGS: web.AppKey[dict[str, Any]] = web.AppKey("settings", dict)
SOCKETS: web.AppKey[dict[str, set[web.WebSocketResponse]]] = web.AppKey("sockets", dict)


@dataclass
class Subscription:
    """What one socket's client asked for: which events, whether ``current``, how often."""

    events: bool | frozenset[str] = True
    state: bool = True
    throttle: int = 1

    def take(self, data: dict[str, Any]) -> None:
        """Apply a ``subscribe`` or ``throttle`` message (anything malformed is ignored)."""
        throttle = data.get("throttle")
        if isinstance(throttle, int) and not isinstance(throttle, bool) and 1 <= throttle <= 100:
            self.throttle = throttle
        wanted = data.get("subscribe")
        if not isinstance(wanted, dict):
            return
        events = wanted.get("events", True)
        if isinstance(events, list):
            self.events = frozenset(str(kind) for kind in events)
        elif isinstance(events, bool):
            self.events = events
        self.state = wanted.get("state", True) is not False

    def sends(self, message: dict[str, Any]) -> bool:
        event = message.get("event")
        if event is None or self.events is True:
            return True
        return self.events is not False and event.get("type") in self.events


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
    subscription = Subscription()
    sockets = request.app[SOCKETS].setdefault(p.key, set())
    sockets.add(socket)
    writer = asyncio.get_running_loop().create_task(
        _write(socket, p, queue, subscription, settings["current_interval"])
    )
    try:
        await socket.send_str(json.dumps({"connected": {"version": "1.11.8", "branch": "sim"}}))
        async for message in socket:
            if message.type != WSMsgType.TEXT:
                break
            data = json.loads(message.data)
            if not isinstance(data, dict):
                continue
            subscription.take(data)
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
    socket: web.WebSocketResponse,
    p: SimPrinter,
    queue: asyncio.Queue[dict[str, Any]],
    subscription: Subscription,
    every: float,
) -> None:
    with contextlib.suppress(ConnectionError, RuntimeError):
        while not socket.closed:
            try:
                async with asyncio.timeout(every * subscription.throttle):
                    message = await queue.get()
            except TimeoutError:
                if queue.put_nowait not in p.listeners or not subscription.state:
                    continue
                message = {"current": p.current()}
            if not subscription.sends(message):
                continue
            if p.fault != "hang":
                await socket.send_str(json.dumps(message))

"""OctoPrint push API client: one subscription per printer, reconnecting with back-off.

Protocol (OctoPrint 1.11): ``POST /api/login {"passive": true}`` with the key gives a session; the raw
WebSocket ``ws://host:port[/prefix]/sockjs/websocket`` first sends ``{"connected": ...}``; the client
answers ``{"auth": "user:session"}``, subscribes to state and a few events (:data:`SUBSCRIBE`) and
slows ``current`` down (``{"throttle": n}``, :data:`CURRENT_THROTTLE`); then ``{"event": {"type",
"payload"}}`` (at once) and ``{"current": ...}`` (at most every 0.5 s × n) arrive.
``{"reauthRequired": ...}`` makes the client log in again.

API::

    sub = PushSubscription(key, base_url, api_key, on_event=callback, queue=asyncio.Queue())
    task = asyncio.create_task(sub.run())     # runs until stop()
    await sub.stop()

Each :class:`PrinterEvent` has ``kind``: an OctoPrint event type of :data:`EVENTS` (``PrintStarted``,
``PrintDone``, ``PrintFailed``, ``PrintCancelled``, ``PrinterStateChanged``, ``Connected``,
``Disconnected``, ``Error``, ...; a server that ignores the subscription, such as the simulator,
may send others) with OctoPrint's payload, or one synthesised here:

- ``current``: a state snapshot, payload ``{"state", "flags", "file", "completion", "print_time_left"}``,
  emitted when the state text, flags, file or whole percent changed (``history`` counts as current);
- ``Reachable``: the socket is authenticated (first time, and after every outage);
- ``Unreachable``: login or socket failed or dropped, payload ``{"reason"}``; emitted once per outage.

``received_at`` is ``time.time()`` when the message arrived. A socket silent for ``stall_timeout``
seconds (far longer than the throttled ``current`` period) is treated as dead. Back-off doubles from
0.25 s up to ``backoff_cap`` (5 s). An ``on_event`` handler that raises is logged and the
subscription goes on. Attributes: ``reachable`` (None before the first attempt), ``last_current``
(the latest snapshot, deduplicated or not).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

from print_farm.errors import OctoPrintError
from print_farm.octoprint import OctoPrintClient

LOG = logging.getLogger(__name__)
EventHandler = Callable[["PrinterEvent"], Awaitable[None] | None]


@dataclass(frozen=True)
class PrinterEvent:
    """One thing that happened on one printer."""

    key: str
    kind: str
    payload: dict[str, object] = field(default_factory=dict)
    received_at: float = 0.0


class _Reauth(Exception):
    """The server asked for a new login."""


def _snapshot(current: dict[str, Any]) -> dict[str, object]:
    state = current.get("state") or {}
    progress = current.get("progress") or {}
    job_file = (current.get("job") or {}).get("file") or {}
    return {
        "state": state.get("text", ""),
        "flags": state.get("flags") or {},
        "file": job_file.get("name"),
        "completion": progress.get("completion"),
        "print_time_left": progress.get("printTimeLeft"),
    }


def _change_key(current: dict[str, Any]) -> tuple[object, ...]:
    """What :func:`_snapshot` says that makes a new ``current`` event: the state text, flags,
    file and whole percent (read without building the snapshot: most messages change none)."""
    state = current.get("state") or {}
    progress = current.get("progress") or {}
    job_file = (current.get("job") or {}).get("file") or {}
    completion = progress.get("completion")
    percent = int(completion) if isinstance(completion, int | float) else None
    flags = state.get("flags")
    return (
        state.get("text", ""),
        flags if isinstance(flags, dict) else {},
        job_file.get("name"),
        percent,
    )


# Events: only those that tell a print's or the printer's state (OctoPrint 1.11 takes a list of
# event types). A print on a real server fires about 17 events, of which 11 (Upload, FileAdded,
# UpdatedFiles, FileSelected, MetadataAnalysisStarted, MetadataStatisticsUpdated, Home, Dwelling,
# ChartMarked ×2, ZChange, achievements) nothing here reads, yet each was a message to parse.
EVENTS = (
    "ClientAuthed",
    "Connected",
    "Disconnected",
    "Error",
    "PrinterStateChanged",
    "PrintStarted",
    "PrintDone",
    "PrintFailed",
    "PrintCancelling",
    "PrintCancelled",
    "PrintPaused",
    "PrintResumed",
)
# state without serial log lines nor terminal messages (every G-code line sent, each "wait" of an
# idle printer) and no plugin messages (OctoPrint 1.11's socket takes this at any time; so does
# the simulator)
SUBSCRIBE = json.dumps(
    {
        "subscribe": {
            "state": {"logs": False, "messages": False},
            "events": list(EVENTS),
            "plugins": False,
        }
    }
)
# ``current`` at most every 0.5 s × this instead of every 0.5 s (OctoPrint holds the newest one
# back, never drops the last). State changes arrive as events (``PrinterStateChanged``,
# ``PrintStarted``, ``PrintDone``, …), which are not throttled: ``current`` only brings progress
# and time left, which are stored every few seconds at most. Decoding a ``current`` message was
# most of what following an idle or long-printing printer cost.
CURRENT_THROTTLE = 4
# a ``current`` telling another state than a ``PrinterStateChanged`` this recent is one held back
HELD_BACK_S = 1.0


def websocket_url(base_url: str) -> str:
    """``http://h:p/prefix`` -> ``ws://h:p/prefix/sockjs/websocket``."""
    base = base_url.rstrip("/")
    if base.startswith("https://"):
        return "wss://" + base[len("https://") :] + "/sockjs/websocket"
    return "ws://" + base.removeprefix("http://") + "/sockjs/websocket"


class PushSubscription:
    """Follows one printer's push events; see the module docstring."""

    def __init__(
        self,
        key: str,
        base_url: str,
        api_key: str,
        *,
        on_event: EventHandler | None = None,
        queue: asyncio.Queue[PrinterEvent] | None = None,
        timeout: float = 5.0,
        stall_timeout: float = 15.0,
        backoff_cap: float = 5.0,
        throttle: int = CURRENT_THROTTLE,
    ) -> None:
        self.key, self.base_url = key, base_url.rstrip("/")
        self._api_key = api_key
        self._on_event, self._queue = on_event, queue
        self._timeout, self._stall_timeout, self._backoff_cap = timeout, stall_timeout, backoff_cap
        self._throttle = json.dumps({"throttle": throttle}) if throttle > 1 else None
        # how old the state in a ``current`` may be: OctoPrint's state monitor passes changes on
        # within 0.5 s, and a throttled ``current`` the socket holds back is replaced by the
        # newest data at each update (at most about 0.5 s old); a wider window would only drop
        # more genuine messages
        self._held_back_s = HELD_BACK_S
        self._changed_to: tuple[str, float] | None = None  # last PrinterStateChanged, when
        self._stopped = asyncio.Event()
        self._socket: ClientConnection | None = None
        self._last_key: tuple[object, ...] | None = None
        self._session_authed = False
        self.reachable: bool | None = None
        self._last_current: dict[str, Any] | None = None

    @property
    def last_current(self) -> dict[str, object] | None:
        """The latest snapshot received (deduplicated or not), None before the first."""
        return None if self._last_current is None else _snapshot(self._last_current)

    async def _emit(self, kind: str, payload: dict[str, object]) -> None:
        event = PrinterEvent(self.key, kind, payload, time.time())
        if self._queue is not None:
            self._queue.put_nowait(event)
        if self._on_event is not None:
            try:
                result = self._on_event(event)
                if inspect.isawaitable(result):
                    await result
            except Exception:  # the handler's bug is not the printer's outage: log, go on
                LOG.exception("event handler failed on %s %s", self.key, kind)

    async def run(self) -> None:
        """Follow the printer until :meth:`stop`; never raises for network trouble."""
        delay = 0.0
        while not self._stopped.is_set():
            self._session_authed = False
            self._changed_to = None
            try:
                await self._session()
                reason = "socket closed"
            except (OctoPrintError, OSError, WebSocketException, TimeoutError, _Reauth) as exc:
                reason = str(exc) or type(exc).__name__
            except ValueError as exc:
                reason = f"malformed message: {exc}"
            except Exception as exc:  # a subscription must outlive any surprise from the network
                reason = f"unexpected {type(exc).__name__}: {exc}"
            if self._stopped.is_set():
                break
            if self._session_authed:
                delay = 0.0
            if self.reachable is not False:
                self.reachable = False
                self._last_key = None
                await self._emit("Unreachable", {"reason": reason})
            delay = min(max(delay * 2, 0.25), self._backoff_cap)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), delay)

    async def stop(self) -> None:
        """Stop following; :meth:`run` returns soon after."""
        self._stopped.set()
        if self._socket is not None:
            await self._socket.close()

    async def _session(self) -> None:
        async with OctoPrintClient(self.base_url, self._api_key, timeout=self._timeout) as client:
            user, session = await client.passive_login()
        async with connect(
            websocket_url(self.base_url),
            open_timeout=self._timeout,
            ping_interval=None,
            max_size=2**22,
            compression=None,
        ) as socket:
            self._socket = socket
            try:
                await self._follow(socket, f"{user}:{session}")
            finally:
                self._socket = None

    async def _follow(self, socket: ClientConnection, auth: str) -> None:
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(None) as silence:  # re-armed per message: no task per recv
            while not self._stopped.is_set():
                silence.reschedule(loop.time() + self._stall_timeout)
                message = json.loads(await socket.recv())
                if not isinstance(message, dict):
                    continue
                if "connected" in message:
                    await socket.send(json.dumps({"auth": auth}))
                    await socket.send(SUBSCRIBE)
                    if self._throttle is not None:
                        await socket.send(self._throttle)
                    continue
                if "reauthRequired" in message:
                    raise _Reauth("server asked to log in again")
                if not self._session_authed:
                    self._session_authed = True
                    if self.reachable is not True:
                        self.reachable = True
                        await self._emit("Reachable", {})
                await self._dispatch(message)

    async def _dispatch(self, message: dict[str, Any]) -> None:
        event = message.get("event")
        if isinstance(event, dict) and isinstance(event.get("type"), str):
            payload = event.get("payload")
            payload = payload if isinstance(payload, dict) else {}
            state = payload.get("state_string")
            if event["type"] == "PrinterStateChanged" and isinstance(state, str) and state:
                self._changed_to = (state, time.monotonic())
            await self._emit(event["type"], payload)
        for name in ("history", "current"):
            current = message.get(name)
            if isinstance(current, dict):
                await self._current(current)

    def _stale(self, change_key: tuple[object, ...]) -> bool:
        """A ``current`` held back by the server since before the last ``PrinterStateChanged``:
        the server sends the state it had up to :attr:`_held_back_s` ago, and the next
        ``current`` comes a throttled period later, so the state it tells would take the
        printer back (a finished print "Printing" again) for that long."""
        if self._changed_to is None:
            return False
        state, at = self._changed_to
        # the same state, or more precise ("Offline after error" after the event's "Offline")
        if str(change_key[0]).startswith(state) or time.monotonic() - at > self._held_back_s:
            self._changed_to = None  # caught up (or the two never agree): trust current again
            return False
        return True

    async def _current(self, current: dict[str, Any]) -> None:
        change_key = _change_key(current)
        if self._stale(change_key):
            return
        self._last_current = current
        if change_key != self._last_key:
            self._last_key = change_key
            await self._emit("current", _snapshot(current))

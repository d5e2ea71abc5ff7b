"""What ``fabcoord run`` runs: the registry the composition root fills, without the core
importing any capability package.

``cli.py`` registers each part and readiness check by ``"module:function"``::

    parts.registry.web("orders.serving:run")                 # run(settings, stop, *, listen)
    parts.registry.part("outbox", "suppliers.handoff.daemon:run")        # run(settings, stop)
    parts.registry.part("dispatcher", "print_farm.daemon:run", heartbeat_s=30)  # ..., beat=…
    parts.registry.check("outbox", "suppliers.handoff.daemon:outbox_ready")  # (settings, engine)

A part with ``heartbeat_s`` is also given ``beat=``, a callable it calls at each turn of its loop.
A check answers a :class:`Check`; it runs in the web workers, on each ``/readyz``.
"""

from __future__ import annotations

import functools
import importlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # light at import: cli.py fills the registry on every command
    from sqlalchemy import Engine

    from fabcoord.config import Settings
    from fabcoord.service.board import Board
    from fabcoord.service.supervisor import Part

Asgi = Callable[..., Any]


@dataclass(frozen=True)
class Check:
    """One readiness check's answer."""

    ok: bool
    detail: str


@dataclass(frozen=True)
class Listen:
    """Where and how the web part serves.

    Attributes:
        host, port: the address to listen on.
        workers: server processes sharing the port (more than one: PostgreSQL only).
        wrap: applied to the web application (adds ``/healthz`` and ``/readyz``); picklable.
        setup: called first in each worker process (its logs); picklable.
        grace_s: how long requests under way may take to finish at a stop.
    """

    host: str
    port: int
    workers: int
    wrap: Callable[[Asgi], Asgi]
    setup: Callable[[], None]
    grace_s: float = 30.0


@dataclass(frozen=True)
class _Entry:
    name: str
    target: str
    heartbeat_s: float | None = None


@dataclass
class Registry:
    """The web part, the other parts and the readiness checks, by ``"module:function"``."""

    web_target: str | None = None
    parts: list[_Entry] = field(default_factory=list)
    checks: list[_Entry] = field(default_factory=list)

    def web(self, target: str) -> None:
        self.web_target = target

    def part(self, name: str, target: str, *, heartbeat_s: float | None = None) -> None:
        if all(entry.name != name for entry in self.parts):
            self.parts.append(_Entry(name, target, heartbeat_s))

    def check(self, name: str, target: str) -> None:
        if all(entry.name != name for entry in self.checks):
            self.checks.append(_Entry(name, target))

    def names(self) -> list[tuple[str, float | None]]:
        """Every part with its heartbeat bound, the web part first."""
        web = [("web", None)] if self.web_target else []
        return [*web, *((entry.name, entry.heartbeat_s) for entry in self.parts)]

    def build(self, settings: Settings, board: Board, listen: Listen) -> list[Part]:
        """The parts to supervise, their functions imported now."""
        from fabcoord.service.supervisor import Part

        built = []
        if self.web_target:
            web = load(self.web_target)
            built.append(Part("web", functools.partial(_call, web, settings, listen=listen)))
        for entry in self.parts:
            function = load(entry.target)
            extra: dict[str, Any] = {"beat": board.beater(entry.name)} if entry.heartbeat_s else {}
            run = functools.partial(_call, function, settings, **extra)
            built.append(Part(entry.name, run, entry.heartbeat_s))
        return built

    def check_targets(self) -> tuple[tuple[str, str], ...]:
        return tuple((entry.name, entry.target) for entry in self.checks)


def _call(
    function: Callable[..., None], settings: Settings, stop: threading.Event, **extra: Any
) -> None:
    function(settings, stop, **extra)


def load(target: str) -> Callable[..., Any]:
    """The function named ``"module:function"``."""
    module, _, name = target.partition(":")
    found: Callable[..., Any] = getattr(importlib.import_module(module), name)
    return found


def run_check(target: str, settings: Settings, engine: Engine) -> Check:
    check: Check = load(target)(settings, engine)
    return check


registry = Registry()

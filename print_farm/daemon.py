"""The dispatcher as a part of ``fabcoord run``: runs until a ``threading.Event`` is set.

Its loop runs on an event loop of its own on the calling thread (the supervisor's); the stop event
is watched from that loop, so no signal handler is needed (signals belong to the main thread).
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from collections.abc import Callable

from fabcoord.config import Settings
from fabcoord.db import make_engine
from print_farm import dispatcher
from print_farm.dispatch_config import DispatcherConfig

STOP_POLL_S = 0.2


def run(
    settings: Settings,
    stop: threading.Event,
    *,
    beat: Callable[[], None] | None = None,
    owner: str | None = None,
) -> None:
    """Dispatch until ``stop`` is set; ``beat`` is called after every pass (alive or failing)."""
    config = DispatcherConfig(
        owner=owner or f"{socket.gethostname()}:{os.getpid()}", actor=settings.actor
    )
    engine = make_engine(settings)
    try:
        with asyncio.Runner(loop_factory=dispatcher.new_event_loop) as runner:
            runner.run(_dispatch(engine, config, stop, beat))
    finally:
        engine.dispose()


async def _dispatch(
    engine: object, config: DispatcherConfig, stop: threading.Event, beat: Callable[[], None] | None
) -> None:
    stopped = asyncio.Event()

    async def watch() -> None:
        while not stop.is_set():
            await asyncio.sleep(STOP_POLL_S)
        stopped.set()

    watcher = asyncio.create_task(watch())
    try:
        worker = dispatcher.Dispatcher(engine, config)  # type: ignore[arg-type]
        if beat is not None:
            beat()
        await worker.run(stop=stopped, on_pass=beat)
    finally:
        watcher.cancel()

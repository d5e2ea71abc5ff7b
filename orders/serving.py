"""The web part of ``fabcoord run``: the uvicorn server of :mod:`orders.web` serving the intake,
in this thread or in several processes sharing the port, until a ``threading.Event`` is set.

With one worker the server runs on the supervisor's thread. With more (PostgreSQL only), this
thread binds the port and starts that many server processes (``spawn``) that accept on it; a
worker that dies is started again after a back-off, the others keep serving. At a stop each
server stops accepting and lets the requests under way finish (at most ``listen.grace_s``).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import threading
import time
from multiprocessing.process import BaseProcess
from typing import Any

from fabcoord.config import Settings
from fabcoord.service.parts import Listen
from fabcoord.service.supervisor import Backoff
from orders import web

log = logging.getLogger(__name__)
WATCH_S = 0.2
PR_SET_PDEATHSIG = 1  # prctl(2)


def run(settings: Settings, stop: threading.Event, *, listen: Listen) -> None:
    """Serve until ``stop`` is set."""
    if listen.workers <= 1:
        _serve_here(settings, stop, listen)
    else:
        _serve_in_processes(settings, stop, listen)


def _server(settings: Settings, listen: Listen) -> Any:
    app = listen.wrap(web.create_app(settings))
    return web.server(app, settings, host=listen.host, port=listen.port, grace_s=listen.grace_s)


def _serve_here(settings: Settings, stop: threading.Event, listen: Listen) -> None:
    server = _server(settings, listen)
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            if stop.wait(WATCH_S):
                server.should_exit = True
                return

    watcher = threading.Thread(target=watch, name="web-stop", daemon=True)
    watcher.start()
    try:
        server.run()
    finally:
        done.set()
    if not server.started and not stop.is_set():
        raise RuntimeError(f"the web server did not start on {listen.host}:{listen.port}")


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def _serve_in_processes(settings: Settings, stop: threading.Event, listen: Listen) -> None:
    sock = _bind(listen.host, listen.port)
    spawn = multiprocessing.get_context("spawn")
    backoff = Backoff()
    workers: dict[int, BaseProcess] = {}
    failures = dict.fromkeys(range(listen.workers), 0)
    due: dict[int, float] = {}
    started: dict[int, float] = {}

    def start(number: int) -> None:
        process = spawn.Process(
            target=_worker,
            args=(settings, sock, listen, number, os.getpid()),
            name=f"web-{number}",
        )
        process.start()
        workers[number] = process
        started[number] = time.monotonic()
        log.info("web worker %d started (pid %s)", number, process.pid)

    try:
        for number in range(listen.workers):
            start(number)
        while not stop.wait(WATCH_S):
            now = time.monotonic()
            for number, process in list(workers.items()):
                if process.is_alive() or number in due:
                    continue
                if now - started[number] >= backoff.most_s:  # it had been serving a while
                    failures[number] = 0
                failures[number] += 1
                pause = backoff.delay(failures[number])
                due[number] = now + pause
                log.error(
                    "web worker %d (pid %s) exited with code %s; restarts in %g s",
                    number,
                    process.pid,
                    process.exitcode,
                    pause,
                )
            for number, when in list(due.items()):
                if now >= when and not stop.is_set():
                    del due[number]
                    start(number)
    finally:
        _stop_all(list(workers.values()), listen.grace_s)
        sock.close()


def _stop_all(processes: list[BaseProcess], grace_s: float) -> None:
    for process in processes:
        if process.is_alive():
            process.terminate()  # SIGTERM: uvicorn stops accepting, finishes what is under way
    deadline = time.monotonic() + grace_s + 5
    for process in processes:
        process.join(max(0.1, deadline - time.monotonic()))
        if process.is_alive():
            log.error("web worker pid %s did not stop in time: killed", process.pid)
            process.kill()
            process.join()


def _worker(
    settings: Settings, sock: socket.socket, listen: Listen, number: int, parent: int
) -> None:
    """One server process (the target of ``spawn``): serve on the inherited socket."""
    _die_with_parent(parent)
    threading.current_thread().name = f"web-{number}"
    listen.setup()
    server = _server(settings, listen)
    server.run(sockets=[sock])


def _die_with_parent(parent: int) -> None:
    """Linux: this worker gets SIGTERM when the service that started it ends, even killed, so
    no worker is left serving on the shared port with its connections open."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: the parent's stop still ends the workers
        return
    if os.getppid() != parent:  # the parent ended before the request took effect
        os._exit(0)

"""``fabcoord run``: the service (the web intake, the print-farm dispatcher, the hand-off outbox
worker…), each part supervised, until Ctrl-C or SIGTERM.

What runs is what the composition root registered in :data:`fabcoord.service.parts.registry`.
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import threading
from types import FrameType
from typing import Annotated

import typer

from fabcoord.commands import face
from fabcoord.errors import InvalidInput

app = typer.Typer()
log = logging.getLogger("fabcoord.service")
STOP_TIMEOUT_S = 90.0


@app.command("run")
def run(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8000,
    web_workers: Annotated[
        int,
        typer.Option(
            "--web-workers", min=1, max=64, help="Web server processes (over 1: PostgreSQL)."
        ),
    ] = 1,
    log_json: Annotated[
        bool, typer.Option("--log-json", help="Log one JSON object per line (stderr).")
    ] = False,
    grace: Annotated[
        float,
        typer.Option("--grace", min=1, max=600, help="Seconds requests under way get at a stop."),
    ] = 30.0,
) -> None:
    """Run the service: web intake (with /healthz and /readyz), print-farm dispatcher and hand-off
    outbox worker, each restarted after a crash; Ctrl-C or SIGTERM stops it cleanly."""
    from fabcoord.service import logs
    from fabcoord.service.board import Board
    from fabcoord.service.health import Health, HealthConfig
    from fabcoord.service.parts import Listen, registry
    from fabcoord.service.supervisor import Supervisor

    settings = face.context().settings
    if web_workers > 1 and settings.is_sqlite:
        raise InvalidInput(
            f"--web-workers {web_workers} needs PostgreSQL: SQLite has one writer, run one web "
            "worker (the default) or set FABCOORD_DATABASE_URL=postgresql+psycopg://…"
        )
    # a service says what it does: INFO unless FABCOORD_LOG_LEVEL (or the settings file) says
    level = settings.log_level if "log_level" in settings.model_fields_set else "INFO"
    logs.configure(level, json_lines=log_json)
    face.require_schema()
    _require_free_port(host, port)
    board = Board(registry.names())
    health = HealthConfig(settings, board, registry.check_targets())
    listen = Listen(
        host=host,
        port=port,
        workers=web_workers,
        wrap=functools.partial(Health, config=health),
        setup=functools.partial(logs.configure, level, json_lines=log_json),
        grace_s=grace,
    )
    supervisor = Supervisor(registry.build(settings, board, listen), board)
    stopping = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        if stopping.is_set():
            log.warning("%s again: stopping at once", signal.Signals(signum).name)
            os._exit(1)
        log.warning("%s: stopping", signal.Signals(signum).name)
        stopping.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, on_signal)
    log.info(
        "fabcoord run: %s on http://%s:%d (%d web worker(s))",
        ", ".join(board.names),
        host,
        port,
        web_workers,
    )
    supervisor.start()
    try:
        while not stopping.wait(0.5):
            pass
    finally:  # whatever ends the wait, the parts are stopped (their threads keep the process)
        stopped = supervisor.stop(max(STOP_TIMEOUT_S, grace + 30))
    if not stopped:
        raise typer.Exit(1)
    log.info("fabcoord run: stopped")


def _require_free_port(host: str, port: int) -> None:
    """Refuse at once, in one line, a port that another process holds (the web part would
    otherwise fail to bind and be restarted for ever)."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as error:
        raise InvalidInput(f"--host {host}: {error.strerror or error}") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as error:
            raise InvalidInput(
                f"cannot listen on {host}:{port}: {error.strerror or error} (another process "
                "holds it? choose another --port)"
            ) from None

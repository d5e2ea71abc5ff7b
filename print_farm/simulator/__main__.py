"""``python -m print_farm.simulator``: run the farm simulator until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import signal
import socket
import sys
import time
from typing import TextIO

from aiohttp import web

from print_farm.simulator.printer import SimPrinter
from print_farm.simulator.server import apply_fault, make_app


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m print_farm.simulator")
    parser.add_argument("--printers", type=int, default=10)
    parser.add_argument("--ports", type=int, default=1)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--api-key", default=os.environ.get("FABCOORD_SIM_API_KEY", ""))
    parser.add_argument("--print-seconds", type=float, default=None)
    parser.add_argument("--time-scale", type=float, default=1.0)
    parser.add_argument("--finishing-seconds", type=float, default=0.45)
    parser.add_argument("--current-interval", type=float, default=1.0)
    parser.add_argument("--disconnected", action="store_true", help="start printers Offline")
    parser.add_argument("--state-log", default=None)
    parser.add_argument(
        "--auto-repeat",
        type=float,
        default=None,
        metavar="GAP",
        help="every printer prints auto.gcode (--print-seconds) again and again, GAP s max apart",
    )
    parser.add_argument("--jitter", type=float, default=0.0, help="print time spread, 0.2 = ±20%%")
    parser.add_argument("--fault", action="append", default=[], metavar="N=NAME")
    args = parser.parse_args(argv)
    if not args.api_key or args.printers < 1 or args.ports < 1:
        parser.error("--api-key (or FABCOORD_SIM_API_KEY), --printers >= 1, --ports >= 1 needed")
    return args


async def serve(args: argparse.Namespace) -> None:
    log: TextIO | None = open(args.state_log, "a") if args.state_log else None  # noqa: SIM115

    def state_log(key: str, state: str) -> None:
        if log is not None:
            log.write(f"{time.time():.4f} {key} {state}\n")

    printers = [
        SimPrinter(
            f"p{n}",
            print_seconds=args.print_seconds,
            time_scale=args.time_scale,
            finishing_seconds=args.finishing_seconds,
            state_log=state_log,
            auto_repeat=args.auto_repeat,
            jitter=args.jitter,
        )
        for n in range(args.printers)
    ]
    app = make_app(printers, api_key=args.api_key, current_interval=args.current_interval)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    ports = []
    for _ in range(args.ports):
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((args.host, 0))
        ports.append(sock.getsockname()[1])
        await web.SockSite(runner, sock, backlog=4096).start()
    if not args.disconnected:
        for printer in printers:
            printer.connect()
    tasks = []
    if args.auto_repeat is not None and not args.disconnected:
        first_gap = args.print_seconds or 1.0
        for printer in printers:
            printer.add_file("auto.gcode", b"G4 P1000\n")
            printer.select("auto.gcode")
            delay = random.uniform(0.0, first_gap)
            tasks.append(asyncio.get_running_loop().create_task(printer.start_later(delay)))
    for spec in args.fault:
        index, _, name = spec.partition("=")
        apply_fault(app, printers[int(index)], name or None, 1.0)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    sys.stdout.write("READY " + json.dumps({"ports": ports, "printers": args.printers}) + "\n")
    sys.stdout.flush()
    try:
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), 0.5)
            except TimeoutError:
                if log is not None:
                    log.flush()
    finally:
        await runner.cleanup()
        if log is not None:
            log.close()


def main(argv: list[str] | None = None) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 65536 if hard == resource.RLIM_INFINITY else min(65536, hard)
    if soft < wanted:  # every simulated printer may hold sockets
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    asyncio.run(serve(parse_args(argv)))


if __name__ == "__main__":
    main()

"""Run the Odoo stand-in as a server process until interrupted.

The API key is read from the environment variable named by ``--api-key-env`` (default
``FABCOORD_STANDIN_API_KEY``, else ``secret``) so it never appears in a process listing.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading

from suppliers.handoff.standin.server import StandIn


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m suppliers.handoff.standin")
    parser.add_argument("--port", type=int, default=8069)
    parser.add_argument("--version", type=int, default=17, help="Odoo major version (14-19)")
    parser.add_argument("--database", default="partner")
    parser.add_argument("--login", default="admin")
    parser.add_argument("--api-key-env", default="FABCOORD_STANDIN_API_KEY")
    options = parser.parse_args(argv)
    api_key = os.environ.get(options.api_key_env, "secret")
    standin = StandIn(
        port=options.port,
        version=options.version,
        database=options.database,
        login=options.login,
        api_key=api_key,
    ).start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    sys.stdout.write(f"odoo stand-in {options.version}.0 listening on {standin.url}\n")
    sys.stdout.flush()
    stop.wait()
    standin.stop()


if __name__ == "__main__":
    main()

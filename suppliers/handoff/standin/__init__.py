"""An Odoo stand-in server: no Odoo can be installed here, so tests, the benchmark and the demo
drive the real odoo-client-lib against this loopback server speaking Odoo's wire formats.

Run it as a process: ``python -m suppliers.handoff.standin --port 8069 --version 17``.
"""

from __future__ import annotations

from suppliers.handoff.standin.server import StandIn

__all__ = ["StandIn"]

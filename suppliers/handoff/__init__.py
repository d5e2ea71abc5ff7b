"""Industrialisation hand-off: orders placed in partner manufacturers' own Odoo, followed there,
and what they deliver brought back into the ledger.

- :mod:`.partners` the partner registry (an Odoo address, a database, a login and the name of the
  environment variable holding the API key; never the key itself)
- :mod:`.service` hand-off records, sync of their state and deliveries, the manual fallback
- :mod:`.outbox` sending as persisted commands, retried with back-off by a worker
- :mod:`.odoo` the only module that imports odoolib; :mod:`.remote` the sale-order operations
- :mod:`.standin` an Odoo stand-in server (tests, benchmark, demo)
"""

from __future__ import annotations

from pathlib import Path

MIGRATIONS = Path(__file__).resolve().parent / "migrations" / "versions"

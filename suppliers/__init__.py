"""Raw-material sourcing: the supplier directory (DIRECCTE and pôles lists), needs, matching,
purchase orders, and lot traceability read from the ledger."""

from __future__ import annotations

from pathlib import Path

MIGRATIONS = Path(__file__).resolve().parent / "migrations" / "versions"

"""Print farm: OctoPrint printers, designs, the print queue and the dispatcher."""

from __future__ import annotations

from pathlib import Path

MIGRATIONS = Path(__file__).resolve().parent / "migrations" / "versions"

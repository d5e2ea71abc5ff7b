"""Hospital order intake: secret links, orders, their lifecycle, the web form and the JSON API.

``web.py`` is the only module that imports the web framework; everything else is plain services
taking ``*, session``.
"""

from __future__ import annotations

from pathlib import Path

MIGRATIONS = Path(__file__).resolve().parent / "migrations" / "versions"

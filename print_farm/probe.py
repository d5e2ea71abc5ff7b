"""Checking that a URL is an OctoPrint server that accepts a key, before a printer is registered."""

from __future__ import annotations

from print_farm.octoprint import OctoPrintClient


async def probe(url: str, api_key: str, *, timeout: float = 5.0) -> str:
    """Return the server's OctoPrint version.

    Raises:
        NotOctoPrint, AuthenticationFailed, PrinterUnreachable (OctoPrintStarting included).
    """
    async with OctoPrintClient(url, api_key, timeout=timeout) as client:
        return await client.version()

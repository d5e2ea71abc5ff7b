"""Typed failures of the print farm.

Hierarchy::

    FabcoordError
    └── PrintFarmError
        ├── UnknownPrinter, UnknownDesign, UnknownJob    (also NotFound: 404)
        ├── InvalidGcode                   (also InvalidInput: 422) empty, binary, not G-code
        ├── PrinterInUse, JobNotCancellable    409: printing / finished already
        ├── JobNotRetryable                409: only a held job is retried
        ├── LeaseLost                      the dispatcher no longer holds the printer's lease
        ├── ApiKeyUnavailable              (also ConfigError) the key's variable or file is missing
        └── OctoPrintError                 talking to one OctoPrint server failed
            ├── PrinterUnreachable         refused, reset, timed out (503)
            │   └── OctoPrintStarting      the server is still starting (bare "Not found" reply)
            ├── NotOctoPrint               the URL answers, but not as OctoPrint
            ├── AuthenticationFailed       403: missing or wrong API key
            ├── PrinterNotOperational      409: the printer is not connected / offline after error
            ├── PrinterBusy                409: printing already, file in use, wrong state
            ├── FileRejected               415/400 on upload
            ├── FileMissing                404: no such file on the printer
            └── PrintDidNotStart           201/204 but nothing started

Every :class:`OctoPrintError` carries ``base_url`` and ``status_code`` (``None`` when there was no
HTTP reply). Messages never contain the API key.
"""

from __future__ import annotations

from fabcoord.errors import ConfigError, FabcoordError, InvalidInput, NotFound


class PrintFarmError(FabcoordError):
    """Base of every print-farm failure."""


class OctoPrintError(PrintFarmError):
    """Talking to an OctoPrint server failed."""

    http_status = 502

    def __init__(
        self, message: str, *, base_url: str | None = None, status_code: int | None = None
    ) -> None:
        prefix = f"{base_url}: " if base_url else ""
        super().__init__(prefix + message)
        self.base_url = base_url
        self.status_code = status_code


class PrinterUnreachable(OctoPrintError):
    """The server refused the connection, reset it, or did not answer in time."""

    http_status = 503


class OctoPrintStarting(PrinterUnreachable):
    """OctoPrint is still starting: its intermediary server answers bare ``Not found`` bytes."""


class NotOctoPrint(OctoPrintError):
    """The URL answers, but the reply is not OctoPrint's."""


class AuthenticationFailed(OctoPrintError):
    """The API key is missing or wrong (403)."""


class PrinterNotOperational(OctoPrintError):
    """The printer is not connected, or went offline after an error (409)."""

    http_status = 409


class PrinterBusy(OctoPrintError):
    """The printer is printing already, the file is in use, or the job is in the wrong state (409)."""

    http_status = 409


class FileRejected(OctoPrintError):
    """The server refused the uploaded file (415 wrong type, 400 malformed upload)."""

    http_status = 422


class FileMissing(OctoPrintError):
    """The file does not exist on the printer (404)."""

    http_status = 404


class PrintDidNotStart(OctoPrintError):
    """The server accepted the request, but no print started (``effectivePrint`` false, no file)."""

    http_status = 409


# --- registry, designs and queue (appended by the dispatch side) -------------------------------


class UnknownPrinter(PrintFarmError, NotFound):
    """No printer has that name."""


class UnknownDesign(PrintFarmError, NotFound):
    """No design has that name."""


class UnknownJob(PrintFarmError, NotFound):
    """No print job has that number."""


class InvalidGcode(PrintFarmError, InvalidInput):
    """A G-code file is empty, binary, or not G-code."""


class PrinterInUse(PrintFarmError):
    """The printer holds a job that is starting or printing; the operation must wait."""

    http_status = 409


class JobNotCancellable(PrintFarmError):
    """The job has finished already, or was cancelled before."""

    http_status = 409


class JobNotRetryable(PrintFarmError):
    """Only a held job (one that used up its attempts) can be put back in the queue."""

    http_status = 409


class LeaseLost(PrintFarmError):
    """This dispatcher no longer holds an unexpired lease on the printer (it expired, or another
    dispatcher took it): it must not drive the printer."""

    def __init__(self, printer_id: int | None, owner: str) -> None:
        super().__init__(f"{owner} no longer holds the lease on printer {printer_id}")
        self.printer_id, self.owner = printer_id, owner


class ApiKeyUnavailable(PrintFarmError, ConfigError):
    """The environment variable or file that holds a printer's API key is missing or empty."""

"""Status-code mapping and reply checks of the OctoPrint client, with httpx.MockTransport."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from print_farm import errors
from print_farm.octoprint import JobStatus, OctoPrintClient

KEY = "secret-key-never-shown"
PACKAGE = Path(__file__).resolve().parents[2] / "print_farm"


def client_for(handler: Callable[[httpx.Request], httpx.Response]) -> OctoPrintClient:
    return OctoPrintClient("http://printer.test/p/1", KEY, transport=httpx.MockTransport(handler))


def raised(handler: Callable[[httpx.Request], httpx.Response], call: str) -> errors.OctoPrintError:
    async def scenario() -> errors.OctoPrintError:
        async with client_for(handler) as client:
            with pytest.raises(errors.OctoPrintError) as caught:
                await getattr(client, call)()
            return caught.value

    return asyncio.run(scenario())


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (403, {"error": "Forbidden"}, errors.AuthenticationFailed),
        (409, {"error": "Printer is not operational"}, errors.PrinterNotOperational),
        (409, {"error": "Printer is already printing"}, errors.PrinterBusy),
        (502, {"error": "Bad gateway"}, errors.PrinterUnreachable),
        (503, {"error": "Unavailable"}, errors.PrinterUnreachable),
        (500, {"error": "boom"}, errors.OctoPrintError),
    ],
)
def test_status_codes_map_to_typed_errors(
    status: int, body: dict[str, str], expected: type[errors.OctoPrintError]
) -> None:
    error = raised(lambda request: httpx.Response(status, json=body), "cancel")
    assert type(error) is expected
    assert error.status_code == status
    assert KEY not in str(error)


def test_requests_carry_the_key_and_the_path_prefix() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"api": "0.1", "server": "1.11.8", "text": "OctoPrint"})

    async def scenario() -> str:
        async with client_for(handler) as client:
            return await client.version()

    assert asyncio.run(scenario()) == "1.11.8"
    assert seen[0].url == "http://printer.test/p/1/api/version"
    assert seen[0].headers["X-Api-Key"] == KEY


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, text="<html>hello</html>"),
        httpx.Response(200, json={"name": "some other API"}),
        httpx.Response(404, text="Not Found"),
        httpx.Response(400, text="Bad request"),
    ],
)
def test_replies_that_are_not_octoprints_are_not_octoprint(response: httpx.Response) -> None:
    assert type(raised(lambda request: response, "version")) is errors.NotOctoPrint


def test_timeout_and_refusal_are_unreachable() -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    assert type(raised(slow, "job")) is errors.PrinterUnreachable
    assert type(raised(refused, "job")) is errors.PrinterUnreachable
    assert errors.PrinterUnreachable.http_status == 503


def test_malformed_upload_is_file_rejected() -> None:
    async def scenario() -> None:
        handler = lambda request: httpx.Response(400, json={"error": "No file included"})  # noqa: E731
        async with client_for(handler) as client:
            with pytest.raises(errors.FileRejected):
                await client.upload("a.gcode", b"G90\n")

    asyncio.run(scenario())


def test_passive_login_refused_is_authentication_failed() -> None:
    error = raised(lambda r: httpx.Response(400, text="CSRF validation failed"), "passive_login")
    assert type(error) is errors.AuthenticationFailed


def test_non_json_reply_is_an_octoprint_error() -> None:
    assert (
        type(raised(lambda r: httpx.Response(200, text="garbage"), "job")) is errors.OctoPrintError
    )


def test_job_status_tells_finished_cancelled_and_failed_apart() -> None:
    finished = JobStatus("Operational", "a.gcode", 100.0, 3, 0, None)
    cancelled = JobStatus("Operational", "a.gcode", None, None, None, None)
    failed = JobStatus("Offline after error", None, None, None, None, "Thermal Runaway")
    printing = JobStatus("Finishing", "a.gcode", 100.0, 3, 0, None)
    assert finished.finished and not finished.cancelled and not finished.is_printing
    assert cancelled.cancelled and not cancelled.finished
    assert failed.failed_offline and not failed.is_printing
    assert printing.is_printing and not printing.finished


def test_only_the_client_modules_import_the_network_libraries() -> None:
    owners = {
        "httpx": {"octoprint.py"},
        "websockets": {"push.py"},
        "aiohttp": {"simulator/server.py", "simulator/sockets.py", "simulator/__main__.py"},
    }
    for path in PACKAGE.rglob("*.py"):
        text, name = path.read_text(), path.relative_to(PACKAGE).as_posix()
        for library, allowed in owners.items():
            if f"import {library}" in text or f"from {library}" in text:
                assert name in allowed, f"{name} imports {library}"

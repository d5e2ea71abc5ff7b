"""Contract tests of the OctoPrint client, run against real OctoPrint 1.11.8 AND the simulator."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest

from print_farm.errors import (
    AuthenticationFailed,
    FileMissing,
    FileRejected,
    NotOctoPrint,
    OctoPrintStarting,
    PrintDidNotStart,
    PrinterBusy,
    PrinterNotOperational,
    PrinterUnreachable,
)
from print_farm.octoprint import JobStatus, OctoPrintClient
from tests.print_farm.conftest import Target
from tests.print_farm.octoprint_servers import dwell_gcode, free_port


async def wait_job(
    client: OctoPrintClient, done: object, timeout: float = 15.0, every: float = 0.05
) -> JobStatus:
    deadline = time.monotonic() + timeout
    while True:
        job = await client.job()
        if done(job):  # type: ignore[operator]
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job never reached the state wanted: {job}")
        await asyncio.sleep(every)


def test_version_is_the_servers(target: Target) -> None:
    async def scenario() -> str:
        async with target.client() as client:
            return await client.version()

    assert asyncio.run(scenario()) == "1.11.8"


def test_wrong_key_is_authentication_failed(target: Target) -> None:
    async def scenario() -> None:
        async with OctoPrintClient(target.url, "not-the-key") as client:
            with pytest.raises(AuthenticationFailed):
                await client.version()
            with pytest.raises(AuthenticationFailed):
                await client.job()
            with pytest.raises(AuthenticationFailed):
                await client.passive_login()

    asyncio.run(scenario())


@pytest.mark.parametrize("path", ["", "/ok/farm"])
def test_plain_web_server_is_not_octoprint(plain_http_server: str, path: str) -> None:
    async def scenario() -> None:
        async with OctoPrintClient(plain_http_server + path, "key") as client:
            with pytest.raises(NotOctoPrint):
                await client.version()

    asyncio.run(scenario())


def test_closed_port_is_unreachable() -> None:
    async def scenario() -> None:
        async with OctoPrintClient(f"http://127.0.0.1:{free_port()}", "key", timeout=1) as client:
            with pytest.raises(PrinterUnreachable):
                await client.version()

    asyncio.run(scenario())


def test_upload_and_print_runs_to_finished(target: Target) -> None:
    async def scenario() -> None:
        async with target.client() as client:
            result = await client.upload("visor-1s.gcode", dwell_gcode(1000), print_after=True)
            assert result.effective_select and result.effective_print
            assert (await client.job()).is_printing or (await client.job()).finished
            job = await wait_job(client, lambda j: not j.is_printing)
            assert job.finished and not job.cancelled
            assert job.file_name == "visor-1s.gcode"
            assert "visor-1s.gcode" in await client.list_files()

    asyncio.run(scenario())


def test_upload_with_print_while_disconnected_did_not_start(target: Target) -> None:
    async def scenario() -> None:
        async with target.client() as client:
            await client.disconnect()
            await wait_job(client, lambda j: j.state == "Offline")
            with pytest.raises(PrintDidNotStart):
                await client.upload("offline.gcode", dwell_gcode(200), print_after=True)
            assert "offline.gcode" in await client.list_files()
            status = await client.printer()
            assert not status.operational and status.closed_or_error
            with pytest.raises(PrinterNotOperational):
                await client.select("offline.gcode")
            with pytest.raises(PrinterNotOperational):
                await client.start()

    asyncio.run(scenario())


def test_start_with_no_file_selected_did_not_start(target: Target) -> None:
    async def scenario() -> None:
        async with target.client() as client:
            await client.disconnect()
            await wait_job(client, lambda j: j.state == "Offline")
            await client.connect()
            await wait_job(client, lambda j: j.state == "Operational")
            with pytest.raises(PrintDidNotStart):
                await client.start()

    asyncio.run(scenario())


def test_text_file_is_rejected(target: Target) -> None:
    async def scenario() -> None:
        async with target.client() as client:
            with pytest.raises(FileRejected) as caught:
                await client.upload("notes.txt", b"not g-code")
            assert caught.value.status_code == 415

    asyncio.run(scenario())


def test_selecting_a_missing_file_is_file_missing(target: Target) -> None:
    async def scenario() -> None:
        async with target.client() as client:
            with pytest.raises(FileMissing):
                await client.select("no-such-file.gcode", print_after=True)

    asyncio.run(scenario())


def test_start_while_printing_is_busy(target: Target) -> None:
    async def scenario() -> None:
        async with target.client() as client:
            await client.upload("long.gcode", dwell_gcode(4000), print_after=True)
            with pytest.raises(PrinterBusy):
                await client.start()
            with pytest.raises(PrinterBusy):
                await client.upload("long.gcode", dwell_gcode(4000))
            await client.cancel()

    asyncio.run(scenario())


def test_pause_resume_then_cancel_is_detected_as_cancelled(target: Target) -> None:
    async def scenario() -> None:
        async with target.client() as client:
            await client.upload("pause.gcode", dwell_gcode(4000), print_after=True)
            await wait_job(client, lambda j: j.state == "Printing")  # not "Starting" any more
            await client.pause()
            job = await wait_job(client, lambda j: j.state == "Paused")
            assert job.is_printing and not job.finished
            await client.resume()
            await wait_job(client, lambda j: j.state == "Printing")
            await client.cancel()
            job = await wait_job(client, lambda j: not j.is_printing)
            assert job.cancelled and not job.finished and not job.failed_offline
            with pytest.raises(PrinterBusy):
                await client.pause()

    asyncio.run(scenario())


def test_fatal_firmware_error_goes_offline_after_error(target: Target) -> None:
    async def scenario() -> None:
        async with target.client() as client:
            await client.upload("fatal.gcode", dwell_gcode(3000), print_after=True)
            await client.send_commands(["!!DEBUG:trigger_fatal_error_marlin"])
            job = await wait_job(client, lambda j: not j.is_printing)
            assert job.failed_offline and not job.finished
            assert job.error and "Thermal Runaway" in job.error
            status = await client.printer()
            assert not status.operational and status.closed_or_error
            with pytest.raises(PrinterNotOperational):
                await client.start()

    asyncio.run(scenario())


def test_a_starting_server_is_unreachable_until_it_answers(octoprint_servers: list[Any]) -> None:
    server = octoprint_servers[-1]
    server.stop()
    server.start()
    seen: set[type[Exception]] = set()

    async def scenario() -> str:
        async with OctoPrintClient(server.url, server.api_key, timeout=2) as client:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    return await client.version()
                except PrinterUnreachable as exc:  # refused, or OctoPrintStarting
                    seen.add(type(exc))
                await asyncio.sleep(0.01)
        raise AssertionError("server never came up")

    try:
        assert asyncio.run(scenario()) == "1.11.8"
        assert seen <= {PrinterUnreachable, OctoPrintStarting}
    finally:
        server.wait_ready()
        server.connect_printer()


def test_connection_state_and_file_management(target: Target) -> None:
    async def scenario() -> None:
        async with target.client() as client:
            assert await client.connection_state() == "Operational"
            await client.upload("spare.gcode", dwell_gcode(100))
            assert "spare.gcode" in await client.list_files()
            await client.delete_file("spare.gcode")
            assert "spare.gcode" not in await client.list_files()
            with pytest.raises(FileMissing):
                await client.delete_file("spare.gcode")
            await client.disconnect()
            await wait_job(client, lambda j: j.state == "Offline")
            assert await client.connection_state() == "Closed"
            await client.connect()
            await wait_job(client, lambda j: j.state == "Operational")

    asyncio.run(scenario())


def test_file_history_tells_a_print_that_ended_after_a_moment(target: Target) -> None:
    name = f"history-{uuid.uuid4().hex[:8]}.gcode"

    async def scenario() -> None:
        async with target.client() as client:
            await client.upload(name, dwell_gcode(300))
            fresh = await client.file_history(name)
            assert (fresh.successes, fresh.failures, fresh.last_success) == (0, 0, None)
            before = time.time()
            await client.select(name)
            await client.start()
            await wait_job(client, lambda j: j.finished)
            deadline = time.monotonic() + 10
            history = await client.file_history(name)
            while history.successes == 0 and time.monotonic() < deadline:
                await asyncio.sleep(0.1)  # OctoPrint writes the metadata just after the end
                history = await client.file_history(name)
            assert (history.successes, history.failures, history.last_success) == (1, 0, True)
            assert history.succeeded_after(before)
            assert not history.succeeded_after(time.time() + 1)
            with pytest.raises(FileMissing):
                await client.file_history("no-such-file.gcode")

    asyncio.run(scenario())


def test_file_history_records_a_cancelled_print_as_a_failure(target: Target) -> None:
    name = f"cancelled-{uuid.uuid4().hex[:8]}.gcode"

    async def scenario() -> None:
        async with target.client() as client:
            await client.upload(name, dwell_gcode(5000))
            before = time.time()
            await client.select(name)
            await client.start()
            await wait_job(client, lambda j: j.is_printing)
            await client.cancel()
            await wait_job(client, lambda j: j.cancelled)
            deadline = time.monotonic() + 10
            history = await client.file_history(name)
            while history.failures == 0 and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
                history = await client.file_history(name)
            assert (history.successes, history.failures, history.last_success) == (0, 1, False)
            assert not history.succeeded_after(before)

    asyncio.run(scenario())

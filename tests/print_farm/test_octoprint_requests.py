"""The OctoPrint client's small requests (polls, select, start) go straight to its transport:
they must carry what the httpx client would have sent, and follow a proxy the environment names."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

import httpx
import pytest

from print_farm import errors
from print_farm.octoprint import OctoPrintClient
from tests.print_farm.octoprint_servers import free_port

KEY = "the-printer-key"
BASE = "http://printer.test/p/1"
JOB = {"job": {"file": {"name": "a.gcode"}}, "progress": {"completion": 50.0}, "state": "Printing"}


def sent(call: Callable[[OctoPrintClient], Awaitable[object]]) -> list[httpx.Request]:
    """The requests ``call`` made, as the transport received them."""
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        if request.method == "GET":
            return httpx.Response(200, json=JOB)
        return httpx.Response(204)

    async def scenario() -> None:
        transport = httpx.MockTransport(handler)
        async with OctoPrintClient(BASE, KEY, timeout=3, transport=transport) as client:
            await call(client)

    asyncio.run(scenario())
    return requests


def as_the_client_builds_it(method: str, path: str, **kwargs: object) -> httpx.Request:
    client = httpx.AsyncClient(base_url=BASE + "/", headers={"X-Api-Key": KEY}, timeout=3)
    return client.build_request(method, path, **kwargs)  # type: ignore[arg-type]


def test_a_poll_carries_the_key_and_the_headers_the_httpx_client_would_send() -> None:
    [request] = sent(lambda client: client.job())
    expected = as_the_client_builds_it("GET", "api/job")
    assert (request.method, request.url) == ("GET", expected.url)
    assert request.headers.multi_items() == expected.headers.multi_items()
    assert request.extensions["timeout"] == httpx.Timeout(3).as_dict()


def test_a_select_sends_its_json_command_with_its_content_type_and_length() -> None:
    [request] = sent(lambda client: client.select("a.gcode"))
    assert request.method == "POST"
    assert request.url == httpx.URL(BASE + "/api/files/local/a.gcode")
    assert json.loads(request.content) == {"command": "select", "print": False}
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Content-Length"] == str(len(request.content))
    assert request.headers["X-Api-Key"] == KEY


def test_a_reply_read_straight_from_the_transport_is_parsed_as_before() -> None:
    statuses = []

    async def poll_twice(client: OctoPrintClient) -> None:
        statuses.append(await client.job())
        await client.start(verify=False)
        statuses.append(await client.job())

    requests = sent(poll_twice)
    assert [r.method for r in requests] == ["GET", "POST", "GET"]
    assert [(s.state, s.file_name, s.completion) for s in statuses] == [
        ("Printing", "a.gcode", 50.0)
    ] * 2


def test_with_a_proxy_in_the_environment_requests_go_through_the_client_to_the_proxy(
    monkeypatch: pytest.MonkeyPatch, plain_http_server: str
) -> None:
    async def poll() -> None:
        async with OctoPrintClient(plain_http_server, KEY, timeout=2) as client:
            await client.job()

    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(errors.FileMissing):  # reached directly: a web server without /api/job
        asyncio.run(poll())
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{free_port()}")  # nothing listens
    with pytest.raises(errors.PrinterUnreachable):  # the proxy was asked, not the server
        asyncio.run(poll())


def test_a_closed_client_sends_no_request() -> None:
    """As the httpx client refuses to send once closed: straight to the transport, a poll
    after ``aclose`` would open a new connection that nothing closes."""
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(200, json=JOB)

    async def poll_after_close() -> None:
        client = OctoPrintClient(BASE, KEY, timeout=3, transport=httpx.MockTransport(handler))
        await client.aclose()
        await client.job()

    with pytest.raises(RuntimeError, match="closed"):
        asyncio.run(poll_after_close())
    assert requests == []

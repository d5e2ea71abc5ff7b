"""End to end: the real server (``fabcoord serve`` in a subprocess) driven by Debian's Chromium."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, sync_playwright
from sqlalchemy import Engine

from orders.schemas import today
from tests.orders.conftest import SECRET, invite, order_count

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def server(database_url: str, reference_loaded: Engine) -> Iterator[str]:
    """``fabcoord serve`` on a free loopback port; stopped at the end."""
    port = free_port()
    env = {**os.environ, "FABCOORD_SECRET_KEY": SECRET, "FABCOORD_DATABASE_URL": database_url}
    process = subprocess.Popen(
        [sys.executable, "-c", "import cli; cli.main()", "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{base}/api/v1/openapi.json", timeout=1)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"server did not start: {process.stderr.read()!r}") from None
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=15)


def fill_order(page: Page, quantity: str) -> None:
    page.fill("#department", "Urgences pédiatriques")
    page.fill("#contact_name", "Karim Benali")
    page.fill("#contact_phone", "05 49 44 44 44")
    page.fill("#contact_email", "karim.benali@chu-poitiers.fr")
    page.fill("#quantity", quantity)
    page.fill("#needed_by", (today() + timedelta(days=10)).isoformat())
    page.fill("#delivery_address", "Magasin central\n2 rue de la Milétrie, 86000 Poitiers")
    page.select_option("#priority", "urgent")
    page.fill("#urgency_reason", "Stock épuisé")
    page.fill("#notes", "Livraison quai B <avant 10h>")


def test_an_officer_orders_and_follows_the_order_in_chromium(
    server: str, reference_loaded: Engine, tmp_path: Path
) -> None:
    token = invite(reference_loaded)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 390, "height": 844})
            page.goto(f"{server}/h/{token}")
            assert "CHU de Poitiers" in page.inner_text("header")
            fill_order(page, "0")
            page.click("button[type=submit]")
            assert "Au moins 1" in page.inner_text("#quantity-error")
            assert page.input_value("#contact_name") == "Karim Benali"
            page.fill("#quantity", "300")
            page.click("button[type=submit]")
            reference = page.inner_text("#reference")
            assert re.fullmatch(r"CMD-\d{4}-\d{6}", reference)
            page.screenshot(path=tmp_path / "confirmation.png", full_page=True)
            page.click("text=Suivi des commandes")
            assert reference in page.inner_text("#orders")
            assert "reçue" in page.inner_text("#orders")
            page.click(f"text={reference}")
            assert page.inner_text("#status") == "reçue"
            assert "Livraison quai B <avant 10h>" in page.inner_text("main")
            page.screenshot(path=tmp_path / "status.png", full_page=True)
            page.go_back()
            page.go_back()
        finally:
            browser.close()
    assert (tmp_path / "status.png").stat().st_size > 1000
    assert (tmp_path / "confirmation.png").stat().st_size > 1000
    assert order_count(reference_loaded) == 1


AXE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"
WCAG = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def violations(page: Page) -> list[str]:
    """axe-core's WCAG 2.1 A/AA violations on the page as it is now."""
    page.add_script_tag(path=str(AXE))
    found = page.evaluate(
        "async (tags) => (await axe.run(document, {runOnly: {type: 'tag', values: tags}}))"
        ".violations.map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', '))",
        WCAG,
    )
    return [str(v) for v in found]


@pytest.mark.parametrize("width", [390, 1280])
def test_the_form_its_errors_and_the_list_pass_axe_at_phone_and_desktop_widths(
    server: str, reference_loaded: Engine, second_model: str, width: int
) -> None:
    token = invite(reference_loaded)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            # the pages forbid scripts (CSP): let the test inject axe
            context = browser.new_context(viewport={"width": width, "height": 900}, bypass_csp=True)
            page = context.new_page()
            page.goto(f"{server}/h/{token}")
            assert violations(page) == []
            fill_order(page, "2 000")
            page.fill("#contact_email", "pas-une-adresse")
            page.select_option("#priority", "critical")
            page.fill("#urgency_reason", "")
            page.click("button[type=submit]")
            assert page.get_attribute("#contact_email", "aria-invalid") == "true"
            assert page.get_attribute("#urgency_reason", "aria-describedby") == (
                "urgency_reason-error"
            )
            assert page.evaluate("document.activeElement.id") == "contact_email"
            assert violations(page) == []
            page.fill("#contact_email", "karim.benali@chu-poitiers.fr")
            page.fill("#urgency_reason", "Stock épuisé")
            page.click("button[type=submit]")
            assert re.fullmatch(r"CMD-\d{4}-\d{6}", page.inner_text("#reference"))
            assert violations(page) == []
            page.click("#amend")  # the amend page, a bad second line, then a good one
            assert violations(page) == []
            page.select_option("#item_2", second_model)  # one line per model
            page.fill("#quantity_2", "0")
            page.click("button[type=submit]")
            assert page.get_attribute("#quantity_2", "aria-invalid") == "true"
            assert page.evaluate("document.activeElement.id") == "quantity_2"
            assert violations(page) == []
            page.fill("#quantity_2", "40")
            page.click("button[type=submit]")
            assert f"40 × {second_model}" in page.inner_text("#lines")
            page.click("text=Suivi des commandes")
            assert violations(page) == []
            header = page.locator("#orders").get_by_text("Livraison prévue")
            if width >= 1280:  # every column fits: nothing cut off, no sideways scrolling
                box = header.bounding_box()
                assert box is not None and box["x"] + box["width"] <= width
            cell = page.locator("#orders td[data-label='Livraison prévue']").first
            box = cell.bounding_box()
            assert box is not None and box["x"] + box["width"] <= width
            assert page.evaluate("document.documentElement.scrollWidth") <= width
        finally:
            browser.close()

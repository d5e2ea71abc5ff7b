"""Order intake benchmark: sustained order creation through the JSON API of the real server.

Starts ``fabcoord serve`` (uvicorn, one process) on a fresh database, SQLite then PostgreSQL, and
drives it from this process with 50 concurrent loopback clients (asyncio + httpx) for a bounded
time. Baseline in the same run: the same clients reading one order (no write). Writes the
``orders`` section of BENCHMARKS.md. Run: ``python bench/orders_bench.py [--seconds 20]``.
Not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fabcoord.bootstrap import initialise_database  # noqa: E402
from fabcoord.config import Settings  # noqa: E402
from fabcoord.db import make_engine, unit_of_work  # noqa: E402
from fabcoord.reference import load_reference_data  # noqa: E402
from fabcoord.schema import migration_locations  # noqa: E402
from orders import links  # noqa: E402

BENCHMARKS = ROOT / "BENCHMARKS.md"
PG_ADMIN = os.environ.get(
    "FABCOORD_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
CLIENTS = 50
PHASES = (
    ("read one order, back to back (baseline)", False, None),
    ("create order, back to back (saturation)", True, None),
    ("create order, each client 2 per second (100/s offered)", True, 0.5),
    ("create order, each client 1 per second (50/s offered)", True, 1.0),
)


def order_body(i: int) -> dict[str, Any]:
    return {
        "department": f"Réanimation {i % 7}",
        "contact_name": "Claire Martin",
        "contact_email": "claire.martin@chu-poitiers.fr",
        "contact_phone": "05 49 44 44 44",
        "quantity": 1 + i % 500,
        "needed_by": (datetime.now(UTC).date() + timedelta(days=10)).isoformat(),
        "delivery_address": "2 rue de la Milétrie, 86000 Poitiers",
        "priority": "normal",
    }


@contextmanager
def database(kind: str) -> Iterator[str]:
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{folder}/bench.db"
        return
    name = f"fabcoord_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def prepare(url: str) -> str:
    settings = Settings(database_url=url, actor="bench")
    engine = make_engine(settings)
    initialise_database(engine, migration_locations())
    with unit_of_work(engine) as session:
        load_reference_data(session=session, data_dir=settings.data_dir)
        token = links.invite(session=session, hospital="CHU de Poitiers", actor="bench").token
    engine.dispose()
    return token


@contextmanager
def server(url: str, log: Path) -> Iterator[str]:
    """``fabcoord serve`` on ``url``'s database, its log (stderr) written to ``log``."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "FABCOORD_DATABASE_URL": url,
        "FABCOORD_SECRET_KEY": uuid.uuid4().hex * 2,
        "FABCOORD_WEB_RATE_PER_LINK": "1000000",  # the load generator is one address, one link
        "FABCOORD_WEB_RATE_PER_ADDRESS": "1000000",
    }
    process = subprocess.Popen(
        [sys.executable, "-c", "import cli; cli.main()", "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("w", encoding="utf-8"),
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                httpx.get(f"{base}/api/v1/openapi.json", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=15)


async def load(
    base: str, token: str, seconds: float, write: bool, pace: float | None = None
) -> dict[str, Any]:
    """``CLIENTS`` clients for ``seconds``: back to back, or each one request every ``pace`` s."""
    headers = {"Authorization": f"Bearer {token}"}
    latencies: list[float] = []
    errors: dict[str, int] = {}
    limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
    async with httpx.AsyncClient(
        base_url=base, headers=headers, limits=limits, timeout=30
    ) as client:
        first = await client.post("/api/v1/orders", json=order_body(0))
        reference = first.json()["reference"]
        stop = time.perf_counter() + seconds

        async def worker(n: int) -> None:
            i = 0
            due = time.perf_counter() + (pace or 0) * n / CLIENTS  # spread the paced clients
            while time.perf_counter() < stop:
                i += 1
                started = time.perf_counter()
                if pace is not None:
                    await asyncio.sleep(max(0.0, due - time.perf_counter()))
                    # latency counts from when the request was due, so a late send is not hidden
                    started = due
                    due += pace
                try:
                    if write:
                        key = {"Idempotency-Key": f"bench-{n}-{i}-{uuid.uuid4().hex[:6]}"}
                        response = await client.post(
                            "/api/v1/orders", json=order_body(i), headers=key
                        )
                        ok = response.status_code == 201
                    else:
                        response = await client.get(f"/api/v1/orders/{reference}")
                        ok = response.status_code == 200
                    outcome = "ok" if ok else str(response.status_code)
                except httpx.HTTPError as error:
                    outcome = type(error).__name__
                latencies.append(time.perf_counter() - started)
                if outcome != "ok":
                    errors[outcome] = errors.get(outcome, 0) + 1

        began = time.perf_counter()
        await asyncio.gather(*(worker(n) for n in range(CLIENTS)))
        elapsed = time.perf_counter() - began
    return {"latencies": latencies, "errors": errors, "elapsed": elapsed}


def pct(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))] * 1000


def row(kind: str, label: str, result: dict[str, Any]) -> str:
    values = result["latencies"]
    errors = sum(result["errors"].values())
    detail = f" ({result['errors']})" if errors else ""
    met = (
        "" if "create" not in label else ("yes" if pct(values, 0.99) < 100 and not errors else "no")
    )
    return (
        f"| {kind} | {label} | {len(values):,} | {len(values) / result['elapsed']:,.0f} | "
        f"{pct(values, 0.5):.1f} | {pct(values, 0.95):.1f} | {pct(values, 0.99):.1f} | "
        f"{errors}{detail} | {met} | {os.getloadavg()[0]:.1f} |"
    )


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.machine(),
    )
    memory = subprocess.run(["free", "-h"], capture_output=True, text=True, check=False).stdout
    total = memory.splitlines()[1].split()[1] if memory else "?"
    return (
        f"{cpu}, {os.cpu_count()} cores (nproc), {total} RAM (free -h), {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}"
    )


def write_section(
    body: str,
    *,
    name: str = "orders",
    title: str = "Order intake: order creation through the JSON API",
) -> None:
    """Replace (or add) the section ``name`` of BENCHMARKS.md, stamped with the machine."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    section = (
        f"<!-- {name}:start -->\n## {title}\n\n"
        f"Measured {stamp} on: {machine()}.\n\n{body.strip()}\n<!-- {name}:end -->"
    )
    current = BENCHMARKS.read_text(encoding="utf-8") if BENCHMARKS.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"<!-- {name}:start -->.*?<!-- {name}:end -->", re.DOTALL)
    if pattern.search(current):
        current = pattern.sub(lambda _: section, current)
    else:
        current = current.rstrip() + "\n\n" + section + "\n"
    BENCHMARKS.write_text(current, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    rows = []
    saturation: dict[str, float] = {}
    paced_p99: dict[str, float] = {}
    load_before = os.getloadavg()[0]
    for kind in args.backends.split(","):
        with database(kind) as url, tempfile.TemporaryDirectory() as scratch:
            token = prepare(url)
            log = Path(scratch) / "serve.log"
            with server(url, log) as base:
                asyncio.run(load(base, token, 2, write=True))  # warm up
                for label, write, pace in PHASES:
                    result = asyncio.run(load(base, token, args.seconds, write=write, pace=pace))
                    rows.append(row(kind, label, result))
                    print(rows[-1], flush=True)
                    if write and pace is None:
                        saturation[kind] = len(result["latencies"]) / result["elapsed"]
                    if write and pace == 1.0:
                        paced_p99[kind] = pct(result["latencies"], 0.99)
                    if result["errors"]:  # the server's side of it, for whoever reads the run
                        print(f"{kind} server log (tail):", flush=True)
                        print("\n".join(log.read_text(errors="replace").splitlines()[-30:]))
    verdict = _verdict(saturation, paced_p99)
    print(verdict, flush=True)
    write_section(
        f"""{CLIENTS} concurrent clients (asyncio + httpx, keep-alive) on the same machine as the
server (`fabcoord serve`: one uvicorn process with uvloop and httptools, FastAPI sync handlers on 8
worker threads, SQLite writers queued on one in-process lock), for {args.seconds:.0f} s per line after
a 2 s warm-up. "Back to back": each client sends its next request as soon as the previous one is
answered (a closed loop: with 50 clients, latency = 50 / throughput, so p99 < 100 ms would need more
than 500 requests/s). "Each client N per second": the clients send on a fixed schedule (a paced
load), which is how hospitals actually arrive. "create order" = `POST /api/v1/orders` with a fresh `Idempotency-Key`
(authentication, validation, idempotency lookup, insert of the order and its event, commit);
the baseline reads one order (authentication + 3 queries, no write). Latency is measured by the
client, so it includes waiting in the server's queue; the load generator shares the 2 cores.
Target: p99 < 100 ms and zero errors for order creation. The machine is shared with other work
(load average {load_before:.1f} on {os.cpu_count()} cores when the run started; the last column
is the 1-minute load average after each line, this run included): read the rows against the
read-only baseline of the same run, and expect large swings between runs.

{verdict}

In general: paced loads well below the server's capacity meet the target; near
capacity the queue builds and p99 climbs; back to back, 50 clients saturate the server (its capacity is the "back to back" requests/s) and every
request waits in the queue, so the closed-loop p99 is far above 100 ms. One Python process does
all the HTTP parsing, validation and ORM work under one GIL, sharing 2 cores with the load
generator: capacity, not the database, bounds the closed-loop latency.

| database | request | requests | requests/s | p50 ms | p95 ms | p99 ms | errors | p99 < 100 ms, 0 errors | load avg after |
|---|---|---|---|---|---|---|---|---|---|
{chr(10).join(rows)}
"""
    )


def _verdict(saturation: dict[str, float], paced_p99: dict[str, float]) -> str:
    """Issue 9's targets read from this run: PostgreSQL's back-to-back creates ≥ 80 % of
    SQLite's, and p99 ≤ 100 ms at 50 paced orders/s on both."""
    parts = []
    if {"sqlite", "postgresql"} <= saturation.keys():
        ratio = saturation["postgresql"] / saturation["sqlite"]
        met = "met" if ratio >= 0.8 else "**not met**"
        parts.append(
            f"PostgreSQL creates {saturation['postgresql']:.0f} orders/s back to back, "
            f"{ratio:.0%} of SQLite's {saturation['sqlite']:.0f} (target ≥ 80 %: {met})"
        )
    for kind, p99 in paced_p99.items():
        met = "met" if p99 <= 100 else "**not met**"
        parts.append(f"{kind} at 50 paced orders/s: p99 {p99:.0f} ms (target ≤ 100 ms: {met})")
    return "Reading (this run): " + "; ".join(parts) + "." if parts else ""


if __name__ == "__main__":
    main()

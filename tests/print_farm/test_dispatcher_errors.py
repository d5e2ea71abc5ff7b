"""A pass that keeps failing backs off and is logged once per distinct error, with its count;
leases are renewed by a loop of their own that no failure stops."""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import time

import pytest
from sqlalchemy import Engine

from fabcoord.errors import DatabaseBusy
from print_farm.dispatcher import Dispatcher
from print_farm.leases import LeaseKeeper
from print_farm.octoprint import OctoPrintClient
from print_farm.repeated_errors import RepeatedErrors
from print_farm.tracker import Tracked
from tests.print_farm import farm_factories as ff
from tests.print_farm import farm_runs as fr


def test_repeats_of_one_error_are_counted_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    errors = RepeatedErrors("work", logging.getLogger("t"), first_s=1.0, most_s=60.0)
    with caplog.at_level(logging.WARNING, logger="t"):
        pauses = [errors.failed(RuntimeError("boom")) for _ in range(8)]
        errors.failed(DatabaseBusy("db busy"))
        errors.succeeded()
    assert pauses == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0]
    messages = [(r.levelname, r.getMessage(), r.exc_info is not None) for r in caplog.records]
    assert messages == [
        ("ERROR", "work failed", True),  # a bug: its traceback, once
        ("WARNING", "work failed 8 times in a row: RuntimeError: boom", False),
        ("WARNING", "work failed: db busy", False),  # a known failure: one line
    ]
    assert errors.failed(RuntimeError("boom")) == 1.0  # a success starts the pauses again


def test_a_bug_repeated_for_ever_still_shows_at_10_100_1000(
    caplog: pytest.LogCaptureFixture,
) -> None:
    errors = RepeatedErrors("work", logging.getLogger("t"), first_s=0.0, most_s=0.0)
    with caplog.at_level(logging.WARNING, logger="t"):
        for _ in range(1000):
            errors.failed(RuntimeError("boom"))
    assert [r.getMessage() for r in caplog.records] == [
        "work failed",
        "work still failing (10 times in a row): boom",
        "work still failing (100 times in a row): boom",
        "work still failing (1000 times in a row): boom",
    ]


def test_a_pass_that_keeps_raising_backs_off_logs_once_and_the_leases_go_on(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    farm = ff.make_fablab(engine)
    ff.add_printer(engine, farm)
    config = fr.fast_config("failing", lease_s=1.2, backoff_s=0.1, backoff_max_s=0.4)
    dispatcher = Dispatcher(engine, config)
    calls: list[float] = []
    pauses: list[float] = []
    failed = dispatcher.errors.failed

    def noted(error: BaseException) -> float:
        pauses.append(failed(error))
        return pauses[-1]

    async def step(*, poll_all: bool = False, plan: bool = True) -> None:
        calls.append(time.monotonic())
        if len(calls) <= 6:
            raise RuntimeError("a bug in a pass")

    dispatcher.errors.failed = noted  # type: ignore[method-assign]
    dispatcher.step = step  # type: ignore[method-assign]

    async def scenario() -> int:
        stop = asyncio.Event()
        task = asyncio.create_task(dispatcher.run(stop=stop))
        while len(calls) < 8:
            await asyncio.sleep(0.05)
        renewals = dispatcher.leases.renewals
        stop.set()
        await task
        return renewals

    with caplog.at_level(logging.WARNING, logger="print_farm.dispatcher"):
        renewals = asyncio.run(scenario())
    assert pauses == [0.1, 0.2, 0.4, 0.4, 0.4, 0.4]
    gaps = [later - earlier for earlier, later in itertools.pairwise(calls)]
    assert all(gap >= pause for gap, pause in zip(gaps, pauses, strict=False)), (gaps, pauses)
    records = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert records == [
        ("ERROR", "dispatcher pass failed"),
        ("WARNING", "dispatcher pass failed 6 times in a row: RuntimeError: a bug in a pass"),
    ]
    assert renewals >= 3  # every 0.4 s meanwhile: the failing passes never stopped them


def test_lease_renewal_survives_unexpected_errors_and_stops_only_with_its_dispatcher(
    engine: Engine,
) -> None:
    farm = ff.make_fablab(engine)
    ff.add_printer(engine, farm)
    keeper = LeaseKeeper(engine, owner="keeper", lease_s=0.6)
    renew = keeper._renew
    failures = 3

    def flaky(max_printers: int | None) -> set[int]:
        nonlocal failures
        if failures:
            failures -= 1
            raise RuntimeError("not a FabcoordError")
        return renew(max_printers)

    keeper._renew = flaky  # type: ignore[method-assign]

    async def scenario() -> bool:
        stop = asyncio.Event()
        task = asyncio.create_task(keeper.keep(stop))
        while keeper.renewals < 2:
            await asyncio.sleep(0.02)
            assert not task.done()
        stop.set()
        await asyncio.wait_for(task, 2)
        return task.done()

    assert asyncio.run(scenario())
    assert failures == 0 and len(keeper.owned) == 1
    keeper.close()


def test_leases_not_renewed_for_half_a_lease_stop_new_starts(engine: Engine) -> None:
    farm = ff.make_fablab(engine)
    ff.add_printer(engine, farm)
    now = [100.0]
    keeper = LeaseKeeper(engine, owner="stale", lease_s=10.0, clock=lambda: now[0])
    assert not keeper.fresh()  # never renewed
    keeper.renew_now()
    assert keeper.fresh() and keeper.good_until == 110.0
    now[0] = 104.9
    assert keeper.fresh()
    now[0] = 105.0  # half the lease gone without a renewal: the lease may not last a start
    assert not keeper.fresh()
    keeper.close()


def test_a_dispatcher_with_stale_leases_plans_nothing(engine: Engine) -> None:
    farm = ff.make_fablab(engine)
    printer = ff.add_printer(engine, farm, auto_clear=True)
    ff.stock_filament(engine, farm, lot="L1", grams=200)
    ff.load(engine, printer, lot="L1", grams=200)
    ff.enqueue(engine, fr.dwell_design(engine, ms=100, grams=10), 1)
    dispatcher = Dispatcher(engine, fr.fast_config("stale"))
    dispatcher.renew_leases()
    dispatcher.leases.good_until = -math.inf  # as if the renewals had failed for a while

    async def scenario() -> None:
        await dispatcher.refresh(full=True)
        for row in dispatcher.rows.values():  # idle and reachable, as a poll would find it
            tracked = Tracked(id=row.id, name=row.name, url=row.url, state="Operational")
            tracked.client, tracked.reachable = OctoPrintClient(row.url, "k", timeout=1), True
            dispatcher.tracked[row.id] = tracked
        calls = dispatcher.db.calls
        await dispatcher.starter.plan()
        assert dispatcher.db.calls == calls  # not even a read of the queue
        assert not dispatcher.starts
        await dispatcher.leases.renew()  # renewed: the same printer gets the job at once
        await dispatcher.starter.plan()
        assert len(dispatcher.starts) == 1
        await dispatcher.close()

    asyncio.run(scenario())

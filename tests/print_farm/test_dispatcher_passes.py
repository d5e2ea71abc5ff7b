"""What one dispatcher pass reads and polls: cheap enough for a thousand printers."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace

from sqlalchemy import Engine, update

from fabcoord.db import unit_of_work
from print_farm import claims, queue
from print_farm.dispatcher import Dispatcher
from print_farm.models import FarmPrinter
from print_farm.push import PrinterEvent
from print_farm.tracker import Tracked
from tests.print_farm import farm_factories as ff
from tests.print_farm import farm_runs as fr

PRINTERS = FarmPrinter.__table__  # type: ignore[attr-defined]


def set_notice(engine: Engine, name: str, notice: str) -> None:
    with unit_of_work(engine) as session:
        session.execute(update(PRINTERS).where(PRINTERS.c.name == name).values(notice=notice))


def test_passes_between_full_reads_read_again_only_the_printers_the_dispatcher_wrote(
    engine: Engine,
) -> None:
    farm = ff.make_fablab(engine)
    ours, other = ff.add_printer(engine, farm), ff.add_printer(engine, farm)
    dispatcher = Dispatcher(engine, fr.fast_config("passes"))
    dispatcher.renew_leases()
    asyncio.run(dispatcher.refresh(full=True))
    by_name = {row.name: row.id for row in dispatcher.rows.values()}
    assert set(by_name) == {ours, other}
    set_notice(engine, ours, "written by this dispatcher")
    set_notice(engine, other, "written by an operator")
    dispatcher.touched(by_name[ours])
    asyncio.run(dispatcher.refresh(full=False))
    notices = {row.name: row.notice for row in dispatcher.rows.values()}
    assert notices == {ours: "written by this dispatcher", other: ""}
    asyncio.run(dispatcher.refresh(full=True))  # every tick_s: what others wrote shows too
    notices = {row.name: row.notice for row in dispatcher.rows.values()}
    assert notices == {ours: "written by this dispatcher", other: "written by an operator"}


def test_a_printer_lost_to_another_dispatcher_leaves_the_next_full_read(engine: Engine) -> None:
    farm = ff.make_fablab(engine)
    printer = ff.add_printer(engine, farm)
    dispatcher = Dispatcher(engine, fr.fast_config("first", lease_s=4.0))
    dispatcher.renew_leases()
    asyncio.run(dispatcher.refresh(full=True))
    assert [row.name for row in dispatcher.rows.values()] == [printer]
    with unit_of_work(engine) as session:
        claims.release_leases(session=session, owner="first")
        claims.acquire_leases(session=session, owner="second", lease_s=30)
    asyncio.run(dispatcher.refresh(full=True))
    assert dispatcher.rows == {}


def test_a_printer_with_live_push_is_polled_every_reconcile_period_else_every_poll_period(
    engine: Engine,
) -> None:
    dispatcher = Dispatcher(engine, fr.fast_config(poll_s=5.0, reconcile_s=30.0))

    def printer(socket_live: bool | None, *, answered: bool = True) -> Tracked:
        socket = None if socket_live is None else SimpleNamespace(reachable=socket_live)
        return Tracked(
            id=1, name="p1", url="http://127.0.0.1:1", subscription=socket, reachable=answered
        )  # type: ignore[arg-type]

    assert 24.0 <= dispatcher.poll_period(printer(True)) <= 36.0
    assert 4.0 <= dispatcher.poll_period(printer(False)) <= 6.0
    assert 4.0 <= dispatcher.poll_period(printer(None)) <= 6.0  # without push
    # the push socket is live but the last REST reading failed: checked again soon
    assert 4.0 <= dispatcher.poll_period(printer(True, answered=False)) <= 6.0


def test_each_printer_keeps_its_own_share_of_the_poll_period(engine: Engine) -> None:
    dispatcher = Dispatcher(engine, fr.fast_config(poll_s=5.0))
    printers = [Tracked(id=n, name=f"p{n}", url="http://127.0.0.1:1") for n in range(50)]
    periods = [dispatcher.poll_period(tracked) for tracked in printers]
    assert periods == [dispatcher.poll_period(tracked) for tracked in printers]  # fixed
    assert max(periods) - min(periods) > 0.5  # spread: a farm's polls do not come all at once


def of_size(dispatcher: Dispatcher, printers: int) -> Dispatcher:
    """The dispatcher as if it held ``printers`` printers (only their count matters here)."""
    dispatcher.state.rows = dict.fromkeys(range(printers))  # type: ignore[arg-type]
    return dispatcher


def test_a_small_farm_is_read_in_full_almost_every_pass_a_large_one_every_second_or_two(
    engine: Engine,
) -> None:
    dispatcher = Dispatcher(engine, fr.fast_config(tick_s=0.25))
    assert of_size(dispatcher, 10).full_read_every() <= 0.01
    assert of_size(dispatcher, 1000).full_read_every() == 1.0
    assert of_size(dispatcher, 50_000).full_read_every() == 2.0


def test_an_operator_change_to_a_printer_without_a_job_is_read_on_the_next_pass(
    engine: Engine,
) -> None:
    farm = ff.make_fablab(engine)
    printer = ff.add_printer(engine, farm)
    ff.stock_filament(engine, farm, lot="L1", grams=100)
    dispatcher = Dispatcher(engine, fr.fast_config("passes"))
    dispatcher.renew_leases()
    asyncio.run(dispatcher.refresh(full=True))
    [row] = dispatcher.rows.values()
    assert row.loaded_lot == ""
    ff.load(engine, printer, lot="L1", grams=100)  # printers load, between two full reads
    asyncio.run(dispatcher.refresh(full=False))
    [row] = dispatcher.rows.values()
    assert row.loaded_lot == "L1" and row.loaded_material == "petg"


def test_passes_of_a_large_farm_are_spaced_and_those_of_a_small_one_are_not(
    engine: Engine,
) -> None:
    dispatcher = Dispatcher(engine, fr.fast_config(tick_s=0.25))
    assert of_size(dispatcher, 10).pass_gap() <= 0.001
    assert of_size(dispatcher, 1000).pass_gap() == 0.05
    assert of_size(dispatcher, 50_000).pass_gap() == 0.1


def test_units_of_work_one_after_another_run_on_the_connection_used_last(engine: Engine) -> None:
    dispatcher = Dispatcher(engine, fr.fast_config("connections"))
    try:
        opened = [dispatcher.engine.connect() for _ in range(3)]  # the pool holds several
        for connection in opened:
            connection.close()

        def driver(session: object) -> int:
            return id(session.connection().connection.driver_connection)  # type: ignore[attr-defined]

        async def units() -> list[int]:
            read = await dispatcher.db.read(driver)
            written = await dispatcher.db.write(driver)
            return [read, written, await dispatcher.db.read(driver)]

        used = asyncio.run(units())
        assert len(set(used)) == 1  # its SQLite page cache is not emptied by another's commit
    finally:
        dispatcher.db.close()
        dispatcher.leases.close()
        dispatcher.engine.dispose()


def test_a_print_done_wakes_a_pass_once_the_printer_is_idle_not_while_it_finishes(
    engine: Engine,
) -> None:
    dispatcher = Dispatcher(engine, fr.fast_config("wakes"))
    tracked = Tracked(id=1, name="p1", url="http://printer.test")
    tracked.state = "Printing"
    dispatcher._by_name["p1"] = tracked

    dispatcher._on_event(PrinterEvent("p1", "PrintDone", {"name": "a.gcode"}))
    assert tracked.done_file == "a.gcode" and not dispatcher.wake.is_set()  # still finishing
    dispatcher._on_event(PrinterEvent("p1", "current", {"state": "Operational"}))
    assert dispatcher.wake.is_set()  # its outcome and its next job: one pass


def test_a_tick_makes_a_pass_only_after_a_commit_that_changed_a_free_printer_or_a_cancel(
    engine: Engine,
) -> None:
    farm = ff.make_fablab(engine)
    free, busy = ff.add_printer(engine, farm), ff.add_printer(engine, farm)
    ff.stock_filament(engine, farm, lot="L1", grams=1000)
    design = ff.add_design(engine)
    [job_id] = ff.enqueue(engine, design, 2)
    ff.load(engine, busy, lot="L1", grams=100)
    dispatcher = Dispatcher(engine, fr.fast_config("ticks", pass_s=3600.0))
    dispatcher.renew_leases()
    with unit_of_work(engine) as session:
        busy_id = ff.printer(engine, busy).id
        assert claims.claim_for_start(
            session=session, job_id=job_id, printer_id=busy_id, owner="ticks"
        )
    passes: list[bool] = []

    async def step(*, poll_all: bool = False, plan: bool = True) -> None:
        passes.append(True)
        await dispatcher.refresh(full=True)

    dispatcher.step = step  # type: ignore[method-assign]

    def tick() -> int:
        before = len(passes)
        asyncio.run(dispatcher.step_if_due())
        return len(passes) - before

    try:
        asyncio.run(dispatcher.refresh(full=True))
        dispatcher._passed_at = time.monotonic()  # a pass just made
        tick()  # the first look reads what it compares with
        assert tick() == 0  # nothing committed: not even the narrow queries
        ff.load(engine, free, lot="L1", grams=100)  # printers load, by another process
        assert tick() == 1
        assert tick() == 0
        set_notice(engine, free, "a commit that changes nothing a pass reads")
        assert tick() == 0
        with unit_of_work(engine) as session:
            queue.cancel_job(session=session, job_id=job_id)  # farm cancel of a printing job
        assert tick() == 1
        assert dispatcher.active[busy_id].cancel_requested
    finally:
        asyncio.run(dispatcher.close())


def test_a_tick_skips_the_look_while_every_printer_has_a_job(engine: Engine) -> None:
    farm = ff.make_fablab(engine)
    busy = ff.add_printer(engine, farm)
    ff.stock_filament(engine, farm, lot="L1", grams=1000)
    [job_id] = ff.enqueue(engine, ff.add_design(engine), 2)
    ff.load(engine, busy, lot="L1", grams=100)
    dispatcher = Dispatcher(engine, fr.fast_config("busy", pass_s=3600.0))
    dispatcher.renew_leases()
    with unit_of_work(engine) as session:
        assert claims.claim_for_start(
            session=session, job_id=job_id, printer_id=ff.printer(engine, busy).id, owner="busy"
        )
    looks = 0
    look = dispatcher.db.read

    async def counted(work: object) -> object:
        nonlocal looks
        looks += 1
        return await look(work)  # type: ignore[arg-type]

    try:
        asyncio.run(dispatcher.refresh(full=True))
        asyncio.run(dispatcher.operator_changed())  # a first look: no printer without a job
        dispatcher._passed_at = time.monotonic()
        dispatcher.db.read = counted  # type: ignore[method-assign]
        asyncio.run(dispatcher.step_if_due())
        assert looks == 0
    finally:
        asyncio.run(dispatcher.close())

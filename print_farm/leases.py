"""Keeping a dispatcher's printer leases, on a thread and a timer of their own.

Renewals run on their own database thread, so a pass waiting on the database never delays one,
and the loop renewing them stops only when the dispatcher does (every error is logged, counted and
retried). A renewal is judged by when it was sent: the lease then lasts ``lease_s`` from before
that moment. Once less than half a lease is left (renewals failed for a while), :meth:`fresh` says
no and the dispatcher starts nothing more until a renewal goes through, so that no start is under
way when the lease may pass to another dispatcher.

A renewal that failed (the database locked or unreachable) is retried within a tenth of the
renewal period, and the first renewal that goes through after it only renews the leases held:
other printers are taken on a later renewal, a full period on. Every dispatcher of the database
lived through the same outage, so each first renews its own, and a holder whose leases ran out
during a lock longer than the lease keeps its printers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import Engine

from fabcoord.db import unit_of_work
from print_farm import claims
from print_farm.repeated_errors import RepeatedErrors

log = logging.getLogger(__name__)


class LeaseKeeper:
    """Takes, renews and releases the leases of dispatcher ``owner``."""

    def __init__(
        self,
        engine: Engine,
        *,
        owner: str,
        lease_s: float,
        max_printers: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine, self.owner, self.lease_s = engine, owner, lease_s
        self.max_printers = max_printers
        self.clock = clock
        self.owned: set[int] = set()
        self.good_until = -math.inf  # by ``clock``: our leases hold at least until then
        self.renewals = 0
        self.failed = False  # the last renewal failed: the next one takes no new printers
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="farm-leases")
        self._errors = RepeatedErrors("lease renewal", log, first_s=0.0, most_s=0.0)

    @property
    def every(self) -> float:
        """How often leases are renewed: three times a lease, at least every 2 s."""
        return min(self.lease_s / 3, 2.0)

    def fresh(self) -> bool:
        """Whether more than half a lease is left: starts may go on."""
        return self.clock() < self.good_until - self.lease_s / 2

    def renew_now(self) -> set[int]:
        """Renew and take leases on the calling thread (start-up, tests)."""
        sent = self.clock()
        self._renewed(sent, self._renew(self.max_printers))
        return self.owned

    async def renew(self) -> set[int]:
        """Renew and take leases on the leases' own thread (after a failed renewal: only renew
        those held, see the module docstring)."""
        sent, most = self.clock(), 0 if self.failed else self.max_printers
        loop = asyncio.get_running_loop()
        owned = await loop.run_in_executor(self._thread, self._renew, most)
        self._renewed(sent, owned)
        return self.owned

    async def keep(self, stop: asyncio.Event) -> None:
        """Renew every :attr:`every` seconds until ``stop``; failures are logged and retried."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.every)
            if stop.is_set():
                return
            try:
                await self.renew()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # claims re-check the lease: nothing starts twice
                self._errors.failed(error)
                self.failed = True
                with contextlib.suppress(TimeoutError):  # retried soon, not a period later
                    await asyncio.wait_for(stop.wait(), self.every / 10)
                continue
            else:
                self._errors.succeeded()

    async def release(self) -> None:
        """Give up every lease (a clean exit: another dispatcher may take them at once)."""
        await asyncio.get_running_loop().run_in_executor(self._thread, self._release)
        self.owned, self.good_until = set(), -math.inf

    def close(self) -> None:
        self._thread.shutdown(wait=True)

    def _renew(self, max_printers: int | None) -> set[int]:
        with unit_of_work(self.engine) as session:
            return claims.acquire_leases(
                session=session, owner=self.owner, lease_s=self.lease_s, max_printers=max_printers
            )

    def _release(self) -> None:
        with unit_of_work(self.engine) as session:
            claims.release_leases(session=session, owner=self.owner)

    def _renewed(self, sent: float, owned: set[int]) -> None:
        self.owned, self.good_until = owned, sent + self.lease_s
        self.renewals += 1
        self.failed = False

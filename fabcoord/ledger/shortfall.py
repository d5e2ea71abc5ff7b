"""The negative-stock rule over a batch: each posting in order, as if posted one at a time.

Pure arithmetic, kept apart from the statements. The writer applies a batch's balance changes in
one upsert that returns the balances after the whole batch; the balance before the batch is that
minus the batch's net change (the upsert's row lock, or SQLite's write lock, keeps it so), and
each posting's balance is then the one before plus the changes of the postings up to it. A posting
is refused when it takes a balance down and leaves it below zero, for an item that forbids it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

Key = tuple[int, int, str]  # item id, location id, lot


@dataclass(frozen=True)
class Shortfall:
    """The first change of the batch that would leave a balance below zero."""

    key: Key
    available: int  # the balance just before that posting
    requested: int  # what that posting takes


@dataclass
class Changes:
    """A batch's balance changes, in posting order: each posting's net change per key.

    Attributes:
        net: the batch's net change per key (what the upsert adds).
        steps: ``(posting index, key, change)`` for every nonzero change, in posting order.
    """

    forbid_negative: frozenset[int]  # ids of the items whose balances may not go below zero
    net: dict[Key, int] = field(default_factory=dict)
    steps: list[tuple[int, Key, int]] = field(default_factory=list)
    lowest: dict[Key, int] = field(default_factory=dict)  # lowest net after a taking step

    def add(self, n: int, key: Key, change: int) -> None:
        """Posting ``n``'s net change of one balance (postings added in order)."""
        if not change:
            return
        running = self.net.get(key, 0) + change
        self.net[key] = running
        self.steps.append((n, key, change))
        if change < 0 and key[0] in self.forbid_negative:
            lowest = self.lowest.get(key)
            if lowest is None or running < lowest:
                self.lowest[key] = running

    def add_posting(self, n: int, changes: list[tuple[Key, int]]) -> None:
        """Every change of posting ``n`` (several changes of one key are summed first)."""
        if len(changes) == 1:
            self.add(n, *changes[0])
            return
        mine: dict[Key, int] = {}
        for key, change in changes:
            mine[key] = mine.get(key, 0) + change
        for key, change in mine.items():
            self.add(n, key, change)

    def shortfall(self, after: dict[Key, int]) -> Shortfall | None:
        """The first refused change, given the balances ``after`` the batch (None: all fine)."""
        short = [key for key, low in self.lowest.items() if after[key] - self.net[key] + low < 0]
        if not short:
            return None
        balance = {key: after[key] - self.net[key] for key in short}
        failing: list[Shortfall] = []
        failing_n = -1
        for n, key, change in self.steps:
            if key not in balance:
                continue
            if failing and n != failing_n:
                break
            before = balance[key]
            balance[key] = before + change
            if change < 0 and before + change < 0:
                failing.append(Shortfall(key, before, -change))
                failing_n = n
        return min(failing, key=lambda s: s.key)

"""The negative-stock rule over a batch, checked against posting one request at a time."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from fabcoord.ledger.shortfall import Changes, Key, Shortfall

KEYS: list[Key] = [(1, 10, ""), (1, 11, ""), (2, 10, "L1")]  # item 2 allows negative balances
FORBID = frozenset({1})

batches = st.lists(
    st.lists(st.tuples(st.sampled_from(KEYS), st.integers(-6, 6)), min_size=1, max_size=3),
    max_size=12,
)
starts = st.fixed_dictionaries({key: st.integers(0, 8) for key in KEYS})


def one_at_a_time(start: dict[Key, int], batch: list[list[tuple[Key, int]]]) -> Shortfall | None:
    """The rule as a single posting applies it, for each posting in turn."""
    balance = dict(start)
    for legs in batch:
        change: dict[Key, int] = {}
        for key, qty in legs:
            change[key] = change.get(key, 0) + qty
        short = [
            Shortfall(key, balance[key], -qty)
            for key, qty in change.items()
            if qty < 0 and balance[key] + qty < 0 and key[0] in FORBID
        ]
        if short:
            return min(short, key=lambda s: s.key)
        for key, qty in change.items():
            balance[key] += qty
    return None


@given(start=starts, batch=batches)
def test_a_batch_is_refused_at_the_posting_that_would_be_refused_alone(
    start: dict[Key, int], batch: list[list[tuple[Key, int]]]
) -> None:
    changes = Changes(FORBID)
    for n, legs in enumerate(batch):
        changes.add_posting(n, legs)
    after = {key: start[key] + changes.net[key] for key in changes.net}
    assert changes.shortfall(after) == one_at_a_time(start, batch)


def test_a_posting_that_brings_stock_in_is_never_refused() -> None:
    changes = Changes(FORBID)
    changes.add_posting(0, [(KEYS[0], 5)])
    assert changes.shortfall({KEYS[0]: 5}) is None
    assert not changes.lowest

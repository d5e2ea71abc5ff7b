"""The content fingerprint of a posting: SHA-256 of its canonical JSON, whatever the path that
wrote it (the two-leg path and the general one), so stored fingerprints stay comparable."""

from __future__ import annotations

import hashlib
import json
import random

from sqlalchemy import Engine, text

from fabcoord.db import unit_of_work
from fabcoord.ledger import catalogue
from fabcoord.ledger.models import MoveReason
from fabcoord.ledger.posting import Leg, PostingRequest, post, post_many
from tests.factories import add_stock_location, unique


def canonical(request: PostingRequest) -> str:
    """The fingerprint as first defined: ``json.dumps`` of the content, sorted keys and legs."""
    content = {
        "reason": request.reason.value,
        "doc": [request.doc_type, request.doc_id],
        "legs": sorted([leg.item, leg.location, leg.lot, leg.qty] for leg in request.legs),
        "note": request.note,
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def requests(rng: random.Random, shelves: list[str], count: int) -> list[PostingRequest]:
    """Receipts in every leg order, moves from a place to itself, splits over several legs, with
    texts that JSON escapes (quotes, accents, controls)."""
    texts = ["", "L1", 'a "quoted" lot', "lot été", "tab\there", "ünïcødé ✓", "back\\slash"]
    made = []
    for n in range(count):
        item = rng.choice(["petg", "visor-frame", "elastic"])
        lot = rng.choice(texts)
        qty = rng.randint(1, 10_000)
        shelf = rng.choice(shelves)
        shape = n % 4
        if shape == 0:
            legs: tuple[Leg, ...] = (
                Leg(item, catalogue.SUPPLIERS, -qty, lot),
                Leg(item, shelf, qty, lot),
            )
        elif shape == 1:
            legs = (Leg(item, shelf, qty, lot), Leg(item, catalogue.SUPPLIERS, -qty, lot))
        elif shape == 2:  # a place to itself: the legs sort by quantity
            legs = (
                Leg(item, catalogue.SUPPLIERS, qty, lot),
                Leg(item, catalogue.SUPPLIERS, -qty, lot),
            )
        else:
            other = rng.choice(shelves)
            legs = (
                Leg(item, shelf, qty, lot),
                Leg(item, catalogue.SUPPLIERS, -qty - 3, lot),
                Leg(item, other, 3, lot),
            )
        made.append(
            PostingRequest(
                reason=rng.choice(list(MoveReason)),
                doc_type=rng.choice(["receipt", "print_job", "bon « livraison »"]),
                doc_id=f"{rng.choice(texts)}-{n}",
                legs=legs,
                actor="tester",
                note=rng.choice(texts),
            )
        )
    return made


def test_every_posting_is_fingerprinted_as_the_json_of_its_content(engine: Engine) -> None:
    # codes on both sides of "supplier" in sort order, so that either leg may sort first
    shelves = [add_stock_location(engine, unique(prefix)) for prefix in ("a-shelf", "z-shelf")]
    batch = requests(random.Random(12), shelves, 120)
    with unit_of_work(engine) as session:
        posted = post_many(session=session, requests=batch)
    with unit_of_work(engine) as session:
        single = post(session=session, request=batch[0])
    assert [p.fingerprint for p in posted] == [canonical(r) for r in batch]
    assert single.fingerprint == canonical(batch[0])
    with engine.connect() as connection:
        stored = dict(connection.execute(text("SELECT id, fingerprint FROM posting")).all())
    assert [stored[p.id] for p in [*posted, single]] == [p.fingerprint for p in [*posted, single]]

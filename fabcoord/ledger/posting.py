"""Posting to the ledger: the only code that writes stock moves.

A posting is atomic: its legs, the balance cache and the negative-stock check take effect together
or not at all, and a refused posting leaves the caller's transaction exactly as it was (see
:mod:`fabcoord.ledger.atomic`: a savepoint only when the caller has other work in the transaction).
The caller owns the transaction and commits.

The idempotency key is checked by the header's unique constraint, not by a read before: a header
whose key is taken is not inserted (``ON CONFLICT DO NOTHING``), and only then is the earlier
posting read, to answer with it (same content) or refuse (IdempotencyConflict).

Negative stock is refused without a read-then-write race: each balance is changed by one atomic
``INSERT … ON CONFLICT DO UPDATE … RETURNING`` whose row lock (PostgreSQL) or the ``BEGIN IMMEDIATE``
write lock (SQLite) orders concurrent writers; the returned balance is the one after this posting
(for a batch, after the whole batch: each posting is then checked in order, see
:mod:`fabcoord.ledger.shortfall`).
Only real locations have cached balances: the virtual counterparts (supplier, production, …) take
a leg of almost every posting, so caching them would make one row that every writer must lock.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from json.encoder import encode_basestring_ascii as _json
from typing import Any, cast

from sqlalchemy import Connection, bindparam
from sqlalchemy import select as core_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from fabcoord.clock import utc_now as utc_now  # re-exported: capabilities stamp records with it
from fabcoord.errors import (
    AlreadyReversed,
    IdempotencyConflict,
    InvalidInput,
    InvalidQuantity,
    ReversalOfReversal,
    UnbalancedPosting,
    UnknownMove,
)
from fabcoord.ledger import lookups, writer
from fabcoord.ledger.atomic import atomic
from fabcoord.ledger.models import Item, Location, MoveReason, Posting, StockMove
from fabcoord.ledger.units import MAX_QUANTITY
from fabcoord.ledger.writer import Posted

_POSTING = Posting.__table__  # type: ignore[attr-defined]
_SELECT_BY_KEYS = core_select(_POSTING).where(
    _POSTING.c.idempotency_key.in_(bindparam("keys", expanding=True))
)


@dataclass(frozen=True, slots=True)
class Leg:
    """One signed quantity of an item (and lot) at a location, in the item's base unit."""

    item: str
    location: str
    qty: int
    lot: str = ""

    def __init__(self, item: str, location: str, qty: int, lot: str = "") -> None:
        # a frozen dataclass's own __init__ sets each field through object.__setattr__, which
        # costs more per receipt than validating it: each slot is set by its own descriptor
        # (slots, not a __dict__: one object for the garbage collector to track, not two)
        _LEG_ITEM(self, item)
        _LEG_LOCATION(self, location)
        _LEG_QTY(self, qty)
        _LEG_LOT(self, lot)


@dataclass(frozen=True, slots=True)
class PostingRequest:
    """What to post. ``doc_type``/``doc_id`` name the causing document."""

    reason: MoveReason
    doc_type: str
    doc_id: str
    legs: tuple[Leg, ...]
    actor: str
    idempotency_key: str | None = None
    note: str = ""

    def __init__(
        self,
        reason: MoveReason,
        doc_type: str,
        doc_id: str,
        legs: tuple[Leg, ...],
        actor: str,
        idempotency_key: str | None = None,
        note: str = "",
    ) -> None:
        _REQUEST_REASON(self, reason)  # as Leg: each slot set directly
        _REQUEST_DOC_TYPE(self, doc_type)
        _REQUEST_DOC_ID(self, doc_id)
        _REQUEST_LEGS(self, legs)
        _REQUEST_ACTOR(self, actor)
        _REQUEST_KEY(self, idempotency_key)
        _REQUEST_NOTE(self, note)


_LEG_ITEM, _LEG_LOCATION, _LEG_QTY, _LEG_LOT = writer.slot_setters(
    Leg, "item", "location", "qty", "lot"
)
(
    _REQUEST_REASON,
    _REQUEST_DOC_TYPE,
    _REQUEST_DOC_ID,
    _REQUEST_LEGS,
    _REQUEST_ACTOR,
    _REQUEST_KEY,
    _REQUEST_NOTE,
) = writer.slot_setters(
    PostingRequest, "reason", "doc_type", "doc_id", "legs", "actor", "idempotency_key", "note"
)


def transfer(
    *,
    item: str,
    qty: int,
    source: str,
    destination: str,
    lot: str = "",
) -> tuple[Leg, Leg]:
    """The two legs that move ``qty`` of an item from ``source`` to ``destination``."""
    return (Leg(item, source, -qty, lot), Leg(item, destination, qty, lot))


def post(*, session: Session, request: PostingRequest) -> Posted:
    """Post one balanced set of legs.

    Returns:
        The new posting, or the earlier one when ``idempotency_key`` was already posted with the
        same content.

    Raises:
        InvalidQuantity, UnbalancedPosting, UnknownItem, UnknownLocation, InsufficientStock,
        IdempotencyConflict. On any of them nothing was written.
    """
    return post_many(session=session, requests=[request])[0]


def post_many(*, session: Session, requests: Sequence[PostingRequest]) -> list[Posted]:
    """Post several requests atomically (all or none), in order: the path for batches.

    The whole batch is written set-wise (a fixed number of statements whatever its size) at one
    time, ``posted_at``. The negative-stock rule is applied to each request in order, as if they
    were posted one after another: a request may not take stock that only a later request of the
    batch brings in. A refusal refuses the whole batch.

    Raises:
        As :func:`post`, for the first request that fails; on any of them nothing was written.
    """
    if not requests:
        return []
    posted_at = utc_now()
    new = [_prepared(request, posted_at) for request in requests]
    fresh = _first_per_key(new)
    with atomic(session) as connection:
        items, locations = lookups.resolve(
            session,
            connection,
            {leg[0] for p in fresh for leg in p.legs},
            {leg[1] for p in fresh for leg in p.legs},
        )
        written = writer.write(connection, fresh, items, locations)
        taken = [p for p, w in zip(fresh, written, strict=True) if w is None]
        earlier = _earlier_postings(connection, taken)
    posted = [w for w in written if w is not None]
    if len(posted) == len(requests):  # the usual case: every request new, none twice
        return posted
    by_key = {w.idempotency_key: w for w in posted if w.idempotency_key is not None}
    by_key.update(earlier)
    by_new = {id(p): w for p, w in zip(fresh, written, strict=True) if w is not None}
    return [by_new[id(p)] if p.idempotency_key is None else by_key[p.idempotency_key] for p in new]


def reverse(*, session: Session, posting_id: int, reason: str, actor: str) -> Posted:
    """Post the exact opposite of a posting, linked to it; the original is never changed.

    Raises:
        UnknownMove, ReversalOfReversal, AlreadyReversed, InsufficientStock (the stock it brought
        in has been used since).
    """
    reason = reason.strip()
    if not reason:
        raise InvalidInput("a reversal needs a reason")
    original = session.get(Posting, posting_id)
    if original is None:
        raise UnknownMove(f"unknown move {posting_id}")
    if original.reverses_id is not None:
        raise ReversalOfReversal(
            f"move {posting_id} is itself the reversal of move {original.reverses_id}: "
            "post a new move instead"
        )
    reversed_by = session.exec(select(Posting.id).where(Posting.reverses_id == posting_id)).first()
    if reversed_by is not None:
        raise AlreadyReversed(f"move {posting_id} was already reversed by move {reversed_by}")
    rows = session.exec(
        select(StockMove, Item.code, Location.code)
        .join(Item, col(Item.id) == StockMove.item_id)
        .join(Location, col(Location.id) == StockMove.location_id)
        .where(StockMove.posting_id == posting_id)
        .order_by(col(StockMove.id))
    ).all()
    request = PostingRequest(
        reason=MoveReason.REVERSAL,
        doc_type=original.doc_type,
        doc_id=original.doc_id,
        legs=tuple(Leg(item, location, -move.qty, move.lot) for move, item, location in rows),
        actor=actor,
        note=reason,
    )
    new = _prepared(request, utc_now(), reverses_id=posting_id)
    try:
        with atomic(session) as connection:
            items, locations = lookups.resolve(
                session,
                connection,
                (leg.item for leg in request.legs),
                (leg.location for leg in request.legs),
            )
            posting = writer.write(connection, [new], items, locations)[0]
    except IntegrityError:
        raise AlreadyReversed(f"move {posting_id} was already reversed") from None
    assert posting is not None  # a reversal has no idempotency key
    return posting


# ``NewPosting``'s own constructor is Python code; the tuple's is not (measured 0.3 µs less per
# posting). Used only with every field given, in order.
_new_posting = cast(
    "Callable[[type[writer.NewPosting], tuple[Any, ...]], writer.NewPosting]", tuple.__new__
)

_LIMITS = (("document type", 40), ("document id", 120), ("actor", 120), ("note", 500))


def _prepared(
    request: PostingRequest, posted_at: datetime, *, reverses_id: int | None = None
) -> writer.NewPosting:
    """Validate a request (InvalidInput, InvalidQuantity, UnbalancedPosting) and return it ready
    to write, with its content fingerprint. The usual request passes a few cheap tests; the
    detailed checks, which word the refusal, run only when one of them fails. The usual posting,
    one quantity of one item and lot from one place to another, is checked and fingerprinted
    without a loop."""
    doc_type, doc_id, actor, note = request.doc_type, request.doc_id, request.actor, request.note
    stored_type, stored_id = doc_type.strip(), doc_id.strip()
    if (
        not stored_type
        or not stored_id
        or len(doc_type) > 40
        or len(doc_id) > 120
        or len(actor) > 120
        or len(note) > 500
    ):
        _check_header(request)
    key = request.idempotency_key
    if key is not None and not 0 < len(key) <= 200:
        raise InvalidInput("idempotency key must be 1 to 200 characters")
    legs = request.legs
    if len(legs) == 2:
        a, b = legs
        item, lot, qty = a.item, a.lot, a.qty
        if (
            type(qty) is int
            and type(b.qty) is int
            and b.qty == -qty
            and 0 < abs(qty) <= MAX_QUANTITY
            and b.item == item
            and b.lot == lot
            and len(lot) <= 80
        ):
            here, there = a.location, b.location
            i, at, lot_text = _json(item), _json(here), _json(lot)
            rows_text = (  # the two legs sorted as (item, location, lot, qty): item and lot agree
                _FINGERPRINT_TWO_LEGS % (i, at, lot_text, qty, i, _json(there), lot_text, -qty)
                if (here, qty) <= (there, -qty)
                else _FINGERPRINT_TWO_LEGS % (i, _json(there), lot_text, -qty, i, at, lot_text, qty)
            )
            return _new_posting(
                writer.NewPosting,
                (
                    request.reason,
                    stored_type,
                    stored_id,
                    actor,
                    posted_at,
                    key,
                    _fingerprint(request, rows_text),
                    reverses_id,
                    note,
                    ((item, here, qty, lot), (item, there, -qty, lot)),
                ),
            )
    elif len(legs) < 2:
        raise UnbalancedPosting("a posting needs at least two legs (from and to)")
    totals: dict[tuple[str, str], int] = {}
    rows = []
    for leg in legs:
        item, location, qty, lot = leg.item, leg.location, leg.qty, leg.lot
        if type(qty) is not int or not 0 < abs(qty) <= MAX_QUANTITY or len(lot) > 80:
            _check_leg(leg)
        pair = (item, lot)
        totals[pair] = totals.get(pair, 0) + qty
        rows.append((item, location, lot, qty))
    if any(totals.values()):
        _refuse_unbalanced(totals)
    rows.sort()
    return writer.NewPosting(
        request.reason,
        stored_type,
        stored_id,
        actor,
        posted_at,
        key,
        _fingerprint(
            request,
            ", ".join(
                [_FINGERPRINT_LEG % (_json(i), _json(at), _json(lot), q) for i, at, lot, q in rows]
            ),
        ),
        reverses_id,
        note,
        tuple([(leg.item, leg.location, leg.qty, leg.lot) for leg in legs]),
    )


def _check_header(request: PostingRequest) -> None:
    if not request.doc_type.strip() or not request.doc_id.strip():
        raise InvalidInput("every move must name its causing document (type and id)")
    for (what, limit), value in zip(
        _LIMITS, (request.doc_type, request.doc_id, request.actor, request.note), strict=True
    ):
        if len(value.strip()) > limit:
            raise InvalidInput(f"{what} is too long: at most {limit} characters")


def _check_leg(leg: Leg) -> None:
    if isinstance(leg.qty, bool) or not isinstance(leg.qty, int):
        raise InvalidQuantity(f"quantity of {leg.item} must be a whole number, got {leg.qty!r}")
    if leg.qty == 0:
        raise InvalidQuantity(f"quantity of {leg.item} at {leg.location} must not be zero")
    if abs(leg.qty) > MAX_QUANTITY:
        raise InvalidQuantity(f"quantity of {leg.item} is too large: {leg.qty}")
    if len(leg.lot) > 80:
        raise InvalidInput(f"lot {leg.lot[:20]}… is too long: at most 80 characters")


def _refuse_unbalanced(totals: dict[tuple[str, str], int]) -> None:
    item, lot = sorted(key for key, total in totals.items() if total != 0)[0]
    raise UnbalancedPosting(
        f"legs of {item}{' lot ' + lot if lot else ''} do not sum to zero: "
        "every quantity taken somewhere must go somewhere"
    )


_FINGERPRINT = '{"doc": [%s, %s], "legs": [%s], "note": %s, "reason": %s}'
_FINGERPRINT_LEG = "[%s, %s, %s, %d]"
_FINGERPRINT_TWO_LEGS = f"{_FINGERPRINT_LEG}, {_FINGERPRINT_LEG}"


def _fingerprint(request: PostingRequest, legs: str) -> str:
    """SHA-256 of the request's content as canonical JSON (sorted keys, sorted legs).

    The text is exactly ``json.dumps(content, sort_keys=True)`` of ``{"reason", "doc": [type,
    id], "legs": [[item, location, lot, qty], …] sorted, "note"}`` (stored fingerprints must stay
    comparable), written out directly because ``json.dumps`` costs more than the whole insert.
    ``legs`` is the legs' part of that text (``[item, location, lot, qty]`` each, sorted)."""
    text = _FINGERPRINT % (
        _json(request.doc_type),
        _json(request.doc_id),
        legs,
        _json(request.note),
        _json(request.reason),  # a StrEnum: its text is its value
    )
    return hashlib.sha256(text.encode()).hexdigest()


def _earlier_postings(
    connection: Connection, taken: Sequence[writer.NewPosting]
) -> dict[str, Posted]:
    """The postings that hold the keys found taken; IdempotencyConflict if one differs."""
    if not taken:
        return {}
    keys = sorted({p.idempotency_key for p in taken if p.idempotency_key is not None})
    found = {
        row.idempotency_key: Posted.of(row)
        for row in connection.execute(_SELECT_BY_KEYS, {"keys": keys})
    }
    for p in taken:
        key = p.idempotency_key
        if key is None or key not in found:  # never expected: the key's row was just seen
            raise RuntimeError(f"idempotency key {key!r} reported taken but not found")
        if found[key].fingerprint != p.fingerprint:
            raise IdempotencyConflict(
                f"idempotency key {key!r} was already used for move {found[key].id} "
                "with different content"
            )
    return found


def _first_per_key(new: list[writer.NewPosting]) -> list[writer.NewPosting]:
    """The postings less repeats of an idempotency key (IdempotencyConflict if one differs)."""
    seen: dict[str, str] = {}
    kept = []
    for p in new:
        key = p.idempotency_key
        if key is not None:
            if key in seen:
                if seen[key] != p.fingerprint:
                    raise IdempotencyConflict(f"idempotency key {key!r} used twice in one batch")
                continue
            seen[key] = p.fingerprint
        kept.append(p)
    return kept

"""In-process events: how one capability package's change reaches another without importing it.

A package announces what happened (``publish(session=…, event=…)``); the composition root (``cli.py``,
or a test) subscribes the other packages' handlers at start-up. Handlers run synchronously in the
publisher's transaction, so what they write commits or rolls back with the change that caused it;
a handler that raises a :class:`~fabcoord.errors.FabcoordError` refuses the whole operation.

Known event kinds (stable names; the payload keys each one carries):

- ``production_started``: ``reference``, ``doc_type``, ``doc_id`` — the first work for an order started.
- ``order_planned``: ``reference``, ``expected_delivery``, ``allocated``, ``reason`` — its plan.
- ``plan_accepted``: ``plan_id``, ``jobs``, ``partners``, ``said`` — a plan was accepted; packages
  act on their part of it (``partners``: per partner key, its visors, date and order lines) and
  may append a sentence for the coordinator to ``said`` (a list) about what they changed.
- ``shipment_posted``: ``reference``, ``shipment``, ``quantity``, ``fully_shipped`` — goods left.
- ``receipt_confirmed``: ``reference``, ``shipment``, ``received``, ``refused``,
  ``fully_delivered`` — goods reached the hospital (a signed receipt, or a partner's delivery).
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlmodel import Session


@dataclass(frozen=True)
class Event:
    """Something that happened, with who caused it."""

    kind: str
    actor: str
    payload: Mapping[str, Any] = field(default_factory=dict)


Handler = Callable[..., None]
"""Called as ``handler(session=session, event=event)``."""


class Subscribers:
    """Which handlers hear which event kinds. The composition root owns the one in use."""

    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = defaultdict(list)
        self._deferred: list[Callable[[Subscribers], None]] = []
        self._deferred_lock = threading.Lock()

    def defer(self, setup: Callable[[Subscribers], None]) -> None:
        """Run ``setup(self)`` before the first event is published, not now: a command that
        publishes nothing never imports the packages whose handlers it would have run."""
        if setup not in self._deferred:
            self._deferred.append(setup)

    def subscribe(self, kind: str, handler: Handler) -> None:
        """Add a handler; adding the same one twice keeps one."""
        if handler not in self._handlers[kind]:
            self._handlers[kind].append(handler)

    def clear(self) -> None:
        self._handlers.clear()
        self._deferred.clear()

    def publish(self, *, session: Session, event: Event) -> None:
        """Run every handler of the event's kind, in subscription order, in this transaction."""
        if self._deferred:
            with self._deferred_lock:  # web requests publish from several threads
                while self._deferred:
                    self._deferred.pop(0)(self)
        for handler in list(self._handlers.get(event.kind, ())):
            handler(session=session, event=event)


subscribers = Subscribers()
"""The process's subscribers: filled by the composition root, empty until then."""


def publish(*, session: Session, event: Event) -> None:
    """Announce an event to the process's subscribers."""
    subscribers.publish(session=session, event=event)

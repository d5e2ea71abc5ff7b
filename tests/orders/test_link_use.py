"""A link's last use is kept to the minute: orders through one link at once do not each rewrite
(and lock) the link's row."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine

from fabcoord.db import unit_of_work
from orders import links
from orders.models import HospitalLink


def test_a_link_used_again_within_a_minute_is_not_rewritten(token: str, engine: Engine) -> None:
    with unit_of_work(engine) as session:
        link_id = links.authenticate(session=session, token=token).link_id
        links.mark_used(session=session, link_id=link_id)
    with unit_of_work(engine) as session:
        first = session.get(HospitalLink, link_id).last_used_at  # type: ignore[union-attr]
        links.mark_used(session=session, link_id=link_id)
        assert not session.dirty  # nothing to write
    with unit_of_work(engine) as session:
        link = session.get(HospitalLink, link_id)
        assert link is not None and link.last_used_at == first and first is not None
        link.last_used_at = first - timedelta(minutes=2)
        session.add(link)
    with unit_of_work(engine) as session:
        links.mark_used(session=session, link_id=link_id)
    with unit_of_work(engine, read_only=True) as session:
        again = session.get(HospitalLink, link_id).last_used_at  # type: ignore[union-attr]
    assert again is not None and again > first - timedelta(minutes=1)

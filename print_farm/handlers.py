"""What the print farm does when other capabilities announce something (subscribed by the
composition root), and the capacity it offers the planner.

``plan_accepted``: the jobs the plan gives fablabs with printers are queued for that fablab's
printers only. Jobs of those orders not started yet (queued or held) are replaced: the accepted plan
is where not-yet-started work goes; a job already starting or printing is never moved.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, time

from sqlmodel import Session, col, select

from fabcoord import demand, events, fablabs
from fabcoord.clock import utc_now
from fabcoord.errors import InvalidInput
from fabcoord.planning.capacity import Providers
from print_farm import capacity, queue
from print_farm.models import Design, FarmPrinter, JobState, PrintJob


class NoDesignForPlan(InvalidInput):
    """A fablab was planned print jobs but no design is registered to print them."""


def on_plan_accepted(*, session: Session, event: events.Event) -> None:
    """Queue the plan's jobs on their fablabs' printers, replacing the orders' unstarted jobs."""
    plan_id = event.payload["plan_id"]
    planned: dict[tuple[str, str, int], int] = defaultdict(int)
    for job in event.payload["jobs"]:
        planned[(job["fablab"], job["reference"], int(job["line"]))] += int(job["frames"])
    references = sorted({ref for _, ref, _ in planned})
    if references:
        stale = session.exec(
            select(PrintJob)
            .where(
                col(PrintJob.order_ref).in_(references),
                col(PrintJob.status).in_((JobState.QUEUED, JobState.HELD)),
            )
            .with_for_update()
        )
        now = utc_now()
        for job in stale:
            job.status, job.finished_at = JobState.CANCELLED, now
            job.last_error = f"re-planned by plan {plan_id}"
            session.add(job)
    designs = list(session.exec(select(Design)))
    for (slug, reference, line), frames in sorted(planned.items()):
        if frames <= 0:
            continue
        lab = fablabs.get_fablab(session=session, name=slug)
        loaded = {
            p.loaded_material
            for p in session.exec(select(FarmPrinter).where(FarmPrinter.fablab_id == lab.id))
            if p.loaded_material
        }
        design = capacity.best_design(designs, loaded)
        if design is None:
            raise NoDesignForPlan(
                f"plan {plan_id} gives {lab.name} {frames} frames to print but no design is "
                "registered (see 'fabcoord designs add')"
            )
        row = next(
            r for r in demand.lines_of(session=session, reference=reference) if r.line == line
        )
        queue.enqueue(
            session=session,
            design=design.name,
            count=frames,
            order_ref=reference,
            line=line,
            fablab=lab.name,
            priority=max(-queue.MAX_PRIORITY, min(queue.MAX_PRIORITY, row.priority)),
            needed_by=datetime.combine(row.needed_by, time(), tzinfo=UTC),
        )


def subscribe(subscribers: events.Subscribers) -> None:
    """Hear the events the print farm acts on."""
    subscribers.subscribe("plan_accepted", on_plan_accepted)


def provide(providers: Providers) -> None:
    """Offer the planner the farm's capacity and the frames under way per order line."""
    capacity.provide(providers)

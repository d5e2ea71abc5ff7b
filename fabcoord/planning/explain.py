"""``plan explain REF``: why an order went where it went, and what limits it, in sentences a
coordinator can read to a hospital."""

from __future__ import annotations

from datetime import date
from typing import Any

from fabcoord.planning.plans import PlanView


class OrderNotInPlan(LookupError):
    pass


def _units(item: str, quantity: int) -> str:
    word = "visor" if item == "visor" else "frame"
    return f"{quantity} {word}{'s' if quantity != 1 else ''}"


def _day(text: str) -> str:
    return date.fromisoformat(text).strftime("%-d %B %Y")


def explain(plan: PlanView, reference: str) -> list[str]:
    """Sentences about every line of an order in this plan (empty when the order is not in it)."""
    result = plan.result
    reference = reference.strip()
    sentences: list[str] = []
    sites: dict[str, Any] = result["sites"]
    excluded: dict[str, str] = result.get("excluded", {})
    for key, why in sorted(excluded.items()):
        if key.split("/")[0] == reference:
            sentences.append(
                f"Line {key.split('/')[1]} of order {reference} cannot be planned: {why}."
            )
    for line in result["lines"]:
        if line["reference"] != reference:
            continue
        head = (
            f"Order {reference}, line {line['line']}: {_units(line['item'], line['quantity'])} "
            f"still to make for {line['hospital']}, needed by {_day(line['needed_by'])}"
            f" (priority {line['priority']})."
        )
        sentences.append(head)
        for part in line["parts"]:
            site = sites.get(part["site"], {"name": part["site"], "notes": [], "binding": []})
            if site.get("kind") == "partner":
                sentences.extend(_partner_part(line, part, site, plan.accepted_at is not None))
                continue
            stock = f", {part['from_stock']} of them already in stock" if part["from_stock"] else ""
            sentences.append(
                f"{_units(line['item'], part['quantity'])} go to {site['name']}, "
                f"{part['distance_km']} km away{stock}: it was chosen because it is among the "
                f"nearest with room left before the date; they should be ready on "
                f"{_day(part['completion'])} and delivered on {_day(part['delivery'])}."
            )
            sentences.extend(f"{site['name']}: {note}." for note in site["notes"])
            sentences.extend(f"Limit: {text}." for text in site["binding"])
        if line["delivery"]:
            if line["late_days"]:
                sentences.append(
                    f"The whole line should arrive on {_day(line['delivery'])}, "
                    f"{line['late_days']} day(s) after the date asked: no nearer fablab or maker "
                    "has the capacity to do better."
                )
            else:
                sentences.append(
                    f"The whole line should arrive on {_day(line['delivery'])}, in time."
                )
        if line["unmet"]:
            sentences.append(
                f"{_units(line['item'], line['unmet'])} cannot be made within the "
                f"{plan.horizon_days}-day horizon: every fablab and maker within reach is full "
                "or short of material; this quantity is part of the hand-off recommendation."
            )
    handoff = result.get("handoff")
    if sentences and handoff and any(k.split("/")[0] == reference for k in handoff["orders"]):
        beyond = " beyond the partner allocations of this plan" if handoff.get("partners") else ""
        sentences.append(
            f"The plan recommends handing {handoff['visors']} more visors to an industrial "
            f"partner{beyond} by {_day(handoff['by'])}; this order is one of those that bind."
        )
    return sentences


def _partner_part(
    line: dict[str, Any], part: dict[str, Any], site: dict[str, Any], accepted: bool
) -> list[str]:
    """Why part of a line went to a partner manufacturer, and what accepting the plan does."""
    volunteers = (
        "fablabs and makers within reach cannot deliver it by the date asked"
        if part["delivery"] <= line["needed_by"]
        else "fablabs and makers within reach would deliver it even later"
    )
    cost = site.get("unit_cost", 0)
    sentences = [
        f"{_units(line['item'], part['quantity'])} go to {site['name']}, an industrial partner "
        f"{part['distance_km']} km away: {volunteers}, so the plan hands them to the partner "
        f"(a partner's visor counts {cost} more than a volunteer's, as {cost} km, so fablabs and "
        f"makers are used first); they should be ready on {_day(part['completion'])} and "
        f"delivered on {_day(part['delivery'])}.",
    ]
    sentences.extend(f"{site['name']}: {note}." for note in site["notes"])
    sentences.append(
        "The plan was accepted: this is a draft hand-off to the partner, sent to its Odoo only by "
        "'fabcoord handoff send ID' (see 'fabcoord handoff list --state draft')."
        if accepted
        else "Accepting the plan records this as a draft hand-off to the partner; it is sent to "
        "the partner's Odoo only by 'fabcoord handoff send ID'."
    )
    return sentences

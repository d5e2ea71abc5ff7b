"""The purchase order (or request for quote, while a draft) as a one-page PDF in French. The only
module that uses reportlab."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from sqlmodel import Session

from fabcoord.ledger import catalogue
from fabcoord.records import Fablab, Region
from suppliers.models import PurchaseOrder, PurchaseState, Supplier

_UNITS_FR = {
    "g": "g",
    "kg": "kg",
    "mm": "mm",
    "m": "m",
    "cm": "cm",
    "sheet": "feuilles",
    "pcs": "pièces",
}
_FACTOR = {"kg": 1000, "m": 1000, "cm": 10}


def render(*, session: Session, order: PurchaseOrder, today: date, compress: bool = True) -> bytes:
    """The PDF bytes: « Demande de prix » for a draft, « Bon de commande » otherwise.

    ``compress=False`` leaves the page text readable in the bytes (for tests)."""
    supplier = session.get(Supplier, order.supplier_id)
    fablab = session.get(Fablab, order.fablab_id)
    assert supplier is not None and fablab is not None
    region = session.get(Region, fablab.region_id)
    item = catalogue.get_item(session=session, code=order.item_code)
    draft = order.state is PurchaseState.DRAFT
    title = "Demande de prix" if draft else "Bon de commande"
    styles = getSampleStyleSheet()
    factor = _FACTOR.get(order.price_unit, 1)
    shown_qty = Decimal(order.quantity) / factor
    unit_fr = _UNITS_FR.get(order.price_unit, order.price_unit)
    price = "à préciser" if order.unit_price_cents is None else _euros(order.unit_price_cents)
    total = (
        "à préciser"
        if order.unit_price_cents is None
        else _euros(int(Decimal(order.unit_price_cents) * shown_qty))
    )

    def p(text: str, style: str = "Normal") -> Paragraph:
        return Paragraph(text, styles[style])

    supplier_lines = [
        f"<b>{escape(supplier.name)}</b>",
        escape(supplier.address),
        escape(f"{supplier.postal_code} {supplier.city}"),
        f"SIRET : {supplier.siret}" if supplier.siret else "SIRET : non communiqué",
        escape(supplier.contact),
    ]
    delivery_lines = [
        f"<b>{escape(fablab.name)}</b>",
        escape(f"{fablab.city} ({region.name if region else ''})"),
        escape(fablab.contact),
    ]
    parties = Table(
        [
            [p("<b>Fournisseur</b>"), p("<b>Livraison</b>")],
            [
                p("<br/>".join(line for line in supplier_lines if line)),
                p("<br/>".join(line for line in delivery_lines if line)),
            ],
        ],
        colWidths=[85 * mm, 85 * mm],
    )
    lines = Table(
        [
            ["Article", "Désignation", "Quantité", "Prix unitaire HT", "Total HT"],
            [
                item.code,
                p(escape(item.name)),
                f"{_number(shown_qty)} {unit_fr}",
                price if order.unit_price_cents is None else f"{price} / {unit_fr}",
                total,
            ],
        ],
        colWidths=[25 * mm, 60 * mm, 30 * mm, 30 * mm, 25 * mm],
    )
    lines.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.5, colors.grey),
                ("BACKGROUND", (0, 0), (-1, 0), colors.lightgrey),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    expected = (
        f"Livraison attendue le {order.expected_on:%d/%m/%Y}."
        if order.expected_on
        else "Merci de nous indiquer votre délai de livraison."
    )
    ask = (
        "Merci de nous faire parvenir votre meilleur prix et votre délai pour la fourniture "
        "ci-dessous."
        if draft
        else "Merci de livrer la fourniture ci-dessous et de rappeler le numéro de commande et le "
        "numéro de lot sur le bon de livraison."
    )
    story = [
        p(f"{title} n° {order.id}", "Title"),
        p(f"Date : {today:%d/%m/%Y}"),
        Spacer(1, 6 * mm),
        parties,
        Spacer(1, 6 * mm),
        p(ask),
        Spacer(1, 4 * mm),
        lines,
        Spacer(1, 4 * mm),
        p(expected),
        p(escape(order.note)) if order.note else Spacer(1, 0),
        Spacer(1, 8 * mm),
        p(
            "Matière destinée à la fabrication bénévole de visières de protection pour les "
            "établissements de santé (crise sanitaire COVID-19).",
            "Italic",
        ),
    ]
    buffer = io.BytesIO()
    SimpleDocTemplate(
        buffer,
        pagesize=A4,
        title=f"{title} n° {order.id}",
        author=fablab.name,
        leftMargin=20 * mm,
        rightMargin=20 * mm,
        pageCompression=1 if compress else 0,
    ).build(story)
    return buffer.getvalue()


def _number(value: Decimal) -> str:
    text = f"{value:,.3f}".rstrip("0").rstrip(".")
    return text.replace(",", " ").replace(".", ",")


def _euros(cents: int) -> str:
    text = f"{Decimal(cents) / 100:,.2f}".replace(",", " ").replace(".", ",")
    return f"{text} €"

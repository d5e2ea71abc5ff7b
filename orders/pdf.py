"""The printable order (PDF): what the hospital's accounts and stores file. The only module that
imports reportlab."""

from __future__ import annotations

import io
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from orders.forms import ITEM_FR, PRIORITY_FR, STATUS_FR, paris_time
from orders.schemas import OrderPublic


def order_pdf(order: OrderPublic) -> bytes:
    """One A4 page (or more) describing the order: references, site, lines, dates, contact."""
    styles = getSampleStyleSheet()
    out = io.BytesIO()
    document = SimpleDocTemplate(
        out,
        pagesize=A4,
        title=f"Commande {order.reference}",
        author="fabcoord",
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=18 * mm,
        bottomMargin=18 * mm,
    )

    def text(value: object) -> Paragraph:  # user text is data, never reportlab markup
        return Paragraph(escape(str(value)).replace("\n", "<br/>"), styles["BodyText"])

    site = order.site.name if order.site else ""
    facts = [
        ["Référence", order.reference],
        ["Bon de commande de l'hôpital", order.purchase_order or "—"],
        ["Hôpital", order.hospital],
        ["Service", order.department],
        ["Contact", f"{order.contact_name} — {order.contact_email} — {order.contact_phone}"],
        ["Livraison à", f"{site}\n{order.delivery_address}" if site else order.delivery_address],
        ["Date de besoin", order.needed_by.strftime("%d/%m/%Y")],
        [
            "Livraison prévue",
            order.expected_delivery.strftime("%d/%m/%Y") if order.expected_delivery else "—",
        ],
        ["Priorité", PRIORITY_FR.get(order.priority.value, order.priority.value)],
        ["État", STATUS_FR.get(order.status.value, order.status.value)],
        ["Reçue le", f"{paris_time(order.created_at)} (heure de Paris)"],
    ]
    if order.urgency_reason:
        facts.append(["Motif de l'urgence", order.urgency_reason])
    if order.notes:
        facts.append(["Remarques", order.notes])
    lines = [["Ligne", "Modèle", "Code", "Quantité"]] + [
        [
            str(x.line),
            text(ITEM_FR.get(x.item, x.item)),
            x.item,
            f"{x.quantity:,}".replace(",", " "),
        ]
        for x in order.lines
    ]
    lines.append(["", "Total", "", f"{order.quantity:,}".replace(",", " ")])
    grid = TableStyle(
        [
            ("GRID", (0, 0), (-1, -1), 0.5, colors.grey),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("FONTNAME", (0, 0), (0, -1), "Helvetica-Bold"),
        ]
    )
    header = TableStyle(
        [
            ("GRID", (0, 0), (-1, -1), 0.5, colors.grey),
            ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e1ecf7")),
            ("FONTNAME", (0, 0), (-1, 0), "Helvetica-Bold"),
            ("FONTNAME", (0, -1), (-1, -1), "Helvetica-Bold"),
            ("ALIGN", (-1, 0), (-1, -1), "RIGHT"),
        ]
    )
    story = [
        Paragraph(f"Commande de visières {escape(order.reference)}", styles["Title"]),
        Table(
            [[label, text(value)] for label, value in facts],
            colWidths=[55 * mm, 119 * mm],
            style=grid,
        ),
        Spacer(1, 6 * mm),
        Paragraph("Articles", styles["Heading2"]),
        Table(lines, colWidths=[18 * mm, 96 * mm, 30 * mm, 30 * mm], style=header),
    ]
    document.build(story)
    return out.getvalue()

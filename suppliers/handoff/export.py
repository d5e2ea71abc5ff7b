"""The fallback for partners without API access: the same order as a PDF purchase order and a CSV.

reportlab is imported only here, and only when a PDF is written.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

from sqlmodel import Session

from fabcoord.clock import utc_now
from fabcoord.errors import InvalidInput
from suppliers.handoff import service
from suppliers.handoff.models import Partner

CSV_COLUMNS = (
    "reference",
    "partner",
    "customer",
    "product_code",
    "product",
    "quantity",
    "needed_by",
    "deliver_to",
    "serves_orders",
)


@dataclass(frozen=True)
class PurchaseOrder:
    reference: str
    partner: str
    customer: str
    product_code: str
    product: str
    quantity: int
    needed_by: str
    deliver_to: str
    serves_orders: str


def purchase_order(*, session: Session, handoff_id: int) -> PurchaseOrder:
    """What the partner is asked for, as written on the PDF and the CSV."""
    handoff = service.get_handoff(session=session, handoff_id=handoff_id)
    partner = session.get(Partner, handoff.partner_id)
    assert partner is not None
    return PurchaseOrder(
        reference=handoff.ref,
        partner=partner.name,
        customer=partner.customer_name,
        product_code=handoff.item_code,
        product=service.item_name(session=session, code=handoff.item_code),
        quantity=handoff.quantity,
        needed_by=handoff.needed_by.isoformat(),
        deliver_to=handoff.destination,
        serves_orders=handoff.orders.replace(",", " "),
    )


def write(order: PurchaseOrder, folder: Path) -> tuple[Path, Path]:
    """Write ``<reference>.pdf`` and ``<reference>.csv`` into ``folder``; return their paths.

    Raises:
        InvalidInput: the folder does not exist or cannot be written to.
    """
    if not folder.is_dir():
        raise InvalidInput(f"--to {folder} is not a folder")
    csv_path = folder / f"{order.reference}.csv"
    pdf_path = folder / f"{order.reference}.pdf"
    try:
        with csv_path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(CSV_COLUMNS)
            writer.writerow([getattr(order, column) for column in CSV_COLUMNS])
        _pdf(order, pdf_path)
    except OSError as error:
        raise InvalidInput(f"--to {folder}: cannot write there ({error.strerror})") from None
    return pdf_path, csv_path


def _pdf(order: PurchaseOrder, path: Path) -> None:
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    def text(value: object) -> str:  # user data is never read as reportlab markup
        return escape(str(value))

    styles = getSampleStyleSheet()
    document = SimpleDocTemplate(str(path), pagesize=A4, title=f"Purchase order {order.reference}")
    rows = [
        ["Product", "Code", "Quantity", "Needed by"],
        [order.product, order.product_code, str(order.quantity), order.needed_by],
    ]
    table = Table(rows, hAlign="LEFT")
    table.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.5, colors.grey),
                ("BACKGROUND", (0, 0), (-1, 0), colors.lightgrey),
            ]
        )
    )
    story = [
        Paragraph(f"Purchase order {text(order.reference)}", styles["Title"]),
        Paragraph(f"From: {text(order.customer)}", styles["Normal"]),
        Paragraph(f"To: {text(order.partner)}", styles["Normal"]),
        Paragraph(f"Date: {utc_now().date().isoformat()}", styles["Normal"]),
        Spacer(1, 12),
        table,
        Spacer(1, 12),
        Paragraph(f"Deliver to: {text(order.deliver_to)}", styles["Normal"]),
        Paragraph(f"Serves hospital orders: {text(order.serves_orders or '-')}", styles["Normal"]),
        Paragraph(
            f"Please quote our reference {text(order.reference)} on your confirmation and delivery notes.",
            styles["Normal"],
        ),
    ]
    document.build(story)

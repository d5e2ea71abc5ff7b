"""The batch's and shipment's documents, in French, A4 PDF: the only module that uses reportlab.

- :func:`batch_record_pdf`: the technical record of a batch (lots, frame sources, checks, release)
- :func:`labels_pdf`: box labels with the batch number and the marking text
- :func:`notice_pdf`: the user notice shipped with the visors
- :func:`delivery_note_pdf`: the bon de livraison of a shipment
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import LongTable, Paragraph, SimpleDocTemplate, Spacer, TableStyle
from reportlab.platypus.flowables import Flowable

from fabcoord.batches.record import BatchRecord

_STYLES = getSampleStyleSheet()
_GRID = TableStyle(
    [
        ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
        ("BACKGROUND", (0, 0), (-1, 0), colors.lightgrey),
        ("FONTSIZE", (0, 0), (-1, -1), 8),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ]
)


def _when(moment: datetime | date | None) -> str:
    if moment is None:
        return "—"
    if isinstance(moment, datetime):
        return moment.strftime("%d/%m/%Y %H:%M UTC")
    return moment.strftime("%d/%m/%Y")


def _table(header: list[str], rows: list[list[str]], empty: str) -> Flowable:
    if not rows:
        return Paragraph(empty, _STYLES["Normal"])
    table = LongTable([header, *rows], repeatRows=1)
    table.setStyle(_GRID)
    return table


def _build(path: Path, title: str, story: list[Flowable]) -> Path:
    document = SimpleDocTemplate(
        str(path),
        pagesize=A4,
        title=title,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=18 * mm,
        bottomMargin=18 * mm,
    )
    document.build(story)
    return path


def batch_record_pdf(record: BatchRecord, path: Path) -> Path:
    """The dossier de lot: what went into each visor of the batch and who released it."""
    h1, h2, body = _STYLES["Title"], _STYLES["Heading2"], _STYLES["Normal"]
    facts = [
        f"Fablab : {record.fablab}",
        f"Modèle : {record.design or '—'}",
        f"Quantité : {record.quantity} visières",
        f"Assemblé par {record.assembled_by} le {_when(record.assembled_at)}",
        f"État : {_STATE_FR.get(record.state, record.state)}",
        f"Libéré par : {record.released_by or '—'} le {_when(record.released_at)}",
    ]
    if record.recall_reason:
        facts.append(f"RAPPELÉ : {record.recall_reason}")
    story: list[Flowable] = [Paragraph(f"Dossier de lot {record.number}", h1)]
    story += [Paragraph(_escape(line), body) for line in facts]
    story += [Spacer(0, 4 * mm), Paragraph("Composants et lots utilisés", h2)]
    story.append(
        _table(
            ["Article", "Lot", "Quantité"],
            [[lot.item, lot.lot or "(sans lot)", str(lot.qty)] for lot in record.lots],
            "Aucun composant.",
        )
    )
    story += [Spacer(0, 4 * mm), Paragraph("Origine des serre-têtes", h2)]
    story.append(
        _table(
            ["Document", "Imprimante ou maker", "Lot de filament", "Serre-têtes"],
            [
                [
                    f"{s.doc_type} {s.doc_id}",
                    s.printer or _maker(s.doc_type),
                    s.material_lot or "—",
                    str(s.frames),
                ]
                for s in record.sources
            ],
            "Aucune origine enregistrée.",
        )
    )
    story += [Spacer(0, 4 * mm), Paragraph("Contrôles qualité", h2)]
    story.append(
        _table(
            ["Date", "Contrôleur", "Échantillon", "Résultats", "Nettoyage", "Verdict"],
            [
                [
                    _when(c.inspected_at),
                    c.inspector,
                    str(c.sample_size),
                    ", ".join(f"{k} {'OK' if v else 'NON'}" for k, v in c.results.items()),
                    f"{c.cleaning_product or '—'} {_when(c.cleaning_date)}",
                    "conforme" if c.passed else "non conforme",
                ]
                for c in record.checks
            ],
            "Pas encore contrôlé.",
        )
    )
    story += [Spacer(0, 4 * mm), Paragraph("Expéditions", h2)]
    story.append(
        _table(
            ["Expédition", "Commande", "Expédié", "Reçu"],
            [[n, ref, str(q), "—" if r is None else str(r)] for n, ref, q, r in record.shipments],
            "Aucune expédition.",
        )
    )
    return _build(path, f"Dossier de lot {record.number}", story)


def labels_pdf(*, path: Path, batch: str, marking: str, visors: int, per_box: int) -> Path:
    """One label per box of ``per_box`` visors (the last box holds the rest), 2 × 7 per page."""
    boxes = [per_box] * (visors // per_box) + ([visors % per_box] if visors % per_box else [])
    canvas = Canvas(str(path), pagesize=A4, pageCompression=0)
    canvas.setTitle(f"Étiquettes du lot {batch}")
    width, height = A4
    columns, rows = 2, 7
    cell_w, cell_h = (width - 20 * mm) / columns, (height - 20 * mm) / rows
    # what every label shares is drawn once, as a form, and placed on each label
    canvas.beginForm("label", lowerx=0, lowery=0, upperx=cell_w, uppery=cell_h)
    canvas.rect(2 * mm, 2 * mm, cell_w - 4 * mm, cell_h - 4 * mm)
    canvas.setFont("Helvetica-Bold", 14)
    canvas.drawString(6 * mm, cell_h - 11 * mm, f"LOT {batch}")
    text = canvas.beginText(6 * mm, cell_h - 17 * mm)
    text.setFont("Helvetica", 7.5)
    for line in marking.splitlines():
        text.textLine(line)
    canvas.drawText(text)
    canvas.endForm()
    for index, count in enumerate(boxes):
        slot = index % (columns * rows)
        if slot == 0 and index:
            canvas.showPage()
        x = 10 * mm + (slot % columns) * cell_w
        y = height - 10 * mm - (slot // columns + 1) * cell_h
        canvas.saveState()
        canvas.translate(x, y)
        canvas.doForm("label")
        canvas.restoreState()
        canvas.setFont("Helvetica", 9)
        canvas.drawRightString(
            x + cell_w - 6 * mm,
            y + cell_h - 11 * mm,
            f"Carton {index + 1}/{len(boxes)} – {count} visières",
        )
    canvas.save()
    return path


def notice_pdf(*, path: Path, title: str, paragraphs: list[str]) -> Path:
    """The user notice: the template's paragraphs, filled for the batch."""
    story: list[Flowable] = [Paragraph(_escape(title), _STYLES["Title"])]
    for paragraph in paragraphs:
        story += [Paragraph(_escape(paragraph), _STYLES["BodyText"]), Spacer(0, 3 * mm)]
    return _build(path, title, story)


@dataclass(frozen=True)
class DeliveryNote:
    """What the bon de livraison shows."""

    number: str
    reference: str
    line: int
    hospital: str
    site: str
    fablab: str
    batch: str
    quantity: int
    carrier: str
    shipped_at: datetime
    shipped_by: str


def delivery_note_pdf(note: DeliveryNote, path: Path) -> Path:
    """The bon de livraison, with a box for the hospital's signature."""
    body, h2 = _STYLES["Normal"], _STYLES["Heading2"]
    story: list[Flowable] = [Paragraph(f"Bon de livraison {note.number}", _STYLES["Title"])]
    for line in (
        f"Commande : {note.reference} (ligne {note.line})",
        f"Destinataire : {note.hospital}",
        f"Site de livraison : {note.site or '—'}",
        f"Expéditeur : {note.fablab}",
        f"Expédié le {_when(note.shipped_at)} par {note.shipped_by}",
        f"Transporteur : {note.carrier or '—'}",
    ):
        story.append(Paragraph(_escape(line), body))
    story += [Spacer(0, 5 * mm), Paragraph("Contenu", h2)]
    story.append(
        _table(
            ["Article", "Lot", "Quantité"],
            [["Visière de protection", note.batch, str(note.quantity)]],
            "",
        )
    )
    story += [
        Spacer(0, 8 * mm),
        Paragraph("Réception", h2),
        Paragraph(
            "Quantité reçue : ______   Quantité refusée : ______   Motif : ____________", body
        ),
        Spacer(0, 6 * mm),
        Paragraph("Nom et signature : ______________________   Date : ___________", body),
    ]
    return _build(path, f"Bon de livraison {note.number}", story)


_STATE_FR = {
    "assembled": "assemblé, en attente de contrôle",
    "released": "libéré",
    "quarantined": "en quarantaine",
    "scrapped": "mis au rebut",
    "recalled": "rappelé",
}


def _maker(doc_type: str) -> str:
    return {"maker_delivery": "maker", "handoff": "partenaire", "receipt": "réception"}.get(
        doc_type, doc_type
    )


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

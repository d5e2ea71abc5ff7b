"""Write a batch's documents: record, box labels, user notice (texts from the data folder)."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import Session

from fabcoord.batches import documents, service
from fabcoord.batches.quality import QualitySettings
from fabcoord.batches.record import batch_record


def write_record(*, session: Session, number: str, path: Path) -> Path:
    return documents.batch_record_pdf(batch_record(session=session, number=number), path)


def write_labels(
    *, session: Session, number: str, path: Path, quality: QualitySettings, per_box: int | None
) -> Path:
    batch = service.get_batch(session=session, number=number)
    lab = service.fablab_of(session=session, batch=batch)
    marking = quality.marking_for(
        fablab=lab.name, batch=batch.number, made_on=batch.assembled_at.strftime("%d/%m/%Y")
    )
    return documents.labels_pdf(
        path=path,
        batch=batch.number,
        marking=marking,
        visors=batch.quantity,
        per_box=per_box or quality.visors_per_box,
    )


def write_notice(*, session: Session, number: str, path: Path, quality: QualitySettings) -> Path:
    batch = service.get_batch(session=session, number=number)
    lab = service.fablab_of(session=session, batch=batch)
    return documents.notice_pdf(
        path=path,
        title=quality.notice_title,
        paragraphs=quality.notice_for(fablab=lab.name, batch=batch.number),
    )

"""Writing files whole or not at all: a temporary file beside the target, renamed into place."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from fabcoord.errors import FabcoordError


class ReportNotWritten(FabcoordError):
    """The report's file (or folder) cannot be written there."""


def check_writable(target: Path, *, folder: bool = False) -> None:
    """Fail early, before any figure is computed, when ``target`` cannot be written."""
    if folder:
        if target.exists() and not target.is_dir():
            raise ReportNotWritten(f"cannot write charts into {target}: it is not a folder")
        probe = target
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
            raise ReportNotWritten(f"cannot write charts into {target}: {probe} is not writable")
        return
    if target.is_dir():
        raise ReportNotWritten(f"cannot write {target}: it is a folder")
    if not target.parent.is_dir():
        raise ReportNotWritten(f"cannot write {target}: there is no folder {target.parent}")
    if not os.access(target.parent, os.W_OK | os.X_OK):
        raise ReportNotWritten(f"cannot write {target}: the folder is not writable")


def atomic_write(target: Path, data: bytes) -> Path:
    """Write ``data`` into a temporary file beside ``target``, then rename it into place."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle = tempfile.NamedTemporaryFile(  # noqa: SIM115  (closed below, renamed on success)
            dir=target.parent, prefix=f".{target.name}.", suffix=".part", delete=False
        )
    except OSError as error:
        raise ReportNotWritten(f"cannot write {target}: {error.strerror or error}") from None
    temporary = Path(handle.name)
    try:
        with handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, target)
    except OSError as error:
        _remove(temporary)
        raise ReportNotWritten(f"cannot write {target}: {error.strerror or error}") from None
    except BaseException:
        _remove(temporary)
        raise
    return target


@contextlib.contextmanager
def all_or_nothing() -> Iterator[list[Path]]:
    """Files renamed into place inside the block are removed again if the block fails."""
    done: list[Path] = []
    try:
        yield done
    except BaseException:
        for path in done:
            _remove(path)
        raise


def _remove(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()

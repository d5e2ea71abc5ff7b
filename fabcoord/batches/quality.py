"""The fablab's assembly, checklist and marking settings, read from ``batch_quality.toml``."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fabcoord.errors import ConfigError

FILENAME = "batch_quality.toml"


@dataclass(frozen=True)
class Check:
    code: str
    label: str


@dataclass(frozen=True)
class QualitySettings:
    """Components per visor, checklist, sampling table, label and notice texts."""

    components: dict[str, int]
    checks: tuple[Check, ...]
    sampling: tuple[tuple[int, int], ...]
    visors_per_box: int
    marking: str
    notice_title: str
    notice: tuple[str, ...]

    def sample_size(self, batch_size: int) -> int:
        """How many visors of a batch of ``batch_size`` are inspected."""
        for largest, sample in self.sampling:
            if batch_size <= largest:
                return min(sample, batch_size)
        return min(self.sampling[-1][1], batch_size)

    def marking_for(self, *, fablab: str, batch: str, made_on: str) -> str:
        return self.marking.format(fablab=fablab, batch=batch, date=made_on)

    def notice_for(self, *, fablab: str, batch: str) -> list[str]:
        return [p.format(fablab=fablab, batch=batch) for p in self.notice]


def load(data_dir: Path) -> QualitySettings:
    """Read and check the settings file of ``data_dir``. Raises ConfigError naming the problem."""
    path = data_dir / FILENAME
    try:
        raw: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
        components = {str(k): int(v) for k, v in raw["components"].items()}
        checks = tuple(Check(str(c["code"]), str(c["label"])) for c in raw["checks"])
        sampling = tuple((int(a), int(b)) for a, b in raw["sampling"]["sizes"])
        settings = QualitySettings(
            components=components,
            checks=checks,
            sampling=sampling,
            visors_per_box=int(raw["labels"]["visors_per_box"]),
            marking=str(raw["marking"]["text"]),
            notice_title=str(raw["notice"]["title"]),
            notice=tuple(str(p) for p in raw["notice"]["paragraphs"]),
        )
    except FileNotFoundError:
        raise ConfigError(f"{path} is missing (copy it from fabcoord's data folder)") from None
    except (tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as error:
        raise ConfigError(f"{path} is not valid: {error}") from None
    if "visor-frame" not in components or not checks or not sampling:
        raise ConfigError(f"{path} needs a visor-frame component, checks and sampling sizes")
    if any(q <= 0 for q in components.values()) or settings.visors_per_box <= 0:
        raise ConfigError(f"{path}: quantities must be positive")
    return settings

"""A settings file (``fabcoord --config FILE``): read under the environment, checked like it."""

from __future__ import annotations

from pathlib import Path

import pytest

from fabcoord.config import load_settings
from fabcoord.errors import ConfigError


def test_the_file_is_read_and_the_environment_wins_over_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "fabcoord.env"
    path.write_text("FABCOORD_LOG_LEVEL=info\nFABCOORD_OUTBOX_MAX_LAG_S=60\n")
    monkeypatch.delenv("FABCOORD_LOG_LEVEL", raising=False)
    monkeypatch.setenv("FABCOORD_OUTBOX_MAX_LAG_S", "90")
    settings = load_settings(settings_file=path)
    assert settings.log_level == "INFO"
    assert settings.outbox_max_lag_s == 90


def test_an_unknown_name_or_a_missing_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "fabcoord.env"
    path.write_text("FABCOORD_LOG_LEVL=info\n")
    with pytest.raises(ConfigError, match="fabcoord_log_levl"):
        load_settings(settings_file=path)
    with pytest.raises(ConfigError, match="not found"):
        load_settings(settings_file=tmp_path / "absent.env")

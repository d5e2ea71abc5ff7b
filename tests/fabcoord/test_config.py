"""Settings: one validated object, from the environment and explicit values."""

from __future__ import annotations

import pytest

from fabcoord.config import load_settings
from fabcoord.errors import ConfigError


def test_defaults_to_a_sqlite_file_in_the_current_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FABCOORD_DATABASE_URL", raising=False)
    settings = load_settings()
    assert settings.database_url == "sqlite:///fabcoord.db"
    assert settings.is_sqlite


def test_environment_then_explicit_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FABCOORD_DATABASE_URL", "postgres://u@h/db")
    assert load_settings().database_url == "postgresql+psycopg://u@h/db"
    assert load_settings(database_url="sqlite:///x.db").database_url == "sqlite:///x.db"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"database_url": "mysql://x"}, "database_url: must start with"),
        ({"actor": ""}, "actor"),
        ({"log_level": "LOUD"}, "log_level"),
    ],
)
def test_invalid_settings_name_the_setting(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(**overrides)

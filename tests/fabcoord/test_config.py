"""Settings: one validated object, from the environment and explicit values."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from fabcoord.config import load_settings
from fabcoord.db import SQLITE_CACHE_MIB, SQLITE_WAL_AUTOCHECKPOINT_PAGES, make_engine
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


def test_sqlite_commits_durably_unless_a_setting_lowers_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("FABCOORD_SQLITE_SYNCHRONOUS", raising=False)
    assert load_settings().sqlite_synchronous == "FULL"
    monkeypatch.setenv("FABCOORD_SQLITE_SYNCHRONOUS", "normal")
    assert load_settings().sqlite_synchronous == "NORMAL"
    with pytest.raises(ConfigError, match="sqlite_synchronous"):
        load_settings(sqlite_synchronous="OFF")
    for value, level in (("FULL", 2), ("NORMAL", 1)):  # SQLite's numbers for the two levels
        url = f"sqlite:///{tmp_path}/{value}.db"
        engine = make_engine(load_settings(database_url=url, sqlite_synchronous=value))
        with engine.connect() as connection:
            assert connection.execute(text("PRAGMA synchronous")).scalar_one() == level
        engine.dispose()


def test_sqlite_connections_keep_a_page_cache_sized_for_the_ledger_indexes(tmp_path: Path) -> None:
    engine = make_engine(load_settings(database_url=f"sqlite:///{tmp_path}/cache.db"))
    try:
        with engine.connect() as connection:
            kib = -connection.execute(text("PRAGMA cache_size")).scalar_one()  # KiB when negative
        assert kib == SQLITE_CACHE_MIB * 1024 > 2000  # more than SQLite's default of 2,000 KiB
    finally:
        engine.dispose()


def test_sqlite_connections_checkpoint_the_wal_less_often_than_sqlites_default(
    tmp_path: Path,
) -> None:
    engine = make_engine(load_settings(database_url=f"sqlite:///{tmp_path}/wal.db"))
    try:
        with engine.connect() as connection:
            pages = connection.execute(text("PRAGMA wal_autocheckpoint")).scalar_one()
        assert pages == SQLITE_WAL_AUTOCHECKPOINT_PAGES > 1000  # SQLite's default: 1,000 pages
    finally:
        engine.dispose()

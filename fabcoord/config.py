"""The one validated settings object, read from ``FABCOORD_*`` variables and explicit values.

Nothing is built at import time: the CLI (or a test) constructs :class:`Settings` and passes it on.
"""

from __future__ import annotations

import getpass
import os
import sys
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from fabcoord.errors import ConfigError


def _default_data_dir() -> Path:
    """``data/`` beside the package in a source checkout, else the copy a wheel installs."""
    beside = Path(__file__).resolve().parent.parent / "data"
    installed = Path(sys.prefix) / "share" / "fabcoord" / "data"
    return beside if beside.is_dir() or not installed.is_dir() else installed


PROJECT_DATA_DIR = _default_data_dir()
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
SqliteSynchronous = Literal["FULL", "NORMAL"]


def _default_actor() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return os.environ.get("USER", "unknown")


class Settings(BaseSettings):
    """fabcoord settings.

    Attributes:
        database_url: ``sqlite:///path.db`` (the default, ``fabcoord.db`` in the current folder) or
            ``postgresql+psycopg://user@host/db``; ``postgresql://`` is rewritten to the psycopg driver.
        data_dir: folder holding the reference CSVs.
        log_level: logging threshold.
        actor: who is recorded on ledger postings made by this process.
        sqlite_busy_timeout_s: how long a SQLite writer waits for the write lock.
        sqlite_synchronous: ``FULL`` (the default: a commit is on disk when it returns, even
            across a power cut) or ``NORMAL`` (faster commits; a power cut or OS crash may lose
            the last commits, never corrupt the database). PostgreSQL always commits durably.
        secret_key: signs the web forms' CSRF tokens (at least 32 characters). When unset, the
            web server draws a random key at start-up: safe, but forms opened before a restart
            must be reloaded. Never a constant in the code.
        public_url: the address hospitals reach the server at, used in invitation links.
        web_max_body_bytes: largest request body the web server reads.
        web_rate_per_link, web_rate_per_address: requests allowed per ``web_rate_window_s``
            for one hospital link and for one client address.
        outbox_max_lag_s: ``fabcoord run`` is not ready (``/readyz``) while a due hand-off
            command has waited longer than this.
    """

    model_config = SettingsConfigDict(env_prefix="FABCOORD_", extra="forbid")

    database_url: str = "sqlite:///fabcoord.db"
    data_dir: Path = PROJECT_DATA_DIR
    log_level: LogLevel = "WARNING"
    actor: str = Field(default_factory=_default_actor, min_length=1, max_length=120)
    sqlite_busy_timeout_s: float = Field(default=30.0, gt=0, le=600)
    sqlite_synchronous: SqliteSynchronous = "FULL"
    # orders web server
    secret_key: SecretStr | None = Field(default=None, min_length=32, max_length=512)
    public_url: str = Field(default="http://127.0.0.1:8000", pattern=r"^https?://[^\s/]+(/\S*)?$")
    web_max_body_bytes: int = Field(default=65536, ge=1024, le=10_000_000)
    web_rate_per_link: int = Field(default=60, ge=1, le=1_000_000)
    web_rate_per_address: int = Field(default=1200, ge=1, le=1_000_000)
    web_rate_window_s: float = Field(default=60.0, gt=0, le=86400)
    # fabcoord run
    outbox_max_lag_s: float = Field(default=300.0, gt=0, le=86400)

    @field_validator("log_level", "sqlite_synchronous", mode="before")
    @classmethod
    def _upper_log_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("database_url")
    @classmethod
    def _normalise_database_url(cls, value: str) -> str:
        value = value.strip()
        for prefix in ("postgres://", "postgresql://"):
            if value.startswith(prefix):
                return "postgresql+psycopg://" + value[len(prefix) :]
        if value.startswith(("sqlite://", "postgresql+psycopg://")):
            return value
        raise ValueError(
            "must start with sqlite:/// or postgresql+psycopg:// (for example sqlite:///fabcoord.db)"
        )

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def load_settings(settings_file: str | Path | None = None, **overrides: object) -> Settings:
    """Build settings from explicit overrides (``None`` values are ignored), the environment and
    ``settings_file`` (``FABCOORD_NAME=value`` lines, as systemd's ``EnvironmentFile`` reads
    them), in that order of precedence.

    Raises:
        ConfigError: a value is invalid, or the file cannot be read; the message names it.
    """
    given = {key: value for key, value in overrides.items() if value is not None}
    if settings_file is not None:
        path = Path(settings_file).expanduser()
        if not path.is_file():
            raise ConfigError(f"settings file {path} not found")
        given["_env_file"] = path
    try:
        return Settings(**given)  # type: ignore[arg-type]
    except ValidationError as error:
        first = error.errors()[0]
        name = ".".join(str(part) for part in first["loc"]) or "settings"
        message = str(first["msg"]).removeprefix("Value error, ")
        raise ConfigError(f"invalid setting {name}: {message}") from None

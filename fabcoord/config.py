"""The one validated settings object, read from ``FABCOORD_*`` variables and explicit values.

Nothing is built at import time: the CLI (or a test) constructs :class:`Settings` and passes it on.
"""

from __future__ import annotations

import getpass
import os
import re
import sys
from dataclasses import dataclass
from email.utils import parseaddr
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
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


_ADDRESS = re.compile(r"^[^@\s<>,;\"]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


def _is_address(text: str) -> bool:
    return bool(_ADDRESS.match(text))


@dataclass(frozen=True)
class SmtpRelay:
    """Where e-mails leave: ``security`` is ``plain``, ``starttls`` or ``ssl`` (smtps)."""

    host: str
    port: int
    security: Literal["plain", "starttls", "ssl"]
    username: str = ""
    password: str = ""

    def __repr__(self) -> str:  # never the password
        return f"SmtpRelay({self.security}://{self.host}:{self.port}, user={self.username!r})"


def parse_smtp_url(url: str) -> SmtpRelay:
    """``smtp[s]://[user[:password]@]host[:port][?starttls=1]`` as a :class:`SmtpRelay`.

    Raises:
        ValueError: not such a URL (the message never repeats the password).
    """
    from urllib.parse import parse_qs, unquote, urlsplit

    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise ValueError("must be smtp://user:password@host:port or smtps://…") from None
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ValueError("must be smtp://user:password@host:port or smtps://…")
    query = {k.lower(): v[-1].lower() for k, v in parse_qs(parts.query).items()}
    unknown = set(query) - {"starttls"}
    if unknown:
        raise ValueError(f"unknown option {sorted(unknown)[0]!r} (only starttls=1)")
    starttls = query.get("starttls", "0") in ("1", "true", "yes", "on")
    if parts.scheme == "smtps" and starttls:
        raise ValueError("smtps:// is already encrypted: drop starttls")
    security: Literal["plain", "starttls", "ssl"] = (
        "ssl" if parts.scheme == "smtps" else "starttls" if starttls else "plain"
    )
    default_port = {"ssl": 465, "starttls": 587, "plain": 25}[security]
    return SmtpRelay(
        host=parts.hostname,
        port=port or default_port,
        security=security,
        username=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
    )


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
        smtp_url: the SMTP relay e-mails leave through: ``smtp://user:pass@host:587?starttls=1``,
            ``smtps://user:pass@host:465`` or ``smtp://host:25``; unset, no e-mail is sent.
        mail_from: the sender of those e-mails (``fabcoord <noreply@example.org>``); required with
            ``smtp_url``.
        manager_emails: the managers told of every new order (comma-separated addresses).
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
    # e-mail notifications
    smtp_url: SecretStr | None = Field(default=None, max_length=1000)
    mail_from: str | None = Field(default=None, max_length=254)
    manager_emails: str = Field(default="", max_length=4000)

    @field_validator("smtp_url")
    @classmethod
    def _check_smtp_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        parse_smtp_url(value.get_secret_value())  # raises ValueError naming the problem
        return value

    @field_validator("mail_from")
    @classmethod
    def _check_mail_from(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not _is_address(parseaddr(value)[1]):
            raise ValueError("must be an e-mail address, e.g. 'fabcoord <noreply@example.org>'")
        return value.strip()

    @field_validator("manager_emails")
    @classmethod
    def _check_manager_emails(cls, value: str) -> str:
        addresses = [part.strip() for part in value.replace(";", ",").split(",") if part.strip()]
        for address in addresses:
            if not _is_address(address):
                raise ValueError(f"{address[:60]!r} is not an e-mail address")
        return ", ".join(addresses)

    @model_validator(mode="after")
    def _sender_with_relay(self) -> Settings:
        if self.smtp_url is not None and self.mail_from is None:
            raise ValueError("FABCOORD_MAIL_FROM is required with FABCOORD_SMTP_URL")
        return self

    @property
    def manager_addresses(self) -> tuple[str, ...]:
        """The managers' addresses, in the order given."""
        return tuple(part for part in self.manager_emails.split(", ") if part)

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

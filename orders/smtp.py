"""Sending e-mails through the configured SMTP relay: the only module that imports smtplib.

A :class:`Relay` keeps one connection for a batch of messages and sorts failures into two kinds:
:class:`MailUnavailable` (the relay is down, slow, refuses us for now, or the settings are wrong:
try again later) and :class:`MailRefused` (the relay refused this message for good).
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr

from fabcoord.config import SmtpRelay
from fabcoord.errors import FabcoordError


class MailError(FabcoordError):
    """An e-mail could not be sent."""


class MailUnavailable(MailError):
    """The relay cannot take the message now (down, timed out, a 4xx answer, a refused log-in)."""


class MailRefused(MailError):
    """The relay refused the message for good (a 5xx answer about it or its recipients)."""


class Relay:
    """One connection to the relay, opened on the first message and kept for the next ones."""

    def __init__(self, relay: SmtpRelay, sender: str, *, timeout_s: float = 20.0) -> None:
        self.relay, self.sender, self.timeout_s = relay, sender, timeout_s
        self._smtp: smtplib.SMTP | None = None

    def __enter__(self) -> Relay:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (smtplib.SMTPException, OSError):
                self._smtp.close()
            self._smtp = None

    def send(self, to: Sequence[str], subject: str, body: str) -> list[str]:
        """Send one plain-text message; returns the recipients the relay refused (others took it).

        Raises:
            MailUnavailable, MailRefused.
        """
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = ", ".join(to)
        message["Subject"] = subject
        message["Date"] = formatdate(localtime=False)
        domain = parseaddr(self.sender)[1].rpartition("@")[2] or None
        message["Message-ID"] = make_msgid(domain=domain)
        message["Auto-Submitted"] = "auto-generated"
        message.set_content(body)
        try:
            smtp = self._connect()
            refused = smtp.send_message(message, from_addr=parseaddr(self.sender)[1], to_addrs=to)
        except smtplib.SMTPRecipientsRefused as error:
            codes = [code for code, _ in error.recipients.values()]
            self._reset()
            if codes and all(code >= 500 for code in codes):
                raise MailRefused(f"recipients refused: {_answers(error.recipients)}") from None
            raise MailUnavailable(f"recipients deferred: {_answers(error.recipients)}") from None
        except smtplib.SMTPDataError as error:
            self._reset()
            text = f"message refused: {error.smtp_code} {_text(error.smtp_error)}"
            if error.smtp_code >= 500:
                raise MailRefused(text) from None
            raise MailUnavailable(text) from None
        except smtplib.SMTPNotSupportedError as error:  # an address the relay cannot carry
            raise MailRefused(f"the relay cannot send this message: {error}") from None
        except smtplib.SMTPResponseException as error:  # sender refused, log-in refused…
            self.drop()
            text = f"relay answered {error.smtp_code} {_text(error.smtp_error)}"
            raise MailUnavailable(text) from None
        except (smtplib.SMTPException, OSError) as error:
            self.drop()
            raise MailUnavailable(f"relay unreachable: {error or type(error).__name__}") from None
        return sorted(refused)

    def drop(self) -> None:
        """Forget the connection (after an error it may be unusable)."""
        if self._smtp is not None:
            self._smtp.close()
            self._smtp = None

    def _reset(self) -> None:
        try:
            if self._smtp is not None:
                self._smtp.rset()
        except (smtplib.SMTPException, OSError):
            self.drop()

    def _connect(self) -> smtplib.SMTP:
        if self._smtp is not None:
            return self._smtp
        r = self.relay
        smtp: smtplib.SMTP
        if r.security == "ssl":
            context = ssl.create_default_context()
            smtp = smtplib.SMTP_SSL(r.host, r.port, timeout=self.timeout_s, context=context)
        else:
            smtp = smtplib.SMTP(r.host, r.port, timeout=self.timeout_s)
        try:
            smtp.ehlo()
            if r.security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if r.username:
                smtp.login(r.username, r.password)
        except BaseException:
            smtp.close()
            raise
        self._smtp = smtp
        return smtp


def _text(answer: bytes | str) -> str:
    text = answer.decode(errors="replace") if isinstance(answer, bytes) else str(answer)
    return " ".join(text.split())[:300]


def _answers(recipients: dict[str, tuple[int, bytes]]) -> str:
    return "; ".join(f"{to}: {code} {_text(text)}" for to, (code, text) in recipients.items())

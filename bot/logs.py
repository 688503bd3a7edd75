"""Logging, configured once per process; the bot token never reaches a log line."""

from __future__ import annotations

import logging
import re

_TOKEN_RE = re.compile(r"\d{6,12}:[A-Za-z0-9_-]{30,}")


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Replaces bot tokens (and any given secret) in text."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "<redacted>")
    return _TOKEN_RE.sub("<redacted-token>", text)


class RedactingFormatter(logging.Formatter):
    """Formats records, exceptions included, then removes tokens and secrets."""

    def __init__(self, fmt: str, secrets: tuple[str, ...] = ()) -> None:
        super().__init__(fmt)
        self._secrets = secrets

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record), self._secrets)


def _no_invalid_token_traceback(record: logging.LogRecord) -> bool:
    """Keeps a rejected-token record to its message: the traceback only repeats it, token and all.

    `python -m bot` then prints one line saying what to fix (bot/__main__.py).
    """
    if record.exc_info and type(record.exc_info[1]).__name__ == "InvalidToken":
        record.exc_info = None
        record.exc_text = None
    return True


def configure_logging(level: str = "INFO", secrets: tuple[str, ...] = ()) -> None:
    """Installs one redacting handler on the root logger."""
    handler = logging.StreamHandler()
    handler.addFilter(_no_invalid_token_traceback)
    handler.setFormatter(
        RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s", secrets=secrets)
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # httpx logs every request URL, and Bot API URLs carry the token.
    logging.getLogger("httpx").setLevel(logging.WARNING)

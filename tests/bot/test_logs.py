"""The bot token never reaches a log line, exceptions included."""

from __future__ import annotations

import logging

import pytest

from bot.logs import RedactingFormatter, configure_logging, redact

TOKEN = "1234567890:AAH" + "x" * 32


def test_redact_removes_tokens_in_urls() -> None:
    text = f"POST https://api.telegram.org/bot{TOKEN}/sendMessage failed"
    assert TOKEN not in redact(text)
    assert "sendMessage" in redact(text)


def test_exception_text_is_redacted(caplog: pytest.LogCaptureFixture) -> None:
    formatter = RedactingFormatter("%(message)s", secrets=("webhook-secret-value",))
    try:
        raise RuntimeError(f"cannot reach /bot{TOKEN}/getMe with webhook-secret-value")
    except RuntimeError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed: %s", ("boom",), None)
        import sys

        record.exc_info = sys.exc_info()
    out = formatter.format(record)
    assert "failed: boom" in out
    assert TOKEN not in out
    assert "webhook-secret-value" not in out


def test_configure_logging_installs_one_handler() -> None:
    configure_logging("DEBUG")
    configure_logging("INFO")
    root = logging.getLogger()
    assert len(root.handlers) == 1
    assert isinstance(root.handlers[0].formatter, RedactingFormatter)
    assert logging.getLogger("httpx").level == logging.WARNING

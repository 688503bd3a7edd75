"""Which failed uploads the worker may send again: the README's "at most once" rules, one by one."""

from __future__ import annotations

import httpx
import pytest
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError, TimedOut

from bot.delivery import never_arrived, refused


def caused_by(error: TelegramError, cause: Exception) -> TelegramError:
    """The error as python-telegram-bot raises it: chained to the httpx exception beneath."""
    error.__cause__ = cause
    return error


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(RetryAfter(3), id="429-retry-after"),
        pytest.param(
            caused_by(NetworkError("connect"), httpx.ConnectError("refused")), id="connection-never-opened"
        ),
        pytest.param(caused_by(TimedOut(), httpx.ConnectTimeout("slow")), id="connect-timeout"),
        pytest.param(caused_by(TimedOut(), httpx.WriteTimeout("slow")), id="write-timeout"),
        pytest.param(caused_by(TimedOut(), httpx.PoolTimeout("busy")), id="no-free-connection"),
    ],
)
def test_an_upload_that_provably_never_reached_telegram_is_sent_again(error: TelegramError) -> None:
    assert never_arrived(error)


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(caused_by(TimedOut(), httpx.ReadTimeout("late")), id="read-timeout"),
        pytest.param(
            caused_by(NetworkError("disconnected"), httpx.RemoteProtocolError("Server disconnected")),
            id="dropped-connection",
        ),
        pytest.param(NetworkError("Bad Gateway"), id="5xx"),
    ],
)
def test_an_upload_whose_answer_was_lost_is_neither_sent_again_nor_refunded(error: TelegramError) -> None:
    assert not never_arrived(error) and not refused(error)


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(BadRequest("Bad Request: VIDEO_CONTENT_TYPE_INVALID"), id="400"),
        pytest.param(Forbidden("Forbidden: bot was blocked by the user"), id="403"),
    ],
)
def test_a_refusal_telegram_states_ends_the_job_with_a_refund(error: TelegramError) -> None:
    assert refused(error) and not never_arrived(error)

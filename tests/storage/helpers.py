"""Small builders shared by the storage tests."""

from __future__ import annotations

from datetime import UTC, datetime

from storage import JobSpec

# A fixed "now" (a Wednesday, 10:00 UTC) so quota days and leases never depend on the wall clock.
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


def spec(user_id: int, message_id: int, chat_id: int | None = None, **payload: object) -> JobSpec:
    """A job request as the bot makes it: keyed by chat and message id."""
    chat = chat_id if chat_id is not None else user_id
    return JobSpec(
        user_id=user_id,
        chat_id=chat,
        idempotency_key=f"{chat}:{message_id}",
        payload={"kind": "solo", "message_id": message_id, **payload},
    )

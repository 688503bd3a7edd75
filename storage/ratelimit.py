"""A per-user rate limit kept in the database, so every bot replica counts against one limit.

Fixed windows: a user's first use of `key` opens a window of `window_seconds` (database time);
up to `limit` uses in it are allowed, the rest refused, and the first use after it ends opens
the next. At a window's edge a user may get up to 2 × limit in a short span; that is the price of
one row per user and key. One INSERT … ON CONFLICT DO UPDATE … RETURNING counts and decides, so
concurrent requests from many replicas never slip past the limit: PostgreSQL locks the row for
the conflicting update, and SQLite serialises writers (BEGIN IMMEDIATE).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import case
from sqlalchemy.ext.asyncio import AsyncSession

from storage._sql import db_now, insert_for
from storage.models import RateWindow


async def allow(
    s: AsyncSession,
    user_id: int,
    key: str,
    limit: int,
    window_seconds: float,
    now: datetime | None = None,
) -> bool:
    """Counts one use of `key` by the user; True if it is within `limit` per window.

    Use a writing session (`db.session()`), and commit soon: on SQLite it holds the write lock.
    A refused use is counted too (it cannot lengthen the window, which starts at its first use).
    """
    if limit < 1 or window_seconds <= 0:
        raise ValueError("limit must be at least 1 and window_seconds positive")
    now = now if now is not None else await db_now(s)
    ended = RateWindow.window_start <= now - timedelta(seconds=window_seconds)
    stmt = insert_for(s, RateWindow).values(user_id=user_id, key=key, window_start=now, hits=1)
    # In ON CONFLICT DO UPDATE, RateWindow.* are the stored row's values, before this update.
    stmt = stmt.on_conflict_do_update(
        index_elements=[RateWindow.user_id, RateWindow.key],
        set_={
            "hits": case((ended, 1), else_=RateWindow.hits + 1),
            "window_start": case((ended, now), else_=RateWindow.window_start),
        },
    )
    hits = await s.scalar(stmt.returning(RateWindow.hits))
    return hits is not None and hits <= limit

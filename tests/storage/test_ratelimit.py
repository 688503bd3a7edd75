"""Per-user rate limit in the database: counted per user and key, per window, across replicas."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from storage import Database, ratelimit, users
from tests.storage.helpers import NOW


async def allowed(db: Database, user_id: int, key: str = "analysis", at: float = 0.0) -> bool:
    async with db.session() as s, s.begin():
        return await ratelimit.allow(s, user_id, key, 3, 60, now=NOW + timedelta(seconds=at))


async def test_limit_per_window_per_user_and_key(db: Database) -> None:
    assert [await allowed(db, 1) for _ in range(4)] == [True, True, True, False]
    assert await allowed(db, 2)  # another user has their own count
    assert await allowed(db, 1, key="say")  # and another action its own
    assert not await allowed(db, 1, at=59)  # the window opened by the first use still runs
    assert await allowed(db, 1, at=60)  # the next window starts fresh
    assert [await allowed(db, 1, at=61) for _ in range(3)] == [True, True, False]


async def test_concurrent_requests_from_many_replicas_never_pass_the_limit(
    database_url: str, db: Database
) -> None:
    replicas = [Database(database_url) for _ in range(4)]

    async def one(replica: Database) -> bool:
        async with replica.session() as s, s.begin():
            return await ratelimit.allow(s, 7, "analysis", 5, 600)  # the database's clock

    try:
        results = await asyncio.gather(*(one(replicas[n % 4]) for n in range(24)))
    finally:
        for replica in replicas:
            await replica.dispose()
    assert sum(results) == 5


async def test_forget_removes_the_users_counts(db: Database) -> None:
    await allowed(db, 1)
    async with db.session() as s, s.begin():
        await users.forget_user(s, 1, NOW)
    assert [await allowed(db, 1) for _ in range(3)] == [True, True, True]

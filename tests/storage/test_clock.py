"""Leases run on the database's clock: a worker whose machine clock is minutes off changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, tzinfo

import pytest

import storage.models
from storage import Database, Job, JobQueue, QuotaPolicy, Status
from storage._sql import db_now
from tests.storage.helpers import NOW, spec

SKEW = timedelta(minutes=10)


def skew_machine_clock(monkeypatch: pytest.MonkeyPatch, offset: timedelta) -> None:
    """Moves this process's clock (every `utcnow()` storage might call) by `offset`."""

    class Skewed(datetime):
        @classmethod
        def now(cls, tz: tzinfo | None = None) -> datetime:  # type: ignore[override]  # returns a plain datetime
            return datetime.now(tz) + offset

    monkeypatch.setattr(storage.models, "datetime", Skewed)


@pytest.fixture
def fast_clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This machine's clock runs 10 minutes ahead."""
    skew_machine_clock(monkeypatch, SKEW)
    yield


@pytest.fixture
def slow_clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This machine's clock runs 10 minutes behind."""
    skew_machine_clock(monkeypatch, -SKEW)
    yield


async def database_time(db: Database) -> datetime:
    async with db.read_session() as s, s.begin():
        return await db_now(s)


async def lease_left(db: Database, job: Job) -> timedelta:
    async with db.read_session() as s, s.begin():
        fresh = await s.get_one(Job, job.id)
        assert fresh.lease_until is not None
        return fresh.lease_until - await db_now(s)


async def test_a_worker_clock_minutes_ahead_does_not_steal_a_live_lease(
    db: Database, queue: JobQueue, policy: QuotaPolicy, fast_clock: None
) -> None:
    assert storage.models.utcnow() - await database_time(db) > SKEW - timedelta(minutes=1)
    await queue.enqueue(spec(1, 1), policy, NOW)
    await queue.enqueue(spec(2, 1), policy, NOW)
    live = await queue.claim("honest", lease_seconds=60)
    assert live is not None
    # this machine believes the 60 s lease ran out 9 minutes ago; the database knows it did not
    assert await queue.reclaim_expired() == []
    assert await queue.heartbeat(live.id, "honest", 60)
    # and the leases this machine writes are 60 s of database time, not 10 min 60 s
    mine = await queue.claim("fast", lease_seconds=60)
    assert mine is not None
    assert timedelta(seconds=50) < await lease_left(db, mine) <= timedelta(seconds=60)
    assert await queue.heartbeat(mine.id, "fast", 60)
    assert timedelta(seconds=50) < await lease_left(db, mine) <= timedelta(seconds=60)
    fresh = await queue.get(live.id)
    assert fresh is not None and (fresh.status, fresh.worker_id) == (Status.RUNNING, "honest")


async def test_a_worker_clock_minutes_behind_does_not_keep_a_dead_lease(
    db: Database, queue: JobQueue, policy: QuotaPolicy, slow_clock: None
) -> None:
    await queue.enqueue(spec(1, 1), policy, NOW)
    await queue.enqueue(spec(2, 1), policy, NOW)
    # a lease that ended 4 minutes ago (in database time): its worker is gone
    dead = await queue.claim("gone", lease_seconds=60, now=await database_time(db) - timedelta(minutes=5))
    assert dead is not None
    # a lease this slow machine takes now is a full 60 s, not already 9 minutes over
    live = await queue.claim("slow", lease_seconds=60)
    assert live is not None
    assert timedelta(seconds=50) < await lease_left(db, live) <= timedelta(seconds=60)

    # this machine thinks the dead lease has 6 minutes left; the database says it is over
    reclaimed = await queue.reclaim_expired()
    assert [(job.id, job.status) for job in reclaimed] == [(dead.id, Status.QUEUED)]
    assert not await queue.heartbeat(dead.id, "gone", 60)
    assert await queue.heartbeat(live.id, "slow", 60)

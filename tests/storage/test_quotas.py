"""The daily allowance: counted per local day in the policy's zone, grants, refunds across midnight."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from storage import AuditEntry, Database, JobQueue, QuotaExceeded, QuotaPolicy, quotas
from tests.storage.helpers import spec

BERLIN = QuotaPolicy(daily=2, timezone="Europe/Berlin", max_queued_per_user=10, max_queue=100)


async def standing(db: Database, user_id: int, policy: QuotaPolicy, now: datetime) -> quotas.QuotaStatus:
    async with db.session() as s:
        return await quotas.status(s, user_id, policy, now)


async def test_quota_resets_at_local_midnight(db: Database, queue: JobQueue) -> None:
    # 23:50 in Berlin (UTC+1 in November) is 22:50 UTC
    before_midnight = datetime(2026, 11, 25, 22, 50, tzinfo=UTC)
    await queue.enqueue(spec(1, 1), BERLIN, before_midnight)
    await queue.enqueue(spec(1, 2), BERLIN, before_midnight)
    with pytest.raises(QuotaExceeded) as caught:
        await queue.enqueue(spec(1, 3), BERLIN, before_midnight + timedelta(minutes=5))
    midnight = datetime(2026, 11, 25, 23, 0, tzinfo=UTC)
    assert caught.value.resets_at == midnight
    status = await standing(db, 1, BERLIN, before_midnight)
    assert (status.used, status.limit, status.left, status.resets_at) == (2, 2, 0, midnight)

    # 00:05 local the next day: a fresh allowance, though it is still the 25th in UTC
    after = midnight + timedelta(minutes=5)
    assert (await standing(db, 1, BERLIN, after)).left == 2
    await queue.enqueue(spec(1, 4), BERLIN, after)
    assert (await standing(db, 1, BERLIN, after)).used == 1


async def test_same_instant_is_a_different_day_in_another_zone(db: Database, queue: JobQueue) -> None:
    at = datetime(2026, 11, 25, 23, 30, tzinfo=UTC)  # 24:30 in Berlin, 15:30 in Los Angeles
    await queue.enqueue(spec(2, 1), BERLIN, at - timedelta(hours=1))
    la = QuotaPolicy(daily=2, timezone="America/Los_Angeles")
    assert (await standing(db, 2, BERLIN, at)).used == 0  # a new day in Berlin
    assert (await standing(db, 2, la, at)).used == 1  # still the same afternoon in LA


async def test_day_bounds_follow_daylight_saving(db: Database) -> None:
    # the night Berlin moves its clocks back: that local day lasts 25 hours
    start, end = BERLIN.day_bounds(datetime(2026, 10, 25, 12, 0, tzinfo=UTC))
    assert end - start == timedelta(hours=25)


async def test_admin_grant_adds_to_today_only_and_is_audited(db: Database, queue: JobQueue) -> None:
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    await queue.enqueue(spec(3, 1), BERLIN, now)
    await queue.enqueue(spec(3, 2), BERLIN, now)
    async with db.session() as s, s.begin():
        await quotas.grant(s, 3, 3, admin_id=77, now=now)
    assert (await standing(db, 3, BERLIN, now)).left == 3
    await queue.enqueue(spec(3, 3), BERLIN, now)
    assert (await standing(db, 3, BERLIN, now + timedelta(days=1))).limit == 2  # gone tomorrow
    async with db.session() as s:
        actions = list(await s.execute(select(AuditEntry.admin_id, AuditEntry.action, AuditEntry.details)))
    assert [tuple(a) for a in actions] == [(77, "grant", {"n": 3})]


async def test_refund_after_midnight_gives_back_the_day_it_was_charged(db: Database, queue: JobQueue) -> None:
    charged_at = datetime(2026, 11, 25, 22, 50, tzinfo=UTC)  # 23:50 Berlin
    await queue.enqueue(spec(4, 1), BERLIN, charged_at)
    job = await queue.claim("w", 60, charged_at)
    assert job is not None
    next_day = charged_at + timedelta(minutes=30)
    await queue.fail(job.id, "w", "internal", refund=True, now=next_day)
    assert (await standing(db, 4, BERLIN, charged_at)).used == 0  # yesterday's render came back
    assert (await standing(db, 4, BERLIN, next_day)).left == 2  # today's allowance untouched, not 3

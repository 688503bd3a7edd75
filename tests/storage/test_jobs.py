"""The job gateway: enqueue's checks in one transaction, idempotency, claim order, leases, refunds."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from storage import (
    LEASE_EXPIRED,
    AlreadyQueued,
    Database,
    JobNotFound,
    JobQueue,
    LedgerReason,
    QueueFull,
    QuotaEntry,
    QuotaExceeded,
    QuotaPolicy,
    Status,
    TooManyQueued,
    UserBanned,
    quotas,
    users,
)
from tests.storage.helpers import NOW, spec


async def ledger(db: Database, user_id: int) -> list[tuple[LedgerReason, int, int | None]]:
    """The user's ledger rows as (reason, delta, job_id), oldest first."""
    async with db.session() as s:
        rows = await s.execute(
            select(QuotaEntry.reason, QuotaEntry.delta, QuotaEntry.job_id)
            .where(QuotaEntry.user_id == user_id)
            .order_by(QuotaEntry.id)
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


async def used_today(db: Database, user_id: int, policy: QuotaPolicy) -> int:
    async with db.session() as s:
        return (await quotas.status(s, user_id, policy, NOW)).used


async def test_same_update_twice_makes_one_job_and_one_debit(
    db: Database, queue: JobQueue, policy: QuotaPolicy
) -> None:
    job = await queue.enqueue(spec(1, 100), policy, NOW)
    with pytest.raises(AlreadyQueued) as caught:
        await queue.enqueue(spec(1, 100), policy, NOW)
    assert caught.value.job_id == job.id
    assert (await queue.stats())["queued"] == 1
    assert await ledger(db, 1) == [(LedgerReason.DEBIT, -1, job.id)]


async def test_concurrent_duplicates_of_one_update_make_one_job(
    db: Database, queue: JobQueue, policy: QuotaPolicy
) -> None:
    results = await asyncio.gather(
        *(queue.enqueue(spec(2, 7), policy, NOW) for _ in range(5)), return_exceptions=True
    )
    created = [r for r in results if not isinstance(r, BaseException)]
    assert len(created) == 1
    assert all(isinstance(r, AlreadyQueued) for r in results if isinstance(r, BaseException))
    assert await used_today(db, 2, policy) == 1


async def test_burst_of_50_from_one_user_hits_the_queued_limit_politely(
    db: Database, queue: JobQueue
) -> None:
    policy = QuotaPolicy(daily=100, timezone="UTC", max_queued_per_user=3, max_queue=500)
    await queue.enqueue(spec(99, 1), policy, NOW)  # someone else's job, which must stay untouched
    results = await asyncio.gather(
        *(queue.enqueue(spec(3, n), policy, NOW) for n in range(50)), return_exceptions=True
    )
    accepted = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(accepted) == 3
    assert len(refused) == 47 and all(isinstance(r, TooManyQueued) and r.limit == 3 for r in refused)
    assert await used_today(db, 3, policy) == 3  # refused requests cost nothing
    assert len(await queue.pending_for_user(3)) == 3
    assert [j.user_id for j in await queue.pending_for_user(99)] == [99]
    # once one of them is out of the way, the user may queue again
    assert await queue.cancel(3) is not None
    await queue.enqueue(spec(3, 1000), policy, NOW)


async def test_global_cap_answers_busy(queue: JobQueue) -> None:
    policy = QuotaPolicy(daily=10, timezone="UTC", max_queued_per_user=5, max_queue=3)
    for user in range(3):
        await queue.enqueue(spec(10 + user, 1), policy, NOW)
    with pytest.raises(QueueFull):
        await queue.enqueue(spec(20, 1), policy, NOW)


async def test_quota_exceeded_says_when_it_resets_and_charges_nothing(db: Database, queue: JobQueue) -> None:
    policy = QuotaPolicy(daily=2, timezone="Asia/Tokyo", max_queued_per_user=10, max_queue=100)
    await queue.enqueue(spec(4, 1), policy, NOW)
    await queue.enqueue(spec(4, 2), policy, NOW)
    with pytest.raises(QuotaExceeded) as caught:
        await queue.enqueue(spec(4, 3), policy, NOW)
    # NOW is 19:00 in Tokyo: the next local midnight is 15:00 UTC the same day
    assert caught.value.resets_at == NOW.replace(hour=15)
    assert len(await ledger(db, 4)) == 2


async def test_banned_user_is_refused_before_anything_is_written(
    db: Database, queue: JobQueue, policy: QuotaPolicy
) -> None:
    async with db.session() as s, s.begin():
        await users.set_banned(s, 5, True, admin_id=1)
    with pytest.raises(UserBanned):
        await queue.enqueue(spec(5, 1), policy, NOW)
    assert await ledger(db, 5) == []
    assert (await queue.stats())["queued"] == 0


async def test_claim_lease_heartbeat_finish(queue: JobQueue, policy: QuotaPolicy) -> None:
    queued = await queue.enqueue(spec(6, 1), policy, NOW)
    assert await queue.position(queued.id, NOW) == 1
    job = await queue.claim("w1", 30, NOW)
    assert job is not None and job.id == queued.id
    assert job.status == Status.RUNNING and job.attempts == 1 and job.worker_id == "w1"
    assert job.lease_until == NOW + timedelta(seconds=30)
    assert await queue.claim("w2", 30, NOW) is None  # nobody else gets it
    assert await queue.position(job.id, NOW) == 0
    assert await queue.heartbeat(job.id, "w1", 30, NOW + timedelta(seconds=20))
    assert not await queue.heartbeat(job.id, "w2", 30, NOW)  # not w2's lease
    assert await queue.finish(job.id, "w1", "video-file-id", NOW)
    done = await queue.get(job.id)
    assert done is not None and done.status == Status.DONE and done.result_file_id == "video-file-id"
    with pytest.raises(JobNotFound):
        await queue.position(123456)


async def test_expired_lease_is_reclaimed_and_the_old_worker_loses_it(
    db: Database, queue: JobQueue, policy: QuotaPolicy
) -> None:
    queued = await queue.enqueue(spec(7, 1), policy, NOW)
    first = await queue.claim("dead", 10, NOW)
    assert first is not None
    assert await queue.reclaim_expired(NOW + timedelta(seconds=5)) == []  # lease still valid
    reclaimed = await queue.reclaim_expired(NOW + timedelta(seconds=11))
    assert [(j.id, j.status) for j in reclaimed] == [(queued.id, Status.QUEUED)]
    second = await queue.claim("alive", 10, NOW + timedelta(seconds=12))
    assert second is not None and second.id == queued.id and second.attempts == 2
    # the dead worker comes back to life: its heartbeat and finish are refused
    assert not await queue.heartbeat(queued.id, "dead", 10, NOW + timedelta(seconds=13))
    assert not await queue.finish(queued.id, "dead", "x", NOW + timedelta(seconds=13))
    assert await queue.finish(queued.id, "alive", "y", NOW + timedelta(seconds=14))
    assert await used_today(db, 7, policy) == 1  # debited once, whatever the attempts


async def test_lease_expiring_on_the_last_attempt_fails_and_refunds_once(
    db: Database, queue: JobQueue, policy: QuotaPolicy
) -> None:
    queued = await queue.enqueue(spec(8, 1), policy, NOW)
    t = NOW
    for attempt in range(1, 4):
        job = await queue.claim(f"w{attempt}", 5, t)
        assert job is not None and job.attempts == attempt
        t += timedelta(seconds=6)
        reclaimed = await queue.reclaim_expired(t)
    assert [(j.status, j.error_code, j.refunded) for j in reclaimed] == [(Status.FAILED, LEASE_EXPIRED, True)]
    assert await queue.claim("w4", 5, t) is None
    assert not await queue.fail(queued.id, None, "again", refund=True)  # already finished
    assert await used_today(db, 8, policy) == 0
    assert [r for r, _, _ in await ledger(db, 8)] == [LedgerReason.DEBIT, LedgerReason.REFUND]


async def test_refund_happens_once_and_rejected_input_costs_nothing(
    db: Database, queue: JobQueue, policy: QuotaPolicy
) -> None:
    await queue.enqueue(spec(9, 1), policy, NOW)
    job = await queue.claim("w", 30, NOW)
    assert job is not None
    assert await queue.fail(job.id, "w", "no_face", refund=True, now=NOW)
    assert not await queue.fail(job.id, "w", "no_face", refund=True, now=NOW)
    async with db.session() as s, s.begin():
        assert not await quotas.refund(s, job.id, NOW)  # a direct second refund is refused too
    assert await used_today(db, 9, policy) == 0
    assert (await queue.get(job.id)).refunded  # type: ignore[union-attr]


async def test_failure_without_refund_keeps_the_charge(
    db: Database, queue: JobQueue, policy: QuotaPolicy
) -> None:
    await queue.enqueue(spec(10, 1), policy, NOW)
    job = await queue.claim("w", 30, NOW)
    assert job is not None
    await queue.fail(job.id, "w", "user_error", refund=False, now=NOW)
    assert await used_today(db, 10, policy) == 1


async def test_fair_order_round_robins_across_users(queue: JobQueue, policy: QuotaPolicy) -> None:
    for n in range(10):
        await queue.enqueue(spec(100, n), policy, NOW)  # user A's batch of ten first
    b1 = await queue.enqueue(spec(200, 1), policy, NOW)
    await queue.enqueue(spec(200, 2), policy, NOW)
    c1 = await queue.enqueue(spec(300, 1), policy, NOW)
    # B's and C's first jobs are in round one with A's first, so they come 2nd and 3rd
    assert await queue.position(b1.id, NOW) == 2
    assert await queue.position(c1.id, NOW) == 3
    order = []
    t = NOW
    while (job := await queue.claim("w", 30, t)) is not None:
        order.append(job.user_id)
        await queue.finish(job.id, "w", None, t)
        t += timedelta(seconds=1)
    assert order[:5] == [100, 200, 300, 100, 200]
    assert order.count(100) == 10 and order[5:] == [100] * 8


async def test_a_busy_user_does_not_block_others_with_parallel_workers(
    queue: JobQueue, policy: QuotaPolicy
) -> None:
    for n in range(5):
        await queue.enqueue(spec(100, n), policy, NOW)
    first = await queue.claim("w1", 30, NOW)
    b = await queue.enqueue(spec(200, 1), policy, NOW + timedelta(seconds=1))
    second = await queue.claim("w2", 30, NOW + timedelta(seconds=2))
    assert first is not None and first.user_id == 100
    # A already has a job running, B has none: B goes first although A's jobs are older
    assert second is not None and second.id == b.id


async def test_cancel_refunds_and_stops_heartbeat(db: Database, queue: JobQueue, policy: QuotaPolicy) -> None:
    await queue.enqueue(spec(11, 1), policy, NOW)
    newest = await queue.enqueue(spec(11, 2), policy, NOW)
    cancelled = await queue.cancel(11)
    assert cancelled is not None and cancelled.id == newest.id and cancelled.status == Status.CANCELLED
    assert await used_today(db, 11, policy) == 1
    running = await queue.claim("w", 30, NOW)
    assert running is not None
    assert (await queue.cancel(11, running.id)) is not None
    assert not await queue.heartbeat(running.id, "w", 30, NOW)  # the worker learns and stops
    assert await queue.cancel(11) is None  # nothing left to cancel
    assert await queue.cancel(12, running.id) is None  # never someone else's job
    assert await used_today(db, 11, policy) == 0


async def test_delivery_is_recorded_once(queue: JobQueue, policy: QuotaPolicy) -> None:
    job = await queue.enqueue(spec(13, 1), policy, NOW)
    assert await queue.mark_delivered(job.id, "video")
    assert not await queue.mark_delivered(job.id, "video")  # a restart sees it was sent
    stored = await queue.get(job.id)
    assert stored is not None and stored.delivered


async def test_retry_later_counts_the_attempt_and_release_does_not(
    queue: JobQueue, policy: QuotaPolicy
) -> None:
    await queue.enqueue(spec(14, 1), policy, NOW)
    job = await queue.claim("w", 30, NOW)
    assert job is not None
    assert await queue.retry_later(job.id, "w", delay_seconds=60, error_code="timeout", now=NOW)
    assert await queue.claim("w", 30, NOW + timedelta(seconds=30)) is None  # still waiting
    again = await queue.claim("w", 30, NOW + timedelta(seconds=61))
    assert again is not None and again.attempts == 2
    assert await queue.release(again.id, "w")
    third = await queue.claim("w", 30, NOW + timedelta(seconds=62))
    assert third is not None and third.attempts == 2


async def test_stats_counts_by_status(queue: JobQueue, policy: QuotaPolicy) -> None:
    await queue.enqueue(spec(15, 1), policy, NOW)
    await queue.enqueue(spec(16, 1), policy, NOW)
    await queue.claim("w", 30, NOW)
    stats = await queue.stats()
    assert stats["queued"] == 1 and stats["running"] == 1 and stats["workers"] == 1


async def test_concurrent_claims_never_share_a_job(
    db: Database, queue: JobQueue, policy: QuotaPolicy
) -> None:
    for n in range(30):
        await queue.enqueue(spec(1000 + n % 6, n), policy, NOW)
    claimed: list[int] = []

    async def claimer(name: str) -> None:
        while (job := await queue.claim(name, 30)) is not None:
            claimed.append(job.id)

    await asyncio.gather(*(claimer(f"w{i}") for i in range(4)))
    assert len(claimed) == 30 and len(set(claimed)) == 30
    async with db.session() as s:
        assert await s.scalar(select(func.count()).select_from(QuotaEntry)) == 30

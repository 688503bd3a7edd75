"""The worker loop in one process: outcomes, retries, leases, cancellation, drain and hard stop."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta

import pytest

from storage import (
    Database,
    Job,
    JobQueue,
    JobRejected,
    LeaseExpired,
    QuotaPolicy,
    Status,
    Worker,
    quotas,
    utcnow,
)
from tests.storage.helpers import spec

FAST = {"poll_interval": 0.05, "reclaim_interval": 0.2, "retry_delay": 0.0}


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 15.0) -> None:
    """Waits until `check()` is true; fails the test after `within` seconds."""
    for _ in range(int(within / 0.05)):
        if await check():
            return
        await asyncio.sleep(0.05)
    pytest.fail("condition not reached in time")


async def status_of(queue: JobQueue, job_id: int) -> Status | None:
    job = await queue.get(job_id)
    return None if job is None else job.status


async def used(db: Database, user_id: int, policy: QuotaPolicy) -> int:
    async with db.session() as s:
        return (await quotas.status(s, user_id, policy)).used


async def stop(worker: Worker, task: asyncio.Task[None]) -> None:
    worker.stop()
    await asyncio.wait_for(task, 15)


async def test_handler_result_marks_the_job_done(queue: JobQueue, policy: QuotaPolicy) -> None:
    job = await queue.enqueue(spec(1, 1), policy)
    seen: list[int] = []

    async def handler(j: Job) -> str:
        seen.append(j.id)
        return "video-1"

    worker = Worker(queue, handler, concurrency=1, lease_seconds=1, **FAST)
    task = asyncio.create_task(worker.run())
    await eventually(lambda: _is(queue, job.id, Status.DONE))
    await stop(worker, task)
    done = await queue.get(job.id)
    assert done is not None and done.result_file_id == "video-1" and seen == [job.id]


async def _is(queue: JobQueue, job_id: int, status: Status) -> bool:
    return await status_of(queue, job_id) == status


async def test_rejected_input_fails_refunds_and_is_not_retried(
    db: Database, queue: JobQueue, policy: QuotaPolicy
) -> None:
    job = await queue.enqueue(spec(2, 1), policy)
    calls = 0

    async def handler(j: Job) -> str:
        nonlocal calls
        calls += 1
        raise JobRejected("no_face")

    told: list[tuple[str, bool, int]] = []

    async def on_rejected(j: Job, exc: JobRejected) -> None:
        # The user is told only once the refund is saved: a /quota right after shows it.
        told.append((exc.code, j.refunded, await used(db, 2, policy)))

    worker = Worker(queue, handler, concurrency=1, lease_seconds=1, on_rejected=on_rejected, **FAST)
    task = asyncio.create_task(worker.run())
    await eventually(lambda: _is(queue, job.id, Status.FAILED))
    await eventually(lambda: asyncio.sleep(0, bool(told)))
    await stop(worker, task)
    failed = await queue.get(job.id)
    assert failed is not None and failed.error_code == "no_face" and failed.refunded
    assert calls == 1
    assert await used(db, 2, policy) == 0
    assert told == [("no_face", True, 0)]


async def test_errors_retry_then_give_up_with_refund_and_apology(
    db: Database, queue: JobQueue, policy: QuotaPolicy
) -> None:
    job = await queue.enqueue(spec(3, 1), policy)
    attempts: list[int] = []
    apologies: list[tuple[int, bool, str]] = []

    async def handler(j: Job) -> str:
        attempts.append(j.attempts)
        raise RuntimeError("Telegram is down")

    async def on_give_up(j: Job, exc: BaseException) -> None:
        apologies.append((j.id, j.refunded, str(exc)))

    worker = Worker(queue, handler, concurrency=1, lease_seconds=1, on_give_up=on_give_up, **FAST)
    task = asyncio.create_task(worker.run())
    await eventually(lambda: _is(queue, job.id, Status.FAILED))
    await eventually(lambda: _true(bool(apologies)))
    await stop(worker, task)
    assert attempts == [1, 2, 3]
    assert apologies == [(job.id, True, "Telegram is down")]
    assert await used(db, 3, policy) == 0


async def _true(value: bool) -> bool:
    return value


async def test_cancelled_job_stops_its_handler(queue: JobQueue, policy: QuotaPolicy) -> None:
    job = await queue.enqueue(spec(4, 1), policy)
    started, stopped = asyncio.Event(), asyncio.Event()

    async def handler(j: Job) -> str:
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            stopped.set()
            raise
        return "never"

    worker = Worker(queue, handler, concurrency=1, lease_seconds=0.6, **FAST)
    task = asyncio.create_task(worker.run())
    await asyncio.wait_for(started.wait(), 15)
    assert await queue.cancel(4, job.id) is not None  # the user pressed /cancel
    await asyncio.wait_for(stopped.wait(), 15)  # the next heartbeat noticed
    await stop(worker, task)
    assert await status_of(queue, job.id) == Status.CANCELLED


async def test_stop_drains_running_jobs_and_claims_no_more(queue: JobQueue, policy: QuotaPolicy) -> None:
    first = await queue.enqueue(spec(5, 1), policy)
    second = await queue.enqueue(spec(5, 2), policy)
    started, release = asyncio.Event(), asyncio.Event()

    async def handler(j: Job) -> str:
        started.set()
        await release.wait()
        return "video"

    worker = Worker(queue, handler, concurrency=1, lease_seconds=1, **FAST)
    task = asyncio.create_task(worker.run())
    await asyncio.wait_for(started.wait(), 15)
    worker.stop()
    await asyncio.sleep(0.2)
    assert not task.done()  # still draining the running job
    release.set()
    await asyncio.wait_for(task, 15)
    assert await status_of(queue, first.id) == Status.DONE
    assert await status_of(queue, second.id) == Status.QUEUED


async def test_hard_cancel_gives_the_job_back_untouched(queue: JobQueue, policy: QuotaPolicy) -> None:
    job = await queue.enqueue(spec(6, 1), policy)
    started = asyncio.Event()

    async def handler(j: Job) -> str:
        started.set()
        await asyncio.sleep(30)
        return "never"

    worker = Worker(queue, handler, concurrency=1, lease_seconds=1, **FAST)
    task = asyncio.create_task(worker.run())
    await asyncio.wait_for(started.wait(), 15)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    back = await queue.get(job.id)
    assert back is not None and back.status == Status.QUEUED and back.attempts == 0 and back.worker_id is None


async def test_concurrency_is_capped(queue: JobQueue, policy: QuotaPolicy) -> None:
    jobs = [await queue.enqueue(spec(100 + n, 1), policy) for n in range(5)]
    running = peak = 0

    async def handler(j: Job) -> str:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.1)
        running -= 1
        return "video"

    worker = Worker(queue, handler, concurrency=2, lease_seconds=1, **FAST)
    task = asyncio.create_task(worker.run())
    for job in jobs:
        await eventually(lambda job=job: _is(queue, job.id, Status.DONE))
    await stop(worker, task)
    assert peak == 2


async def test_dead_workers_job_is_reclaimed_and_given_up_after_the_last_attempt(
    db: Database, queue: JobQueue, policy: QuotaPolicy
) -> None:
    job = await queue.enqueue(spec(7, 1), policy)
    now = utcnow() - timedelta(seconds=30)
    for attempt in range(3):  # three workers in a row died holding it
        await queue.claim("ghost", 1, now)
        if attempt < 2:
            await queue.reclaim_expired(now + timedelta(seconds=2))
    apologies: list[BaseException] = []

    async def handler(j: Job) -> str:
        return "never"

    async def on_give_up(j: Job, exc: BaseException) -> None:
        apologies.append(exc)

    worker = Worker(queue, handler, concurrency=1, lease_seconds=1, on_give_up=on_give_up, **FAST)
    task = asyncio.create_task(worker.run())
    await eventually(lambda: _true(bool(apologies)))
    await stop(worker, task)
    assert isinstance(apologies[0], LeaseExpired)
    assert await status_of(queue, job.id) == Status.FAILED
    assert await used(db, 7, policy) == 0


async def test_a_render_longer_than_its_lease_keeps_it_by_heartbeats_and_runs_once(
    queue: JobQueue, policy: QuotaPolicy
) -> None:
    job = await queue.enqueue(spec(9, 1), policy)
    runs: list[int] = []

    async def slow(j: Job) -> str:
        runs.append(j.id)
        await asyncio.sleep(3.5)  # over three leases long: only heartbeats (every third) keep it
        return "video"

    worker = Worker(queue, slow, concurrency=1, lease_seconds=1, **FAST)
    other = Worker(queue, slow, concurrency=1, lease_seconds=1, **FAST)  # reclaims whatever expires
    tasks = [asyncio.create_task(worker.run()), asyncio.create_task(other.run())]
    await eventually(lambda: _is(queue, job.id, Status.DONE))
    for w, task in zip((worker, other), tasks, strict=True):
        await stop(w, task)
    done = await queue.get(job.id)
    assert runs == [job.id] and done is not None and done.attempts == 1

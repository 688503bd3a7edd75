"""Delivery: a video whose sending started is never rendered or sent again, and never refunded."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from storage import (
    DELIVERY_UNCONFIRMED,
    Database,
    Job,
    JobQueue,
    QuotaPolicy,
    Status,
    Worker,
    quotas,
)
from tests.storage.helpers import NOW, spec
from tests.storage.test_worker import FAST, eventually, stop, used


async def used_on_the_day(db: Database, user_id: int, policy: QuotaPolicy) -> int:
    async with db.read_session() as s:
        return (await quotas.status(s, user_id, policy, NOW)).used


async def test_delivery_begins_once_and_only_under_a_live_lease(queue: JobQueue, policy: QuotaPolicy) -> None:
    job = await queue.enqueue(spec(1, 1), policy, NOW)
    assert await queue.claim("a", 60, NOW) is not None
    assert not await queue.begin_delivery(job.id, "b", NOW)  # not b's job
    # a's lease is over (a stalled): it may not start sending, even before anyone reclaims it
    assert not await queue.begin_delivery(job.id, "a", NOW + timedelta(minutes=2))
    await queue.reclaim_expired(NOW + timedelta(minutes=2))
    assert await queue.claim("b", 60, NOW + timedelta(minutes=2)) is not None
    assert not await queue.begin_delivery(job.id, "a", NOW + timedelta(minutes=2))
    assert await queue.begin_delivery(job.id, "b", NOW + timedelta(minutes=2))
    assert not await queue.begin_delivery(job.id, "b", NOW + timedelta(minutes=2))  # once per job
    fresh = await queue.get(job.id)
    assert fresh is not None and fresh.delivery_started_at == NOW + timedelta(minutes=2)


async def test_a_job_retried_after_sending_started_comes_back_marked_and_ends_unconfirmed(
    db: Database, queue: JobQueue, policy: QuotaPolicy
) -> None:
    job = await queue.enqueue(spec(1, 1), policy, NOW)
    assert await queue.claim("a", 60, NOW) is not None
    assert await queue.begin_delivery(job.id, "a", NOW)
    # sendVideo timed out (Telegram may have the video): the attempt fails and is retried
    assert await queue.retry_later(job.id, "a", 0, "error:TimedOut", NOW)
    again = await queue.claim("b", 60, NOW)
    assert again is not None and again.id == job.id
    assert again.delivery_started_at == NOW and again.delivery_unconfirmed
    assert not await queue.begin_delivery(job.id, "b", NOW)  # the handler must not send again
    assert await queue.finish_unconfirmed(job.id, "b", NOW)
    done = await queue.get(job.id)
    assert done is not None
    assert (done.status, done.error_code, done.refunded) == (Status.DONE, DELIVERY_UNCONFIRMED, False)
    assert await used_on_the_day(db, 1, policy) == 1  # the user may have the video: the render stays counted


async def test_finish_unconfirmed_refuses_a_job_that_never_started_sending(
    queue: JobQueue, policy: QuotaPolicy
) -> None:
    job = await queue.enqueue(spec(1, 1), policy, NOW)
    assert await queue.claim("a", 60, NOW) is not None
    assert not await queue.finish_unconfirmed(job.id, "a", NOW)
    assert await queue.finish(job.id, "a", "video", NOW)
    done = await queue.get(job.id)
    assert done is not None and (done.status, done.error_code) == (Status.DONE, None)


async def test_sending_started_is_never_failed_refunded_or_cancelled(
    db: Database, queue: JobQueue, policy: QuotaPolicy
) -> None:
    queue.max_attempts = 1  # every attempt below is the last one
    died, errored = [await queue.enqueue(spec(1, n), policy, NOW) for n in (1, 2)]
    for job in (died, errored):
        assert await queue.claim("a", 60, NOW) is not None
        assert await queue.begin_delivery(job.id, "a", NOW)
    assert await queue.cancel(1, died.id, NOW) is None
    # one's send raises; the worker of the other dies while sending
    assert await queue.fail(errored.id, "a", "error:TimedOut", refund=True, now=NOW)
    reclaimed = await queue.reclaim_expired(NOW + timedelta(minutes=2))
    assert [(j.id, j.status) for j in reclaimed] == [(died.id, Status.DONE)]
    for job in (died, errored):
        fresh = await queue.get(job.id)
        assert fresh is not None
        assert (fresh.status, fresh.error_code, fresh.refunded) == (Status.DONE, DELIVERY_UNCONFIRMED, False)
    assert await used_on_the_day(db, 1, policy) == 2


async def test_worker_sends_once_when_the_send_times_out_and_never_apologises(
    db: Database, queue: JobQueue, policy: QuotaPolicy
) -> None:
    """The bot's contract, played by a handler: begin_delivery → send; a marked job is not resent."""
    job = await queue.enqueue(spec(2, 1), policy)
    sends: list[int] = []
    resumed: list[int] = []
    apologies: list[int] = []

    async def handler(j: Job) -> str | None:
        if j.delivery_started_at is not None:
            resumed.append(j.attempts)  # tell the user to look above; do not render or send
            return None
        if await queue.begin_delivery(j.id, worker.worker_id):
            sends.append(j.attempts)
            raise TimeoutError("sendVideo: read timed out after Telegram took the upload")
        return None

    async def on_give_up(j: Job, exc: BaseException) -> None:
        apologies.append(j.id)

    worker = Worker(queue, handler, concurrency=1, lease_seconds=5, on_give_up=on_give_up, **FAST)
    task = asyncio.create_task(worker.run())
    await eventually(lambda: _status_is(queue, job.id, Status.DONE))
    await stop(worker, task)
    done = await queue.get(job.id)
    assert done is not None and done.error_code == DELIVERY_UNCONFIRMED
    assert (sends, resumed, apologies) == ([1], [2], [])
    assert await used(db, 2, policy) == 1


async def _status_is(queue: JobQueue, job_id: int, status: Status) -> bool:
    job = await queue.get(job_id)
    return job is not None and job.status == status


async def test_a_send_telegram_refused_can_fail_and_is_refunded_once(
    db: Database, queue: JobQueue, policy: QuotaPolicy
) -> None:
    job = await queue.enqueue(spec(1, 1), policy, NOW)
    assert await queue.claim("a", 60, NOW) is not None
    assert await queue.begin_delivery(job.id, "a", NOW)
    assert not await queue.abort_delivery(job.id, "b")  # only the lease holder can say so
    # Telegram answered 400: the video was not taken, so the sending never happened
    assert await queue.abort_delivery(job.id, "a")
    assert not await queue.abort_delivery(job.id, "a")  # once
    assert await queue.fail(job.id, "a", "upload_failed", refund=True, now=NOW)
    failed = await queue.get(job.id)
    assert failed is not None
    assert (failed.status, failed.refunded, failed.delivery_started_at) == (Status.FAILED, True, None)
    assert await used_on_the_day(db, 1, policy) == 0

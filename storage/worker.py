"""The generic worker loop: claim, run a handler under a heartbeat lease, record the outcome.

After procrastinate's worker: concurrency is capped by a semaphore; each job gets a heartbeat side
task that renews its lease and cancels the handler if the lease is lost or the job was cancelled;
expired leases of dead workers are reclaimed periodically; `stop()` drains (running jobs finish,
no new ones are claimed); a hard cancel puts running jobs back in the queue, shielded so the
status is saved even while cancelled.

Outcomes of the handler `async (Job) -> str | None`:
  returns file id      → done (sending started, never confirmed: done, delivery unconfirmed)
  raises JobRejected   → failed + refunded, never retried (the input was refused); then on_rejected(job, exc)
  raises anything else → queued again until max_attempts, then failed + refunded + on_give_up(job, exc)
A job whose sending started (JobQueue.begin_delivery) is never failed, refunded or sent again: a
later attempt gets it with `delivery_started_at` set, and the last one ends it as delivery unconfirmed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from storage.errors import JobRejected, LeaseExpired
from storage.jobs import LEASE_EXPIRED, JobQueue
from storage.models import Job, Status

logger = logging.getLogger(__name__)

Handler = Callable[[Job], Coroutine[Any, Any, str | None]]
GiveUp = Callable[[Job, BaseException], Awaitable[None]]
Rejected = Callable[[Job, JobRejected], Awaitable[None]]


def default_worker_id() -> str:
    """host:pid:random — unique across machines and restarts, readable in /stats."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Worker:
    """Runs `handler` for claimed jobs, at most `concurrency` at a time, until `stop()`."""

    def __init__(
        self,
        queue: JobQueue,
        handler: Handler,
        concurrency: int = 2,
        lease_seconds: float = 90,
        worker_id: str | None = None,
        on_give_up: GiveUp | None = None,
        *,
        on_rejected: Rejected | None = None,
        poll_interval: float = 1.0,
        reclaim_interval: float | None = None,
        retry_delay: float = 2.0,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.queue = queue
        self.handler = handler
        self.concurrency = concurrency
        self.lease_seconds = lease_seconds
        self.worker_id = worker_id or default_worker_id()
        self.on_give_up = on_give_up
        # Told after the refund is committed, so a user who asks /quota right away sees it.
        self.on_rejected = on_rejected
        self.poll_interval = poll_interval
        # a dead worker's job waits at most one lease plus one reclaim interval
        self.reclaim_interval = (
            reclaim_interval if reclaim_interval is not None else max(lease_seconds / 2, 0.5)
        )
        # retry n waits n × retry_delay, so a passing outage does not burn every attempt at once
        self.retry_delay = retry_delay
        self._slots = asyncio.Semaphore(concurrency)
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def running(self) -> int:
        """How many jobs this worker is handling right now."""
        return len(self._tasks)

    def stop(self) -> None:
        """Asks the loop to claim nothing more and return once running jobs are finished."""
        self._stopping.set()
        self._wake.set()

    def notify(self) -> None:
        """Wakes an idle loop now (e.g. right after this process enqueued a job)."""
        self._wake.set()

    async def run(self) -> None:
        """Claims and handles jobs until `stop()`; a hard cancel gives running jobs back."""
        self._stopping.clear()
        reclaimer = asyncio.create_task(self._reclaim_loop(), name=f"reclaim {self.worker_id}")
        logger.info("worker %s started (concurrency %d)", self.worker_id, self.concurrency)
        try:
            while not self._stopping.is_set():
                await self._slots.acquire()
                job = await self._claim_one() if not self._stopping.is_set() else None
                if job is None:
                    self._slots.release()
                    await self._idle()
                    continue
                task = asyncio.create_task(self._process(job), name=f"job {job.id}")
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            # graceful drain: let every running job finish and record its outcome
            if self._tasks:
                logger.info("worker %s draining %d job(s)", self.worker_id, len(self._tasks))
                await asyncio.gather(*self._tasks, return_exceptions=True)
        except asyncio.CancelledError:
            tasks = list(self._tasks)
            for task in tasks:
                task.cancel()
            # each job task saves its own status under a shield; wait for those saves
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        finally:
            reclaimer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reclaimer
            logger.info("worker %s stopped", self.worker_id)

    async def _claim_one(self) -> Job | None:
        try:
            return await self.queue.claim(self.worker_id, self.lease_seconds)
        except Exception:
            # the database may be restarting: keep the worker alive and try again shortly
            logger.exception("worker %s could not claim a job", self.worker_id)
            return None

    async def _idle(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), self.poll_interval)
        self._wake.clear()
        if self._stopping.is_set():
            self._wake.set()

    async def _reclaim_loop(self) -> None:
        while True:
            await asyncio.sleep(self.reclaim_interval)
            try:
                jobs = await self.queue.reclaim_expired()
            except Exception:
                logger.exception("worker %s could not reclaim expired leases", self.worker_id)
                continue
            for job in jobs:
                if job.status == Status.DONE:
                    # it died while sending: the video may be there, so it is not sent again
                    logger.warning("job %s lost its worker while sending; delivery unconfirmed", job.id)
                elif job.status == Status.FAILED and job.error_code == LEASE_EXPIRED:
                    logger.warning(
                        "job %s lost its worker %d times; failed and refunded", job.id, job.attempts
                    )
                    await self._give_up(job, LeaseExpired(job.id, job.attempts))
                else:
                    logger.warning("job %s lost its worker; queued again", job.id)
                    self._wake.set()

    async def _process(self, job: Job) -> None:
        lost = False
        handler = asyncio.create_task(self.handler(job), name=f"handler {job.id}")

        async def heartbeat() -> None:
            nonlocal lost
            while True:
                await asyncio.sleep(self.lease_seconds / 3)
                try:
                    alive = await self.queue.heartbeat(job.id, self.worker_id, self.lease_seconds)
                except Exception:
                    # one failed renewal is not fatal: the lease still has two thirds left
                    logger.exception("heartbeat of job %s failed", job.id)
                    continue
                if not alive:
                    lost = True
                    handler.cancel()
                    return

        beat = asyncio.create_task(heartbeat(), name=f"heartbeat {job.id}")
        try:
            try:
                result = await handler
            finally:
                beat.cancel()
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if lost and (current is None or current.cancelling() == 0):
                # reclaimed by another worker, or cancelled by the user: nothing of ours to save
                logger.warning("job %s: lease lost or job cancelled; handler stopped", job.id)
                return
            # shutting down hard: the job was not its own fault, give it back untouched
            await asyncio.shield(self._save(self.queue.release(job.id, self.worker_id), job))
            raise
        except JobRejected as exc:
            if await self._save(self.queue.fail(job.id, self.worker_id, exc.code, refund=True), job):
                await self._notify(self.on_rejected, job, exc)
        except Exception as exc:
            if job.attempts < job.max_attempts:
                logger.warning("job %s attempt %d failed: %r; retrying", job.id, job.attempts, exc)
                delay = self.retry_delay * job.attempts
                code = f"error:{type(exc).__name__}"
                await self._save(self.queue.retry_later(job.id, self.worker_id, delay, code), job)
            else:
                logger.error("job %s failed %d times; giving up", job.id, job.attempts, exc_info=exc)
                code = f"error:{type(exc).__name__}"
                if await self._save(self.queue.fail(job.id, self.worker_id, code, refund=True), job):
                    await self._give_up(job, exc)
        else:
            if not await self._save(self.queue.finish(job.id, self.worker_id, result), job):
                logger.warning("job %s finished after its lease was lost", job.id)
        finally:
            self._slots.release()

    async def _save(self, outcome: Awaitable[bool], job: Job) -> bool:
        """Records an outcome; a database error is logged (the lease expiry will retry the job)."""
        try:
            return await outcome
        except Exception:
            logger.exception("could not record the outcome of job %s", job.id)
            return False

    async def _give_up(self, job: Job, exc: BaseException) -> None:
        await self._notify(self.on_give_up, job, exc)

    async def _notify(
        self, hook: Callable[[Job, Any], Awaitable[None]] | None, job: Job, exc: BaseException
    ) -> None:
        """Runs a failure hook with the job as saved; a failing hook is logged, never raised.

        Only for a job that did fail: one whose sending had started is finished as delivery
        unconfirmed instead (see JobQueue.fail), and the user is not told it failed.
        """
        if hook is None:
            return
        try:
            fresh = await self.queue.get(job.id) or job
            if fresh.status != Status.FAILED:
                logger.warning("job %s ended %s (%s), not failed", job.id, fresh.status, fresh.error_code)
                return
            await hook(fresh, exc)
        except Exception:
            logger.exception("outcome hook failed for job %s", job.id)

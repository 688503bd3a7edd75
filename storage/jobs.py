"""The one gateway for jobs: enqueue (with quota), claim, heartbeat, finish, fail, reclaim.

Life of a job: queued → running → done | failed | cancelled. A running job holds a lease
(`lease_until`) that its worker renews by heartbeat; when a worker dies the lease runs out,
`reclaim_expired` puts the job back in the queue, or fails and refunds it after `max_attempts`.

Claim order (fair round-robin across users):
  1. round: a user's oldest queued job is in round 1, their second in round 2, and so on —
     so one user's batch of ten never runs ahead of another user's first job;
  2. within a round, users with fewer jobs running right now go first;
  3. then the user whose last job started longest ago (never: first);
  4. then the oldest job.
On PostgreSQL the chosen row is locked with `FOR UPDATE SKIP LOCKED`, so concurrent workers each
take a different job without waiting; on SQLite every transaction is `BEGIN IMMEDIATE`, so claims
are serialised by the file lock (see storage.db.Database).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    String,
    Subquery,
    bindparam,
    case,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.sql.dml import ReturningUpdate

from storage import quotas, scenes
from storage._sql import DbClock, db_now, insert_for, rowcount
from storage.db import Database
from storage.errors import (
    AlreadyQueued,
    JobNotFound,
    QueueFull,
    QueueUnavailable,
    QuotaExceeded,
    SceneNotOpen,
    TooManyQueued,
    UserBanned,
)
from storage.models import FINISHED, PENDING, Job, Scene, SceneStatus, Status, User, UTCDateTime
from storage.quotas import QuotaPolicy

# error_code of a job whose worker vanished on its last allowed attempt
LEASE_EXPIRED = "lease_expired"
# error_code of a DONE job whose video's sending started but was never confirmed
DELIVERY_UNCONFIRMED = "delivery_unconfirmed"


@dataclass(frozen=True)
class JobSpec:
    """What the bot asks for: who, where, the update's idempotency key, and the render payload."""

    user_id: int
    chat_id: int
    idempotency_key: str
    payload: dict[str, Any] = field(default_factory=dict)
    # The group scene this job renders: enqueue moves it to RENDERING and links it in the same
    # transaction, and the job's outcome settles it (done → DONE; failed or cancelled → OPEN).
    scene_id: int | None = None
    # The bot's "queued" message, saved with the insert: a job is never queued without it, and
    # a worker that claims the job at once can already edit it.
    status_message_id: int | None = None


async def _clock(s: AsyncSession, now: datetime | None) -> datetime:
    """`now` if given (tests), else the database's clock, read once in this transaction.

    Every lease is written and compared in the database's time, never a machine's: workers on
    several machines agree on when a lease ends even when their clocks do not. The time is read
    once this transaction holds its lock (SQLite may queue for it): a lease computed before a
    long wait for SQLite's write lock would already be half spent when it is written.
    """
    if now is None:
        return await db_now(s)
    await s.connection()
    return now


async def _link_scene(s: AsyncSession, scene_id: int, job_id: int, now: datetime) -> None:
    """Moves an open scene to RENDERING with this job as its render; SceneNotOpen otherwise."""
    linked = await s.execute(
        update(Scene)
        .where(Scene.id == scene_id, Scene.status == SceneStatus.OPEN)
        .values(status=SceneStatus.RENDERING, job_id=job_id, updated_at=now, last_activity_at=now)
        .execution_options(synchronize_session=False)
    )
    if rowcount(linked) != 1:
        raise SceneNotOpen(scene_id)


# The statements below are built once, at import, because constructing them costs more than
# running them. The claim reads the database's clock inside its own statement (one round trip);
# tests pass `now=`, bound instead.
NOW = bindparam("now", type_=UTCDateTime())
LEASE_UNTIL = bindparam("lease_until", type_=UTCDateTime())
CLOCK = DbClock()
CLOCK_PLUS_LEASE = DbClock(bindparam("lease_seconds", type_=Float()))

# Claim looks at this many queued jobs in fair order and locks the first one no one else is
# locking; only rows being claimed at this very moment are locked, so this bounds the number of
# workers that can claim at the same instant, not the queue's length.
CLAIM_CANDIDATES = 100


def _fair_order(limit: int | None, now: ColumnElement[datetime]) -> Subquery:
    """Queued jobs that may run at `now`, ranked in claim order (see the module docstring)."""
    per_user = (
        select(
            Job.user_id,
            func.sum(case((Job.status == Status.RUNNING, 1), else_=0)).label("running"),
            func.max(Job.started_at).label("last_start"),
        )
        .where(Job.user_id.in_(select(Job.user_id).where(Job.status == Status.QUEUED)))
        .group_by(Job.user_id)
        .subquery("per_user")
    )
    round_ = func.row_number().over(partition_by=Job.user_id, order_by=Job.id).label("round")
    ranked = (
        select(Job.id, round_, per_user.c.running, per_user.c.last_start)
        .join(per_user, per_user.c.user_id == Job.user_id)
        .where(Job.status == Status.QUEUED, or_(Job.run_after.is_(None), Job.run_after <= now))
        .order_by(round_, per_user.c.running, per_user.c.last_start.asc().nulls_first(), Job.id)
        .limit(limit)
    )
    return ranked.subquery("ranked")


def _claim(now: ColumnElement[datetime], lease_until: ColumnElement[datetime]) -> ReturningUpdate[Job]:
    """The claim is one statement: lock the first free row in fair order and lease it.

    `status = 'queued'` is repeated outside the ranking so PostgreSQL re-checks it on the row it
    locks (a row another worker claimed since our snapshot is then left alone).
    """
    candidates = _fair_order(CLAIM_CANDIDATES, now)
    next_job = aliased(Job, name="next_job")
    return (
        update(Job)
        .where(
            Job.id
            == select(next_job.id)
            .join(candidates, candidates.c.id == next_job.id)
            .where(next_job.status == Status.QUEUED)
            .order_by(
                candidates.c.round,
                candidates.c.running,
                candidates.c.last_start.asc().nulls_first(),
                candidates.c.id,
            )
            .limit(1)
            .with_for_update(skip_locked=True, of=next_job)
            .scalar_subquery(),
            Job.status == Status.QUEUED,
        )
        .values(
            status=Status.RUNNING,
            worker_id=bindparam("worker_id", type_=String()),
            lease_until=lease_until,
            attempts=Job.attempts + 1,
            started_at=now,
            run_after=None,
            updated_at=now,
        )
        .returning(Job)
        .execution_options(synchronize_session=False)
    )


CLAIM = _claim(CLOCK, CLOCK_PLUS_LEASE)
CLAIM_AT = _claim(NOW, LEASE_UNTIL)
# A job whose sending started and was never confirmed.
UNCONFIRMED = Job.delivery_started_at.is_not(None) & Job.delivered.is_(False)
_ALL = _fair_order(None, NOW)
# Every queued job in claim order, for `position`.
QUEUE_ORDER = select(_ALL.c.id).order_by(
    _ALL.c.round, _ALL.c.running, _ALL.c.last_start.asc().nulls_first(), _ALL.c.id
)


class JobQueue:
    """Named queries over the jobs table; each method is one short transaction of its own."""

    def __init__(self, db: Database, *, max_attempts: int = 3) -> None:
        self.db = db
        self.max_attempts = max_attempts

    # -- the bot's side -------------------------------------------------------------------------

    async def enqueue(self, spec: JobSpec, policy: QuotaPolicy, now: datetime | None = None) -> Job:
        """Checks ban, caps and quota, debits and inserts — all in one transaction.

        Raises UserBanned, AlreadyQueued(job_id), TooManyQueued(limit), QueueFull,
        QuotaExceeded(resets_at), QueueUnavailable (the database could not be reached); nothing
        is written when it raises.
        """
        try:
            async with self.db.session() as s, s.begin():
                now = await _clock(s, now)
                return await self._enqueue(s, spec, policy, now)
        except IntegrityError:
            # a concurrent copy of the same update won the race to the unique key
            existing = await self._job_id_for_key(spec.idempotency_key)
            if existing is None:
                raise
            raise AlreadyQueued(existing) from None
        except (DBAPIError, OSError) as exc:
            # A refused or dropped connection (asyncpg raises OSError while connecting, a wrapped
            # driver error after), or SQLite's lock not granted within the busy timeout.
            raise QueueUnavailable(str(exc)) from exc

    async def _enqueue(self, s: AsyncSession, spec: JobSpec, policy: QuotaPolicy, now: datetime) -> Job:
        # Creating-or-touching the user row locks it (on PostgreSQL, as FOR NO KEY UPDATE: the
        # foreign-key checks of workers writing this user's ledger rows are not blocked), so one
        # user's burst is handled one request at a time and can never slip past the caps or the
        # quota. SQLite is serialised by BEGIN IMMEDIATE anyway.
        lock_user = (
            insert_for(s, User)
            .values(id=spec.user_id, banned=False, created_at=now, updated_at=now)
            .on_conflict_do_update(index_elements=[User.id], set_={"banned": User.banned})
            .returning(User.banned)
        )
        if await s.scalar(lock_user):
            raise UserBanned(spec.user_id)
        # one round trip for the three counts the checks need
        existing, pending, waiting = (
            await s.execute(
                select(
                    select(Job.id).where(Job.idempotency_key == spec.idempotency_key).scalar_subquery(),
                    select(func.count())
                    .where(Job.user_id == spec.user_id, Job.status.in_(PENDING))
                    .scalar_subquery(),
                    select(func.count()).where(Job.status == Status.QUEUED).scalar_subquery(),
                )
            )
        ).one()
        if existing is not None:
            raise AlreadyQueued(existing)
        if pending >= policy.max_queued_per_user:
            raise TooManyQueued(policy.max_queued_per_user)
        # A soft cap: two users racing at the very edge may overshoot it by one each.
        if waiting >= policy.max_queue:
            raise QueueFull(policy.max_queue)
        # Today's free renders first, then paid credits; the user row's lock above makes this
        # read-then-debit safe against the same user's concurrent requests.
        standing = await quotas.status(s, spec.user_id, policy, now)
        if standing.left <= 0 and standing.credits <= 0:
            raise QuotaExceeded(standing.resets_at, standing.limit)
        job = Job(
            user_id=spec.user_id,
            chat_id=spec.chat_id,
            idempotency_key=spec.idempotency_key,
            payload=spec.payload,
            status=Status.QUEUED,
            attempts=0,
            max_attempts=self.max_attempts,
            charged=True,
            refunded=False,
            delivered=False,
            status_message_id=spec.status_message_id,
            created_at=now,
            updated_at=now,
        )
        s.add(job)
        await s.flush()
        if spec.scene_id is not None:
            await _link_scene(s, spec.scene_id, job.id, now)
        await quotas.debit(s, job, now, paid=standing.left <= 0)
        return job

    async def _job_id_for_key(self, key: str) -> int | None:
        async with self.db.read_session() as s:
            return await s.scalar(select(Job.id).where(Job.idempotency_key == key))

    async def get(self, job_id: int) -> Job | None:
        """One job by id, as stored now."""
        async with self.db.read_session() as s:
            return await s.get(Job, job_id)

    async def position(self, job_id: int, now: datetime | None = None) -> int:
        """Where the job stands in the fair order: 1 = next to run; 0 = running or finished."""
        async with self.db.read_session() as s, s.begin():
            now = await _clock(s, now)
            status = await s.scalar(select(Job.status).where(Job.id == job_id))
            if status is None:
                raise JobNotFound(job_id)
            if status != Status.QUEUED:
                return 0
            ids = list(await s.scalars(QUEUE_ORDER, {"now": now}))
        # A job waiting for its retry delay is not in the order yet: it goes after the others.
        return ids.index(job_id) + 1 if job_id in ids else len(ids) + 1

    async def cancel(
        self, user_id: int, job_id: int | None = None, now: datetime | None = None
    ) -> Job | None:
        """Cancels one of the user's jobs (default: their newest queued one) and refunds it.

        A running job is cancelled too: its worker's next heartbeat fails and stops the handler.
        Returns the cancelled job, or None if there was nothing to cancel.
        """
        async with self.db.session() as s, s.begin():
            now = await _clock(s, now)
            # a video on its way (or maybe already there) is not cancelled, nor refunded
            query = select(Job).where(Job.user_id == user_id, Job.delivery_started_at.is_(None))
            if job_id is None:
                query = query.where(Job.status == Status.QUEUED).order_by(Job.id.desc()).limit(1)
            else:
                query = query.where(Job.id == job_id, Job.status.in_(PENDING))
            job = await s.scalar(query.with_for_update())
            if job is None:
                return None
            job.status, job.finished_at, job.lease_until, job.error_code = (
                Status.CANCELLED,
                now,
                None,
                "cancelled",
            )
            await s.flush()
            await scenes.settle_render(s, job.id, Status.CANCELLED, now)
            await quotas.refund(s, job.id, now)
            await s.refresh(job)
            return job

    async def begin_delivery(self, job_id: int, worker_id: str, now: datetime | None = None) -> bool:
        """Records that this worker is about to send the job's video; call it right before sending.

        True only once per job, and only while `worker_id` holds a live lease: send on True,
        never on False. After it, no attempt of the job renders or sends again (a retried or
        reclaimed job comes back with `delivery_started_at` set; finish it with
        `finish_unconfirmed`), and it is never refunded or cancelled: the user may have the video.
        """
        async with self.db.session() as s, s.begin():
            now = await _clock(s, now)
            result = await s.execute(
                update(Job)
                .where(
                    Job.id == job_id,
                    Job.worker_id == worker_id,
                    Job.status == Status.RUNNING,
                    Job.lease_until > now,
                    Job.delivery_started_at.is_(None),
                    Job.delivered.is_(False),
                )
                .values(delivery_started_at=now)
            )
            return rowcount(result) == 1

    async def abort_delivery(self, job_id: int, worker_id: str) -> bool:
        """Undoes `begin_delivery` once Telegram has said it did NOT take the video (a stated refusal).

        Only the worker holding the job's lease can, and only before delivery was recorded; the job
        can then fail and be refunded like any refused job. False when nothing was undone.
        """
        async with self.db.session() as s, s.begin():
            result = await s.execute(
                update(Job)
                .where(
                    Job.id == job_id,
                    Job.worker_id == worker_id,
                    Job.status == Status.RUNNING,
                    Job.delivery_started_at.is_not(None),
                    Job.delivered.is_(False),
                )
                .values(delivery_started_at=None)
            )
            return rowcount(result) == 1

    async def mark_delivered(self, job_id: int, file_id: str | None, now: datetime | None = None) -> bool:
        """Records that the video reached the user; False if it had been recorded before."""
        async with self.db.session() as s, s.begin():
            now = await _clock(s, now)
            result = await s.execute(
                update(Job)
                .where(Job.id == job_id, Job.delivered.is_(False))
                .values(delivered=True, delivered_at=now, result_file_id=file_id)
            )
            return rowcount(result) == 1

    async def stats(self) -> dict[str, Any]:
        """Counts by status, busy workers and the oldest wait, for /stats and monitoring."""
        async with self.db.read_session() as s, s.begin():
            counts = {str(st): 0 for st in Status}
            for st, n in await s.execute(select(Job.status, func.count()).group_by(Job.status)):
                counts[str(st)] = int(n)
            workers = await s.scalar(
                select(func.count(func.distinct(Job.worker_id))).where(Job.status == Status.RUNNING)
            )
            oldest = await s.scalar(select(func.min(Job.created_at)).where(Job.status == Status.QUEUED))
            now = await db_now(s)
        waited = (now - oldest).total_seconds() if oldest is not None else 0.0
        return {**counts, "workers": int(workers or 0), "oldest_queued_seconds": round(waited, 1)}

    # -- the worker's side ----------------------------------------------------------------------

    async def claim(self, worker_id: str, lease_seconds: float, now: datetime | None = None) -> Job | None:
        """Takes the next job in fair order and leases it to `worker_id`; None if none is waiting."""
        async with self.db.session() as s, s.begin():
            if now is None:
                return await s.scalar(CLAIM, {"worker_id": worker_id, "lease_seconds": lease_seconds})
            await s.connection()
            params = {
                "now": now,
                "worker_id": worker_id,
                "lease_until": now + timedelta(seconds=lease_seconds),
            }
            return await s.scalar(CLAIM_AT, params)

    async def heartbeat(
        self, job_id: int, worker_id: str, lease_seconds: float, now: datetime | None = None
    ) -> bool:
        """Renews the lease; False when it was lost (reclaimed) or the job was cancelled."""
        async with self.db.session() as s, s.begin():
            now = await _clock(s, now)
            result = await s.execute(
                update(Job)
                .where(Job.id == job_id, Job.worker_id == worker_id, Job.status == Status.RUNNING)
                .values(lease_until=now + timedelta(seconds=lease_seconds))
            )
            return rowcount(result) == 1

    async def finish(
        self, job_id: int, worker_id: str, result_file_id: str | None = None, now: datetime | None = None
    ) -> bool:
        """Marks the job done; False if this worker no longer held it."""
        return await self._finish(job_id, worker_id, result_file_id, now, unconfirmed_only=False)

    async def finish_unconfirmed(self, job_id: int, worker_id: str, now: datetime | None = None) -> bool:
        """Ends a job whose sending started but was never confirmed: DONE, debit kept, not resent.

        For a job handed back with `delivery_started_at` set (its previous attempt died or timed
        out while sending). False if this worker no longer holds it or its delivery never started.
        """
        return await self._finish(job_id, worker_id, None, now, unconfirmed_only=True)

    async def _finish(
        self,
        job_id: int,
        worker_id: str,
        result_file_id: str | None,
        now: datetime | None,
        *,
        unconfirmed_only: bool,
    ) -> bool:
        async with self.db.session() as s, s.begin():
            now = await _clock(s, now)
            values: dict[str, Any] = {
                "status": Status.DONE,
                "finished_at": now,
                "lease_until": None,
                # whoever finishes a job whose sending was never confirmed, it says so
                "error_code": case((UNCONFIRMED, DELIVERY_UNCONFIRMED), else_=Job.error_code),
            }
            if result_file_id is not None:
                values["result_file_id"] = result_file_id
            query = update(Job).where(
                Job.id == job_id, Job.worker_id == worker_id, Job.status == Status.RUNNING
            )
            if unconfirmed_only:
                query = query.where(UNCONFIRMED)
            result = await s.execute(query.values(**values))
            if rowcount(result) != 1:
                return False
            await scenes.settle_render(s, job_id, Status.DONE, now)
            return True

    async def fail(
        self,
        job_id: int,
        worker_id: str | None,
        error_code: str,
        refund: bool = True,
        now: datetime | None = None,
    ) -> bool:
        """Marks the job failed (refunding it unless told not to); False if the worker lost it.

        A job whose delivery started (`begin_delivery`) is not failed but finished as delivery
        unconfirmed (DONE, debit kept): the user may have its video.

        `worker_id=None` fails the job whoever holds it (an admin or a clean-up task).
        """
        async with self.db.session() as s, s.begin():
            now = await _clock(s, now)
            query = select(Job).where(Job.id == job_id, Job.status.in_(PENDING))
            if worker_id is not None:
                query = query.where(Job.worker_id == worker_id, Job.status == Status.RUNNING)
            job = await s.scalar(query.with_for_update())
            if job is None:
                return False
            await self._fail(s, job, error_code[:64], refund, now)
            return True

    async def _fail(self, s: AsyncSession, job: Job, error_code: str, refund: bool, now: datetime) -> None:
        if job.delivery_started_at is not None:
            # The video may have reached the user: never refunded, never reported as failed.
            job.status, job.finished_at, job.lease_until = Status.DONE, now, None
            if not job.delivered:
                job.error_code = DELIVERY_UNCONFIRMED
            await s.flush()
            await scenes.settle_render(s, job.id, Status.DONE, now)
            return
        job.status, job.error_code, job.finished_at, job.lease_until = Status.FAILED, error_code, now, None
        await s.flush()
        await scenes.settle_render(s, job.id, Status.FAILED, now)
        if refund:
            await quotas.refund(s, job.id, now)
            await s.refresh(job)

    async def retry_later(
        self,
        job_id: int,
        worker_id: str,
        delay_seconds: float = 0.0,
        error_code: str | None = None,
        now: datetime | None = None,
    ) -> bool:
        """Puts a failed attempt back in the queue (the attempt stays counted), after a delay."""
        return await self._requeue(job_id, worker_id, delay=delay_seconds, error_code=error_code, now=now)

    async def release(self, job_id: int, worker_id: str) -> bool:
        """Gives a job back untouched (worker shutting down): queued again, attempt not counted."""
        return await self._requeue(job_id, worker_id, delay=0.0, error_code=None, uncount=True)

    async def _requeue(
        self,
        job_id: int,
        worker_id: str,
        *,
        delay: float,
        error_code: str | None,
        uncount: bool = False,
        now: datetime | None = None,
    ) -> bool:
        async with self.db.session() as s, s.begin():
            now = await _clock(s, now)
            values: dict[str, Any] = {
                "status": Status.QUEUED,
                "worker_id": None,
                "lease_until": None,
                "run_after": now + timedelta(seconds=delay) if delay > 0 else None,
            }
            if error_code is not None:
                values["error_code"] = error_code[:64]
            if uncount:
                values["attempts"] = case((Job.attempts > 0, Job.attempts - 1), else_=0)
            result = await s.execute(
                update(Job)
                .where(Job.id == job_id, Job.worker_id == worker_id, Job.status == Status.RUNNING)
                .values(**values)
            )
            return rowcount(result) == 1

    async def reclaim_expired(self, now: datetime | None = None) -> list[Job]:
        """Jobs whose worker stopped heartbeating: back to queued, or failed + refunded at the last attempt.

        Returns the jobs it touched, with their new status, so the caller can apologise for the
        failed ones (status FAILED, error_code LEASE_EXPIRED).
        """
        async with self.db.session() as s, s.begin():
            now = await _clock(s, now)
            expired = list(
                await s.scalars(
                    select(Job)
                    .where(Job.status == Status.RUNNING, Job.lease_until < now)
                    .order_by(Job.id)
                    .with_for_update(skip_locked=True)
                )
            )
            for job in expired:
                if job.attempts >= job.max_attempts:
                    await self._fail(s, job, LEASE_EXPIRED, True, now)
                else:
                    job.status, job.worker_id, job.lease_until = Status.QUEUED, None, None
            await s.flush()
            return expired

    async def pending_for_user(self, user_id: int) -> list[Job]:
        """The user's queued and running jobs, oldest first."""
        async with self.db.read_session() as s:
            return list(
                await s.scalars(
                    select(Job).where(Job.user_id == user_id, Job.status.in_(PENDING)).order_by(Job.id)
                )
            )


__all__ = ["DELIVERY_UNCONFIRMED", "FINISHED", "LEASE_EXPIRED", "PENDING", "JobQueue", "JobSpec"]

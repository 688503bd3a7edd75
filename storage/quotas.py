"""The daily allowance: a ledger of debits, refunds and grants counted per local day.

A user may start `daily + granted today` renders per day, where "day" is the calendar day in the
policy's time zone; it resets at the next local midnight. Each job debits once (−1); a job that
fails for a system reason, or is cancelled, is refunded exactly once (+1, counted on the debit's
day). Both "exactly once"s are enforced by a unique (job_id, reason) constraint, not just by code.

Paid credits (bought with Telegram Stars, storage.payments) are rows of the same ledger: a
purchase adds N, a job that finds today's free renders used up spends one (−1, `SPEND`, in the
same transaction as its insert), and its refund gives that credit back (`CREDIT_REFUND`), so a
failed render returns exactly what it took — a free render or a paid credit. Credits never
expire; the balance is the sum of every credit row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage._sql import ensure_user, rowcount
from storage.models import CREDIT_REASONS, AuditEntry, Job, LedgerReason, QuotaEntry, utcnow


@dataclass(frozen=True)
class QuotaPolicy:
    """The caller's limits: renders per local day, its time zone, and the queue caps."""

    daily: int = 5
    timezone: str = "UTC"
    max_queued_per_user: int = 3
    max_queue: int = 200

    def day_bounds(self, now: datetime) -> tuple[datetime, datetime]:
        """Start and end (UTC) of the local calendar day that contains `now`."""
        zone = ZoneInfo(self.timezone)
        today = now.astimezone(zone).date()
        start = datetime.combine(today, time(0), tzinfo=zone)
        end = datetime.combine(today + timedelta(days=1), time(0), tzinfo=zone)
        return start.astimezone(now.tzinfo), end.astimezone(now.tzinfo)


@dataclass(frozen=True)
class QuotaStatus:
    """Today's standing: renders used, today's limit, renders left, when the count resets, and
    the paid credits the user holds besides (spent only once `left` is 0)."""

    used: int
    limit: int
    left: int
    resets_at: datetime
    credits: int = 0


async def status(
    s: AsyncSession, user_id: int, policy: QuotaPolicy, now: datetime | None = None
) -> QuotaStatus:
    """How much of today's allowance the user has used (today = the policy's local day)."""
    now = now or utcnow()
    start, end = policy.day_bounds(now)
    rows = await s.execute(
        select(QuotaEntry.reason, func.coalesce(func.sum(QuotaEntry.delta), 0))
        .where(QuotaEntry.user_id == user_id, QuotaEntry.counts_at >= start, QuotaEntry.counts_at < end)
        .group_by(QuotaEntry.reason)
    )
    sums = {LedgerReason(reason): int(total) for reason, total in rows}
    used = max(0, -(sums.get(LedgerReason.DEBIT, 0) + sums.get(LedgerReason.REFUND, 0)))
    limit = policy.daily + sums.get(LedgerReason.GRANT, 0)
    return QuotaStatus(
        used=used, limit=limit, left=max(0, limit - used), resets_at=end, credits=await credits(s, user_id)
    )


async def credits(s: AsyncSession, user_id: int) -> int:
    """The user's paid credits: purchases, less spends and revocations, plus spends given back."""
    total = await s.scalar(
        select(func.coalesce(func.sum(QuotaEntry.delta), 0)).where(
            QuotaEntry.user_id == user_id, QuotaEntry.reason.in_(CREDIT_REASONS)
        )
    )
    return int(total or 0)


async def grant(
    s: AsyncSession, user_id: int, n: int, admin_id: int | None, now: datetime | None = None
) -> None:
    """Gives the user `n` extra renders for today (audited)."""
    now = now or utcnow()
    await ensure_user(s, user_id)
    s.add(
        QuotaEntry(
            user_id=user_id,
            reason=LedgerReason.GRANT,
            delta=n,
            admin_id=admin_id,
            counts_at=now,
            created_at=now,
        )
    )
    s.add(AuditEntry(admin_id=admin_id, action="grant", target_user_id=user_id, details={"n": n}))
    await s.flush()


async def debit(s: AsyncSession, job: Job, now: datetime, *, paid: bool = False) -> None:
    """Charges one render for a freshly inserted job (same transaction as the insert).

    `paid` takes it from the paid credits instead of today's free allowance.
    """
    reason = LedgerReason.SPEND if paid else LedgerReason.DEBIT
    s.add(QuotaEntry(user_id=job.user_id, job_id=job.id, reason=reason, delta=-1, counts_at=now))
    await s.flush()


async def refund(s: AsyncSession, job_id: int, now: datetime | None = None) -> bool:
    """Gives a job's render back — a free render or a paid credit, whichever it took — once.

    False if it was free or already refunded.
    """
    now = now or utcnow()
    # The conditional UPDATE is the "once": a second caller (or a racing worker) matches no row.
    flagged = await s.execute(
        update(Job)
        .where(Job.id == job_id, Job.charged.is_(True), Job.refunded.is_(False))
        .values(refunded=True)
        .execution_options(synchronize_session="fetch")
    )
    if rowcount(flagged) != 1:
        return False
    debit_row = await s.scalar(
        select(QuotaEntry).where(
            QuotaEntry.job_id == job_id, QuotaEntry.reason.in_((LedgerReason.DEBIT, LedgerReason.SPEND))
        )
    )
    if debit_row is None:  # the debit was purged already; nothing left to give back
        return False
    s.add(
        QuotaEntry(
            user_id=debit_row.user_id,
            job_id=job_id,
            reason=LedgerReason.CREDIT_REFUND
            if debit_row.reason == LedgerReason.SPEND
            else LedgerReason.REFUND,
            delta=1,
            counts_at=debit_row.counts_at,
            created_at=now,
        )
    )
    await s.flush()
    return True

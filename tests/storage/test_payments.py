"""Stars payments in the quota ledger: credited once per charge, spent after the free renders,
given back once, refunded once — on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from storage import (
    AuditEntry,
    Database,
    JobQueue,
    Payment,
    PaymentNotFound,
    QuotaExceeded,
    QuotaPolicy,
    Status,
    payments,
    quotas,
    retention,
    users,
)
from storage.errors import AlreadyQueued
from tests.storage.helpers import NOW, spec

NO_FREE = QuotaPolicy(daily=0, timezone="UTC", max_queued_per_user=10, max_queue=100)
ONE_FREE = QuotaPolicy(daily=1, timezone="UTC", max_queued_per_user=10, max_queue=100)


def charge(user_id: int, charge_id: str, credits: int = 1, stars: int = 50) -> payments.Charge:
    return payments.Charge(
        user_id=user_id,
        telegram_payment_charge_id=charge_id,
        provider_payment_charge_id=None,
        invoice_payload=f"pack:{credits}:{stars}",
        currency="XTR",
        stars=stars,
        credits=credits,
    )


async def buy(db: Database, user_id: int, charge_id: str, credits: int = 1, stars: int = 50) -> bool:
    async with db.session() as s, s.begin():
        return await payments.credit(s, charge(user_id, charge_id, credits, stars), NOW)


async def standing(db: Database, user_id: int, policy: QuotaPolicy) -> quotas.QuotaStatus:
    async with db.session() as s:
        return await quotas.status(s, user_id, policy, NOW)


async def test_a_charge_credits_its_pack_once_even_when_delivered_twice_at_once(db: Database) -> None:
    results = await asyncio.gather(buy(db, 1, "ch-1", 10), buy(db, 1, "ch-1", 10))
    assert sorted(results) == [False, True]
    assert await buy(db, 1, "ch-1", 10) is False
    assert (await standing(db, 1, NO_FREE)).credits == 10
    async with db.session() as s:
        assert await s.scalar(select(func.count()).select_from(Payment)) == 1


async def test_free_renders_are_spent_before_paid_credits(db: Database, queue: JobQueue) -> None:
    await buy(db, 2, "ch-2", 3)
    await queue.enqueue(spec(2, 1), ONE_FREE, NOW)
    after_free = await standing(db, 2, ONE_FREE)
    assert (after_free.left, after_free.credits) == (0, 3)
    await queue.enqueue(spec(2, 2), ONE_FREE, NOW)
    assert (await standing(db, 2, ONE_FREE)).credits == 2


async def test_no_free_renders_and_no_credits_is_refused(db: Database, queue: JobQueue) -> None:
    with pytest.raises(QuotaExceeded):
        await queue.enqueue(spec(3, 1), NO_FREE, NOW)
    await buy(db, 3, "ch-3", 1)
    await queue.enqueue(spec(3, 2), NO_FREE, NOW)
    with pytest.raises(QuotaExceeded):
        await queue.enqueue(spec(3, 3), NO_FREE, NOW)


async def test_the_last_credit_requested_twice_at_once_renders_once(db: Database, queue: JobQueue) -> None:
    await buy(db, 4, "ch-4", 1)
    results = await asyncio.gather(
        queue.enqueue(spec(4, 1), NO_FREE, NOW),
        queue.enqueue(spec(4, 2), NO_FREE, NOW),
        return_exceptions=True,
    )
    queued = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, QuotaExceeded)]
    assert (len(queued), len(refused)) == (1, 1)
    assert (await standing(db, 4, NO_FREE)).credits == 0
    assert len(await queue.pending_for_user(4)) == 1


async def test_a_failed_render_gives_back_the_paid_credit_it_took_once(db: Database, queue: JobQueue) -> None:
    await buy(db, 5, "ch-5", 2)
    await queue.enqueue(spec(5, 1), ONE_FREE, NOW)  # free
    paid = await queue.enqueue(spec(5, 2), ONE_FREE, NOW)  # a credit
    job = await queue.claim("w1", 60, NOW)
    assert job is not None
    assert await queue.fail(job.id, "w1", "boom", now=NOW)  # the free one failed: free back
    after_free_refund = await standing(db, 5, ONE_FREE)
    assert (after_free_refund.left, after_free_refund.credits) == (1, 1)
    assert await queue.fail(paid.id, None, "boom", now=NOW)
    assert await queue.fail(paid.id, None, "boom", now=NOW) is False  # already failed
    async with db.session() as s, s.begin():
        assert await quotas.refund(s, paid.id, NOW) is False  # and never twice
    after = await standing(db, 5, ONE_FREE)
    assert (after.left, after.credits) == (1, 2)


async def test_a_cancelled_paid_render_gives_its_credit_back(db: Database, queue: JobQueue) -> None:
    await buy(db, 6, "ch-6", 1)
    await queue.enqueue(spec(6, 1), NO_FREE, NOW)
    assert (await standing(db, 6, NO_FREE)).credits == 0
    cancelled = await queue.cancel(6, now=NOW)
    assert cancelled is not None and cancelled.status == Status.CANCELLED
    assert (await standing(db, 6, NO_FREE)).credits == 1


async def test_a_repeated_update_is_not_charged_a_credit_twice(db: Database, queue: JobQueue) -> None:
    await buy(db, 7, "ch-7", 2)
    await queue.enqueue(spec(7, 1), NO_FREE, NOW)
    with pytest.raises(AlreadyQueued):
        await queue.enqueue(spec(7, 1), NO_FREE, NOW)
    assert (await standing(db, 7, NO_FREE)).credits == 1


async def test_refund_takes_back_only_unspent_credits_once_and_is_audited(
    db: Database, queue: JobQueue
) -> None:
    await buy(db, 8, "ch-8", 3, stars=120)
    await queue.enqueue(spec(8, 1), NO_FREE, NOW)
    async with db.session() as s, s.begin():
        first = await payments.refund(s, 8, "ch-8", admin_id=99, now=NOW)
    assert (first.stars, first.credits, first.revoked, first.spent, first.already_refunded) == (
        120,
        3,
        2,
        1,
        False,
    )
    assert (await standing(db, 8, NO_FREE)).credits == 0
    async with db.session() as s, s.begin():
        again = await payments.refund(s, 8, "ch-8", admin_id=99, now=NOW)
    assert again.already_refunded and again.revoked == 2
    assert (await standing(db, 8, NO_FREE)).credits == 0
    async with db.session() as s:
        audits = list(await s.scalars(select(AuditEntry).where(AuditEntry.action == "refund")))
    assert [(a.admin_id, a.target_user_id, a.details["revoked"]) for a in audits] == [(99, 8, 2)]


async def test_refunds_racing_each_other_take_credits_back_once(db: Database) -> None:
    await buy(db, 9, "ch-9a", 2)
    await buy(db, 9, "ch-9b", 2)

    async def refund() -> payments.Refund:
        async with db.session() as s, s.begin():
            return await payments.refund(s, 9, "ch-9a", admin_id=1, now=NOW)

    outcomes = await asyncio.gather(refund(), refund())
    assert sorted(o.already_refunded for o in outcomes) == [False, True]
    assert (await standing(db, 9, NO_FREE)).credits == 2


async def test_refund_of_an_unknown_or_someone_elses_charge_is_refused(db: Database) -> None:
    await buy(db, 10, "ch-10", 1)
    async with db.session() as s, s.begin():
        with pytest.raises(PaymentNotFound):
            await payments.refund(s, 11, "ch-10", admin_id=1, now=NOW)
        with pytest.raises(PaymentNotFound):
            await payments.refund(s, 10, "no-such-charge", admin_id=1, now=NOW)


async def test_credits_outlive_retention_and_forget_keeps_payments_anonymised(
    db: Database, queue: JobQueue
) -> None:
    await buy(db, 12, "ch-12", 5)
    await queue.enqueue(spec(12, 1), NO_FREE, NOW)
    later = NOW + timedelta(days=30)
    async with db.session() as s, s.begin():
        await retention.purge(s, later, days=7)
    async with db.session() as s:
        assert (await quotas.status(s, 12, NO_FREE, later)).credits == 4
    async with db.session() as s, s.begin():
        await users.forget_user(s, 12, later)
    async with db.session() as s:
        assert (await quotas.status(s, 12, NO_FREE, later)).credits == 4
        payment = await s.scalar(select(Payment))
    assert payment is not None
    assert (payment.user_id, payment.telegram_payment_charge_id, payment.stars) == (None, "ch-12", 50)
    # Telegram refunds the anonymised payment to the user it names: the credits still go back once
    async with db.session() as s, s.begin():
        outcome = await payments.refund(s, 12, "ch-12", admin_id=1, now=later)
    assert (outcome.revoked, outcome.already_refunded) == (4, False)


async def test_stats_count_stars_and_credits(db: Database, queue: JobQueue) -> None:
    await buy(db, 13, "ch-13a", 10, stars=50)
    await buy(db, 13, "ch-13b", 30, stars=120)
    failed = await queue.enqueue(spec(13, 1), NO_FREE, NOW)
    await queue.enqueue(spec(13, 2), NO_FREE, NOW)
    await queue.fail(failed.id, None, "boom", now=NOW)
    async with db.session() as s, s.begin():
        await payments.refund(s, 13, "ch-13b", admin_id=1, now=NOW)
    async with db.session() as s:
        figures = await payments.stats(s)
    assert figures == payments.PaymentStats(
        payments=2, stars_paid=170, stars_refunded=120, credits_sold=40, credits_spent=1, credits_revoked=30
    )
    assert figures.stars_earned == 50


async def test_a_paid_render_whose_worker_vanished_on_its_last_attempt_gives_the_credit_back_once(
    db: Database,
) -> None:
    queue = JobQueue(db, max_attempts=1)
    await buy(db, 14, "ch-14", 1)
    await queue.enqueue(spec(14, 1), NO_FREE, NOW)
    job = await queue.claim("w1", 30, NOW)
    assert job is not None
    later = NOW + timedelta(minutes=5)
    [lost] = await queue.reclaim_expired(later)
    assert lost.status == Status.FAILED
    assert await queue.reclaim_expired(later) == []
    assert await queue.fail(job.id, "w1", "late", now=later) is False  # the old worker reports late
    assert (await standing(db, 14, NO_FREE)).credits == 1

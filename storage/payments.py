"""Telegram Stars payments: credit a pack once per charge, refund it once, and count the money.

A payment is credited only when Telegram reports it done (`successful_payment`): one `payments`
row per `telegram_payment_charge_id` (unique), and its credits as one PURCHASE row in the quota
ledger, in the same transaction — so a re-delivered update finds the row and credits nothing.
How credits are spent and given back is storage.quotas' business.

A refund (the admin's /refund, or Telegram's `refunded_payment` service message) marks the row
refunded once and takes back what is still unspent of its credits, never more than the user
holds: renders already made with them are not undone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage import quotas
from storage._sql import ensure_user, insert_for, rowcount
from storage.errors import PaymentNotFound
from storage.models import AuditEntry, LedgerReason, Payment, QuotaEntry, User, utcnow


@dataclass(frozen=True)
class Charge:
    """What Telegram's `successful_payment` says was paid, and the credits it buys."""

    user_id: int
    telegram_payment_charge_id: str
    provider_payment_charge_id: str | None
    invoice_payload: str
    currency: str
    stars: int
    credits: int


@dataclass(frozen=True)
class Refund:
    """A refund's outcome: the payment's Stars and credits, how many credits were taken back
    (the rest were spent already), and whether it had been refunded before (nothing changed)."""

    stars: int
    credits: int
    revoked: int
    already_refunded: bool

    @property
    def spent(self) -> int:
        """Credits of this payment the user had already used when it was refunded."""
        return self.credits - self.revoked


@dataclass(frozen=True)
class PaymentStats:
    """The operator's figures: Stars paid and refunded, credits sold, spent (net of renders given
    back), and taken back by refunds."""

    payments: int
    stars_paid: int
    stars_refunded: int
    credits_sold: int
    credits_spent: int
    credits_revoked: int

    @property
    def stars_earned(self) -> int:
        """Stars kept: paid less refunded."""
        return self.stars_paid - self.stars_refunded


async def credit(s: AsyncSession, charge: Charge, now: datetime | None = None) -> bool:
    """Records a successful payment and credits its pack; False if this charge was seen before."""
    now = now or utcnow()
    await ensure_user(s, charge.user_id)
    payment_id = await s.scalar(
        insert_for(s, Payment)
        .values(
            user_id=charge.user_id,
            telegram_payment_charge_id=charge.telegram_payment_charge_id,
            provider_payment_charge_id=charge.provider_payment_charge_id,
            invoice_payload=charge.invoice_payload[:128],
            currency=charge.currency,
            stars=charge.stars,
            credits=charge.credits,
            created_at=now,
            credits_revoked=0,
        )
        # the unique charge id is the "once": a duplicate (even a concurrent one) inserts nothing
        .on_conflict_do_nothing(index_elements=[Payment.telegram_payment_charge_id])
        .returning(Payment.id)
    )
    if payment_id is None:
        return False
    s.add(
        QuotaEntry(
            user_id=charge.user_id,
            reason=LedgerReason.PURCHASE,
            delta=charge.credits,
            counts_at=now,
            created_at=now,
        )
    )
    await s.flush()
    return True


async def refund(
    s: AsyncSession,
    user_id: int,
    charge_id: str,
    admin_id: int | None,
    now: datetime | None = None,
) -> Refund:
    """Marks a payment refunded and takes back its unspent credits, once (audited).

    Raises PaymentNotFound when no payment has that charge id, or it belongs to another user
    (a payment anonymised by /forget matches the user Telegram refunds it to). Call it after
    Telegram confirmed the refund (`refundStarPayment`), or on its `refunded_payment` message.
    """
    now = now or utcnow()
    # Lock the user first, as enqueue does: no render can spend a credit between counting the
    # balance and taking it back (SQLite is serialised by BEGIN IMMEDIATE anyway).
    await ensure_user(s, user_id)
    await s.execute(select(User.id).where(User.id == user_id).with_for_update())
    payment = await s.scalar(
        select(Payment).where(Payment.telegram_payment_charge_id == charge_id).with_for_update()
    )
    if payment is None or payment.user_id not in (None, user_id):
        raise PaymentNotFound(charge_id)
    if payment.refunded_at is not None:
        return Refund(payment.stars, payment.credits, payment.credits_revoked, already_refunded=True)
    revoked = max(0, min(payment.credits, await quotas.credits(s, user_id)))
    marked = await s.execute(
        update(Payment)
        .where(Payment.id == payment.id, Payment.refunded_at.is_(None))
        .values(refunded_at=now, refunded_by=admin_id, credits_revoked=revoked)
        .execution_options(synchronize_session=False)
    )
    if rowcount(marked) != 1:  # refunded by a concurrent caller since we read it
        await s.refresh(payment)
        return Refund(payment.stars, payment.credits, payment.credits_revoked, already_refunded=True)
    if revoked:
        s.add(
            QuotaEntry(
                user_id=user_id,
                reason=LedgerReason.REVOKE,
                delta=-revoked,
                admin_id=admin_id,
                counts_at=now,
                created_at=now,
            )
        )
    s.add(
        AuditEntry(
            admin_id=admin_id,
            action="refund",
            target_user_id=user_id,
            details={
                "charge_id": charge_id,
                "stars": payment.stars,
                "credits": payment.credits,
                "revoked": revoked,
            },
        )
    )
    await s.flush()
    return Refund(payment.stars, payment.credits, revoked, already_refunded=False)


async def find(s: AsyncSession, charge_id: str) -> Payment | None:
    """The payment with this Telegram charge id, or None."""
    return await s.scalar(select(Payment).where(Payment.telegram_payment_charge_id == charge_id))


async def recent(s: AsyncSession, user_id: int, limit: int = 5) -> list[Payment]:
    """The user's latest payments, newest first (for /paysupport: the charge ids to quote)."""
    return list(
        await s.scalars(
            select(Payment).where(Payment.user_id == user_id).order_by(Payment.id.desc()).limit(limit)
        )
    )


async def stats(s: AsyncSession) -> PaymentStats:
    """Stars paid and refunded, credits sold, spent and revoked, over all time."""
    payments, paid, refunded = (
        await s.execute(
            select(
                func.count(Payment.id),
                func.coalesce(func.sum(Payment.stars), 0),
                func.coalesce(func.sum(Payment.stars).filter(Payment.refunded_at.is_not(None)), 0),
            )
        )
    ).one()
    moves = {
        LedgerReason(reason): int(total)
        for reason, total in await s.execute(
            select(QuotaEntry.reason, func.coalesce(func.sum(QuotaEntry.delta), 0))
            .where(
                QuotaEntry.reason.in_(
                    (
                        LedgerReason.PURCHASE,
                        LedgerReason.SPEND,
                        LedgerReason.CREDIT_REFUND,
                        LedgerReason.REVOKE,
                    )
                )
            )
            .group_by(QuotaEntry.reason)
        )
    }
    return PaymentStats(
        payments=int(payments),
        stars_paid=int(paid),
        stars_refunded=int(refunded),
        credits_sold=moves.get(LedgerReason.PURCHASE, 0),
        credits_spent=-(moves.get(LedgerReason.SPEND, 0) + moves.get(LedgerReason.CREDIT_REFUND, 0)),
        credits_revoked=-moves.get(LedgerReason.REVOKE, 0),
    )

"""Telegram Stars through the real bot over the fake Bot API: buy, spend, give back, refund.

Every duplicated update and failure mode is checked for what a user and an operator would
notice: the videos credited, spent and taken back, and the messages they get.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bot.runtime import Runtime, utcnow
from bot.texts import t
from playground.botapi import Call, FakeBotApi
from storage import Job, LedgerReason, QuotaEntry, quotas
from tests.e2e.conftest import ADMIN_ID, BotFactory, Settle
from tests.e2e.media import astronaut_portrait, voice_note

PACKS = "2:50,30:120"
#: A real render of a short clip on a busy shared machine.
RENDER_TIMEOUT = 180.0


async def reply(fake: FakeBotApi, chat_id: int, text: str | None = None) -> Call:
    """The bot's next successful sendMessage to the chat (with that text, if given)."""
    return await fake.wait_for(
        "sendMessage",
        lambda c: (
            c.ok and c.params.get("chat_id") == chat_id and (text is None or c.params.get("text") == text)
        ),
    )


async def credits(rt: Runtime, user_id: int) -> int:
    async with rt.db.read_session() as s:
        return await quotas.credits(s, user_id)


async def buy_first_pack(fake: FakeBotApi, user: dict[str, object], chat_id: int) -> Call:
    """/buy → tap the first pack → the invoice; returns the sendInvoice call."""
    fake.send_command(user, None, "buy")
    menu = await reply(fake, chat_id)
    button = menu.params["reply_markup"]["inline_keyboard"][0][0]
    fake.press_button(user, None, menu.result["message_id"], button["callback_data"])
    return await fake.wait_for("sendInvoice", lambda c: c.ok and c.params.get("chat_id") == chat_id)


async def test_buying_a_pack_sends_a_stars_invoice_and_credits_it_on_payment(
    fake: FakeBotApi, make_bot: BotFactory
) -> None:
    rt = await make_bot(stars_packs=PACKS, daily_quota=1)
    alice = fake.user(1001, "Alice", "en")
    invoice = await buy_first_pack(fake, alice, 1001)
    assert invoice.params["currency"] == "XTR"
    assert not invoice.params.get("provider_token")
    assert invoice.params["prices"] == [{"label": t("invoice_title", "en", videos=2), "amount": 50}]
    assert invoice.result["invoice"]["total_amount"] == 50

    fake.pay(alice, invoice.result["message_id"])
    answer = await fake.wait_for("answerPreCheckoutQuery")
    assert answer.params["ok"] is True
    await reply(fake, 1001, t("paid", "en", videos=2, balance=2))
    assert await credits(rt, 1001) == 2

    fake.send_command(alice, None, "quota")
    quota = await reply(fake, 1001)
    assert t("quota_credits", "en", credits=2) in quota.params["text"]
    assert quota.params["reply_markup"]["inline_keyboard"][0][0]["text"] == t("buy_more_button", "en")
    fake.send_command(alice, None, "paysupport")
    support = (await reply(fake, 1001)).params["text"]
    [charge_id] = list(fake.charges)
    assert charge_id in support and "50 ⭐ for 2 videos" in support
    fake.send_command(alice, None, "privacy")
    assert t("privacy_payments", "en") in (await reply(fake, 1001)).params["text"]
    # selling adds /buy and /paysupport to everyone's menu, /refund to the admins'
    menus = {
        scope: [c["command"] for c in cmds] for (scope, lang), cmds in fake.commands.items() if lang == ""
    }
    assert {"buy", "paysupport"} <= set(menus['{"type": "default"}'])
    assert "refund" in menus[f'{{"chat_id": {ADMIN_ID}, "type": "chat"}}']
    assert "refund" not in menus['{"type": "default"}']


async def test_buy_says_so_when_nothing_is_sold(fake: FakeBotApi, make_bot: BotFactory) -> None:
    await make_bot()
    alice = fake.user(1001, "Alice", "zh")
    fake.send_command(alice, None, "buy")
    await reply(fake, 1001, t("buy_off", "zh"))
    assert not fake.calls_to("sendInvoice")


async def test_a_duplicated_successful_payment_credits_once(
    fake: FakeBotApi, make_bot: BotFactory, settle: Settle
) -> None:
    rt = await make_bot(stars_packs=PACKS)
    alice = fake.user(1001, "Alice", "en")
    fake.successful_payment(alice, "pack:30:120", 120, charge_id="stx-dup")
    fake.successful_payment(alice, "pack:30:120", 120, charge_id="stx-dup")
    await settle()
    assert await credits(rt, 1001) == 30
    thanks = [c for c in fake.calls_to("sendMessage", ok_only=True) if c.params["chat_id"] == 1001]
    assert [c.params["text"] for c in thanks] == [t("paid", "en", videos=30, balance=30)]


async def test_pre_checkout_is_refused_for_a_banned_user_and_a_pack_no_longer_offered(
    fake: FakeBotApi, make_bot: BotFactory, settle: Settle
) -> None:
    rt = await make_bot(stars_packs=PACKS)
    admin = fake.user(ADMIN_ID, "Admin", "en")
    alice = fake.user(1001, "Alice", "zh")
    bob = fake.user(1002, "Bob", "en")
    fake.send_command(admin, None, "ban", "1001")
    await reply(fake, ADMIN_ID)
    fake.pre_checkout(alice, "pack:2:50", 50)
    refused = await fake.wait_for("answerPreCheckoutQuery")
    assert refused.params["ok"] is False
    assert refused.params["error_message"] == t("checkout_banned", "zh")
    fake.pre_checkout(bob, "pack:5:20", 20)  # an invoice from before the operator changed the packs
    gone = await fake.wait_for("answerPreCheckoutQuery", lambda c: c.params["ok"] is False)
    assert gone.params["error_message"] == t("checkout_pack_gone", "en")
    fake.pre_checkout(bob, "pack:2:50", 1)  # the right pack at the wrong price
    await fake.wait_for("answerPreCheckoutQuery", lambda c: c.params["ok"] is False)
    await settle()
    assert not fake.charges  # a refused checkout is never charged
    assert await credits(rt, 1001) == 0 and await credits(rt, 1002) == 0


@pytest.mark.slow
async def test_paid_videos_are_spent_after_free_ones_and_a_failed_one_comes_back(
    fake: FakeBotApi, make_bot: BotFactory
) -> None:
    rt = await make_bot(stars_packs=PACKS, daily_quota=0, job_max_attempts=1)
    alice = fake.user(1001, "Alice", "en")
    admin = fake.user(ADMIN_ID, "Admin", "en")
    fake.send_photo(alice, None, astronaut_portrait())
    await reply(fake, 1001)
    fake.send_text(alice, None, "Hello there")
    await reply(fake, 1001)
    refusal = await fake.wait_for("editMessageText", lambda c: c.params.get("chat_id") == 1001)
    assert refusal.params["text"].startswith("You've used all your videos for today.")
    buy_more = refusal.params["reply_markup"]["inline_keyboard"][0][0]
    assert buy_more["text"] == t("buy_more_button", "en")

    # Buy more → the packs → the invoice → pay
    fake.press_button(alice, None, refusal.params["message_id"], buy_more["callback_data"])
    menu = await reply(fake, 1001, t("buy_menu", "en"))
    fake.press_button(alice, None, menu.result["message_id"], "buy:2:50")
    invoice = await fake.wait_for("sendInvoice")
    fake.pay(alice, invoice.result["message_id"])
    await reply(fake, 1001, t("paid", "en", videos=2, balance=2))

    # a paid render
    fake.send_voice(alice, None, voice_note(), duration=2)
    await fake.wait_for(
        "sendVideo", lambda c: c.ok and c.params.get("chat_id") == 1001, timeout=RENDER_TIMEOUT
    )
    assert await credits(rt, 1001) == 1
    # a paid render that fails on our side gives its paid video back, once
    fake.fail_next("getFile", times=1, error_code=500, description="Internal Server Error")
    fake.send_voice(alice, None, voice_note(), duration=2)
    await fake.wait_for(
        "sendMessage",
        lambda c: c.ok and c.params.get("text") == t("internal_error", "en"),
        timeout=RENDER_TIMEOUT,
    )
    assert await credits(rt, 1001) == 1

    fake.send_command(admin, None, "stats")
    stats = (await reply(fake, ADMIN_ID)).params["text"]
    for line in ("stars_earned: 50", "credits_sold: 2", "credits_spent: 1", "credits_refunded: 0"):
        assert line in stats


async def test_the_last_paid_video_asked_for_twice_at_once_is_made_once(
    fake: FakeBotApi, make_bot: BotFactory, settle: Settle, database_url: str
) -> None:
    # No render worker: the job queued stays queued, so no failure can hand its video back
    # between the two requests and make a second one legitimately possible.
    rt = await make_bot(stars_packs=PACKS, daily_quota=0, embedded_worker=False, database_url=database_url)
    alice = fake.user(1001, "Alice", "en")
    fake.successful_payment(alice, "pack:1:50", 50, charge_id="stx-last")
    await reply(fake, 1001, t("paid", "en", videos=1, balance=1))
    fake.send_photo(alice, None, astronaut_portrait())
    await reply(fake, 1001)
    fake.send_text(alice, None, "First request")
    fake.send_text(alice, None, "Second request")
    await settle()
    async with rt.db.read_session() as s:
        jobs = await s.scalar(select(func.count()).select_from(Job).where(Job.user_id == 1001))
    assert jobs == 1
    refusals = [
        c
        for c in fake.calls_to("editMessageText", ok_only=True)
        if c.params["text"].startswith("You've used all your videos for today.")
    ]
    assert len(refusals) == 1
    assert await credits(rt, 1001) == 0
    # cancelling the waiting video gives the paid one back
    fake.send_command(alice, None, "cancel")
    await reply(fake, 1001, t("cancelled", "en"))
    assert await credits(rt, 1001) == 1


async def test_admin_refund_goes_through_telegram_once_and_takes_back_unspent_videos(
    fake: FakeBotApi, make_bot: BotFactory, settle: Settle
) -> None:
    rt = await make_bot(stars_packs=PACKS)
    admin = fake.user(ADMIN_ID, "Admin", "en")
    alice = fake.user(1001, "Alice", "en")
    fake.successful_payment(alice, "pack:30:120", 120, charge_id="stx-refund")
    await reply(fake, 1001, t("paid", "en", videos=30, balance=30))

    fake.send_command(alice, None, "refund", "1001 stx-refund")
    await reply(fake, 1001, t("admin_only", "en"))
    fake.send_command(admin, None, "refund", "1001 stx-nope")
    await reply(fake, ADMIN_ID, t("refund_unknown", "en", user=1001, charge="stx-nope"))
    fake.send_command(admin, None, "refund", "1001 stx-refund")
    done = await reply(fake, ADMIN_ID)
    assert done.params["text"] == t("refund_done", "en", stars=120, user=1001, revoked=30, spent=0)
    await settle()  # Telegram's refunded_payment message arrived and was handled too
    assert [(r["user_id"], r["telegram_payment_charge_id"]) for r in fake.star_refunds] == [
        (1001, "stx-refund")
    ]
    told = [
        c
        for c in fake.calls_to("sendMessage", ok_only=True)
        if c.params["chat_id"] == 1001
        and c.params["text"] == t("payment_refunded", "en", stars=120, revoked=30)
    ]
    assert len(told) == 1
    assert await credits(rt, 1001) == 0

    # again, and Telegram's service message delivered twice: nothing more is taken or said
    fake.send_command(admin, None, "refund", "1001 stx-refund")
    await reply(fake, ADMIN_ID, t("refund_already", "en", charge="stx-refund"))
    fake.refunded_payment(alice, "stx-refund")
    await settle()
    assert len(fake.star_refunds) == 1
    assert await credits(rt, 1001) == 0
    assert len([c for c in fake.calls_to("sendMessage", ok_only=True) if c.params["chat_id"] == 1001]) == 3


async def test_a_refund_after_videos_were_spent_takes_back_only_the_rest(
    fake: FakeBotApi, make_bot: BotFactory, settle: Settle
) -> None:
    rt = await make_bot(stars_packs=PACKS)
    admin = fake.user(ADMIN_ID, "Admin", "en")
    alice = fake.user(1001, "Alice", "en")
    fake.successful_payment(alice, "pack:2:50", 50, charge_id="stx-spent")
    await reply(fake, 1001, t("paid", "en", videos=2, balance=2))
    async with rt.db.session() as s, s.begin():
        # one paid video used, as enqueue records it when the free ones are gone
        s.add(QuotaEntry(user_id=1001, reason=LedgerReason.SPEND, delta=-1, counts_at=utcnow()))
    fake.send_command(admin, None, "refund", "1001 stx-spent")
    done = await reply(fake, ADMIN_ID)
    assert done.params["text"] == t("refund_done", "en", stars=50, user=1001, revoked=1, spent=1)
    await settle()
    assert await credits(rt, 1001) == 0

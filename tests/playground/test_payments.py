"""Payments in the emulator, with the Bot API's own shapes and rules, and a purchase from the page."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from telegram import PreCheckoutQuery, Update

from playground.botapi import FakeBotApi
from playground.server import Playground
from tests.playground.test_server import bot_call

ALICE = 1001
PRICE = [{"label": "10 videos", "amount": 50}]


@pytest.fixture
async def page() -> AsyncIterator[tuple[FakeBotApi, aiohttp.ClientSession]]:
    api = FakeBotApi()
    Playground(api)
    async with api, aiohttp.ClientSession(api.url) as client:
        yield api, client


async def invoice(api: FakeBotApi, **overrides: object) -> dict:
    params = {
        "chat_id": ALICE,
        "title": "10 videos",
        "description": "Ten more videos",
        "payload": "pack:10:50",
        "currency": "XTR",
        "prices": PRICE,
        **overrides,
    }
    return await bot_call(api, "sendInvoice", **params)


async def test_stars_invoices_need_no_provider_and_exactly_one_price(page) -> None:
    api, _ = page
    api.user(ALICE, "Alice")
    sent = await invoice(api)
    assert sent["ok"] and sent["result"]["invoice"] == {
        "title": "10 videos",
        "description": "Ten more videos",
        "start_parameter": "",
        "currency": "XTR",
        "total_amount": 50,
    }
    assert (await invoice(api, provider_token="284685063:TEST:abc"))["ok"] is False
    assert (await invoice(api, prices=[*PRICE, {"label": "tip", "amount": 5}]))["ok"] is False
    assert (await invoice(api, payload=""))["ok"] is False


async def test_tapping_pay_on_the_page_asks_the_bot_and_its_ok_completes_the_payment(page) -> None:
    api, client = page
    api.user(ALICE, "Alice")
    message_id = (await invoice(api))["result"]["message_id"]
    state = await (await client.get("/api/state")).json()
    [shown] = [m for m in state["messages"] if m["message_id"] == message_id]
    assert shown["invoice"]["total_amount"] == 50

    async with client.post(
        "/api/pay", json={"user_id": ALICE, "chat_id": ALICE, "message_id": message_id}
    ) as r:
        assert r.status == 200
    [update] = api.pending_updates
    query = PreCheckoutQuery.de_json(update["pre_checkout_query"], None)  # PTB reads Telegram's shape
    assert (query.from_user.id, query.currency, query.total_amount, query.invoice_payload) == (
        ALICE,
        "XTR",
        50,
        "pack:10:50",
    )
    answered = await bot_call(api, "answerPreCheckoutQuery", pre_checkout_query_id=query.id, ok=True)
    assert answered == {"ok": True, "result": True}
    paid = Update.de_json(api.pending_updates[-1], None)
    assert paid.message is not None and paid.message.successful_payment is not None
    payment = paid.message.successful_payment
    assert (paid.message.from_user.id, payment.total_amount, payment.invoice_payload) == (
        ALICE,
        50,
        "pack:10:50",
    )
    assert payment.telegram_payment_charge_id in api.charges
    # the same query cannot be answered twice
    again = await bot_call(api, "answerPreCheckoutQuery", pre_checkout_query_id=query.id, ok=True)
    assert again["ok"] is False


async def test_a_refused_checkout_charges_nothing_and_needs_a_reason(page) -> None:
    api, _ = page
    alice = api.user(ALICE, "Alice")
    query = api.pre_checkout(alice, "pack:10:50", 50)
    no_reason = await bot_call(api, "answerPreCheckoutQuery", pre_checkout_query_id=query["id"], ok=False)
    assert no_reason["ok"] is False
    refused = await bot_call(
        api, "answerPreCheckoutQuery", pre_checkout_query_id=query["id"], ok=False, error_message="banned"
    )
    assert refused["ok"] is True
    assert not api.charges and len(api.pending_updates) == 1  # only the query itself


async def test_a_star_payment_is_refunded_once_with_a_refunded_payment_message(page) -> None:
    api, _ = page
    alice = api.user(ALICE, "Alice")
    api.user(1002, "Bob")
    api.successful_payment(alice, "pack:10:50", 50, charge_id="stx-1")
    wrong_user = await bot_call(api, "refundStarPayment", user_id=1002, telegram_payment_charge_id="stx-1")
    assert wrong_user["ok"] is False
    refunded = await bot_call(api, "refundStarPayment", user_id=ALICE, telegram_payment_charge_id="stx-1")
    assert refunded == {"ok": True, "result": True}
    message = Update.de_json(api.pending_updates[-1], None).message
    assert message is not None and message.refunded_payment is not None
    assert (message.refunded_payment.telegram_payment_charge_id, message.refunded_payment.total_amount) == (
        "stx-1",
        50,
    )
    twice = await bot_call(api, "refundStarPayment", user_id=ALICE, telegram_payment_charge_id="stx-1")
    assert twice["ok"] is False and "ALREADY_REFUNDED" in twice["description"]

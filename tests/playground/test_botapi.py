"""The fake Bot API speaks Telegram's protocol well enough for python-telegram-bot to run unchanged."""

from __future__ import annotations

import asyncio
import contextlib
import io
import time
from collections.abc import AsyncIterator

import av
import numpy as np
import pytest
from aiohttp import web
from PIL import Image
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, EndPointNotFound, RetryAfter
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from playground.botapi import FakeBotApi


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi() as server:
        yield server


def build(fake: FakeBotApi, *, rate_limiter: AIORateLimiter | None = None) -> Application:
    builder = ApplicationBuilder().token(fake.token).base_url(fake.base_url).base_file_url(fake.base_file_url)
    if rate_limiter is not None:
        builder = builder.rate_limiter(rate_limiter)
    return builder.build()


@contextlib.asynccontextmanager
async def polling(app: Application) -> AsyncIterator[Application]:
    """Runs the application with long polling, as `run_polling` would, inside the test's loop."""
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=1)
        try:
            yield app
        finally:
            await app.updater.stop()
            await app.stop()


def jpeg(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 120, 90)).save(out, format="JPEG")
    return out.getvalue()


def tiny_mp4(width: int = 64, height: int = 48, frames: int = 25) -> bytes:
    out = io.BytesIO()
    with av.open(out, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(frames):
            pixels = np.full((height, width, 3), i * 8 % 255, dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return out.getvalue()


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.message is not None and update.message.text is not None
    await update.message.reply_text(f"you said: {update.message.text}", do_quote=True)


async def test_echo_bot_answers_a_text_as_a_reply(fake: FakeBotApi) -> None:
    app = build(fake)
    app.add_handler(MessageHandler(filters.TEXT, echo))
    alice = fake.user(1001, "Alice", language_code="en")
    async with polling(app):
        sent = fake.send_text(alice, None, "hello")
        call = await fake.wait_for("sendMessage", timeout=10)

    assert call.ok
    assert call.params["text"] == "you said: hello"
    [reply] = fake.sent_messages(alice["id"])
    assert reply["text"] == "you said: hello"
    assert reply["reply_to_message"]["message_id"] == sent["message_id"]
    assert reply["message_id"] == sent["message_id"] + 1
    assert reply["from"]["is_bot"] is True
    assert not fake.pending_updates  # the bot confirmed the update with its next offset


async def test_a_429_reaches_the_bot_with_its_retry_after(fake: FakeBotApi) -> None:
    alice = fake.user(1001, "Alice")
    fake.fail_next("sendMessage", retry_after=3)
    app = build(fake)
    async with app:
        with pytest.raises(RetryAfter) as raised:
            await app.bot.send_message(alice["id"], "first try")
        await app.bot.send_message(alice["id"], "second try")

    assert raised.value.retry_after in (3, 3.0) or raised.value.retry_after.total_seconds() == 3
    first, second = fake.calls_to("sendMessage")
    assert (first.status, first.description) == (429, "Too Many Requests: retry after 3")
    assert second.ok
    assert [m["text"] for m in fake.sent_messages(alice["id"])] == ["second try"]


async def test_the_rate_limiter_waits_out_a_429_and_succeeds(fake: FakeBotApi) -> None:
    app = build(fake, rate_limiter=AIORateLimiter(max_retries=2))
    app.add_handler(MessageHandler(filters.TEXT, echo))
    alice = fake.user(1001, "Alice")
    fake.fail_next("sendMessage", retry_after=1)
    async with polling(app):
        fake.send_text(alice, None, "hi")
        refused = await fake.wait_for("sendMessage", timeout=10)
        accepted = await fake.wait_for("sendMessage", lambda c: c.ok, timeout=10)

    assert refused.status == 429
    assert accepted.time - refused.time >= 1.0
    assert [m["text"] for m in fake.sent_messages(alice["id"])] == ["you said: hi"]


async def test_files_round_trip_between_users_and_the_bot(fake: FakeBotApi) -> None:
    """The bot downloads what a user sent and uploads a video; the test reads the upload back."""
    clip = tiny_mp4()

    async def on_photo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None
        largest = update.message.photo[-1]
        photo = await (await largest.get_file()).download_as_bytearray()
        await update.message.reply_video(
            clip, caption=f"{largest.width}x{largest.height} {len(photo)}", do_quote=True
        )

    app = build(fake)
    app.add_handler(MessageHandler(filters.PHOTO, on_photo))
    alice = fake.user(1001, "Alice")
    image = jpeg(1200, 900)
    async with polling(app):
        sent = fake.send_photo(alice, None, image)
        call = await fake.wait_for("sendVideo", timeout=10)

    assert call.ok and "video" in call.files
    [reply] = fake.sent_messages(alice["id"])
    assert reply["caption"] == f"1200x900 {len(image)}"
    assert reply["reply_to_message"]["message_id"] == sent["message_id"]
    assert fake.video_bytes(reply) == clip
    assert (reply["video"]["width"], reply["video"]["height"], reply["video"]["duration"]) == (64, 48, 1)
    # Smaller sizes are real downscaled copies, largest last, as Telegram sends them.
    assert [(p["width"], p["height"]) for p in sent["photo"]] == [
        (90, 68),
        (320, 240),
        (800, 600),
        (1200, 900),
    ]


async def test_uploaded_video_is_downloadable_by_file_id(fake: FakeBotApi) -> None:
    alice = fake.user(1001, "Alice")
    clip = tiny_mp4()
    app = build(fake)
    async with app:
        message = await app.bot.send_video(
            alice["id"], clip, width=64, height=48, duration=1, supports_streaming=True
        )
        again = await (await app.bot.get_file(message.video.file_id)).download_as_bytearray()
        resent = await app.bot.send_video(alice["id"], message.video.file_id)

    assert bytes(again) == clip
    assert resent.video.file_unique_id == message.video.file_unique_id
    assert fake.calls_to("sendVideo")[0].params["supports_streaming"] is True


async def test_get_file_refuses_files_above_20_mb(fake: FakeBotApi) -> None:
    file_id, _, size = fake.add_file(b"\x00" * 1000, "big.mp4", file_size=25 * 1024 * 1024)
    app = build(fake)
    async with app:
        with pytest.raises(BadRequest, match="File is too big"):
            await app.bot.get_file(file_id)
    assert size == 25 * 1024 * 1024


async def test_edits_buttons_and_deletion_behave_like_telegram(fake: FakeBotApi) -> None:
    async def on_press(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None
        await query.answer("noted")
        await query.edit_message_text(f"picked {query.data}")

    app = build(fake)
    app.add_handler(CallbackQueryHandler(on_press))
    alice = fake.user(1001, "Alice")
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Face 1", callback_data="face:1")]])
    async with polling(app):
        status = await app.bot.send_message(alice["id"], "pick a face", reply_markup=keyboard)
        fake.press_button(alice, None, status.message_id, "face:1")
        await fake.wait_for("editMessageText", timeout=10)
        with pytest.raises(BadRequest, match="not modified"):
            await status.edit_text("picked face:1")
        await status.delete()
        with pytest.raises(BadRequest, match="not found"):
            await status.delete()

    assert fake.callback_answers[0]["text"] == "noted"
    assert [v.get("reply_markup") is not None for v in fake.history(alice["id"], status.message_id)] == [
        True,
        False,
    ]
    assert fake.text_of(alice["id"], status.message_id) == "picked face:1"
    assert fake.is_deleted(alice["id"], status.message_id)
    assert fake.sent_messages(alice["id"]) == []


async def test_unknown_methods_and_chats_are_refused_and_recorded() -> None:
    fake = FakeBotApi()
    with pytest.raises(AssertionError, match=r"does not implement: \['sendHologram'\]"):
        async with fake:
            app = build(fake)
            async with app:
                with pytest.raises(EndPointNotFound):
                    await app.bot.do_api_request("sendHologram", api_kwargs={"chat_id": 1})
                with pytest.raises(BadRequest, match="Chat not found"):
                    await app.bot.send_message(424242, "anyone?")
    [unknown] = fake.unknown_calls
    assert (unknown.status, unknown.description) == (404, "Not Found: method sendHologram")


async def test_telegram_length_limits_on_text_captions_and_button_data(fake: FakeBotApi) -> None:
    alice = fake.user(1001, "Alice")
    app = build(fake)
    async with app:
        await app.bot.send_message(alice["id"], "x" * 4096)
        with pytest.raises(BadRequest, match="Message is too long"):
            await app.bot.send_message(alice["id"], "x" * 4097)
        await app.bot.send_photo(alice["id"], jpeg(64, 64), caption="y" * 1024)
        with pytest.raises(BadRequest, match="Message caption is too long"):
            await app.bot.send_photo(alice["id"], jpeg(64, 64), caption="y" * 1025)
        too_long_data = InlineKeyboardMarkup([[InlineKeyboardButton("Face 1", callback_data="f" * 65)]])
        with pytest.raises(BadRequest, match="Button_data_invalid"):
            await app.bot.send_message(alice["id"], "pick", reply_markup=too_long_data)
    assert [len(m.get("text") or m["caption"]) for m in fake.sent_messages(alice["id"])] == [4096, 1024]


async def test_uploads_above_50_mb_are_refused_with_413(fake: FakeBotApi) -> None:
    alice = fake.user(1001, "Alice")
    app = build(fake)
    async with app:
        with pytest.raises(Exception, match="Request Entity Too Large"):
            await app.bot.send_document(alice["id"], b"\x00" * (50 * 1024 * 1024 + 1), filename="big.bin")
        sent = await app.bot.send_document(alice["id"], b"\x00" * 1024, filename="small.bin")
    assert fake.calls_to("sendDocument")[0].status == 413
    assert [m["message_id"] for m in fake.sent_messages(alice["id"])] == [sent.message_id]


async def test_long_poll_waits_and_wakes_on_a_new_update(fake: FakeBotApi) -> None:
    alice = fake.user(1001, "Alice")
    app = build(fake)
    async with app:
        started = time.monotonic()
        assert await app.bot.get_updates(timeout=1) == ()
        assert time.monotonic() - started >= 0.9

        poll = asyncio.create_task(app.bot.get_updates(timeout=10))
        await asyncio.sleep(0.2)
        started = time.monotonic()
        fake.send_text(alice, None, "wake up")
        [update] = await poll
        assert time.monotonic() - started < 2
        assert update.message.text == "wake up"

        # Not confirmed yet: polled again it comes back; a later offset confirms it.
        [again] = await app.bot.get_updates(timeout=0)
        assert again.update_id == update.update_id
        assert await app.bot.get_updates(offset=update.update_id + 1, timeout=0) == ()


async def test_webhook_delivery_carries_the_secret_token(fake: FakeBotApi) -> None:
    received: list[tuple[str | None, dict]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append((request.headers.get("X-Telegram-Bot-Api-Secret-Token"), await request.json()))
        return web.Response()

    web_app = web.Application()
    web_app.router.add_post("/hook", hook)
    runner = web.AppRunner(web_app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    alice = fake.user(1001, "Alice")
    app = build(fake)
    try:
        async with app:
            await app.bot.set_webhook(url, secret_token="s3cret")
            with pytest.raises(Exception, match="webhook is active"):
                await app.bot.get_updates()
            fake.send_text(alice, None, "via webhook")
            for _ in range(100):
                if received:
                    break
                await asyncio.sleep(0.05)
            assert await fake.post_update_to(url, {"message": received[0][1]["message"]}) == 200
    finally:
        await runner.cleanup()

    assert received[0][0] == "s3cret"
    assert received[0][1]["message"]["text"] == "via webhook"
    assert received[1][0] is None
    assert not fake.pending_updates

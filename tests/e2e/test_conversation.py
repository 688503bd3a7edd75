"""Conversation flows that need no render: replies, refusals, commands, language, rate limits."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from sqlalchemy import update

from bot.runtime import Runtime
from bot.texts import t
from generator import ImageAnalysis
from playground.botapi import Call, FakeBotApi
from storage import PhotoAnalysis, media, users
from tests.e2e.conftest import ADMIN_ID, BotFactory, Settle
from tests.e2e.media import astronaut_portrait, cat, two_astronauts, voice_note


def to_chat(chat_id: int) -> object:
    """A wait_for predicate: a call addressed to this chat."""
    return lambda call: call.params.get("chat_id") == chat_id


async def reply(fake: FakeBotApi, chat_id: int) -> Call:
    """The bot's next successful sendMessage to the chat."""
    return await fake.wait_for("sendMessage", lambda c: c.ok and c.params.get("chat_id") == chat_id)


async def test_start_explains_how_to_use_and_menus_are_set_per_language(
    fake: FakeBotApi, make_bot: BotFactory
) -> None:
    await make_bot()
    alice = fake.user(1001, "Alice", "en")
    fake.send_command(alice, None, "start")
    assert (await reply(fake, 1001)).params["text"] == t("help", "en")

    scopes = {(scope, lang): [c["command"] for c in cmds] for (scope, lang), cmds in fake.commands.items()}
    default = '{"type": "default"}'
    admin = f'{{"chat_id": {ADMIN_ID}, "type": "chat"}}'
    menu = ["start", "help", "voice", "style", "quota", "cancel", "privacy", "forget"]
    assert scopes[(default, "")] == menu
    assert scopes[(default, "zh")] == scopes[(default, "")]
    assert {"stats", "grant", "ban", "unban"} <= set(scopes[(admin, "")])
    assert {"stats", "grant", "ban", "unban"} <= set(scopes[(admin, "zh")])
    assert scopes[('{"type": "all_group_chats"}', "")] == ["scene", "say", "render"]
    zh_menu = fake.commands[(default, "zh")]
    assert zh_menu[0]["description"] == t("cmd_start", "zh")


async def test_photo_with_one_face_is_answered_at_once(fake: FakeBotApi, make_bot: BotFactory) -> None:
    rt = await make_bot()
    alice = fake.user(1001, "Alice", "en")
    sent = time.monotonic()
    photo = fake.send_photo(alice, None, astronaut_portrait())
    answer = await reply(fake, 1001)
    elapsed = time.monotonic() - sent
    assert answer.params["text"] == t("one_face", "en")
    assert answer.result["reply_to_message"]["message_id"] == photo["message_id"]
    # The pool is warm after the first analysis; the issue asks for "a second or two".
    photo = fake.send_photo(alice, None, astronaut_portrait())
    sent = time.monotonic()
    await reply(fake, 1001)
    warm = time.monotonic() - sent
    print(f"first photo answered in {elapsed:.2f} s, second in {warm:.2f} s")
    assert warm < 3.0
    async with rt.db.session() as s:
        stored = await media.last_photo(s, 1001, 1001)
    assert stored is not None and stored.message_id == photo["message_id"]
    assert stored.path is None  # analysed in memory: nothing kept on local disk


async def test_cat_photo_gets_the_no_face_reply_and_a_tip(fake: FakeBotApi, make_bot: BotFactory) -> None:
    await make_bot()
    alice = fake.user(1001, "Alice", "en")
    fake.send_photo(alice, None, cat())
    text = (await reply(fake, 1001)).params["text"]
    assert text.startswith(t("NO_FACE", "en"))
    assert t("photo_tip", "en") in text
    # A voice note after it: the bot says the photo has no face again instead of queueing.
    fake.send_voice(alice, None, voice_note(), duration=2)
    assert (await reply(fake, 1001)).params["text"].startswith(t("NO_FACE", "en"))
    assert not fake.calls_to("sendVideo")


async def test_image_sent_as_a_file_is_used_like_a_photo(fake: FakeBotApi, make_bot: BotFactory) -> None:
    await make_bot()
    alice = fake.user(1001, "Alice", "en")
    fake.send_document(alice, None, astronaut_portrait(), "me.jpg", "image/jpeg")
    assert (await reply(fake, 1001)).params["text"] == t("one_face", "en")


async def test_files_above_the_download_limit_are_refused_before_downloading(
    fake: FakeBotApi, make_bot: BotFactory
) -> None:
    await make_bot()
    alice = fake.user(1001, "Alice", "en")
    fake.send_document(alice, None, astronaut_portrait(), "huge.png", "image/png", file_size=25 * 2**20)
    assert (await reply(fake, 1001)).params["text"] == t("file_too_big", "en", size_mb=25, limit_mb=20)
    fake.send_voice(alice, None, voice_note(), duration=900, file_size=21 * 2**20)
    assert (await reply(fake, 1001)).params["text"] == t("file_too_big", "en", size_mb=21, limit_mb=20)
    assert not fake.calls_to("getFile")


async def test_the_download_limit_follows_the_setting(fake: FakeBotApi, make_bot: BotFactory) -> None:
    await make_bot(max_download_mb=1)
    alice = fake.user(1001, "Alice", "en")
    fake.send_voice(alice, None, voice_note(), duration=60, file_size=2 * 2**20)
    answer = (await reply(fake, 1001)).params["text"]
    assert answer == t("file_too_big", "en", size_mb=2, limit_mb=1)
    assert "up to 1 MB" in answer
    assert not fake.calls_to("getFile")


async def test_quota_used_up_is_refused_with_the_reset_time(fake: FakeBotApi, make_bot: BotFactory) -> None:
    await make_bot(daily_quota=0, quota_timezone="Asia/Shanghai")
    alice = fake.user(1001, "Alice", "en")
    fake.send_photo(alice, None, astronaut_portrait())
    await reply(fake, 1001)
    fake.send_text(alice, None, "Hello there")
    ack = await reply(fake, 1001)
    edited = await fake.wait_for("editMessageText", to_chat(1001))
    assert edited.params["message_id"] == ack.result["message_id"]
    text = edited.params["text"]
    assert text.startswith("You've used all your videos for today.")
    assert "00:00 (Asia/Shanghai)" in text
    fake.send_command(alice, None, "quota")
    assert "0 of 0 videos used, 0 left" in (await reply(fake, 1001)).params["text"]
    await asyncio.sleep(0.5)
    assert not fake.calls_to("sendVideo")


def user_files(rt: Runtime) -> list[Path]:
    """Every file under the bot's data directory except its database."""
    root = rt.settings.data_dir
    return [p for p in root.rglob("*") if p.is_file() and not p.name.startswith("phototalk.db")]


async def test_photos_are_analysed_without_being_kept_on_disk(fake: FakeBotApi, make_bot: BotFactory) -> None:
    rt = await make_bot()
    alice = fake.user(1001, "Alice", "en")
    fake.send_photo(alice, None, astronaut_portrait())
    assert (await reply(fake, 1001)).params["text"] == t("one_face", "en")
    fake.send_photo(alice, None, two_astronauts())
    await fake.wait_for("sendPhoto", lambda c: c.ok)  # the face picker
    async with rt.db.session() as s:
        photo = await media.last_photo(s, 1001, 1001)
    assert photo is not None and photo.path is None and photo.analysis  # Telegram keeps the photo
    assert user_files(rt) == []


async def test_forget_deletes_the_users_rows_and_files(fake: FakeBotApi, make_bot: BotFactory) -> None:
    rt = await make_bot()
    alice = fake.user(1001, "Alice", "en")
    fake.send_photo(alice, None, astronaut_portrait())
    await reply(fake, 1001)
    async with rt.db.session() as s:
        photo = await media.last_photo(s, 1001, 1001)
    assert photo is not None

    fake.send_command(alice, None, "forget")
    confirm = await reply(fake, 1001)
    assert confirm.params["text"] == t("forget_confirm", "en")
    fake.press_button(alice, None, confirm.result["message_id"], "forget:yes")
    done = await fake.wait_for("editMessageText", to_chat(1001))
    assert done.params["text"] == t("forgotten", "en")
    assert user_files(rt) == []
    async with rt.db.session() as s:
        assert await media.last_photo(s, 1001, 1001) is None
        assert await users.get_user(s, 1001) is None


async def test_forget_can_be_declined(fake: FakeBotApi, make_bot: BotFactory) -> None:
    rt = await make_bot()
    alice = fake.user(1001, "Alice", "en")
    fake.send_photo(alice, None, astronaut_portrait())
    await reply(fake, 1001)
    fake.send_command(alice, None, "forget")
    confirm = await reply(fake, 1001)
    fake.press_button(alice, None, confirm.result["message_id"], "forget:no")
    assert (await fake.wait_for("editMessageText", to_chat(1001))).params["text"] == t("forget_kept", "en")
    async with rt.db.session() as s:
        assert await media.last_photo(s, 1001, 1001) is not None


async def test_chinese_language_code_gets_chinese_replies(fake: FakeBotApi, make_bot: BotFactory) -> None:
    await make_bot()
    li = fake.user(2002, "李", "zh-hans")
    fake.send_command(li, None, "help")
    assert (await reply(fake, 2002)).params["text"] == t("help", "zh")
    fake.send_photo(li, None, cat())
    text = (await reply(fake, 2002)).params["text"]
    assert text == f"{t('NO_FACE', 'zh')}\n\n{t('photo_tip', 'zh')}"
    fake.send_command(li, None, "privacy")
    privacy = (await reply(fake, 2002)).params["text"]
    assert privacy.startswith("我保存的内容")
    assert t("privacy_tts_online", "zh") in privacy  # typed text goes to edge-tts by default


async def test_voice_choice_is_stored_per_user(fake: FakeBotApi, make_bot: BotFactory) -> None:
    rt = await make_bot()
    alice = fake.user(1001, "Alice", "en")
    fake.send_command(alice, None, "voice")
    menu = await reply(fake, 1001)
    buttons = [b["callback_data"] for row in menu.params["reply_markup"]["inline_keyboard"] for b in row]
    assert "voice:zh-CN-XiaoxiaoNeural" in buttons and "voice:en-US-GuyNeural" in buttons
    fake.press_button(alice, None, menu.result["message_id"], "voice:en-GB-RyanNeural")
    edited = await fake.wait_for("editMessageText", to_chat(1001))
    assert edited.params["text"] == t("voice_set", "en", voice="Ryan (UK)")
    async with rt.db.session() as s:
        assert (await users.get_user(s, 1001)).voice == "en-GB-RyanNeural"  # type: ignore[union-attr]


async def test_admin_commands_grant_ban_and_unban(fake: FakeBotApi, make_bot: BotFactory) -> None:
    await make_bot(daily_quota=0)
    boss = fake.user(ADMIN_ID, "Boss", "en")
    alice = fake.user(1001, "Alice", "en")
    fake.send_command(alice, None, "stats")
    assert (await reply(fake, 1001)).params["text"] == t("admin_only", "en")

    fake.send_command(boss, None, "grant", "1001 2")
    assert (await reply(fake, ADMIN_ID)).params["text"] == t("granted", "en", count=2, user=1001)
    fake.send_command(alice, None, "quota")
    assert "0 of 2 videos used, 2 left" in (await reply(fake, 1001)).params["text"]

    fake.send_command(boss, None, "ban", "1001")
    assert (await reply(fake, ADMIN_ID)).params["text"] == t("user_banned", "en", user=1001)
    fake.send_photo(alice, None, astronaut_portrait())
    assert (await reply(fake, 1001)).params["text"] == t("banned", "en")
    fake.send_command(boss, None, "unban", "1001")
    assert (await reply(fake, ADMIN_ID)).params["text"] == t("user_unbanned", "en", user=1001)
    fake.send_command(boss, None, "stats")
    assert "queued: 0" in (await reply(fake, ADMIN_ID)).params["text"]
    fake.send_command(boss, None, "grant", "nobody")
    assert (await reply(fake, ADMIN_ID)).params["text"] == t("grant_usage", "en")


async def test_an_edited_grant_does_not_grant_again(
    fake: FakeBotApi, make_bot: BotFactory, settle: Settle
) -> None:
    await make_bot(daily_quota=0)
    boss = fake.user(ADMIN_ID, "Boss", "en")
    alice = fake.user(1001, "Alice", "en")
    command = fake.send_command(boss, None, "grant", "1001 2")
    assert (await reply(fake, ADMIN_ID)).params["text"] == t("granted", "en", count=2, user=1001)

    # The admin edits the command (a typo fixed, or just the same text saved again).
    edited = {**command, "text": "/grant 1001 2 ", "edit_date": command["date"] + 5}
    fake.push_update({"edited_message": edited})
    await settle()
    granted = [c for c in fake.calls_to("sendMessage") if c.params["text"].startswith("Granted")]
    assert len(granted) == 1
    fake.send_command(alice, None, "quota")
    assert "0 of 2 videos used, 2 left" in (await reply(fake, 1001)).params["text"]


async def test_a_429_from_the_server_makes_the_bot_wait_and_succeed(
    fake: FakeBotApi, make_bot: BotFactory
) -> None:
    await make_bot()
    alice = fake.user(1001, "Alice", "en")
    fake.fail_next("sendMessage", times=1, retry_after=1)
    fake.send_command(alice, None, "start")
    refused = await fake.wait_for("sendMessage", lambda c: not c.ok)
    assert refused.status == 429
    answered = await reply(fake, 1001)
    assert answered.params["text"] == t("help", "en")
    assert answered.time - refused.time >= 0.9  # it waited the retry_after second


async def test_forged_face_buttons_are_refused_and_change_nothing(
    fake: FakeBotApi, make_bot: BotFactory
) -> None:
    rt = await make_bot()
    alice, bob = fake.user(1001, "Alice", "en"), fake.user(1002, "Bob", "en")
    fake.send_photo(alice, None, two_astronauts())
    picker = await fake.wait_for("sendPhoto", lambda c: c.ok)
    first = picker.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    media_id = int(first.split(":")[1])

    async def answer_to(user: dict[str, object], chat_message: int, data: str) -> Call:
        query = fake.press_button(user, None, chat_message, data)
        return await fake.wait_for(
            "answerCallbackQuery", lambda c: c.params["callback_query_id"] == query["id"]
        )

    # A face the photo does not have, on Alice's own picker.
    refused = await answer_to(alice, picker.result["message_id"], f"face:{media_id}:99")
    assert refused.params["text"] == t("button_unknown", "en")
    # Bob names Alice's photo from his own chat.
    fake.send_command(bob, None, "start")
    bobs = await reply(fake, 1002)
    await answer_to(bob, bobs.result["message_id"], f"face:{media_id}:0")
    # Data that is not ours at all.
    garbage = await answer_to(alice, picker.result["message_id"], "face:x:1:2")
    assert garbage.params["text"] == t("button_unknown", "en")
    async with rt.db.session() as s:
        photo = await media.get_media(s, media_id)
    assert photo is not None and photo.face is None and not photo.chorus


def reencoded(jpeg_bytes: bytes, format_: str) -> bytes:
    """The same picture in another file format (GIF, HEIF)."""
    import io

    from PIL import Image

    if format_ == "HEIF":
        import pillow_heif

        pillow_heif.register_heif_opener()
    out = io.BytesIO()
    Image.open(io.BytesIO(jpeg_bytes)).save(out, format=format_)
    return out.getvalue()


async def test_two_face_gif_and_heic_files_get_the_face_picker(
    fake: FakeBotApi, make_bot: BotFactory
) -> None:
    await make_bot()
    alice = fake.user(1001, "Alice", "en")
    for name, mime, format_ in (("two.gif", "image/gif", "GIF"), ("two.heic", "image/heic", "HEIF")):
        fake.send_document(alice, None, reencoded(two_astronauts(), format_), name, mime)
        picker = await fake.wait_for("sendPhoto", lambda c: c.params.get("chat_id") == 1001)
        assert picker.ok, (name, picker.description)
        assert picker.params["caption"] == t("many_faces", "en", count=2), name


async def test_a_burst_of_new_photos_gets_a_slow_down_reply(fake: FakeBotApi, make_bot: BotFactory) -> None:
    await make_bot(analyses_per_minute=2)
    alice, bob = fake.user(1001, "Alice", "en"), fake.user(1002, "Bob", "en")
    fake.send_photo(alice, None, astronaut_portrait())
    assert (await reply(fake, 1001)).params["text"] == t("one_face", "en")
    fake.send_photo(alice, None, cat())
    assert (await reply(fake, 1001)).params["text"].startswith(t("NO_FACE", "en"))
    fake.send_photo(alice, None, two_astronauts())  # the third new photo within a minute
    slow = (await reply(fake, 1001)).params["text"]
    assert slow.startswith("That's a lot of photos at once. Please wait ")
    assert not fake.calls_to("sendPhoto")  # no face picker: the photo was not analysed
    fake.send_photo(bob, None, two_astronauts())  # the limit is per user
    await fake.wait_for("sendPhoto", lambda c: c.ok and c.params["chat_id"] == 1002)


async def test_a_photo_seen_before_whose_stored_analysis_lacks_landmarks_is_analysed_again(
    fake: FakeBotApi, make_bot: BotFactory
) -> None:
    rt = await make_bot()
    alice = fake.user(1001, "Alice", "en")
    first = fake.send_photo(alice, None, astronaut_portrait())
    assert (await reply(fake, 1001)).params["text"] == t("one_face", "en")
    unique_id = first["photo"][-1]["file_unique_id"]
    async with rt.db.session() as s, s.begin():
        stored = await media.cached_analysis(s, unique_id)
        analysis = ImageAnalysis.from_stored(stored)
        assert analysis is not None
        # As an older version stored it: the faces, without their landmarks.
        await s.execute(
            update(PhotoAnalysis)
            .where(PhotoAnalysis.file_unique_id == unique_id)
            .values(data=analysis.to_dict())
        )
    fetched = len(fake.calls_to("getFile"))

    again = fake._user_message(alice, None, None)  # the same picture forwarded: same file_unique_id
    again["photo"] = first["photo"]
    fake._push_message(again)
    assert (await reply(fake, 1001)).params["text"] == t("one_face", "en")

    assert len(fake.calls_to("getFile")) == fetched + 1  # downloaded and analysed again
    async with rt.db.session() as s:
        upgraded = await media.cached_analysis(s, unique_id)
    assert ImageAnalysis.from_stored(upgraded) is not None  # the render can reuse it now

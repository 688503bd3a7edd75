"""Whole flows that end in a real render: the video arrives as a reply, playable, the right shape."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from bot.app import build_application, running
from bot.texts import t
from playground.botapi import Call, FakeBotApi
from tests.e2e.conftest import BotFactory, e2e_settings
from tests.e2e.media import (
    astronaut_portrait,
    probe_mp4,
    round_video,
    silent_voice_note,
    speech_wav,
    two_astronauts,
    voice_note,
    wav_seconds,
)

pytestmark = pytest.mark.slow

#: A render of a 2–3 s clip at 480 px takes seconds on a free core; a busy shared machine is slower.
RENDER_TIMEOUT = 180.0


async def reply(fake: FakeBotApi, chat_id: int) -> Call:
    """The bot's next successful sendMessage to the chat."""
    return await fake.wait_for("sendMessage", lambda c: c.ok and c.params.get("chat_id") == chat_id)


async def delivered_video(fake: FakeBotApi, chat_id: int) -> Call:
    """The bot's next successful sendVideo to the chat."""
    return await fake.wait_for(
        "sendVideo", lambda c: c.ok and c.params.get("chat_id") == chat_id, timeout=RENDER_TIMEOUT
    )


def check_video(
    fake: FakeBotApi, call: Call, *, reply_to: int, aspect: float, seconds: float | None = None
) -> dict[str, Any]:
    """Asserts what a user sees: a playable MP4 replying to their request, with the photo's shape."""
    message = call.result
    assert message["reply_to_message"]["message_id"] == reply_to
    width, height, duration, playable = probe_mp4(fake.video_bytes(message))
    assert playable
    assert abs(width / height - aspect) < 0.03, (width, height)
    assert max(width, height) <= 480
    if seconds is not None:
        assert abs(duration - seconds) < 0.25, (duration, seconds)
    # What Telegram needs to show it well: size, length, a thumbnail, streaming.
    assert (call.params["width"], call.params["height"]) == (width, height)
    assert call.params["duration"] == max(1, round(duration))
    assert call.params["supports_streaming"] is True
    assert "thumbnail" in call.files or "thumbnail" in message["video"]
    return message


async def status_finished(fake: FakeBotApi, chat_id: int, ack: Call) -> bool:
    """Whether the acknowledgement / status message is removed once the video has arrived."""
    message_id = ack.result["message_id"]
    await fake.wait_for(
        "deleteMessage",
        lambda c: c.params.get("chat_id") == chat_id and c.params.get("message_id") == message_id,
    )
    return fake.is_deleted(chat_id, message_id)


async def test_photo_then_voice_note_becomes_a_reply_video(
    fake: FakeBotApi, make_bot: BotFactory, database_url: str
) -> None:
    await make_bot(database_url=database_url)
    alice = fake.user(1001, "Alice", "en")
    fake.send_photo(alice, None, astronaut_portrait())
    assert (await reply(fake, 1001)).params["text"] == t("one_face", "en")

    voice = fake.send_voice(alice, None, voice_note(), duration=2)
    ack = await reply(fake, 1001)
    assert ack.params["text"] == t("queued_next", "en")
    assert ack.result["reply_to_message"]["message_id"] == voice["message_id"]
    video = await delivered_video(fake, 1001)
    check_video(
        fake, video, reply_to=voice["message_id"], aspect=420 / 560, seconds=wav_seconds(speech_wav())
    )
    assert "upload_video" in fake.chat_actions(1001)
    progress = [version.get("text", "") for version in fake.history(1001, ack.result["message_id"])]
    assert any(text.startswith("Making your video…") for text in progress), progress
    assert "caption" not in video.params  # nothing to say: no caption
    assert await status_finished(fake, 1001, ack)


async def test_photo_with_a_caption_is_spoken_by_tts_right_away(
    fake: FakeBotApi, make_bot: BotFactory
) -> None:
    await make_bot()
    alice = fake.user(1001, "Alice", "en")
    photo = fake.send_photo(alice, None, astronaut_portrait(), caption="Good morning, everyone!")
    ack = await reply(fake, 1001)
    assert ack.params["text"] == t("queued_next", "en")
    video = await delivered_video(fake, 1001)
    message = check_video(fake, video, reply_to=photo["message_id"], aspect=420 / 560)
    assert 0.8 < message["video"]["duration"] < 6
    assert await status_finished(fake, 1001, ack)


async def test_text_after_a_photo_is_spoken_and_long_text_is_cut(
    fake: FakeBotApi, make_bot: BotFactory
) -> None:
    await make_bot(max_text_chars=20)
    alice = fake.user(1001, "Alice", "en")
    fake.send_photo(alice, None, astronaut_portrait())
    await reply(fake, 1001)
    text = fake.send_text(alice, None, "Hello there, my friend. This part is never spoken at all.")
    assert (await reply(fake, 1001)).params["text"] == t("text_cut", "en", limit=20)
    ack = await reply(fake, 1001)
    video = await delivered_video(fake, 1001)
    check_video(fake, video, reply_to=text["message_id"], aspect=420 / 560)
    assert video.result["video"]["duration"] < 4  # only the first 20 characters were spoken
    assert await status_finished(fake, 1001, ack)


async def test_voice_before_photo_is_rendered_when_the_photo_arrives(
    fake: FakeBotApi, make_bot: BotFactory
) -> None:
    await make_bot(max_clip_seconds=2.0)
    alice = fake.user(1001, "Alice", "en")
    voice = fake.send_voice(alice, None, voice_note(), duration=2)
    assert (await reply(fake, 1001)).params["text"] == t("need_photo", "en")
    fake.send_photo(alice, None, astronaut_portrait())
    ack = await reply(fake, 1001)
    assert ack.params["text"] == t("queued_next", "en")
    video = await delivered_video(fake, 1001)
    # The speech is longer than the 2 s limit set above: cut there, and the caption says so.
    check_video(fake, video, reply_to=voice["message_id"], aspect=420 / 560, seconds=2.0)
    assert video.params["caption"] == t("trimmed", "en", seconds=2)


async def test_voice_before_photo_survives_a_restart_of_the_bot(
    fake: FakeBotApi,
    tmp_path: Path,
    sqlite_url: str,
    render_pool: ProcessPoolExecutor,
    analysis_pool: ProcessPoolExecutor,
) -> None:
    alice = fake.user(1001, "Alice", "en")
    first = build_application(e2e_settings(fake, tmp_path, sqlite_url, embedded_worker=False))
    first.bot_data["pool"] = render_pool
    first.bot_data["analysis_pool"] = analysis_pool
    async with running(first, polling=True):
        voice = fake.send_voice(alice, None, voice_note(), duration=2)
        assert (await reply(fake, 1001)).params["text"] == t("need_photo", "en")

    second = build_application(e2e_settings(fake, tmp_path, sqlite_url))  # nothing kept in memory
    second.bot_data["pool"] = render_pool
    second.bot_data["analysis_pool"] = analysis_pool
    async with running(second, polling=True):
        fake.send_photo(alice, None, astronaut_portrait())
        assert (await reply(fake, 1001)).params["text"] == t("queued_next", "en")
        video = await delivered_video(fake, 1001)
    check_video(fake, video, reply_to=voice["message_id"], aspect=420 / 560)


async def test_two_faces_are_offered_and_the_picked_one_speaks(
    fake: FakeBotApi, make_bot: BotFactory
) -> None:
    await make_bot()
    alice = fake.user(1001, "Alice", "en")
    fake.send_photo(alice, None, two_astronauts())
    picker = await fake.wait_for("sendPhoto", lambda c: c.ok)
    assert picker.params["caption"] == t("many_faces", "en", count=2)
    keyboard = picker.params["reply_markup"]["inline_keyboard"]
    labels = [button["text"] for row in keyboard for button in row]
    assert labels == ["Face 1", "Face 2", "All together"]
    second = keyboard[0][1]["callback_data"]

    fake.press_button(alice, None, picker.result["message_id"], second)
    chosen = await fake.wait_for("editMessageCaption", lambda c: c.ok)
    assert chosen.params["caption"] == t("face_chosen", "en", number=2)
    assert fake.callback_answers

    voice = fake.send_voice(alice, None, voice_note(), duration=2)
    await reply(fake, 1001)
    video = await delivered_video(fake, 1001)
    check_video(fake, video, reply_to=voice["message_id"], aspect=680 / 400)


async def test_a_recording_without_speech_is_refused_and_refunded(
    fake: FakeBotApi, make_bot: BotFactory
) -> None:
    await make_bot(daily_quota=3)
    alice = fake.user(1001, "Alice", "en")
    fake.send_photo(alice, None, astronaut_portrait())
    await reply(fake, 1001)
    voice = fake.send_voice(alice, None, silent_voice_note(), duration=2)
    ack = await reply(fake, 1001)
    refusal = await fake.wait_for(
        "sendMessage", lambda c: c.ok and c.params.get("text") == t("NO_SPEECH", "en"), timeout=RENDER_TIMEOUT
    )
    assert refusal.result["reply_to_message"]["message_id"] == voice["message_id"]
    assert await status_finished(fake, 1001, ack)
    fake.send_command(alice, None, "quota")
    assert "0 of 3 videos used, 3 left" in (await reply(fake, 1001)).params["text"]
    assert not fake.calls_to("sendVideo")


async def test_an_internal_failure_apologises_and_refunds(fake: FakeBotApi, make_bot: BotFactory) -> None:
    await make_bot(daily_quota=3, job_max_attempts=1)
    alice = fake.user(1001, "Alice", "en")
    fake.send_photo(alice, None, astronaut_portrait())
    await reply(fake, 1001)
    # The worker cannot fetch the photo: Telegram's side fails (500), and no attempt is left.
    fake.fail_next("getFile", times=1, error_code=500, description="Internal Server Error")
    fake.send_voice(alice, None, voice_note(), duration=2)
    await reply(fake, 1001)
    apology = await fake.wait_for(
        "sendMessage", lambda c: c.ok and c.params.get("text") == t("internal_error", "en"), timeout=60
    )
    assert apology.ok
    fake.send_command(alice, None, "quota")
    assert "0 of 3 videos used, 3 left" in (await reply(fake, 1001)).params["text"]


async def test_the_sound_of_a_round_video_is_spoken(fake: FakeBotApi, make_bot: BotFactory) -> None:
    await make_bot()
    alice = fake.user(1001, "Alice", "en")
    fake.send_photo(alice, None, astronaut_portrait())
    await reply(fake, 1001)
    note = fake.send_video_note(alice, None, round_video(), duration=2)
    await reply(fake, 1001)
    video = await delivered_video(fake, 1001)
    check_video(fake, video, reply_to=note["message_id"], aspect=420 / 560, seconds=wav_seconds(speech_wav()))


async def test_with_tts_online_off_typed_text_never_reaches_edge_tts(
    fake: FakeBotApi, make_bot: BotFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    import edge_tts

    contacted: list[str] = []

    def communicate(text: str, *args: object, **kwargs: object) -> object:
        contacted.append(text)  # Microsoft's service: the one thing that must not be reached
        raise ConnectionError("edge-tts must not be contacted")

    monkeypatch.setattr(edge_tts, "Communicate", communicate)
    await make_bot(tts_online=False)
    alice = fake.user(1001, "Alice", "en")
    photo = fake.send_photo(alice, None, astronaut_portrait(), caption="Good morning, everyone!")
    await reply(fake, 1001)
    video = await delivered_video(fake, 1001)
    check_video(fake, video, reply_to=photo["message_id"], aspect=420 / 560)
    assert contacted == []
    fake.send_command(alice, None, "privacy")
    assert t("privacy_tts_offline", "en") in (await reply(fake, 1001)).params["text"]

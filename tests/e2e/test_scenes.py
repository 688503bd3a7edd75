"""Group scenes end to end: members claim faces of one photo, record lines, the creator renders."""

from __future__ import annotations

import asyncio
from concurrent.futures import ProcessPoolExecutor
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import skimage.data

import generator
from bot import scene_sweeper
from bot.app import build_application, running
from bot.request import RenderJob
from bot.runtime import utcnow
from bot.scene_view import format_seconds
from bot.texts import t
from playground.botapi import Call, FakeBotApi
from storage import SceneStatus, quotas
from storage import scenes as scene_rows
from tests.e2e.conftest import BotFactory, e2e_settings
from tests.e2e.media import (
    jpeg,
    probe_mp4,
    silent_voice_note,
    speech_wav,
    two_astronauts,
    voice_note,
    wav_seconds,
)

GROUP = -1001234567890
can_render = pytest.mark.skipif(not hasattr(generator, "render"), reason="generator.render is not built yet")


@cache
def three_friends() -> bytes:
    """Three copies of the astronaut side by side: a group photo with three usable faces."""
    face = skimage.data.astronaut()[0:400, 60:400]
    return jpeg(np.concatenate([face, face[:, ::-1], face], axis=1))


def in_group(call: Call) -> bool:
    return call.ok and call.params.get("chat_id") == GROUP


async def open_scene(
    fake: FakeBotApi, creator: dict[str, Any], photo: bytes, *, as_caption: bool = False
) -> dict[str, Any]:
    """The creator replies /scene to a photo (or posts it with /scene as its caption)."""
    if as_caption:
        fake.send_photo(creator, GROUP, photo, caption="/scene")
    else:
        posted = fake.send_photo(creator, GROUP, photo)
        fake.send_command(creator, GROUP, "scene", reply_to=posted)
    call = await fake.wait_for("sendPhoto", in_group, timeout=60)
    return call.result


def buttons(message: dict[str, Any]) -> dict[str, str]:
    """The scene message's buttons: text -> callback data."""
    markup = message.get("reply_markup") or {"inline_keyboard": []}
    return {b["text"]: b["callback_data"] for row in markup["inline_keyboard"] for b in row}


async def press(fake: FakeBotApi, user: dict[str, Any], scene: dict[str, Any], text: str) -> Call:
    """Taps a button of the scene message; returns the bot's answerCallbackQuery."""
    current = fake.message(GROUP, scene["message_id"])
    assert current is not None
    data = buttons(current)[text]
    query = fake.press_button(user, GROUP, scene["message_id"], data)
    return await fake.wait_for("answerCallbackQuery", lambda c: c.params["callback_query_id"] == query["id"])


async def caption_shows(fake: FakeBotApi, scene: dict[str, Any], *parts: str) -> str:
    """Waits until the scene message's caption contains every part; returns it."""
    for _ in range(600):  # 30 s: the machine running the suite may be busy
        caption = fake.text_of(GROUP, scene["message_id"]) or ""
        if all(part in caption for part in parts):
            return caption
        await asyncio.sleep(0.05)
    raise AssertionError(f"scene caption never showed {parts}: {caption!r}")


async def group_reply(fake: FakeBotApi, text: str) -> Call:
    return await fake.wait_for("sendMessage", lambda c: in_group(c) and c.params["text"] == text)


async def test_members_claim_faces_and_record_lines_that_replace_earlier_ones(
    fake: FakeBotApi, make_bot: BotFactory
) -> None:
    rt = await make_bot()
    fake.chat(GROUP, "supergroup", "Friends")
    alice, bob = fake.user(1001, "Alice", "en"), fake.user(1002, "Bob", "en")
    carol = fake.user(1003, "Carol", "zh-hans")

    scene = await open_scene(fake, alice, three_friends())
    assert scene["photo"] and scene["reply_to_message"]["text"].startswith("/scene")
    assert list(buttons(scene)) == ["I'm 1", "I'm 2", "I'm 3", "🎬 Render"]
    await caption_shows(fake, scene, "Scene by Alice", "1 — free", "2 — free", "3 — free", "0 s of 15 s")

    await press(fake, bob, scene, "I'm 1")
    await caption_shows(fake, scene, "1 — Bob, no line yet")
    taken = await press(fake, carol, scene, "I'm 1")
    assert taken.params["text"] == t("scene_face_taken", "zh", number=1, name="Bob")
    assert taken.params["show_alert"] is True
    await press(fake, carol, scene, "I'm 2")
    await press(fake, alice, scene, "I'm 3")
    await caption_shows(fake, scene, "2 — Carol, no line yet", "3 — Alice, no line yet")

    # Lines in the order members record them (each after the last one showed up, as in a chat).
    first = fake.send_voice(bob, GROUP, voice_note("Hello."), duration=2, reply_to=scene)
    await caption_shows(fake, scene, "1 — Bob ✓ 2 s")
    fake.send_voice(carol, GROUP, voice_note("Nice to meet you."), duration=3, reply_to=scene)
    await caption_shows(fake, scene, "2 — Carol ✓ 3 s")
    said = fake.send_command(alice, GROUP, "say", "Hi everyone!", reply_to=scene)
    await caption_shows(fake, scene, "3 — Alice ✓")
    # The group hears Alice's line: the bot speaks it once, as a voice note replying to /say.
    spoken = await fake.wait_for("sendVoice", in_group)
    assert spoken.result["reply_to_message"]["message_id"] == said["message_id"]
    again = fake.send_voice(bob, GROUP, voice_note("Hello again."), duration=4, reply_to=scene)
    caption = await caption_shows(fake, scene, "1 — Bob ✓ 4 s")

    async with rt.db.session() as s:
        [row] = await scene_rows.open_scenes(s, GROUP)
        lines = await scene_rows.lines(s, row.id)
    assert [(line.user_id, line.face, line.source) for line in lines] == [
        (1002, 0, "voice"),  # Bob's replacement keeps his place
        (1003, 1, "voice"),
        (1001, 2, "voice"),  # the bot's voice note of the /say line: no second TTS at render time
    ]
    assert lines[0].file_id == again["voice"]["file_id"] != first["voice"]["file_id"]
    assert lines[2].file_id == spoken.result["voice"]["file_id"]
    assert lines[2].text == "Hi everyone!" and lines[2].voice == "en-US-AriaNeural"
    total = 4 + 3 + lines[2].duration
    assert f"Total: {format_seconds(total)} s of 15 s" in caption

    # Carol may not render Alice's scene; she is told so in her own language.
    fake.send_command(carol, GROUP, "render", reply_to=scene)
    await group_reply(fake, t("scene_only_creator", "zh", creator="Alice"))
    # Letting a face go frees it (tap it again), and a member without a face can't record.
    await press(fake, bob, scene, "I'm 1")
    await caption_shows(fake, scene, "1 — free")
    fake.send_voice(bob, GROUP, voice_note("Hello."), duration=2, reply_to=scene)
    await group_reply(fake, t("scene_need_face", "en"))
    assert not fake.calls_to("sendVideo")


async def test_lines_over_the_limit_get_the_total_and_an_offer_to_render_the_start(
    fake: FakeBotApi, make_bot: BotFactory
) -> None:
    await make_bot(max_clip_seconds=4)
    fake.chat(GROUP, "group", "Friends")
    alice, bob = fake.user(1001, "Alice", "en"), fake.user(1002, "Bob", "en")
    scene = await open_scene(fake, alice, two_astronauts())
    await press(fake, alice, scene, "I'm 1")
    await press(fake, bob, scene, "I'm 2")
    fake.send_voice(alice, GROUP, voice_note("Hello."), duration=3, reply_to=scene)
    fake.send_voice(bob, GROUP, voice_note("Hello again."), duration=3, reply_to=scene)
    await caption_shows(fake, scene, "Total: 6 s — over the 4 s limit")

    fake.send_command(alice, GROUP, "render", reply_to=scene)
    offer = await group_reply(fake, t("scene_too_long", "en", total=6, limit=4))
    [[button]] = offer.params["reply_markup"]["inline_keyboard"]
    assert button["text"] == "🎬 Render the first 4 s"
    assert not fake.calls_to("sendVideo")


async def test_an_idle_scene_expires_with_a_notice(
    fake: FakeBotApi, make_bot: BotFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scene_sweeper, "SWEEP_EVERY", 0.2)
    rt = await make_bot(scene_idle_minutes=30)
    fake.chat(GROUP, "group", "Friends")
    alice, bob = fake.user(1001, "Alice", "en"), fake.user(1002, "Bob", "en")
    scene = await open_scene(fake, alice, two_astronauts())
    await press(fake, bob, scene, "I'm 1")

    # Half an hour passes without a word: the sweeper closes the scene and says so.
    later = utcnow() + timedelta(minutes=31)
    monkeypatch.setattr(scene_sweeper, "utcnow", lambda: later)
    notice = await group_reply(fake, t("scene_expired", "en", minutes="30"))
    assert notice.params["reply_parameters"]["message_id"] == scene["message_id"]
    await caption_shows(fake, scene, t("scene_expired_caption", "en", minutes="30"))
    assert "reply_markup" not in fake.message(GROUP, scene["message_id"])  # type: ignore[operator]
    # A tap on the stale keyboard (still on screen in an old client) is refused politely.
    query = fake.press_button(bob, GROUP, scene["message_id"], f"scene:{_scene_id(scene)}:claim:1")
    answer = await fake.wait_for(
        "answerCallbackQuery", lambda c: c.params["callback_query_id"] == query["id"]
    )
    assert answer.params["text"] == t("scene_closed", "en")
    fake.send_voice(bob, GROUP, voice_note("Hello."), duration=2, reply_to=scene)
    await group_reply(fake, t("scene_closed", "en"))
    async with rt.db.session() as s:
        row = await scene_rows.get_scene(s, _scene_id(scene))
    assert row is not None and row.status == SceneStatus.EXPIRED
    assert len(fake.calls_to("sendMessage", ok_only=True)) == 2  # one notice, however many sweeps


async def test_two_scenes_in_one_group_keep_their_own_cast(
    fake: FakeBotApi, make_bot: BotFactory, database_url: str
) -> None:
    rt = await make_bot(database_url=database_url)
    fake.chat(GROUP, "supergroup", "Friends")
    alice, bob = fake.user(1001, "Alice", "en"), fake.user(1002, "Bob", "en")
    first = await open_scene(fake, alice, two_astronauts())
    second = await open_scene(fake, bob, three_friends(), as_caption=True)
    assert _scene_id(first) != _scene_id(second)

    await press(fake, bob, first, "I'm 2")
    await press(fake, bob, second, "I'm 1")  # one face per member per scene, in each scene
    await press(fake, alice, second, "I'm 3")
    fake.send_voice(bob, GROUP, voice_note("Hello."), duration=2, reply_to=first)
    await caption_shows(fake, first, "2 — Bob ✓ 2 s")
    # /say without a reply goes to Bob's newest scene where he holds a face: the second one.
    fake.send_command(bob, GROUP, "say", "Hello from the second scene")
    await caption_shows(fake, second, "1 — Bob ✓", "3 — Alice, no line yet")
    assert "1 — free" in (fake.text_of(GROUP, first["message_id"]) or "")

    fake.send_command(alice, GROUP, "render", reply_to=second)
    await group_reply(fake, t("scene_only_creator", "en", creator="Bob"))
    async with rt.db.session() as s:
        first_lines = await scene_rows.lines(s, _scene_id(first))
        second_lines = await scene_rows.lines(s, _scene_id(second))
    assert [(line.user_id, line.source) for line in first_lines] == [(1002, "voice")]
    assert [(line.user_id, line.source, line.text) for line in second_lines] == [
        (1002, "voice", "Hello from the second scene")  # spoken once, by the bot, as a voice note
    ]


async def test_a_claim_made_while_the_scene_message_is_still_being_posted_shows_up(
    fake: FakeBotApi, make_bot: BotFactory
) -> None:
    # The flaky restart test's cause: a press handled before the bot had stored the scene
    # message's id updated nothing. Here Telegram's answer to sendPhoto comes late on purpose.
    await make_bot()
    fake.chat(GROUP, "supergroup", "Friends")
    alice, bob = fake.user(1001, "Alice", "en"), fake.user(1002, "Bob", "en")
    fake.delay_next("sendPhoto", 2.0)
    scene = await open_scene(fake, alice, two_astronauts())
    await press(fake, bob, scene, "I'm 2")
    await caption_shows(fake, scene, "2 — Bob, no line yet")


async def test_forged_scene_buttons_are_refused_and_change_nothing(
    fake: FakeBotApi, make_bot: BotFactory
) -> None:
    rt = await make_bot()
    other = -1009876543210
    fake.chat(GROUP, "supergroup", "Friends")
    fake.chat(other, "supergroup", "Strangers")
    alice, mallory = fake.user(1001, "Alice", "en"), fake.user(1666, "Mallory", "en")
    scene = await open_scene(fake, alice, two_astronauts())
    scene_id = int(buttons(scene)["I'm 1"].split(":")[1])

    async def answer(chat: int, message_id: int, data: str) -> Call:
        query = fake.press_button(mallory, chat, message_id, data)
        return await fake.wait_for(
            "answerCallbackQuery", lambda c: c.params["callback_query_id"] == query["id"]
        )

    # From another group, on a message of the bot there, naming Alice's scene.
    fake.send_command(mallory, other, "scene")
    elsewhere = await fake.wait_for("sendMessage", lambda c: c.ok and c.params["chat_id"] == other)
    refusal = t("button_unknown", "en")
    assert (await answer(other, elsewhere.result["message_id"], f"scene:{scene_id}:claim:0")).params[
        "text"
    ] == refusal
    assert (await answer(other, elsewhere.result["message_id"], f"scene:{scene_id}:render")).params[
        "text"
    ] == refusal
    # In the scene's own group: a face the photo does not have.
    assert (await answer(GROUP, scene["message_id"], f"scene:{scene_id}:claim:99")).params["text"] == refusal
    async with rt.db.session() as s:
        assert await scene_rows.face_of(s, scene_id, 1666) is None
    assert not fake.calls_to("sendVideo") and (await rt.queue.stats())["queued"] == 0


async def test_a_scene_survives_a_restart(
    fake: FakeBotApi,
    tmp_path: Path,
    sqlite_url: str,
    render_pool: ProcessPoolExecutor,
    analysis_pool: ProcessPoolExecutor,
) -> None:
    settings = e2e_settings(fake, tmp_path, sqlite_url, embedded_worker=False)
    fake.chat(GROUP, "supergroup", "Friends")
    alice, bob = fake.user(1001, "Alice", "en"), fake.user(1002, "Bob", "en")

    first = build_application(settings)
    first.bot_data["pool"] = render_pool
    first.bot_data["analysis_pool"] = analysis_pool
    async with running(first, polling=True):
        scene = await open_scene(fake, alice, two_astronauts())
        await press(fake, bob, scene, "I'm 2")
        await caption_shows(fake, scene, "2 — Bob, no line yet")

    second = build_application(settings)  # a new process: nothing kept in memory
    second.bot_data["pool"] = render_pool
    second.bot_data["analysis_pool"] = analysis_pool
    async with running(second, polling=True):
        fake.send_voice(bob, GROUP, voice_note("Hello."), duration=2, reply_to=scene)
        await caption_shows(fake, scene, "2 — Bob ✓ 2 s", "Scene by Alice")
    # Alice said nothing since the restart: her name came from Telegram (getChatMember).
    assert [c.params["user_id"] for c in fake.calls_to("getChatMember")] == [1001]


async def bob_records_and_alice_says(
    fake: FakeBotApi, text: str
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A two-face scene: Bob (face 1) records a line, Alice (face 2) says `text` with /say.

    Returns the scene message, Bob's voice message and the voice note the bot spoke Alice's line as.
    """
    fake.chat(GROUP, "supergroup", "Friends")
    alice, bob = fake.user(1001, "Alice", "en"), fake.user(1002, "Bob", "en")
    scene = await open_scene(fake, alice, two_astronauts())
    await press(fake, bob, scene, "I'm 1")
    await press(fake, alice, scene, "I'm 2")
    bob_line = fake.send_voice(bob, GROUP, voice_note("Hello."), duration=2, reply_to=scene)
    await caption_shows(fake, scene, "1 — Bob ✓ 2 s")
    fake.send_command(alice, GROUP, "say", text, reply_to=scene)
    await caption_shows(fake, scene, "2 — Alice ✓")
    spoken = (await fake.wait_for("sendVoice", in_group)).result["voice"]
    return scene, bob_line, spoken


async def test_render_queues_one_job_with_every_line_and_a_failed_render_reopens_the_scene(
    fake: FakeBotApi, make_bot: BotFactory
) -> None:
    rt = await make_bot(embedded_worker=False)  # the job waits in the queue for us to look at
    alice, bob = fake.user(1001, "Alice", "en"), fake.user(1002, "Bob", "en")
    scene, bob_line, spoken = await bob_records_and_alice_says(fake, "Hi Bob!")
    alice_line = spoken["file_id"]

    await press(fake, bob, scene, "🎬 Render")  # not his scene
    await group_reply(fake, t("scene_only_creator", "en", creator="Alice"))
    await press(fake, alice, scene, "🎬 Render")
    ack = await group_reply(fake, t("queued_next", "en"))
    assert ack.params["reply_parameters"]["message_id"] == scene["message_id"]
    await caption_shows(fake, scene, "Rendering 2 line(s)")
    assert "reply_markup" not in fake.message(GROUP, scene["message_id"])  # type: ignore[operator]

    async with rt.db.session() as s:
        row = await scene_rows.get_scene(s, _scene_id(scene))
        charged = await quotas.status(s, 1001, rt.policy)
        spared = await quotas.status(s, 1002, rt.policy)
    assert row is not None and row.status == SceneStatus.RENDERING and row.job_id is not None
    assert (charged.used, spared.used) == (1, 0)  # the member who renders pays
    job = await rt.queue.get(row.job_id)
    assert job is not None and (job.user_id, job.chat_id) == (1001, GROUP)
    request = RenderJob.from_payload(job.payload)
    assert request.scene_id == row.id
    assert request.reply_to_message_id == scene["message_id"]
    assert job.status_message_id == ack.result["message_id"]
    assert [(tr.source, tr.user_id, tr.face, tr.file_id, tr.text) for tr in request.tracks] == [
        ("voice", 1002, 0, bob_line["voice"]["file_id"], None),
        ("voice", 1001, 1, alice_line, "Hi Bob!"),
    ]

    # The render fails (here: cancelled); the next touch reopens the scene for another take.
    await rt.queue.cancel(1001, row.job_id)
    fake.send_voice(bob, GROUP, voice_note("Hello again."), duration=3, reply_to=scene)
    await caption_shows(fake, scene, "1 — Bob ✓ 3 s", "Render")
    await press(fake, alice, scene, "🎬 Render")
    await caption_shows(fake, scene, "Rendering 2 line(s)")
    async with rt.db.session() as s:
        again = await scene_rows.get_scene(s, row.id)
    assert again is not None and again.status == SceneStatus.RENDERING and again.job_id != row.job_id


async def test_a_say_line_reaches_the_render_job_with_the_phonemes_it_was_spoken_with(
    fake: FakeBotApi, make_bot: BotFactory
) -> None:
    rt = await make_bot(embedded_worker=False)  # the job waits in the queue for us to look at
    scene, _, spoken = await bob_records_and_alice_says(fake, "Hi Bob, how are you?")
    await press(fake, fake.user(1001, "Alice", "en"), scene, "🎬 Render")
    await caption_shows(fake, scene, "Rendering 2 line(s)")  # the job is queued

    async with rt.db.session() as s:
        row = await scene_rows.get_scene(s, _scene_id(scene))
    assert row is not None and row.job_id is not None
    job = await rt.queue.get(row.job_id)
    assert job is not None
    recorded, said = RenderJob.from_payload(job.payload).tracks
    assert recorded.phonemes is None  # Bob's own recording: its words are unknown
    assert said.file_id == spoken["file_id"] and said.phonemes
    starts = [start for start, _, _ in said.phonemes]
    assert starts == sorted(starts)
    assert all(end > start for start, end, _ in said.phonemes)
    assert said.phonemes[-1][1] <= spoken["duration"] + 1.0  # timed on the voice note the group heard
    assert {phoneme for _, _, phoneme in said.phonemes} >= {"h", "b"}  # "Hi Bob"


@can_render
@pytest.mark.slow
async def test_render_makes_one_clip_of_every_line_as_a_reply_to_the_scene(
    fake: FakeBotApi, make_bot: BotFactory
) -> None:
    rt = await make_bot()
    fake.chat(GROUP, "supergroup", "Friends")
    alice, bob = fake.user(1001, "Alice", "en"), fake.user(1002, "Bob", "en")
    scene = await open_scene(fake, alice, two_astronauts())
    await press(fake, alice, scene, "I'm 1")
    await press(fake, bob, scene, "I'm 2")
    alice_line, bob_line = "Hello Bob.", "Hi Alice!"
    fake.send_voice(bob, GROUP, voice_note(bob_line), duration=2, reply_to=scene)
    fake.send_voice(alice, GROUP, voice_note(alice_line), duration=2, reply_to=scene)
    await caption_shows(fake, scene, "1 — Alice ✓", "2 — Bob ✓")

    await press(fake, alice, scene, "🎬 Render")
    sent = await fake.wait_for("sendVideo", in_group, timeout=240)

    video = sent.result
    assert video["reply_to_message"]["message_id"] == scene["message_id"]
    width, height, duration, decodes = probe_mp4(fake.video_bytes(video))
    expected = wav_seconds(speech_wav(bob_line)) + wav_seconds(speech_wav(alice_line))
    print(f"scene clip: {width}x{height}, {duration:.2f} s for {expected:.2f} s of lines")
    assert decodes and duration == pytest.approx(expected, abs=0.5)
    assert width / height == pytest.approx(680 / 400, abs=0.05)
    await caption_shows(fake, scene, "Rendering 2 line(s)")
    async with rt.db.session() as s:
        row = await scene_rows.get_scene(s, _scene_id(scene))
        charged = await quotas.status(s, 1001, rt.policy)
        spared = await quotas.status(s, 1002, rt.policy)
    assert row is not None and row.status == SceneStatus.RENDERING and row.job_id is not None
    assert (charged.used, spared.used) == (1, 0)  # the member who rendered pays


def _scene_id(scene: dict[str, Any]) -> int:
    """The scene id carried in the scene message's Render button."""
    return int(buttons(scene)["🎬 Render"].split(":")[1])


async def test_a_refused_scene_render_reopens_the_scene_at_once(
    fake: FakeBotApi, make_bot: BotFactory
) -> None:
    await make_bot()
    fake.chat(GROUP, "supergroup", "Friends")
    alice = fake.user(1001, "Alice", "en")
    scene = await open_scene(fake, alice, two_astronauts())
    await press(fake, alice, scene, "I'm 1")
    fake.send_voice(alice, GROUP, silent_voice_note(), duration=2, reply_to=scene)
    await caption_shows(fake, scene, "1 — Alice ✓ 2 s")
    await press(fake, alice, scene, "🎬 Render")
    await group_reply(fake, t("NO_SPEECH", "en"))
    # Nobody touches the scene: the worker's refusal alone brings the buttons back for a new take.
    for _ in range(600):
        if "🎬 Render" in buttons(fake.message(GROUP, scene["message_id"])):  # type: ignore[arg-type]
            break
        await asyncio.sleep(0.05)
    assert "🎬 Render" in buttons(fake.message(GROUP, scene["message_id"]))  # type: ignore[arg-type]
    assert "Rendering" not in (fake.text_of(GROUP, scene["message_id"]) or "")

"""/style and caption keywords, end to end: the real bot against the fake Bot API, a real database.

The renders here are not run: the bot runs without its embedded worker, so each job waits in the
queue, and the worker's own preparation step (`Delivery._prepare`, which fetches the files through
the Bot API) builds the RenderRequest the render would get.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from bot.app import App, build_application, running
from bot.delivery import Delivery
from bot.request import RenderJob
from bot.runtime import Runtime
from bot.texts import t
from generator import RenderRequest
from playground.botapi import Call, FakeBotApi
from storage import Job
from tests.e2e.conftest import BotFactory, e2e_settings
from tests.e2e.media import astronaut_portrait, two_astronauts, voice_note
from tests.e2e.test_scenes import GROUP, caption_shows, open_scene, press

ALICE = 1001


def to_chat(chat_id: int) -> Any:
    return lambda call: call.ok and call.params.get("chat_id") == chat_id


async def reply(fake: FakeBotApi, chat_id: int = ALICE) -> Call:
    """The bot's next successful sendMessage to the chat."""
    return await fake.wait_for("sendMessage", to_chat(chat_id))


def buttons(message: dict[str, Any]) -> dict[str, str]:
    """A message's inline buttons: text -> callback data."""
    markup = message.get("reply_markup") or {"inline_keyboard": []}
    return {b["text"]: b["callback_data"] for row in markup["inline_keyboard"] for b in row}


async def open_menu(fake: FakeBotApi, user: dict[str, Any]) -> dict[str, Any]:
    """Sends /style; returns the menu message the bot answered with."""
    fake.send_command(user, None, "style")
    return (await reply(fake, user["id"])).result


async def tap(fake: FakeBotApi, user: dict[str, Any], menu: dict[str, Any], text: str) -> dict[str, Any]:
    """Taps the menu's button labelled `text`; returns the menu message once the bot edited it."""
    current = fake.message(user["id"], menu["message_id"])
    assert current is not None
    query = fake.press_button(user, None, menu["message_id"], buttons(current)[text])
    await fake.wait_for("answerCallbackQuery", lambda c: c.params["callback_query_id"] == query["id"])
    await fake.wait_for("editMessageText", lambda c: c.params["message_id"] == menu["message_id"])
    shown = fake.message(user["id"], menu["message_id"])
    assert shown is not None
    return shown


async def queued_job(fake: FakeBotApi, rt: Runtime, user_id: int = ALICE, lang: str = "en") -> Job:
    """Waits for the bot to acknowledge a request and queue its job; returns the job."""
    ack = await reply(fake, user_id)
    assert ack.params["text"] == t("queued_next", lang)
    for _ in range(600):  # the acknowledgement goes out first, the job is queued right after
        for job in await rt.queue.pending_for_user(user_id):
            if job.status_message_id == ack.result["message_id"]:
                return job
        await asyncio.sleep(0.05)
    raise AssertionError("no job was queued")


async def test_style_buttons_save_the_choice_and_it_survives_a_restart(
    fake: FakeBotApi,
    tmp_path: Path,
    database_url: str,
    render_pool: ProcessPoolExecutor,
    analysis_pool: ProcessPoolExecutor,
) -> None:
    settings = e2e_settings(fake, tmp_path, database_url, embedded_worker=False)
    alice = fake.user(ALICE, "Alice", "en")

    def bot() -> App:
        application = build_application(settings)
        application.bot_data["pool"] = render_pool
        application.bot_data["analysis_pool"] = analysis_pool
        return application

    async with running(bot(), polling=True):
        menu = await open_menu(fake, alice)
        assert menu["text"] == t("style_menu", "en", style="Natural", motion="normal motion")
        assert list(buttons(menu)) == [
            "✓ Natural", "Calm", "Lively", "Serious", "Cheerful",
            "less motion", "✓ normal motion", "more motion",
        ]  # fmt: skip
        shown = await tap(fake, alice, menu, "Calm")
        assert shown["text"] == t("style_set", "en", style="Calm", motion="normal motion")
        assert "✓ Calm" in buttons(shown) and "Natural" in buttons(shown)
        shown = await tap(fake, alice, menu, "more motion")
        assert shown["text"] == t("style_set", "en", style="Calm", motion="more motion")
        assert {"✓ Calm", "✓ more motion", "normal motion"} <= set(buttons(shown))
        again = await tap(fake, alice, menu, "✓ Calm")  # already chosen: Telegram refuses the same text
        assert again["text"] == shown["text"]
        # An older menu still shows the old ticks: a tap there brings it up to date.
        newer = await open_menu(fake, alice)
        await tap(fake, alice, newer, "Lively")
        shown = await tap(fake, alice, menu, "Lively")
        assert shown["text"] == t("style_set", "en", style="Lively", motion="more motion")
        assert "✓ Lively" in buttons(shown)
        await tap(fake, alice, menu, "Calm")

    async with running(bot(), polling=True):  # a new process on the same database
        menu = await open_menu(fake, alice)
        assert menu["text"] == t("style_menu", "en", style="Calm", motion="more motion")
        assert {"✓ Calm", "✓ more motion"} <= set(buttons(menu))
    assert t("error", "en") not in [c.params.get("text") for c in fake.calls_to("sendMessage")]


async def test_the_render_request_carries_the_chosen_style_and_a_caption_hashtag_overrides_it_once(
    fake: FakeBotApi, make_bot: BotFactory, applications: list[App], tmp_path: Path
) -> None:
    rt = await make_bot(embedded_worker=False)
    alice = fake.user(ALICE, "Alice", "en")
    menu = await open_menu(fake, alice)
    await tap(fake, alice, menu, "Lively")
    await tap(fake, alice, menu, "less motion")

    # A caption with a style's hashtag: that photo's video is calm, the hashtag is not spoken.
    fake.send_photo(alice, None, astronaut_portrait(), caption="#calm Hello there")
    job = await queued_job(fake, rt)
    wanted = RenderJob.from_payload(job.payload)
    assert (wanted.style, wanted.motion) == ("calm", 0.5)
    assert wanted.tracks[0].text == "Hello there"

    # The next photo without a hashtag: the remembered choice again.
    fake.send_photo(alice, None, astronaut_portrait(), caption="Hello again")
    job = await queued_job(fake, rt)
    wanted = RenderJob.from_payload(job.payload)
    assert (wanted.style, wanted.motion) == ("lively", 0.5)

    # A caption that is only a hashtag: the bot says so, and the voice note sent next uses it.
    fake.send_photo(alice, None, astronaut_portrait(), caption="#Serious")
    assert (await reply(fake)).params["text"] == t("style_for_photo", "en", style="Serious")
    assert (await reply(fake)).params["text"] == t("one_face", "en")
    fake.send_voice(alice, None, voice_note("Good morning."), duration=2)
    job = await queued_job(fake, rt)
    wanted = RenderJob.from_payload(job.payload)
    assert (wanted.style, wanted.motion) == ("serious", 0.5)

    # The worker's RenderRequest for that job carries the style and motion to the generator.
    delivery = Delivery(applications[0].bot, rt)
    workdir = tmp_path / "job"
    workdir.mkdir()
    request = await delivery._prepare(job, wanted, workdir)
    assert isinstance(request, RenderRequest)
    assert (request.style, request.motion) == ("serious", 0.5)

    # /style still shows the remembered choice.
    menu = await open_menu(fake, alice)
    assert menu["text"] == t("style_menu", "en", style="Lively", motion="less motion")


async def test_a_new_user_renders_natural_at_normal_motion(fake: FakeBotApi, make_bot: BotFactory) -> None:
    rt = await make_bot(embedded_worker=False)
    alice = fake.user(ALICE, "Alice", "en")
    fake.send_photo(alice, None, astronaut_portrait(), caption="Stay calm, #friends")  # no style hashtag
    job = await queued_job(fake, rt)
    wanted = RenderJob.from_payload(job.payload)
    assert (wanted.style, wanted.motion) == ("natural", 1.0)
    assert wanted.tracks[0].text == "Stay calm, #friends"  # spoken as written


async def test_style_speaks_chinese_and_chinese_hashtags_name_styles(
    fake: FakeBotApi, make_bot: BotFactory
) -> None:
    rt = await make_bot(embedded_worker=False)
    li = fake.user(1002, "Li", "zh-hans")
    menu = await open_menu(fake, li)
    assert menu["text"] == t("style_menu", "zh", style="自然", motion="正常动作")
    assert "#平静" in menu["text"]
    labels = ["✓ 自然", "平静", "活泼", "严肃", "开朗", "少动一点", "✓ 正常动作", "多动一点"]
    assert list(buttons(menu)) == labels
    shown = await tap(fake, li, menu, "开朗")
    assert shown["text"] == "已保存，之后的视频将使用：开朗，正常动作。"

    fake.send_photo(li, None, astronaut_portrait(), caption="#平静 你好")
    job = await queued_job(fake, rt, 1002, "zh")
    wanted = RenderJob.from_payload(job.payload)
    assert (wanted.style, wanted.motion, wanted.tracks[0].text) == ("calm", 1.0, "你好")


async def test_forged_style_buttons_change_nothing(fake: FakeBotApi, make_bot: BotFactory) -> None:
    rt = await make_bot(embedded_worker=False)
    alice = fake.user(ALICE, "Alice", "en")
    menu = await open_menu(fake, alice)
    for data in ("style:angry", "motion:1.9", "motion:9.9"):
        query = fake.press_button(alice, None, menu["message_id"], data)
        answer = await fake.wait_for(
            "answerCallbackQuery", lambda c, q=query: c.params["callback_query_id"] == q["id"]
        )
        assert answer.params["text"] == t("button_unknown", "en")
    fake.send_photo(alice, None, astronaut_portrait(), caption="Hello")
    wanted = RenderJob.from_payload((await queued_job(fake, rt)).payload)
    assert (wanted.style, wanted.motion) == ("natural", 1.0)


async def test_a_group_scene_renders_with_the_style_of_the_member_who_started_it(
    fake: FakeBotApi, make_bot: BotFactory
) -> None:
    rt = await make_bot(embedded_worker=False)
    alice, bob = fake.user(ALICE, "Alice", "en"), fake.user(1002, "Bob", "en")
    for user, style, motion in ((alice, "Cheerful", "more motion"), (bob, "Serious", "less motion")):
        menu = await open_menu(fake, user)
        await tap(fake, user, menu, style)
        await tap(fake, user, menu, motion)

    fake.chat(GROUP, "supergroup", "Friends")
    scene = await open_scene(fake, alice, two_astronauts())
    await press(fake, bob, scene, "I'm 1")
    fake.send_voice(bob, GROUP, voice_note("Hello."), duration=2, reply_to=scene)
    await caption_shows(fake, scene, "1 — Bob ✓ 2 s")
    await press(fake, alice, scene, "🎬 Render")
    await caption_shows(fake, scene, "Rendering 1 line(s)")  # the job is queued

    (job,) = await rt.queue.pending_for_user(ALICE)
    wanted = RenderJob.from_payload(job.payload)
    assert wanted.scene_id is not None
    assert (wanted.style, wanted.motion) == ("cheerful", 1.5)  # Alice's, not Bob's who speaks

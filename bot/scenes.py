"""Group scenes: members of a group give voice to the faces of one photo, rendered as one clip.

Flow (works with the bot in privacy mode: it only needs commands, replies to it and its own messages):
1. A member replies `/scene` to a photo, or sends a photo with `/scene` as its caption. The bot
   answers with the photo, usable faces numbered, unusable ones listed with the reason, and buttons
   "I'm 1", "I'm 2"… plus "Render".
2. Members tap a number to take that face (tap it again to let it go; tap another to move), then
   reply to the scene message with a voice note, an audio file, a video, a round video, or
   `/say some text` (TTS in their chosen voice). Recording again replaces their line.
3. The scene message keeps the cast up to date: who has which face, whose line is in, and the total
   length against the clip limit.
4. The creator presses "Render" (or sends `/render`): lines play in recorded order, each spoken by
   its member's face. Over the limit the bot says the total and offers to render the first seconds.
   The job is a multi-track render request (bot/request.py) naming the scene; bot/delivery.py
   renders it and replies to the scene message. Quota is charged to the member who renders.
Scenes live in the database (storage/scenes.py), so they survive a restart; idle ones expire after
`Settings.scene_idle_minutes`, with a short notice, swept every `SWEEP_EVERY` seconds and also
checked whenever someone touches a scene.

`scene_handlers()` is registered by bot/app.py; `SCENE_COMMANDS` are the group commands. The scene
message is drawn by bot/scene_view.py; idle scenes are closed by bot/scene_sweeper.py.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    ReplyParameters,
    Update,
)
from telegram.ext import (
    Application,
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot import tts
from bot.callbacks import parse_scene, scene_data
from bot.intake import MessageHandler as MemberHandler
from bot.intake import (
    Speaker,
    for_members,
    no_usable_face,
    numbered_faces,
    picture_of,
    refuse_too_big,
    speaker,
    speech_attachment,
    take_photo,
    typed_text,
    voice_note,
)
from bot.jobs import enqueue, show_position
from bot.request import PhotoRef, render_job, track_from
from bot.runtime import Runtime, runtime, utcnow
from bot.scene_sweeper import expire_idle_scenes
from bot.scene_view import format_seconds, name_of, number_of, refresh_scene, scene_view, usable_indices
from bot.styles import remembered
from bot.texts import t
from bot.voices import resolve_voice
from storage import Job, JobSpec, Scene, SceneStatus, scenes
from storage.errors import (
    FaceTaken,
)

log = logging.getLogger(__name__)

#: Commands the scene flow answers in groups (for the group command menu).
SCENE_COMMANDS = ("scene", "say", "render")


GROUPS = filters.ChatType.GROUPS
_RECORDING = filters.VOICE | filters.AUDIO | filters.VIDEO | filters.VIDEO_NOTE
_IMAGE = filters.PHOTO | filters.Document.IMAGE


def scene_handlers() -> list[BaseHandler[Any, Any, Any]]:
    """The scene flow's handlers; they answer in groups only (and /scene in private says so)."""
    return [
        CommandHandler("scene", start_scene, filters=GROUPS),
        MessageHandler(GROUPS & _IMAGE & filters.CaptionRegex(r"^/scene(@\w+)?(\s|$)"), start_scene),
        CommandHandler("scene", explain_groups_only, filters=filters.ChatType.PRIVATE),
        CallbackQueryHandler(on_scene_button, pattern=r"^scene:"),
        CommandHandler("say", say_line, filters=GROUPS),
        CommandHandler("render", render_command, filters=GROUPS),
        MessageHandler(GROUPS & filters.REPLY & _RECORDING, record_line),
    ]


# --- who acts -----------------------------------------------------------------------------------


async def _member(update: Update, context: ContextTypes.DEFAULT_TYPE) -> tuple[Speaker, bool]:
    """Records who acts (and their name for the scene message); returns them and whether banned."""
    user = update.effective_user
    if user is not None and context.chat_data is not None:
        context.chat_data.setdefault("scene_names", {})[user.id] = user.first_name
    return await speaker(update, context)


def _for_scene_members(
    handler: MemberHandler,
) -> Callable[[Update, ContextTypes.DEFAULT_TYPE], Coroutine[Any, Any, None]]:
    """`for_members` for scene commands: the member's name is remembered for the scene message,
    and scenes idle too long are closed first, so a command never lands in one."""

    async def sweep_first(
        update: Update, context: ContextTypes.DEFAULT_TYPE, message: Message, who: Speaker
    ) -> None:
        await expire_idle_scenes(context.application, runtime(context))
        await handler(update, context, message, who)

    return for_members(functools.wraps(handler)(sweep_first), identify=_member)


# --- starting a scene ----------------------------------------------------------------------------


async def explain_groups_only(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Tells a private chat that scenes happen in groups."""
    who, _ = await speaker(update, context)
    assert update.effective_message is not None
    await update.effective_message.reply_text(t("scene_private", who.lang))


@_for_scene_members
async def start_scene(
    update: Update, context: ContextTypes.DEFAULT_TYPE, message: Message, who: Speaker
) -> None:
    """Opens a scene on a photo and posts it with numbered faces and claim buttons."""
    rt = runtime(context)
    source = _photo_message(message)
    if source is None:
        await message.reply_text(t("scene_need_photo", who.lang))
        return
    photo = await take_photo(source, who, rt, answer=message)
    if photo is None:
        return
    faces = [
        {"index": f["index"], "usable": bool(f.get("usable")), "reason": f.get("reason"), "box": f.get("box")}
        for f in photo.analysis.get("faces", [])
    ]
    usable = [f for f in faces if f["usable"]]
    if not usable:
        await message.reply_text(no_usable_face(photo.analysis, who.lang))
        return

    now = utcnow()
    async with rt.db.session() as s, s.begin():
        scene = await scenes.create_scene(
            s,
            chat_id=who.chat_id,
            creator_id=who.user_id,
            file_id=photo.media.file_id,
            file_unique_id=photo.media.file_unique_id,
            faces=faces,
            photo_message_id=source.message_id,
            now=now,
        )
        scene_id = scene.id
    picture = await numbered_faces(photo, message, usable)
    async with rt.db.read_session() as s:
        fresh = await scenes.get_scene(s, scene_id)
        assert fresh is not None
        caption, keyboard = await scene_view(context.application, rt, fresh, who.lang)
    posted = await message.reply_photo(
        picture, caption=caption, reply_markup=keyboard, reply_parameters=ReplyParameters(message.message_id)
    )
    async with rt.db.session() as s, s.begin():
        await scenes.set_scene_message(s, scene_id, posted.message_id)
    # Members can tap the buttons as soon as Telegram shows the message, before its id is stored
    # above; their claims could not edit a message the scene did not know yet. Reading the scene
    # again now, after the id is stored, shows every claim made in between.
    await refresh_scene(context.application, rt, scene_id, unless_caption=caption)


def _photo_message(message: Message) -> Message | None:
    """The message holding the scene's photo: the one replied to, or the command's own photo."""
    for candidate in (message.reply_to_message, message):
        if candidate is not None and picture_of(candidate) is not None:
            return candidate
    return None


# --- claims, render button -----------------------------------------------------------------------


async def on_scene_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Handles the scene buttons: take or let go of a face, render, render the first seconds."""
    query = update.callback_query
    assert query is not None and query.data is not None
    who, banned = await _member(update, context)
    rt = runtime(context)
    await expire_idle_scenes(context.application, rt)
    pressed = parse_scene(query.data)
    message = query.message if isinstance(query.message, Message) else None
    scene = None if pressed is None else await _load_scene(rt, pressed.scene_id)
    # Data naming another chat's scene, or a face the photo does not have, is forged or stale.
    if (
        pressed is None
        or message is None
        or (scene is not None and scene.chat_id != message.chat_id)
        or (pressed.face is not None and scene is not None and pressed.face not in usable_indices(scene))
    ):
        await query.answer(t("button_unknown", who.lang), show_alert=True)
        return
    if scene is None or scene.status != SceneStatus.OPEN:
        await query.answer(t("scene_closed", who.lang), show_alert=True)
        return
    if banned:
        await query.answer(t("banned", who.lang), show_alert=True)
        return
    if pressed.action == "claim" and pressed.face is not None:
        await _claim(update, context, rt, who, scene, pressed.face)
    else:
        await query.answer()
        await _render(context, rt, who, scene, message, trim=pressed.action == "trim")


async def _claim(
    update: Update, context: ContextTypes.DEFAULT_TYPE, rt: Runtime, who: Speaker, scene: Scene, face: int
) -> None:
    """Takes the face for the member, moves them to it, or lets it go when it is already theirs."""
    query = update.callback_query
    assert query is not None
    number = number_of(scene, face)
    try:
        async with rt.db.session() as s, s.begin():
            current = await scenes.face_of(s, scene.id, who.user_id)
            if current == face:
                await scenes.release_face(s, scene.id, who.user_id)
                answer = t("scene_released", who.lang, number=number)
            else:
                await scenes.claim_face(s, scene.id, who.user_id, face)
                answer = t("scene_claimed", who.lang, number=number)
    except FaceTaken as exc:
        name = await name_of(context.application, scene.chat_id, exc.user_id)
        await query.answer(t("scene_face_taken", who.lang, number=number, name=name), show_alert=True)
        return
    await query.answer(answer)
    await refresh_scene(context.application, rt, scene.id)


# --- lines ---------------------------------------------------------------------------------------


async def record_line(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Stores a member's recorded line for the scene their message replies to."""
    message = update.effective_message
    assert message is not None and message.reply_to_message is not None
    rt = runtime(context)
    await expire_idle_scenes(context.application, rt)
    async with rt.db.read_session() as s:
        scene = await scenes.scene_for_message(s, message.chat_id, message.reply_to_message.message_id)
    if scene is None:
        return  # a reply to something else: not ours
    scene = await _load_scene(rt, scene.id)
    assert scene is not None
    who, banned = await _member(update, context)
    if banned:
        await message.reply_text(t("banned", who.lang))
        return
    source, attachment = speech_attachment(message)
    if await refuse_too_big(message, who, attachment.file_size, rt):
        return
    duration = getattr(attachment, "duration", None)
    seconds = duration.total_seconds() if isinstance(duration, timedelta) else duration
    await _save_line(
        context, rt, who, scene, message, source=source, file_id=attachment.file_id, seconds=seconds
    )


@_for_scene_members
async def say_line(
    update: Update, context: ContextTypes.DEFAULT_TYPE, message: Message, who: Speaker
) -> None:
    """Stores `/say text` as the member's line, spoken by TTS in their voice."""
    assert message.text is not None
    rt = runtime(context)
    parts = message.text.split(maxsplit=1)
    if len(parts) < 2 or not parts[1].strip():
        await message.reply_text(t("scene_say_usage", who.lang))
        return
    scene = await _scene_for(rt, message, who.user_id, mine="claimed")
    if scene is None:
        await message.reply_text(t("scene_none", who.lang))
        return
    text = await typed_text(message, parts[1], who, rt)
    if text is None:
        return
    async with rt.db.read_session() as s:
        face = await scenes.face_of(s, scene.id, who.user_id)
    if face is None:
        await message.reply_text(t("scene_need_face", who.lang))
        return
    try:
        speech = await rt.tts.synthesize(text, who.voice, who.lang)
    except tts.NothingToSay:
        await message.reply_text(t("empty_text", who.lang))
        return
    # Spoken once: the group hears the line as the bot's voice note, and the render uses that
    # very recording, so the length shown is the clip's and the engine cannot change in between.
    note, seconds = await asyncio.to_thread(voice_note, speech.data)
    sent = await message.reply_voice(note, duration=max(1, round(seconds)))
    assert sent.voice is not None
    # The catalog voice that read this text (a Chinese line is read by a Chinese voice).
    voice = tts.speaking_voice(resolve_voice(who.voice, who.lang), text).id
    await _save_line(
        context,
        rt,
        who,
        scene,
        message,
        source="voice",
        file_id=sent.voice.file_id,
        text=text,
        voice=voice,
        seconds=speech.duration,
        # The timeline the words were spoken with, so the mouth follows them and not only the sound.
        phonemes=None if speech.phonemes is None else [[p.start, p.end, p.phoneme] for p in speech.phonemes],
    )


async def _save_line(
    context: ContextTypes.DEFAULT_TYPE,
    rt: Runtime,
    who: Speaker,
    scene: Scene,
    message: Message,
    *,
    source: str,
    seconds: float | None,
    file_id: str | None = None,
    text: str | None = None,
    voice: str | None = None,
    phonemes: list[list[Any]] | None = None,
) -> None:
    """Records the member's line (replacing an earlier one) if they hold a face in the open scene."""
    async with rt.db.session() as s, s.begin():
        fresh = await scenes.get_scene(s, scene.id)
        if fresh is None or fresh.status != SceneStatus.OPEN:
            closed = True
        else:
            closed = False
            face = await scenes.face_of(s, scene.id, who.user_id)
            if face is not None:
                await scenes.set_line(
                    s,
                    scene.id,
                    who.user_id,
                    face=face,
                    source=source,
                    file_id=file_id,
                    text=text,
                    voice=voice,
                    duration=seconds,
                    phonemes=phonemes,
                )
    if closed:
        await message.reply_text(t("scene_closed", who.lang))
        return
    if face is None:
        await message.reply_text(t("scene_need_face", who.lang))
        return
    await refresh_scene(context.application, rt, scene.id)


# --- rendering -----------------------------------------------------------------------------------


@_for_scene_members
async def render_command(
    update: Update, context: ContextTypes.DEFAULT_TYPE, message: Message, who: Speaker
) -> None:
    """Renders the scene the command replies to (or the member's newest open scene)."""
    rt = runtime(context)
    scene = await _scene_for(rt, message, who.user_id, mine="created")
    if scene is None:
        await message.reply_text(t("scene_none", who.lang))
        return
    if scene.status != SceneStatus.OPEN:
        await message.reply_text(t("scene_closed", who.lang))
        return
    await _render(context, rt, who, scene, message, trim=False)


async def _render(
    context: ContextTypes.DEFAULT_TYPE, rt: Runtime, who: Speaker, scene: Scene, asked: Message, *, trim: bool
) -> None:
    """Queues the scene's clip, charged to the member who renders; only the creator may."""
    bot = context.bot
    reply = ReplyParameters(message_id=asked.message_id, allow_sending_without_reply=True)
    if who.user_id != scene.creator_id:
        creator = await name_of(context.application, scene.chat_id, scene.creator_id)
        await bot.send_message(
            scene.chat_id, t("scene_only_creator", who.lang, creator=creator), reply_parameters=reply
        )
        return
    async with rt.db.read_session() as s:
        lines = await _cast_lines(s, scene.id)
    if not lines:
        await bot.send_message(scene.chat_id, t("scene_no_lines", who.lang), reply_parameters=reply)
        return
    limit = rt.settings.max_clip_seconds
    total = sum(line.duration or 0.0 for line in lines)
    if total > limit + 0.5 and not trim:
        button = InlineKeyboardButton(
            t("scene_render_first_button", who.lang, limit=format_seconds(limit)),
            callback_data=scene_data(scene.id, "trim"),
        )
        await bot.send_message(
            scene.chat_id,
            t("scene_too_long", who.lang, total=format_seconds(total), limit=format_seconds(limit)),
            reply_parameters=reply,
            reply_markup=InlineKeyboardMarkup([[button]]),
        )
        return

    target = scene.message_id or asked.message_id
    choice = await remembered(rt, scene.creator_id)  # the scene's creator's /style (bot/styles.py)
    status = await bot.send_message(
        scene.chat_id,
        t("queued_next", who.lang),
        reply_parameters=ReplyParameters(message_id=target, allow_sending_without_reply=True),
    )
    request = render_job(
        language=who.lang,
        photo=PhotoRef(scene.photo_file_id, scene.photo_file_unique_id),
        tracks=[
            track_from(
                line.source,
                line.user_id,
                file_id=line.file_id,
                text=line.text,
                voice=line.voice,
                face=line.face,
                phonemes=line.phonemes,
            )
            for line in lines
        ],
        reply_to_message_id=target,
        scene_id=scene.id,
        style=choice.style,
        motion=choice.motion,
    )
    spec = JobSpec(
        user_id=who.user_id,
        chat_id=scene.chat_id,
        # Double taps share a key; a render after a failed one (scene reopened) gets a new one.
        idempotency_key=f"{scene.chat_id}:scene:{scene.id}:{scene.job_id or 0}",
        payload=request.to_payload(),
        scene_id=scene.id,  # storage moves the scene to RENDERING in the enqueue's transaction
    )
    queued = await enqueue(rt, spec, who.lang, status.message_id)
    if queued.job is not None:
        if rt.worker is not None:
            rt.worker.notify()
        await refresh_scene(context.application, rt, scene.id)
        await show_position(rt, status, queued.job, who.lang)
        return
    await status.edit_text(queued.text)  # the refusal replaces "next": the creator must see it


async def _cast_lines(s: Any, scene_id: int) -> list[Any]:
    """The lines to render, in recorded order: those whose member still holds a face."""
    scene = await scenes.get_scene(s, scene_id)
    assert scene is not None
    holders = {claim.user_id: claim.face for claim in scene.claims}
    return [line for line in await scenes.lines(s, scene_id) if holders.get(line.user_id) == line.face]


# --- small helpers -------------------------------------------------------------------------------


async def settle_after_failure(application: Application[Any, Any, Any, Any, Any, Any], job: Job) -> None:
    """Shows a scene whose render failed as open again, buttons and all.

    Storage already reopened it in the job's own transaction (a line without speech, say: the
    worker has told the chat why and refunded the quota); only the scene message is left to redraw.
    """
    scene_id = (job.payload or {}).get("scene_id")
    if isinstance(scene_id, int):
        await refresh_scene(application, application.bot_data["runtime"], scene_id)


async def _load_scene(rt: Runtime, scene_id: int) -> Scene | None:
    """The scene as stored (its status follows its render's outcome, settled by storage)."""
    async with rt.db.read_session() as s:
        return await scenes.get_scene(s, scene_id)


async def _scene_for(rt: Runtime, message: Message, user_id: int, *, mine: str) -> Scene | None:
    """The scene a command means (see _find_scene), its render settled."""
    scene = await _find_scene(rt, message, user_id, mine=mine)
    return None if scene is None else await _load_scene(rt, scene.id)


async def _find_scene(rt: Runtime, message: Message, user_id: int, *, mine: str) -> Scene | None:
    """The scene a command means: the one its message replies to, else the member's newest open one.

    `mine` is "claimed" (a scene where the member holds a face) or "created" (one they started).
    """
    async with rt.db.read_session() as s:
        if message.reply_to_message is not None:
            scene = await scenes.scene_for_message(s, message.chat_id, message.reply_to_message.message_id)
            if scene is not None:
                return scene
        for scene in await scenes.open_scenes(s, message.chat_id):
            if mine == "created" and scene.creator_id == user_id:
                return scene
            if mine == "claimed" and any(claim.user_id == user_id for claim in scene.claims):
                return scene
    return None

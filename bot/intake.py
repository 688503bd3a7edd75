"""What private chats and group scenes both take in: who speaks, photos, recordings and typed text.

Photos: a photo seen before (same `file_unique_id`) is not downloaded again, its stored analysis
is used; a new one is downloaded into memory, analysed in the render pool and dropped. No user
file is written to local disk here: Telegram keeps the media, the database keeps its file id and
analysis, so any replica can serve the next message. The face picker is drawn from the decoded
pixels (generator's `load_image`), so every format the analysis reads (HEIC, GIF, WebP…) works.

Handlers call these functions; no handler module imports from another handler module.
"""

from __future__ import annotations

import asyncio
import functools
import io
import math
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import av
from telegram import Message, Update
from telegram.ext import ContextTypes

from bot import voices
from bot.faces import draw_numbered_faces
from bot.runtime import Runtime, runtime, utcnow
from bot.styles import StyleChoice, choice_of
from bot.texts import language_of, t
from generator import GeneratorError, ImageAnalysis
from storage import Media, media, users

#: The face reasons the catalog explains, most telling first.
REASONS = ("MOUTH_NOT_VISIBLE", "FACE_TURNED_AWAY", "FACE_TOO_SMALL")


# --- who ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Speaker:
    """Who sent an update, in which chat and language, with their TTS voice and /style choice."""

    user_id: int
    chat_id: int
    lang: str
    voice: str
    #: The /style choice, read with the user's row (no second read when a render is queued).
    choice: StyleChoice = field(default_factory=StyleChoice)


async def speaker(update: Update, context: ContextTypes.DEFAULT_TYPE) -> tuple[Speaker, bool]:
    """Records the user (language, username) and returns who speaks and whether they are banned."""
    rt = runtime(context)
    tg_user = update.effective_user
    chat = update.effective_chat
    assert tg_user is not None and chat is not None
    lang = language_of(tg_user.language_code)
    async with rt.db.session() as s, s.begin():
        row = await users.upsert_user(s, tg_user.id, language=lang, username=tg_user.username)
    # Before choosing one, English speakers get the configured voice, others their language's first.
    default = rt.settings.default_tts_voice if lang == "en" else voices.default_voice(lang).id
    return Speaker(tg_user.id, chat.id, lang, row.voice or default, choice_of(row)), row.banned


MessageHandler = Callable[[Update, ContextTypes.DEFAULT_TYPE, Message, Speaker], Awaitable[None]]
#: How a handler learns who sent an update and whether they are banned (`speaker`, or a variant).
Identify = Callable[[Update, ContextTypes.DEFAULT_TYPE], Awaitable[tuple[Speaker, bool]]]


def for_members(
    handler: MessageHandler, identify: Identify = speaker
) -> Callable[[Update, ContextTypes.DEFAULT_TYPE], Coroutine[Any, Any, None]]:
    """Wraps a message handler: records the sender, refuses a banned one, passes message and speaker."""

    @functools.wraps(handler)
    async def run(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        assert message is not None
        who, banned = await identify(update, context)
        if banned:
            await message.reply_text(t("banned", who.lang))
            return
        await handler(update, context, message, who)

    return run


# --- files --------------------------------------------------------------------------------------


async def refuse_too_big(message: Message, who: Speaker, size: int | None, rt: Runtime) -> bool:
    """Says so and returns True when the Bot API server would refuse to hand the bot this file.

    The limit is `Settings.max_download_mb`: 20 MB on Telegram's cloud Bot API, up to 2000 MB on a
    local Bot API server.
    """
    limit_mb = rt.settings.max_download_mb
    if size is None or size <= limit_mb * 2**20:
        return False
    await message.reply_text(t("file_too_big", who.lang, size_mb=size / 2**20, limit_mb=limit_mb))
    return True


async def download(message: Message, file_id: str) -> bytes:
    """A Telegram file's bytes, in memory."""
    tg_file = await message.get_bot().get_file(file_id)
    return bytes(await tg_file.download_as_bytearray())


# --- photos -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Picture:
    """The picture a message carries: the largest photo size, or an image sent as a file."""

    file_id: str
    file_unique_id: str
    size: int | None


def picture_of(message: Message) -> Picture | None:
    """The picture in a message (a photo, or a document with an image type), if any."""
    if message.photo:
        largest = message.photo[-1]
        return Picture(largest.file_id, largest.file_unique_id, largest.file_size)
    document = message.document
    if document is not None and (document.mime_type or "").startswith("image/"):
        return Picture(document.file_id, document.file_unique_id, document.file_size)
    return None


def is_user_photo(message: Message) -> bool:
    """Whether a message is a picture a user sent (as a photo or as an image file)."""
    if message.from_user is not None and message.from_user.is_bot:
        return False  # e.g. the numbered-faces picture: it stands for the photo it was drawn on
    return picture_of(message) is not None


@dataclass(frozen=True)
class Photo:
    """A photo taken in: its stored row, its analysis, and its bytes if this intake downloaded them."""

    media: Media
    analysis: dict[str, Any]
    data: bytes | None = None

    @property
    def usable(self) -> list[dict[str, Any]]:
        """The usable faces, left to right."""
        return usable_faces(self.analysis)


async def take_photo(source: Message, who: Speaker, rt: Runtime, *, answer: Message) -> Photo | None:
    """Analyses (or recalls) and stores the picture in `source`; None once `answer` was told why not."""
    picture = picture_of(source)
    assert picture is not None, "take_photo needs a message with a picture"
    if await refuse_too_big(answer, who, picture.size, rt):
        return None
    async with rt.db.read_session() as s:
        analysis = await media.cached_analysis(s, picture.file_unique_id)  # the same picture again
    if analysis is not None and ImageAnalysis.from_stored(analysis) is None:
        analysis = None  # stored by an older version, without the landmarks a render reuses
    data = None
    if analysis is None:
        wait = rt.analysis_limit.wait(who.user_id)
        if wait > 0:
            await answer.reply_text(t("slow_down", who.lang, seconds=math.ceil(wait)))
            return None
        data = await download(answer, picture.file_id)
        try:
            analysis = await rt.analyze(data)
        except GeneratorError as exc:
            await answer.reply_text(t(str(exc.code), who.lang))
            return None
    now = utcnow()
    async with rt.db.session() as s, s.begin():
        row = await media.save_photo(
            s,
            chat_id=who.chat_id,
            user_id=who.user_id,
            message_id=source.message_id,
            file_id=picture.file_id,
            file_unique_id=picture.file_unique_id,
            path=None,  # nothing on local disk: Telegram keeps the photo
            analysis=analysis,
            expires_at=now + timedelta(minutes=rt.settings.photo_memory_minutes),
        )
    return Photo(row, analysis, data)


async def numbered_faces(photo: Photo, answer: Message, faces: list[dict[str, Any]]) -> bytes:
    """The photo with `faces` outlined and numbered 1..n, as a JPEG (downloaded again if need be)."""
    data = photo.data if photo.data is not None else await download(answer, photo.media.file_id)
    return await asyncio.to_thread(draw_numbered_faces, data, [face["box"] for face in faces])


def usable_faces(analysis: dict[str, Any]) -> list[dict[str, Any]]:
    """The usable faces of a stored analysis, left to right."""
    return [face for face in analysis.get("faces", []) if face.get("usable")]


def reason_of(analysis: dict[str, Any]) -> str:
    """The catalog key that says why no face in an analysis is usable."""
    reasons = {face.get("reason") for face in analysis.get("faces", [])}
    return next((reason for reason in REASONS if reason in reasons), "NO_FACE")


def no_usable_face(analysis: dict[str, Any], lang: str) -> str:
    """Why the photo can't be used, and what would work."""
    return f"{t(reason_of(analysis), lang)}\n\n{t('photo_tip', lang)}"


# --- speech -------------------------------------------------------------------------------------


def speech_attachment(message: Message) -> tuple[str, Any]:
    """The kind of recording a message carries (as in job tracks) and its Telegram file."""
    if message.voice:
        return "voice", message.voice
    if message.audio:
        return "audio", message.audio
    if message.video:
        return "video", message.video
    if message.video_note:
        return "video_note", message.video_note
    document = message.document
    assert document is not None
    kind = "video" if (document.mime_type or "").startswith("video/") else "audio"
    return kind, document


async def typed_text(message: Message, text: str, who: Speaker, rt: Runtime) -> str | None:
    """Text to speak, cut at the configured length (the user told); None (user told) if empty."""
    text = text.strip()
    if not text:
        await message.reply_text(t("empty_text", who.lang))
        return None
    limit = rt.settings.max_text_chars
    if len(text) > limit:
        text = text[:limit]
        await message.reply_text(t("text_cut", who.lang, limit=limit))
    return text


class NoAudio(ValueError):
    """A recording to re-encode as a voice note holds no audio that can be decoded."""


def voice_note(audio: bytes) -> tuple[bytes, float]:
    """Encodes speech (MP3, WAV, WebM…) as Telegram's voice notes are: OGG container, Opus, 48 kHz mono.

    Returns the OGG bytes and their length in seconds. Raises `NoAudio` when `audio` has no audio
    stream, cannot be decoded, or decodes to no samples.
    """
    buffer = io.BytesIO()
    samples = 0
    try:
        with av.open(io.BytesIO(audio), "r") as source, av.open(buffer, "w", format="ogg") as out:
            if not source.streams.audio:
                raise NoAudio("no audio stream in it")
            stream = out.add_stream("libopus", rate=48000)
            stream.layout = "mono"
            resampler = av.AudioResampler(format="s16", layout="mono", rate=48000)
            for frame in source.decode(audio=0):
                for resampled in resampler.resample(frame):
                    samples += resampled.samples
                    out.mux(stream.encode(resampled))
            for resampled in resampler.resample(None):
                samples += resampled.samples
                out.mux(stream.encode(resampled))
            out.mux(stream.encode(None))
    except av.FFmpegError as exc:
        raise NoAudio(f"cannot decode it: {exc}") from exc
    if samples == 0:
        raise NoAudio("it holds no sound")
    return buffer.getvalue(), samples / 48000

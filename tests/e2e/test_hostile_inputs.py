"""Hostile files and texts sent through the real bot: each gets a specific reply in the sender's language.

One case per kind of attack or oddity from the generator's hostile-media suite (bombs, formats
outside the allowlist, playlists named like recordings, cut and empty files, 0 s / 15 min / noise /
ultrasound recordings, a video without sound, wrong mime types, 10 000-character and emoji-only
texts), each from its own user, some with a Chinese client. Every case must end in one catalog
message — never the generic apology — with no job left queued or running; afterwards a normal
render still comes back from the same render pool.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from bot.runtime import Runtime
from bot.texts import t
from playground.botapi import Call, FakeBotApi
from storage.jobs import Status
from tests.e2e.conftest import BotFactory
from tests.e2e.media import (
    animated_gif,
    astronaut_portrait,
    cat,
    reencoded,
    send_as,
    two_astronauts,
    voice_note,
)
from tests.generator.media import (
    deep_gray_bomb,
    ffconcat_script,
    gif_claiming,
    hls_playlist,
    jpeg_claiming,
    png_claiming,
    psd_bytes,
    tone,
    wav_bytes,
    zip_holding,
)

#: Longest wait for one reply; a refused job takes about a second on a free core.
REPLY_TIMEOUT = 60.0
#: A short clip at 480 px renders in seconds on a free core; a busy shared machine is slower.
RENDER_TIMEOUT = 180.0

_EPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n(/etc/passwd) (r) file\nshowpage\n"
_SVG = (
    b'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    b'<svg xmlns="http://www.w3.org/2000/svg" width="64" height="48"><text>&x;</text></svg>'
)
#: Another job's recording in the shared data folder, as an attacker would guess its path.
_PLAYLIST = hls_playlist("../1/track0.oga", "../../jobs/1/track0.oga")


def _noise(seconds: float, rate: int, level: float) -> np.ndarray:
    return (np.random.default_rng(11).standard_normal(round(seconds * rate)) * level).astype(np.float32)


def _id3_then(payload: bytes) -> bytes:
    """A valid empty ID3v2 tag in front of `payload`: what an .mp3 starts with."""
    return b"ID3\x04\x00\x00\x00\x00\x00\x00" + payload


@dataclass(frozen=True)
class Hostile:
    """One hostile message: how it is sent, what it carries, and the catalog reply it must get."""

    id: str
    send: str  # document, photo-first-then: voice, audio, audio-document, video, text
    data: Callable[[], bytes] | None
    reply: str  # bot/texts.py key of the final reply
    lang: str = "en"
    file_name: str = "file.bin"
    mime_type: str = "application/octet-stream"
    text: str = ""
    settings: dict[str, Any] = field(default_factory=dict)
    then_video: bool = False  # the reply is followed by a delivered video
    marks: tuple[pytest.MarkDecorator, ...] = ()


CASES: list[Hostile] = [
    # --- pictures: bombs, refused formats, damaged files, wrong mime types ---
    Hostile(
        "photo-16-bit-png-bomb-6300x6300",
        "document",
        deep_gray_bomb,
        "NO_FACE",
        "en",
        "bomb.png",
        "image/png",
    ),
    Hostile(
        "photo-png-claiming-20000x20000",
        "document",
        lambda: png_claiming(20000, 20000),
        "IMAGE_TOO_LARGE",
        "zh",
        "a.png",
        "image/png",
    ),
    Hostile(
        "photo-jpeg-claiming-30000x30000",
        "document",
        lambda: jpeg_claiming(astronaut_portrait(), 30000, 30000),
        "IMAGE_TOO_LARGE",
        "en",
        "a.jpg",
        "image/jpeg",
    ),
    Hostile(
        "photo-gif-screen-65535x65535",
        "document",
        lambda: gif_claiming(reencoded(cat(), "GIF"), 65535, 65535),
        "IMAGE_TOO_LARGE",
        "zh",
        "a.gif",
        "image/gif",
    ),
    Hostile(
        "photo-svg-with-external-entity",
        "document",
        lambda: _SVG,
        "IMAGE_UNREADABLE",
        "en",
        "a.svg",
        "image/svg+xml",
    ),
    Hostile(
        "photo-eps-reading-a-file", "document", lambda: _EPS, "IMAGE_UNREADABLE", "zh", "a.eps", "image/x-eps"
    ),
    Hostile(
        "photo-psd", "document", psd_bytes, "IMAGE_UNREADABLE", "en", "a.psd", "image/vnd.adobe.photoshop"
    ),
    Hostile(
        "photo-pdf-as-application-pdf",
        "document",
        lambda: b"%PDF-1.4\n" + astronaut_portrait(),
        "unsupported",
        "zh",
        "a.pdf",
        "application/pdf",
    ),
    Hostile(
        "photo-jpeg-cut-in-half",
        "document",
        lambda: astronaut_portrait()[: len(astronaut_portrait()) // 2],
        "IMAGE_UNREADABLE",
        "en",
        "a.jpg",
        "image/jpeg",
    ),
    Hostile("photo-zero-bytes", "document", lambda: b"", "IMAGE_UNREADABLE", "zh", "a.png", "image/png"),
    Hostile(
        "photo-voice-note-named-jpg", "document", voice_note, "IMAGE_UNREADABLE", "en", "a.jpg", "image/jpeg"
    ),
    Hostile(
        "photo-playlist-named-png",
        "document",
        lambda: _PLAYLIST,
        "IMAGE_UNREADABLE",
        "zh",
        "a.png",
        "image/png",
    ),
    # --- pictures that are fine once decoded right ---
    Hostile(
        "photo-heic",
        "document",
        lambda: reencoded(astronaut_portrait(), "HEIF"),
        "one_face",
        "en",
        "a.heic",
        "image/heic",
    ),
    Hostile(
        "photo-cmyk-jpeg",
        "document",
        lambda: reencoded(astronaut_portrait(), "JPEG", "CMYK"),
        "one_face",
        "zh",
        "a.jpg",
        "image/jpeg",
    ),
    Hostile(
        "photo-16-bit-png",
        "document",
        lambda: reencoded(astronaut_portrait(), "PNG", "I;16"),
        "one_face",
        "en",
        "a.png",
        "image/png",
    ),
    Hostile(
        "photo-png-zip-polyglot",
        "document",
        lambda: reencoded(astronaut_portrait(), "PNG") + zip_holding("x.html", b"<script>"),
        "one_face",
        "zh",
        "a.png",
        "image/png",
    ),
    Hostile(
        "photo-animated-gif",
        "document",
        lambda: animated_gif(astronaut_portrait()),
        "one_face",
        "en",
        "a.gif",
        "image/gif",
    ),
    Hostile(
        "photo-webp-sent-as-image-png",
        "document",
        lambda: reencoded(astronaut_portrait(), "WEBP"),
        "one_face",
        "zh",
        "a.png",
        "image/png",
    ),
    Hostile(
        "photo-two-faces-heic",
        "document",
        lambda: reencoded(two_astronauts(), "HEIF"),
        "many_faces",
        "en",
        "two.heic",
        "image/heic",
    ),
    Hostile(
        "photo-two-faces-animated-gif",
        "document",
        lambda: animated_gif(two_astronauts()),
        "many_faces",
        "zh",
        "two.gif",
        "image/gif",
    ),
    # --- recordings after a good photo: playlists, damaged, empty, no speech, no sound ---
    Hostile("voice-hls-playlist", "voice", lambda: _PLAYLIST, "AUDIO_UNREADABLE", "en"),
    Hostile(
        "audio-document-m3u8-x-mpegurl",
        "audio-document",
        lambda: _PLAYLIST,
        "AUDIO_UNREADABLE",
        "zh",
        "voice.m3u8",
        "audio/x-mpegurl",
    ),
    Hostile(
        "audio-ffconcat-named-mp3",
        "audio",
        lambda: ffconcat_script("../1/track0.oga"),
        "AUDIO_UNREADABLE",
        "en",
        "song.mp3",
        "audio/mpeg",
    ),
    Hostile(
        "audio-id3-tag-then-playlist",
        "audio",
        lambda: _id3_then(_PLAYLIST),
        "AUDIO_UNREADABLE",
        "zh",
        "song.mp3",
        "audio/mpeg",
    ),
    Hostile("voice-zero-bytes", "voice", lambda: b"", "AUDIO_UNREADABLE", "en"),
    Hostile("voice-cut-after-60-bytes", "voice", lambda: voice_note()[:60], "AUDIO_UNREADABLE", "zh"),
    Hostile("voice-jpeg-bytes", "voice", astronaut_portrait, "AUDIO_UNREADABLE", "en"),
    Hostile(
        "audio-document-random-bytes",
        "audio-document",
        lambda: np.random.default_rng(3).bytes(20000),
        "AUDIO_UNREADABLE",
        "zh",
        "a.ogg",
        "audio/ogg",
    ),
    Hostile(
        "audio-document-sun-au",
        "audio-document",
        lambda: b".snd" + b"\x00\x00\x00\x18" + b"\xff" * 16 + b"\x00" * 800,
        "AUDIO_UNREADABLE",
        "en",
        "a.au",
        "audio/basic",
    ),
    Hostile(
        "audio-document-midi",
        "audio-document",
        lambda: b"MThd\x00\x00\x00\x06\x00\x00\x00\x01\x00\x60",
        "AUDIO_UNREADABLE",
        "zh",
        "a.mid",
        "audio/midi",
    ),
    Hostile(
        "video-without-sound", "video", lambda: reencoded_video_without_sound(), "AUDIO_UNREADABLE", "en"
    ),
    Hostile(
        "audio-document-0-s-wav",
        "audio-document",
        lambda: wav_bytes(np.zeros(0, np.float32), 16000),
        "NO_SPEECH",
        "zh",
        "a.wav",
        "audio/wav",
    ),
    Hostile(
        "voice-white-noise",
        "audio-document",
        lambda: wav_bytes(_noise(3.0, 16000, 0.3), 16000),
        "NO_SPEECH",
        "en",
        "noise.wav",
        "audio/wav",
    ),
    Hostile(
        "audio-ultrasonic-21-khz",
        "audio-document",
        lambda: wav_bytes(tone(3.0, 48000, freq=21000.0, level=0.9), 48000),
        "NO_SPEECH",
        "zh",
        "a.wav",
        "audio/wav",
    ),
    Hostile(
        "audio-silence",
        "audio-document",
        lambda: wav_bytes(np.zeros(48000, np.float32), 16000),
        "NO_SPEECH",
        "en",
        "a.wav",
        "audio/wav",
    ),
    Hostile(
        "audio-15-minutes-of-hiss",
        "audio-document",
        lambda: wav_bytes(_noise(900.0, 8000, 0.01), 8000),
        "NO_SPEECH",
        "zh",
        "long.wav",
        "audio/wav",
    ),
    # --- texts ---
    Hostile("text-emoji-only", "text", None, "NO_SPEECH", "en", text="😀🎉🔥🙈👍" * 3),
    Hostile("text-10000-emoji", "text", None, "NO_SPEECH", "zh", text="😀" * 10000),
    Hostile("text-zero-width-spaces", "text", None, "NO_SPEECH", "en", text="\u200b\u200b\u200b"),
    Hostile(
        "text-10000-characters",
        "text",
        None,
        "text_cut",
        "en",
        text=("Hello there. " * 800)[:10000],
        settings={"max_text_chars": 20},
        then_video=True,
    ),
]


def reencoded_video_without_sound() -> bytes:
    """A short H.264 MP4 of the astronaut with no sound track at all."""
    import io

    import av
    from PIL import Image

    with Image.open(io.BytesIO(astronaut_portrait())) as image:
        rgb = np.asarray(image.convert("RGB").resize((120, 160)))
    out = io.BytesIO()
    with av.open(out, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 120, 160, "yuv420p"
        for _ in range(10):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        container.mux(stream.encode(None))
    return out.getvalue()


def _is_ack(text: str, lang: str) -> bool:
    """Whether a message is the queue acknowledgement (or the cut-text notice) rather than the answer."""
    queued = t("queued", lang, position=0).split("0")[0]
    return (
        text.startswith(queued)
        or text == t("queued_next", lang)
        or text.startswith(t("text_cut", lang, limit=0)[:6])
    )


async def _answer(fake: FakeBotApi, chat_id: int, lang: str) -> Call:
    """The bot's first reply to the chat that is not an acknowledgement: a message or a photo."""

    def final(call: Call) -> bool:
        if not call.ok or call.params.get("chat_id") != chat_id:
            return False
        return call.method == "sendPhoto" or not _is_ack(str(call.params.get("text", "")), lang)

    waits = [
        asyncio.ensure_future(fake.wait_for(method, final, timeout=REPLY_TIMEOUT))
        for method in ("sendMessage", "sendPhoto")
    ]
    done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    return next(iter(done)).result()


async def _queue_drained(rt: Runtime) -> dict[str, Any]:
    """Waits until no job is queued or running; returns the queue's figures."""
    deadline = time.monotonic() + REPLY_TIMEOUT
    while True:
        figures = await rt.queue.stats()
        if figures[str(Status.QUEUED)] == 0 and figures[str(Status.RUNNING)] == 0:
            return figures
        assert time.monotonic() < deadline, f"jobs still waiting or running: {figures}"
        await asyncio.sleep(0.1)


def _expected(case: Hostile) -> str:
    return t(case.reply, case.lang, count=2, limit=case.settings.get("max_text_chars", 300))


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=c.marks) for c in CASES])
async def test_hostile_input_gets_a_specific_reply_in_the_users_language(
    case: Hostile, fake: FakeBotApi, make_bot: BotFactory
) -> None:
    rt = await make_bot(**case.settings)
    chat_id = 7000 + CASES.index(case)
    user = fake.user(chat_id, "Mallory", "zh-hans" if case.lang == "zh" else "en")
    if case.send != "document":
        # Recordings and texts speak the last photo: a good one first.
        fake.send_photo(user, None, astronaut_portrait())
        assert (await _answer(fake, chat_id, case.lang)).params["text"] == t("one_face", case.lang)
    sent = send_as(
        fake,
        user,
        case.send,
        case.data() if case.data is not None else b"",
        file_name=case.file_name,
        mime_type=case.mime_type,
        text=case.text,
    )
    answer = await _answer(fake, chat_id, case.lang) if case.reply != "text_cut" else None
    if case.reply == "text_cut":
        cut = await fake.wait_for(
            "sendMessage",
            lambda c: c.ok and c.params.get("chat_id") == chat_id and c.params.get("text") == _expected(case),
            timeout=REPLY_TIMEOUT,
        )
        assert cut.ok
    else:
        assert answer is not None
        text = str(answer.params.get("text", answer.params.get("caption", "")))
        assert text != t("internal_error", case.lang) and text != t("error", case.lang)
        assert text.startswith(_expected(case)), (case.id, text)
        if answer.method == "sendMessage":
            assert answer.result["reply_to_message"]["message_id"] == sent["message_id"]
    if case.then_video:
        video = await fake.wait_for(
            "sendVideo", lambda c: c.ok and c.params.get("chat_id") == chat_id, timeout=RENDER_TIMEOUT
        )
        assert video.result["reply_to_message"]["message_id"] == sent["message_id"]
    await _queue_drained(rt)


async def test_the_render_pool_still_renders_after_the_hostile_inputs(
    fake: FakeBotApi, make_bot: BotFactory
) -> None:
    # Runs after the cases above on the same session-wide render pool: nothing broke it.
    rt = await make_bot()
    alice = fake.user(1001, "Alice", "en")
    fake.send_photo(alice, None, astronaut_portrait())
    assert (await _answer(fake, 1001, "en")).params["text"] == t("one_face", "en")
    note = fake.send_voice(alice, None, voice_note(), duration=3)
    video = await fake.wait_for(
        "sendVideo", lambda c: c.ok and c.params.get("chat_id") == 1001, timeout=RENDER_TIMEOUT
    )
    assert video.result["reply_to_message"]["message_id"] == note["message_id"]
    await _queue_drained(rt)

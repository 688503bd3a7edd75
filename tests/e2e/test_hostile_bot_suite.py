"""Hundreds of generated hostile files and texts sent through ONE running bot over the fake Bot API.

The cases are the generator's hostile-media suite (tests/generator/test_hostile_media.py: bombs,
16-bit/float/CMYK/animated/HEIC photos, EPS/PDF/SVG/PSD and other refused formats, polyglots, every
file cut at many offsets, scribbled over, zero-byte, misnamed; playlists and concat scripts named
like recordings, 0 s / noise / ultrasonic / silent recordings, videos without sound), sent the ways
a client can send them (a file with its own or a wrong image type, a voice note, a music file, a
document with an audio type, a video), plus hostile texts, in English and in Chinese. Photos are
refused (or found faceless) at intake; recordings follow a good photo and are refused by the
render worker, many users at once so no per-user limit is what answers.

Every case must be answered, as a reply to that very message, with a catalog text for what it
is, in the sender's language: never the generic apology. At the end no job is queued or running,
and a normal render still comes back from the same render pool. The peak resident memory of this
process tree (the bot, the fake Telegram holding every file, the cases, and the pool processes) is
printed as a figure, not asserted: memory targets live in benchmarks, and in a full suite run this
process also carries every earlier test's memory.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bot.runtime import Runtime
from bot.texts import t
from playground.botapi import Call, FakeBotApi
from storage import Status
from tests.e2e.conftest import BotFactory
from tests.e2e.media import astronaut_portrait, send_as, voice_note
from tests.generator import test_hostile_media as generated
from tests.generator.media import wav_bytes

#: Longest wait for all the answers: a loaded 2-core machine is slow, a lost reply never comes.
ALL_REPLIES_TIMEOUT = 600.0
#: A short clip at 480 px renders in seconds on a free core; a busy shared machine is slower.
RENDER_TIMEOUT = 180.0
#: Recordings each simulated user sends after their photo (the quota is raised to allow them).
RECORDINGS_PER_USER = 8

OK = generated.OK
#: What the bot may say about a picture the generator decodes: the 64x48 test pattern has no face.
FACELESS = frozenset({"NO_FACE", "FACE_TOO_SMALL", "FACE_TURNED_AWAY", "MOUTH_NOT_VISIBLE"})
_IMAGE_MIME = {
    "jpeg": "image/jpeg",
    "png": "image/png",
    "gif": "image/gif",
    "webp": "image/webp",
    "bmp": "image/bmp",
    "tiff": "image/tiff",
    "heic": "image/heic",
    "avif": "image/avif",
}


@dataclass(frozen=True)
class BotCase:
    """One hostile message: how it is sent, what it carries, and the catalog texts that may answer it."""

    id: str
    send: str  # photo-file, voice, audio, audio-document, video, text
    data: Callable[[], bytes]
    replies: frozenset[str]  # bot/texts.py keys; the answer must be one of them
    lang: str
    file_name: str = "file.bin"
    mime_type: str = "application/octet-stream"
    text: str = ""

    def send_by(self, fake: FakeBotApi, user: dict[str, Any]) -> dict[str, Any]:
        """Sends this case to the bot as `user`, the way it says (`tests.e2e.media.send_as`)."""
        return send_as(
            fake,
            user,
            self.send,
            self.data(),
            file_name=self.file_name,
            mime_type=self.mime_type,
            text=self.text,
        )


def _photo_replies(expect: frozenset[str]) -> frozenset[str]:
    return frozenset(code for code in expect if code != OK) | (FACELESS if OK in expect else frozenset())


def _image_mime(case_id: str, n: int) -> tuple[str, str]:
    """The file name and image type a client claims: its own type for most, a wrong one for some."""
    own = next((mime for key, mime in _IMAGE_MIME.items() if key in case_id), "image/png")
    claimed = own if n % 3 else ("image/jpeg" if own != "image/jpeg" else "image/png")
    return f"photo{n}.{claimed.split('/')[1]}", claimed


def _photo_cases() -> Iterator[tuple[str, Callable[[], bytes], frozenset[str], str, str]]:
    for n, case in enumerate(c for c in generated.CASES if c.load == "image"):
        name, mime = _image_mime(case.id, n)
        if case.name:  # the generator's misnamed and zero-byte cases keep their own names
            name = case.name
        yield case.id, case.make, _photo_replies(case.expect), name, mime


#: Sent as (file name, type): a voice note, a music file, an audio document, a playlist's own type.
_RECORDING_WAYS = [
    ("voice", "voice.ogg", "audio/ogg"),
    ("audio", "song.mp3", "audio/mpeg"),
    ("audio-document", "voice.m4a", "audio/mp4"),
    ("audio-document", "list.m3u8", "audio/x-mpegurl"),
    ("audio", "track.wav", "audio/wav"),
    ("video", "clip.mp4", "video/mp4"),
]


def _recording_replies(case: generated.Case) -> frozenset[str] | None:
    """The catalog texts a recording may get through the bot; None for one that would render."""
    if OK not in case.expect:
        if case.id == "length-15-min-wav-refused":
            return None  # the bot trims long recordings to the render limit: that one renders
        return frozenset(case.expect)
    if case.id.startswith("cut-audio-") and case.id.rsplit("-at-", 1)[1] in ("1", "3", "8", "16"):
        # At most 16 bytes of a recording: nothing to decode, or nothing that lasts.
        return frozenset({str(generated.AUDIO_UNREADABLE), str(generated.NO_SPEECH)})
    return None


def _hiss(seconds: float, rate: int) -> bytes:
    """Quiet noise for `seconds`: a recording far over the clip limit with nothing said in it."""
    noise = np.random.default_rng(11).standard_normal(round(seconds * rate)) * 0.01
    return wav_bytes(noise.astype(np.float32), rate)


#: Recordings of our own beyond the generator's: 15 and 30 minutes of hiss (14 MB WAVs, under 20 MB).
_LONG_RECORDINGS = [
    ("length-15-min-hiss", lambda: _hiss(900.0, 8000)),
    ("length-30-min-hiss-4-khz", lambda: _hiss(1800.0, 4000)),
]


def _texts() -> list[tuple[str, str, frozenset[str]]]:
    return [
        ("text-emoji-only", "😀🎉🔥🙈👍" * 3, frozenset({"NO_SPEECH"})),
        ("text-10000-emoji", "😀" * 10000, frozenset({"NO_SPEECH"})),
        ("text-zero-width-spaces", "\u200b\u200b\u200b", frozenset({"NO_SPEECH"})),
        ("text-only-whitespace", " \t \u3000 ", frozenset({"empty_text"})),
    ]


def build_cases() -> list[BotCase]:
    """Every generated case in both languages (recordings and texts: alternately)."""
    cases: list[BotCase] = []
    for case_id, make, replies, name, mime in _photo_cases():
        for lang in ("en", "zh"):
            cases.append(BotCase(f"{case_id}-{lang}", "photo-file", make, replies, lang, name, mime))
    recordings = [(c, r) for c in generated.CASES if c.load == "audio" and (r := _recording_replies(c))]
    for n, (case, replies) in enumerate(recordings):
        for k, lang in enumerate(("en", "zh")):
            send, name, mime = _RECORDING_WAYS[(n + k) % len(_RECORDING_WAYS)]
            cases.append(BotCase(f"{case.id}-as-{send}-{lang}", send, case.make, replies, lang, name, mime))
    for case_id, make in _LONG_RECORDINGS:
        for lang in ("en", "zh"):
            cases.append(
                BotCase(
                    f"{case_id}-{lang}",
                    "audio-document",
                    make,
                    frozenset({"NO_SPEECH"}),
                    lang,
                    "long.wav",
                    "audio/wav",
                )
            )
    for case_id, text, replies in _texts():
        for lang in ("en", "zh"):
            cases.append(BotCase(f"{case_id}-{lang}", "text", bytes, replies, lang, text=text))
    return cases


CASES = build_cases()


# --- the whole service's memory --------------------------------------------------------------------


def _tree_rss(root: int) -> dict[int, int]:
    """Resident bytes of a process and of each of its descendants, by pid, read from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in tree]
        tree.update(children)
        frontier += children
    rss = {}
    for pid in tree:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                rss[pid] = int(line.split()[1]) * 1024
    return rss


class PeakRss:
    """Samples the resident memory of this process tree every 0.2 s in a thread; keeps the peaks.

    `peak` is the largest sum over the tree at one instant; `per_process` each process's own peak.
    """

    def __init__(self) -> None:
        self.peak = 0
        self.per_process: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(0.2)

    def _sample(self) -> None:
        rss = _tree_rss(os.getpid())
        self.peak = max(self.peak, sum(rss.values()))
        for pid, size in rss.items():
            self.per_process[pid] = max(self.per_process.get(pid, 0), size)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()


# --- sending and reading answers -------------------------------------------------------------------


def _is_ack(text: str, lang: str) -> bool:
    """Whether a message is the queue acknowledgement (or the cut-text notice) rather than the answer."""
    return (
        text.startswith(t("queued", lang, position=0).split("0")[0])
        or text == t("queued_next", lang)
        or text.startswith(t("text_cut", lang, limit=0)[:6])
    )


def _answers(fake: FakeBotApi) -> dict[tuple[int, int], Call]:
    """The bot's first non-acknowledgement reply to each (chat, message), from the calls so far."""
    found: dict[tuple[int, int], Call] = {}
    for call in fake.calls:
        if not call.done or call.method not in ("sendMessage", "sendPhoto"):
            continue
        if not call.ok:
            continue
        reply_to = (call.result or {}).get("reply_to_message")
        chat_id = call.params.get("chat_id")
        if reply_to is None or not isinstance(chat_id, int):
            continue
        text = str(call.params.get("text", call.params.get("caption", "")))
        lang = "zh" if str(fake.user_info(chat_id).get("language_code", "")).startswith("zh") else "en"
        if call.method == "sendMessage" and _is_ack(text, lang):
            continue
        found.setdefault((chat_id, int(reply_to["message_id"])), call)
    return found


async def _wait_answers(fake: FakeBotApi, keys: set[tuple[int, int]]) -> dict[tuple[int, int], Call]:
    """Waits (by polling the recorded calls) until every message in `keys` got its answer."""
    deadline = time.monotonic() + ALL_REPLIES_TIMEOUT
    while True:
        found = _answers(fake)
        missing = keys - found.keys()
        if not missing:
            return found
        assert time.monotonic() < deadline, (
            f"{len(missing)} messages never answered, e.g. {sorted(missing)[:5]}"
        )
        await asyncio.sleep(0.2)


async def _queue_drained(rt: Runtime) -> None:
    deadline = time.monotonic() + RENDER_TIMEOUT
    while True:
        figures = await rt.queue.stats()
        if figures[str(Status.QUEUED)] == 0 and figures[str(Status.RUNNING)] == 0:
            return
        assert time.monotonic() < deadline, f"jobs still waiting or running: {figures}"
        await asyncio.sleep(0.1)


def _lang_code(lang: str) -> str:
    return "zh-hans" if lang == "zh" else "en"


def test_the_suite_holds_at_least_500_generated_cases_in_both_languages() -> None:
    assert len(CASES) >= 500
    assert len({case.id for case in CASES}) == len(CASES)
    assert {case.lang for case in CASES} == {"en", "zh"}


@pytest.mark.timeout(900)
async def test_every_hostile_input_gets_a_specific_reply_and_the_service_survives(
    fake: FakeBotApi, make_bot: BotFactory
) -> None:
    started = time.monotonic()
    with PeakRss() as rss:
        limits = {"daily_quota": 1000, "max_queued_per_user": RECORDINGS_PER_USER, "max_queue": 1000}
        rt = await make_bot(**limits)
        sent: dict[tuple[int, int], BotCase] = {}
        next_user = iter(range(500_000, 600_000))

        # 1. Photos and texts that need no photo first: each from a user of their own, all at once.
        firsts = [c for c in CASES if c.send == "photo-file"]
        for case in firsts:
            user = fake.user(next(next_user), "Mallory", _lang_code(case.lang))
            message = case.send_by(fake, user)
            sent[(user["id"], message["message_id"])] = case

        # 2. Recordings and texts follow a good photo: a few per user, users batched by language.
        later = [c for c in CASES if c.send != "photo-file"]
        batches: list[tuple[dict[str, Any], list[BotCase]]] = []
        for lang in ("en", "zh"):
            mine = [c for c in later if c.lang == lang]
            for start in range(0, len(mine), RECORDINGS_PER_USER):
                user = fake.user(next(next_user), "Mallory", _lang_code(lang))
                batches.append((user, mine[start : start + RECORDINGS_PER_USER]))
        photos = {}
        for user, _ in batches:
            photo = fake.send_photo(user, None, astronaut_portrait())
            photos[(user["id"], photo["message_id"])] = user
        ready = await _wait_answers(fake, set(photos))
        for key, user in photos.items():
            lang = "zh" if user["language_code"].startswith("zh") else "en"
            assert ready[key].params["text"] == t("one_face", lang)
        for user, batch in batches:
            for case in batch:
                message = case.send_by(fake, user)
                sent[(user["id"], message["message_id"])] = case

        # 3. Every message answered with a catalog text of its own, in the sender's language.
        answers = await _wait_answers(fake, set(sent))
        fill = {
            "count": 2,
            "limit": rt.settings.max_text_chars,
            "seconds": round(rt.settings.max_clip_seconds),
        }
        wrong = []
        for key, case in sent.items():
            call = answers[key]
            text = str(call.params.get("text", call.params.get("caption", "")))
            allowed = [t(k, case.lang, **fill) for k in case.replies]
            if not any(text.startswith(expected) for expected in allowed):
                wrong.append((case.id, sorted(case.replies), text[:80]))
        assert not wrong, f"{len(wrong)} of {len(sent)} cases got another answer: {wrong[:10]}"
        await _queue_drained(rt)
        hostile_seconds = time.monotonic() - started

        # 4. The same render pool still makes a video.
        alice = fake.user(1001, "Alice", "en")
        photo = fake.send_photo(alice, None, astronaut_portrait())
        assert (await _wait_answers(fake, {(1001, photo["message_id"])}))[(1001, photo["message_id"])].params[
            "text"
        ] == t("one_face", "en")
        note = fake.send_voice(alice, None, voice_note(), duration=3)
        video = await fake.wait_for(
            "sendVideo", lambda c: c.ok and c.params.get("chat_id") == 1001, timeout=RENDER_TIMEOUT
        )
        assert video.result["reply_to_message"]["message_id"] == note["message_id"]
        await _queue_drained(rt)
    print(
        f"\nhostile suite: {len(sent)} cases answered in {hostile_seconds:.1f} s; "
        f"peak RSS of the service {rss.peak / 2**20:.0f} MiB "
        f"(per process: {', '.join(f'{size / 2**20:.0f}' for size in rss.per_process.values())} MiB)"
    )

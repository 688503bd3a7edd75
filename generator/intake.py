"""Stage 1: turns the user's files into arrays — a photo into RGB pixels, a recording into mono samples.

Everything a user can send is checked here, before any slow work. The container is first sniffed
from the file's bytes against an allowlist (`generator.sniff`) and the decoder for that one format
is forced: FFmpeg never probes (an HLS playlist or concat script would make it read other local
files), may open no other file or URL, and Pillow never tries its other plugins (EPS would run
Ghostscript). Images (JPEG, PNG, GIF, WebP, BMP, TIFF, HEIC/HEIF, AVIF) are sized from their header
before decoding; recordings (OGG/Opus voice notes, WebM, MP4/M4A/MOV/3GP, MP3, AAC, WAV, FLAC,
AMR, CAF, AIFF, and the sound track of a video) are decoded by FFmpeg through PyAV.

Raises `GeneratorError` with IMAGE_UNREADABLE, IMAGE_TOO_LARGE, AUDIO_UNREADABLE, AUDIO_TOO_LONG,
and NO_SPEECH for a whole recording of 0 s.
"""

from __future__ import annotations

import io
import struct
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, cast

import av
import numpy as np
import numpy.typing as npt
from PIL import Image, UnidentifiedImageError

from generator.sniff import sniff_audio, sniff_image
from generator.types import ErrorCode, GeneratorError, Source

try:  # HEIC (iPhone photos sent as files) only where pillow-heif happens to be installed
    from pillow_heif import register_heif_opener

    register_heif_opener()
except ImportError:  # pragma: no cover - depends on the environment
    pass

#: A decoded photo: (height, width, 3) RGB.
Pixels = npt.NDArray[np.uint8]
#: A decoded recording: mono samples in [-1, 1].
Samples = npt.NDArray[np.float32]

#: Sample rate of every audio array inside the generator (speech analysis needs no more).
SAMPLE_RATE = 16000
#: Default pixel-count limit: a 40-megapixel phone photo passes, a decompression bomb does not.
MAX_PIXELS = 40_000_000
#: Most memory one photo may take while it is decoded and turned into 8-bit RGB, decided from the
#: header (size, mode, bit depth) before the decoder runs: 40 MP of RGB(A), 32 MP of a palette image.
MAX_DECODE_BYTES = 160_000_000
#: Longest side of a decoded photo; larger ones are scaled down by a whole factor (JPEGs while
#: decoding), to between 2048 and 4096 pixels. The video is at most 1280 pixels wide, and faces
#: are found on such a photo as well as on a larger one.
MAX_DECODED_SIDE = 4096
#: Longest recording decoded when the caller sets no limit (the CLI, evaluations): 10 minutes of
#: 16 kHz float samples is 38 MB; a 20 MB Opus file could otherwise hold hours.
MAX_DECODED_SECONDS = 600.0
#: Headers estimate (an MP3 without a Xing frame is timed from its bitrate): refuse from the header
#: only when it is clearly over the limit; the decoded length decides the rest.
_HEADER_SLACK = 1.1
#: Transparent pixels become this colour (a sticker on white, as Telegram shows it).
_ALPHA_BACKGROUND = (255, 255, 255)
#: Peak bytes per source pixel from decoding to an 8-bit image of the same size: Pillow's own
#: storage (4 bytes for every 3- and 4-channel mode) plus the full-size copy a conversion needs
#: before the photo can be scaled down (palette → RGBA, 16/32-bit and float → 8-bit, 1-bit → gray).
_BYTES_PER_PIXEL = {
    "1": 2,
    "I": 5,
    "F": 5,
    "L": 1,
    "P": 5,
    "PA": 8,
    "I;16": 3,
    "I;16L": 3,
    "I;16B": 3,
    "I;16N": 3,
}
_DEFAULT_BYTES_PER_PIXEL = 4
#: EXIF orientation → the transpose that shows the photo upright (as ImageOps.exif_transpose).
_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

# Pillow's own bomb check (warn above this, refuse above twice this) agrees with ours, so a
# caller elsewhere in the process that opens images gets the same limit.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS


def load_image(source: Source, max_pixels: int = MAX_PIXELS, max_side: int = MAX_DECODED_SIDE) -> Pixels:
    """Decodes a photo into RGB uint8 pixels (H, W, 3), upright as the phone showed it.

    EXIF orientation is applied, transparency is flattened on white, grayscale, palette, CMYK and
    16-bit or float images become plain 8-bit RGB. Animated images give their first frame. A
    photo with a side longer than `max_side` comes back scaled down by a whole factor, aspect
    kept, its longest side between half of `max_side` and `max_side`.
    """
    with _open_source(source, ErrorCode.IMAGE_UNREADABLE) as file:
        kind = sniff_image(file)
        if kind is None:
            raise GeneratorError(
                ErrorCode.IMAGE_UNREADABLE,
                "the file is not a photo format we accept (JPEG, PNG, GIF, WebP, BMP, TIFF, HEIC, AVIF)",
            )
        with warnings.catch_warnings():
            # Our own limits, from the header, decide, so Pillow's bomb warning is noise; so are its
            # warnings about damaged metadata (a corrupt TIFF directory, a malformed MPO): a file
            # too damaged to decode fails in the decoder, with IMAGE_UNREADABLE.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            warnings.simplefilter("ignore", UserWarning)
            rgb = _decode_image(file, kind, max_pixels, max_side)
    return np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8))


def _decode_image(file: BinaryIO, kind: str, max_pixels: int, max_side: int) -> Image.Image:
    try:
        # Only the plugin the bytes were sniffed as: Pillow never probes its other plugins
        # (EPS would run Ghostscript), whatever the file is called. This reads the header only.
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
        _check_header(image, max_pixels, max_side)
        try:
            orientation = _orientation(image)
            image.load()
            small = _shrink(_to_8_bit(image), max_side)
            if small is not image:
                image.close()  # frees the full-size pixels now, not after the RGB copy is made
            upright = small.transpose(_ORIENTATION[orientation]) if orientation in _ORIENTATION else small
            return _to_rgb(upright)
        except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as exc:
            # Truncated and corrupt files fail here, once the decoder reads past the header.
            raise GeneratorError(ErrorCode.IMAGE_UNREADABLE, f"the image is damaged: {exc}") from exc


def _orientation(image: Image.Image) -> int | None:
    """The EXIF orientation; a damaged EXIF block loses only that, not the photo."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow warns about corrupt EXIF, then carries on
        try:
            value = image.getexif().get(0x0112)
        except (OSError, ValueError, SyntaxError, EOFError, struct.error):
            return None
    return value if isinstance(value, int) else None


def _check_header(image: Image.Image, max_pixels: int, max_side: int) -> None:
    """Refuses, from the header alone, a photo whose pixels or decoding memory are over budget.

    A JPEG larger than `max_side` is set to decode at a reduced scale first (libjpeg's DCT
    scaling), so its budget is that of the smaller image it will decode to.
    """
    width, height = image.size
    if width < 1 or height < 1:
        raise GeneratorError(ErrorCode.IMAGE_UNREADABLE, "the image is empty")
    if width * height > max_pixels:
        raise GeneratorError(
            ErrorCode.IMAGE_TOO_LARGE,
            f"the photo has {width}x{height} pixels, more than {max_pixels}",
            width=width,
            height=height,
            limit=max_pixels,
        )
    if max(width, height) > max_side and image.format in ("JPEG", "MPO"):
        # Ask for half the target: draft picks the smallest scale still at least that large, so
        # the decoded photo lands between max_side/2 and max_side (or stays at full size).
        image.draft(None, _fit(width, height, max_side // 2))
    decoded = image.width * image.height * _BYTES_PER_PIXEL.get(image.mode, _DEFAULT_BYTES_PER_PIXEL)
    if decoded > MAX_DECODE_BYTES:
        raise GeneratorError(
            ErrorCode.IMAGE_TOO_LARGE,
            f"the {image.mode} photo of {width}x{height} pixels needs {decoded // 1_000_000} MB to decode",
            width=width,
            height=height,
            mode=image.mode,
            limit=max_pixels,
        )


def load_audio(
    source: Source,
    sample_rate: int = SAMPLE_RATE,
    max_seconds: float | None = None,
    trim: bool = True,
) -> tuple[Samples, bool]:
    """Decodes a recording into float32 mono samples in [-1, 1] at `sample_rate`.

    Returns the samples and whether they were cut to `max_seconds`. With `trim=False`, audio longer
    than `max_seconds` raises AUDIO_TOO_LONG instead — from the container's header when it says
    so, before anything is decoded. Without `max_seconds`, more than MAX_DECODED_SECONDS is
    AUDIO_TOO_LONG. Damaged packets are skipped, as FFmpeg's own tools do; a file with no
    decodable sound at all is AUDIO_UNREADABLE, a whole file that holds 0 s of sound NO_SPEECH.
    """
    if max_seconds is None:
        max_seconds, trim = MAX_DECODED_SECONDS, False
    with _open_source(source, ErrorCode.AUDIO_UNREADABLE) as file:
        kind = sniff_audio(file)
        if kind is None:
            raise GeneratorError(
                ErrorCode.AUDIO_UNREADABLE,
                "the file is not a recording format we accept "
                "(OGG, WebM, MP4/M4A, MP3, AAC, WAV, FLAC, AMR, CAF, AIFF)",
            )
        chunks, decoded, too_long, damaged = _decode_audio(file, kind, sample_rate, max_seconds, trim)
    limit = round(max_seconds * sample_rate)
    if decoded == 0:
        if damaged:
            raise GeneratorError(ErrorCode.AUDIO_UNREADABLE, "the recording holds no sound we can decode")
        raise GeneratorError(ErrorCode.NO_SPEECH, "the recording is empty (0 s)", seconds=0.0)
    samples = np.concatenate(chunks).astype(np.float32, copy=False)
    trimmed = False
    if too_long or samples.size > limit:
        if not trim:
            raise _too_long(max_seconds)
        samples = samples[:limit]
        trimmed = True
    np.clip(samples, -1.0, 1.0, out=samples)
    return samples, trimmed


def _decode_audio(
    file: BinaryIO, kind: str, sample_rate: int, max_seconds: float, trim: bool
) -> tuple[list[Samples], int, bool, bool]:
    """Decodes the first audio stream with the sniffed demuxer; stops once past `max_seconds`.

    Returns the chunks, their total length, whether the recording went on past the limit, and
    whether any of it was damaged.
    """
    limit = round(max_seconds * sample_rate)
    chunks: list[Samples] = []
    decoded = 0
    too_long = False
    damaged = False
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
        raise GeneratorError(
            ErrorCode.AUDIO_UNREADABLE, f"the file is not a {kind} recording we can read"
        ) from exc
    with container:
        if not container.streams.audio:
            raise GeneratorError(ErrorCode.AUDIO_UNREADABLE, "the file has no sound track")
        stream = container.streams.audio[0]
        claimed = _header_seconds(container, stream)
        if not trim and claimed > max_seconds * _HEADER_SLACK + 1.0:
            # The header says it is far too long: refused before a single packet is decoded.
            raise _too_long(max_seconds)
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
        try:
            for packet in container.demux(stream):
                frames = _decode_tolerant(packet)
                damaged = damaged or frames is None
                for frame in frames or ():
                    for out in resampler.resample(frame):
                        chunk = out.to_ndarray().reshape(-1).astype(np.float32, copy=False)  # "flt": no copy
                        chunks.append(chunk)
                        decoded += chunk.size
                if decoded > limit:
                    # Stop early: a one-hour podcast costs no more than the limit to reject or trim.
                    too_long = True
                    break
            for out in resampler.resample(None):
                chunk = out.to_ndarray().reshape(-1).astype(np.float32, copy=False)  # "flt": no copy
                chunks.append(chunk)
                decoded += chunk.size
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            damaged = True
            if not chunks:
                raise GeneratorError(ErrorCode.AUDIO_UNREADABLE, f"the recording is damaged: {exc}") from exc
    # The header promised sound and none came: the file was cut short, not recorded empty.
    damaged = damaged or (decoded == 0 and claimed > 0.05)
    return chunks, decoded, too_long, damaged


def _header_seconds(container: av.container.InputContainer, stream: av.AudioStream) -> float:
    """The duration the container's header claims (0 when it claims none)."""
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return 0.0


def _too_long(max_seconds: float) -> GeneratorError:
    return GeneratorError(
        ErrorCode.AUDIO_TOO_LONG,
        f"the recording is longer than {max_seconds:g} s",
        limit_seconds=max_seconds,
    )


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


def _decode_tolerant(packet: av.Packet[av.AudioStream]) -> list[av.AudioFrame] | None:
    """Decodes one packet; a damaged one gives None instead of ending the whole recording."""
    try:
        return [frame for frame in packet.decode() if isinstance(frame, av.AudioFrame)]
    except av.error.InvalidDataError:
        return None


def _fit(width: int, height: int, max_side: int) -> tuple[int, int]:
    """The size with the longest side at most `max_side`, aspect kept (never enlarged)."""
    scale = min(1.0, max_side / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _to_8_bit(image: Image.Image) -> Image.Image:
    """16-bit, 32-bit, float, 1-bit and palette images as 8-bit ones that can be scaled smoothly."""
    mode = image.mode
    if mode.startswith("I;16") or mode in ("I", "F"):
        # Scaled, not clipped, so a 16-bit photo is not all white; 8-bit data stored in more bits
        # (every value below 256) is kept as is; float images are stretched to their range.
        # One band, so the extrema are (low, high), not a pair per band.
        low, high = (float(v) for v in cast("tuple[float, float]", image.getextrema()))
        if mode == "F":
            offset, scale = low, 255.0 / max(high - low, 1e-9)
        else:
            offset, scale = 0.0, (1.0 if high <= 255 else 255.0 / (65535.0 if high <= 65535 else high))
        return _map_to_8_bit(image, offset, scale)
    if mode == "1":
        return image.convert("L")
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in image.info
        return image.convert("RGBA" if has_alpha else "RGB")
    return image


def _map_to_8_bit(image: Image.Image, offset: float, scale: float) -> Image.Image:
    """(pixel - offset) * scale as 8-bit gray, a band of rows at a time.

    Band by band, so a 16-bit bomb never has a full-size 32-bit or float copy next to it: the
    peak is the decoded image plus its 8-bit result.
    """
    width, height = image.size
    out = np.empty((height, width), np.uint8)
    rows = max(1, 4_000_000 // width)
    for top in range(0, height, rows):
        band = np.array(image.crop((0, top, width, min(height, top + rows))), dtype=np.float32)
        np.clip((band - offset) * scale + 0.5, 0, 255, out=band)
        out[top : top + band.shape[0]] = band
    return Image.fromarray(out)


def _shrink(image: Image.Image, max_side: int) -> Image.Image:
    """The image reduced by the smallest whole factor that brings its longest side to `max_side`.

    A whole factor averages square blocks in one pass, so no full-width intermediate image is
    made (a 40 MP PNG would need another 100 MB for a two-pass resize); the result lies between
    half of `max_side` and `max_side`. Pillow premultiplies alpha itself, so edges do not bleed.
    """
    factor = -(-max(image.size) // max_side)
    if factor <= 1:
        return image
    try:
        return image.reduce(factor)
    except ValueError:  # a mode reduce() does not take: the two-pass area average
        return image.resize(_fit(image.width, image.height, max_side), Image.Resampling.BOX)


def _to_rgb(image: Image.Image) -> Image.Image:
    """Any 8-bit Pillow mode to RGB, flattening transparency on white."""
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (*_ALPHA_BACKGROUND, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image if image.mode == "RGB" else image.convert("RGB")

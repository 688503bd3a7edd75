"""Tells a file's container from its first bytes, against an allowlist of what Telegram users send.

Why this exists: FFmpeg and Pillow both pick a decoder by probing the content, and some of the
decoders they can pick read *other* files — an HLS playlist (`#EXTM3U`) or an `ffconcat` script
makes FFmpeg open the local paths it names, whatever the upload is called; Pillow's EPS plugin runs
Ghostscript. So the container is decided here, from magic numbers only, and the decoders are then
told which one to use: a file that is not one of these is refused before any decoder sees it.

Audio (each maps to the FFmpeg demuxer that is forced): Ogg, WebM/Matroska, MP4/M4A/MOV/3GP (ISO
base media, `ftyp`), MP3 (an ID3 tag or an MPEG audio frame), AAC in ADTS, WAV (RIFF or RF64),
FLAC, AMR, CAF and AIFF. An ID3 tag is skipped and what follows it must be MP3, AAC or FLAC.

Images (each maps to the Pillow plugin that is forced): JPEG, PNG (APNG too), GIF, WebP, BMP, TIFF,
HEIC/HEIF and AVIF. Everything else — SVG, EPS, PDF, PSD, ICO, the many scientific formats Pillow
can read — is refused.
"""

from __future__ import annotations

from typing import BinaryIO

#: Bytes read to recognise a container (after an ID3 tag, when there is one).
_HEAD_BYTES = 64
#: An ID3 tag larger than this (cover art included) is not what a voice note carries.
_MAX_ID3_BYTES = 16 * 1024 * 1024

#: `ftyp` brands of HEIF still images (iPhone photos are `heic`); AVIF is `avif`/`avis`.
_HEIF_BRANDS = frozenset(
    {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1"}
)
_AVIF_BRANDS = frozenset({b"avif", b"avis"})


def sniff_audio(file: BinaryIO) -> str | None:
    """The FFmpeg demuxer for this recording, or None when its container is not on the allowlist.

    Reads from the start of `file` and leaves it at the start again.
    """
    file.seek(0)
    head = file.read(_HEAD_BYTES)
    try:
        if head.startswith(b"ID3") and len(head) >= 10:
            # What follows the tag decides: an MP3 (or AAC, FLAC) stream, never a playlist in disguise.
            flags, size = head[5], _syncsafe(head[6:10])
            if size is None or size > _MAX_ID3_BYTES:
                return None
            file.seek(10 + size + (10 if flags & 0x10 else 0))
            after = file.read(_HEAD_BYTES)
            if after.startswith(b"fLaC"):
                return "flac"
            return _mpeg_audio(after)
        return _audio_container(head)
    finally:
        file.seek(0)


def sniff_image(file: BinaryIO) -> str | None:
    """The Pillow plugin for this picture, or None when its format is not on the allowlist.

    Reads from the start of `file` and leaves it at the start again.
    """
    file.seek(0)
    head = file.read(_HEAD_BYTES)
    file.seek(0)
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head[:2] == b"BM" and len(head) >= 26:
        return "BMP"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "TIFF"
    if head[4:8] == b"ftyp":
        brands = {head[i : i + 4] for i in range(8, min(len(head), _box_size(head)), 4)}
        if brands & _AVIF_BRANDS:
            return "AVIF"
        if brands & _HEIF_BRANDS:
            return "HEIF"
    return None


def _audio_container(head: bytes) -> str | None:
    if head.startswith(b"OggS"):
        return "ogg"
    if head.startswith(b"\x1a\x45\xdf\xa3"):  # EBML: Matroska and WebM
        return "matroska"
    if head[4:8] == b"ftyp":  # ISO base media: MP4, M4A, MOV, 3GP
        return "mov"
    if head[:4] in (b"RIFF", b"RF64") and head[8:12] == b"WAVE":
        return "wav"
    if head.startswith(b"fLaC"):
        return "flac"
    if head.startswith(b"#!AMR"):  # narrow- and wide-band (#!AMR-WB)
        return "amr"
    if head.startswith(b"caff"):
        return "caf"
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "aiff"
    return _mpeg_audio(head)


def _mpeg_audio(head: bytes) -> str | None:
    """`mp3` for an MPEG audio frame header, `aac` for an ADTS one, else None."""
    if len(head) < 4 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return None
    version, layer = (head[1] >> 3) & 0b11, (head[1] >> 1) & 0b11
    if layer == 0:
        # ADTS: 12 sync bits, then MPEG-4/2 id and layer 00; the sampling index must be a real one.
        return "aac" if head[1] & 0xF6 == 0xF0 and (head[2] >> 2) & 0xF < 13 else None
    bitrate, rate = head[2] >> 4, (head[2] >> 2) & 0b11
    if version == 1 or bitrate == 0xF or rate == 0b11:  # reserved values: not a frame header
        return None
    return "mp3"


def _syncsafe(raw: bytes) -> int | None:
    """An ID3 size: four bytes of seven bits each; None when a high bit is set (not a tag)."""
    if any(b & 0x80 for b in raw):
        return None
    return (raw[0] << 21) | (raw[1] << 14) | (raw[2] << 7) | raw[3]


def _box_size(head: bytes) -> int:
    return int.from_bytes(head[:4], "big")

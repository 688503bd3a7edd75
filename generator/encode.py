"""Stage 6: streams rendered frames and the speech into an MP4 that Telegram plays inline.

H.264 (libx264, yuv420p, even sides) and AAC in an MP4 with the index at the front (`+faststart`),
so a phone starts playing before the download ends. Sound and picture share one clock: the audio is
padded or cut to exactly the frames written, and is encoded at 48 kHz so the AAC encoder's priming
(1024 samples, which the MP4 edit list hides from players that read it) is 21 ms — under one frame
even for a player that ignores edit lists. Frames are encoded as they arrive; the clip is never
held in memory.

On a machine whose GPU renders (the torch engine on CUDA), the picture is encoded by NVENC
(`h264_nvenc`) when PyAV's FFmpeg has it and it opens there; everywhere else, and whenever it does
not open, by libx264 with the settings below.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import io
import struct
from fractions import Fraction
from math import gcd
from pathlib import Path
from types import TracebackType
from typing import Any, NotRequired, TypedDict

import av
import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image
from scipy.signal import resample_poly

#: Sample rate of the AAC track: 48 kHz is what phones record and play natively.
AUDIO_RATE = 48000
#: AAC encodes audio in frames of this many samples.
_AAC_FRAME = 1024
# FFmpeg's enum values (AVColorSpace, AVColorRange, AVColorPrimaries, AVColorTransferCharacteristic).
_COLORSPACE_BT601 = 6  # SMPTE 170M: the matrix OpenCV's RGB→I420 uses
_RANGE_LIMITED = 1
_PRIMARIES_BT709 = 1
_TRANSFER_BT709 = 1
#: x264 settings. Encoding shares the render's budget (a 15 s clip at 720p in 7.5 s on two cores,
#: 375 frames), so: the fastest preset, plus the tools that buy back most of what it drops,
#: cheaply — CABAC, the deblocking filter, B-frames, adaptive quantisation (against banding on
#: skin and smooth backdrops), and macroblock-tree rate control over a short lookahead, which
#: keeps the still parts of the picture (most of it) at key-frame quality instead of slowly
#: smearing them, and halves the file. CPU for 375 frames at 720p on the 2-core box:
#: veryfast 6.9 s, superfast 5.8 s (1.9 MB), this 4.0 s (1.0 MB), bare ultrafast 3.3 s (7 MB).
PRESET = "ultrafast"
X264_PARAMS = "cabac=1:deblock=0,0:bframes=3:b-adapt=0:weightp=1:aq-mode=1:rc-lookahead=10:mbtree=1"
#: Constant quality: 21 keeps skin, hair and teeth clean at 720p (~1.2 Mbit/s).
CRF = 21
#: NVENC settings: constant quality about CRF 21's (cq counts on the same QP scale), the p4
#: preset (NVIDIA's default balance), high profile, B-frames as x264's.
NVENC_OPTIONS = {"preset": "p4", "rc": "vbr", "cq": "23", "b": "0", "profile": "high", "bf": "3"}


@functools.cache
def nvenc_available() -> bool:
    """Whether PyAV's FFmpeg has h264_nvenc and it opens here (an NVIDIA GPU, its driver, a free session).

    PyAV's wheels list the codec on every machine; only opening it tells whether it works.
    """
    if "h264_nvenc" not in av.codecs_available:
        return False
    try:
        context = av.codec.CodecContext.create("h264_nvenc", "w")
        context.width, context.height, context.pix_fmt = 256, 256, "yuv420p"
        context.time_base = Fraction(1, 25)
        context.open()
    except (av.error.FFmpegError, OSError, ValueError):
        return False
    return True


class _CpuName(ctypes.Structure):
    """One entry of x264's exported `x264_cpu_names` table: a flag set's name and its bits."""

    _fields_ = [("name", ctypes.c_char_p), ("flags", ctypes.c_uint32)]


@functools.cache
def x264_cpu_flags() -> int | None:
    """x264's own CPU detection without AVX-512, or None where x264 may pick its own (no AVX-512).

    With macroblock-tree rate control over B-frames (X264_PARAMS), the AVX-512 code of the libx264
    that PyAV ships (core 165) makes output that depends on what the process did before: the same
    frames encoded twice in one process give different streams (pixels off by up to ~50), while
    without it x264 gives one stream every run (at 192 px the very one its plain C code gives).
    A render is only reproducible for its seed with AVX-512 masked off. No measurable cost: 375
    frames at 720p encode in 3.4 s masked vs 3.5 s not (medians of 3, 2-core box under load).
    Every other flag is x264's own detection, read from the library the process has loaded.
    """
    path = _loaded_x264() or ctypes.util.find_library("x264")
    if path is None:
        return None
    try:
        lib = ctypes.CDLL(path)
        lib.x264_cpu_detect.restype = ctypes.c_uint32
        detected = int(lib.x264_cpu_detect())
        table = ctypes.cast(
            ctypes.addressof(_CpuName.in_dll(lib, "x264_cpu_names")), ctypes.POINTER(_CpuName)
        )
        names: dict[bytes, int] = {}
        for i in range(256):  # the table ends with an empty name
            entry = table[i]
            if not entry.name:
                break
            names[entry.name] = int(entry.flags)
    except (OSError, AttributeError, ValueError):
        return None
    if b"AVX512" not in names or b"AVX2" not in names:
        return None  # an x264 without AVX-512 code, or not an x86 build
    avx512 = names[b"AVX512"] & ~names[b"AVX2"]
    return detected & ~avx512 if detected & avx512 else None


def _loaded_x264() -> str | None:
    """The libx264 this process has loaded (libavcodec links it), from /proc/self/maps on Linux."""
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            for line in maps:
                fields = line.split()
                if len(fields) >= 6 and "libx264" in Path(fields[-1]).name:
                    return fields[-1]
    except OSError:
        return None
    return None


def x264_params() -> str:
    """X264_PARAMS, with the CPU flags that keep the stream bit-exact for the same frames."""
    flags = x264_cpu_flags()
    return X264_PARAMS if flags is None else f"{X264_PARAMS}:asm={flags}"


class VideoEncoder:
    """Writes frames one at a time into an MP4 whose sound track is `audio`, aligned to the frames.

    Use as a context manager; the file is complete when the block exits without an error (on an
    error the partial file is removed). `audio` is mono float samples at `sample_rate`; at close it
    is padded with silence or cut to `frames / fps` seconds, so the clip's duration equals the
    frames' within one AAC frame (21 ms).
    """

    def __init__(
        self,
        path: Path | str,
        width: int,
        height: int,
        fps: int,
        audio: NDArray[np.floating[Any]],
        sample_rate: int,
        threads: int = 2,
        preset: str = PRESET,
        crf: int = CRF,
        hardware: bool = False,
    ) -> None:
        self.path = Path(path)
        # H.264 in yuv420p needs even sides; an odd row or column is cropped off the frame.
        self.width = width - width % 2
        self.height = height - height % 2
        if self.width < 2 or self.height < 2:
            raise ValueError(f"frame size {width}x{height} is too small to encode")
        self.fps = fps
        self.frames = 0
        self._audio = _resample(np.asarray(audio, dtype=np.float32).reshape(-1), sample_rate, AUDIO_RATE)
        self._audio_sent = 0  # samples handed to the AAC encoder so far
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._container = av.open(str(self.path), mode="w", format="mp4", options={"movflags": "+faststart"})
        #: The H.264 encoder in use: h264_nvenc when `hardware` asks for it and it opens, else libx264.
        self.codec = "h264_nvenc" if hardware and nvenc_available() else "libx264"
        if self.codec == "h264_nvenc":
            video = self._container.add_stream("h264_nvenc", rate=fps, options=NVENC_OPTIONS)
        else:
            video = self._container.add_stream(
                "libx264",
                rate=fps,
                options={"preset": preset, "crf": str(crf), "profile": "high", "x264-params": x264_params()},
            )
        video.width = self.width
        video.height = self.height
        video.pix_fmt = "yuv420p"
        video.codec_context.time_base = Fraction(1, fps)
        video.codec_context.thread_count = max(1, threads)
        # Tagged, so players do not guess: HD video without tags is often decoded as BT.709, which
        # would tint skin. Photos are sRGB, whose primaries and transfer are BT.709's.
        video.codec_context.colorspace = _COLORSPACE_BT601
        video.codec_context.color_range = _RANGE_LIMITED
        video.codec_context.color_primaries = _PRIMARIES_BT709
        video.codec_context.color_trc = _TRANSFER_BT709
        self._video = video
        sound = self._container.add_stream("aac", rate=AUDIO_RATE)
        sound.layout = "mono"
        sound.bit_rate = 96_000
        self._sound = sound
        self._closed = False

    def write(self, frame: NDArray[np.uint8], reference: bool = False) -> None:
        """Encodes one RGB uint8 frame (H, W, 3) and the sound that plays during it.

        `reference`: a frame that differs from both its neighbours for an instant (the lips meeting
        for one frame) is coded as a P-frame, which keeps its own picture; as a B-frame, x264
        would code it mostly as a blend of the open-mouthed frames either side, and the closure
        would not show. (h264_nvenc ignores the flag and picks its own frame types.)
        """
        if frame.shape[0] < self.height or frame.shape[1] < self.width or frame.shape[2] != 3:
            raise ValueError(f"frame of shape {frame.shape} does not fit {self.width}x{self.height}")
        rgb = np.ascontiguousarray(frame[: self.height, : self.width], dtype=np.uint8)
        # OpenCV's conversion is ~4x cheaper than swscale's; it is BT.601 limited range, as the
        # stream's colour tags say.
        yuv = np.asarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420), dtype=np.uint8)
        video_frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
        video_frame.colorspace = _COLORSPACE_BT601
        video_frame.color_range = _RANGE_LIMITED
        video_frame.pts = self.frames
        video_frame.time_base = Fraction(1, self.fps)
        if reference:
            video_frame.pict_type = av.video.frame.PictureType.P
        self._container.mux(self._video.encode(video_frame))
        self.frames += 1
        # Keep the sound interleaved with the picture: everything up to the end of this frame.
        self._send_audio(self._samples_for(self.frames), final=False)

    def close(self) -> None:
        """Pads or cuts the sound to the frames written, flushes both encoders and finishes the file."""
        if self._closed:
            return
        self._closed = True
        self._send_audio(self._samples_for(self.frames), final=True)
        self._container.mux(self._video.encode(None))
        self._container.mux(self._sound.encode(None))
        self._container.close()

    def abort(self) -> None:
        """Stops without finishing the file and removes what was written."""
        if not self._closed:
            self._closed = True
            with contextlib.suppress(av.error.FFmpegError, OSError):
                self._container.close()
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> VideoEncoder:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def _samples_for(self, frames: int) -> int:
        """Audio samples that play during the first `frames` frames."""
        return frames * AUDIO_RATE // self.fps

    def _send_audio(self, until: int, final: bool) -> None:
        """Encodes the sound up to sample `until` (silence beyond the recording's end)."""
        # Only whole AAC frames mid-stream, so every encoded packet is full; the tail goes at close.
        if not final:
            until -= (until - self._audio_sent) % _AAC_FRAME
        if until <= self._audio_sent:
            return
        chunk = np.zeros(until - self._audio_sent, dtype=np.float32)
        have = self._audio[self._audio_sent : until]
        chunk[: have.size] = have
        audio_frame = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format="flt", layout="mono")
        audio_frame.sample_rate = AUDIO_RATE
        audio_frame.pts = self._audio_sent
        audio_frame.time_base = Fraction(1, AUDIO_RATE)
        self._container.mux(self._sound.encode(audio_frame))
        self._audio_sent = until


def make_thumbnail(frame: NDArray[np.uint8], max_side: int = 320) -> bytes:
    """A JPEG preview of a frame, longest side at most `max_side`, for Telegram's sendVideo."""
    image = Image.fromarray(np.asarray(frame, dtype=np.uint8))
    image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85, optimize=True)
    return out.getvalue()


class VideoInfo(TypedDict):
    """What `probe` reads from a video file; durations are seconds."""

    width: int
    height: int
    fps: float
    frames: int
    video_codec: str | None
    pix_fmt: str | None
    audio_codec: str | None
    sample_rate: int
    has_audio: bool
    has_video: bool
    duration: float
    faststart: bool  # the index comes before the media data
    colorspace: NotRequired[int]  # FFmpeg's AVColorSpace; 6 = BT.601 (only with a video stream)
    video_duration: NotRequired[float | None]
    audio_duration: NotRequired[float | None]


def probe(path: Path | str) -> VideoInfo:
    """What a video file holds: size, duration, frame rate, codecs, whether it starts with its index."""
    with av.open(str(path)) as container:
        info: VideoInfo = {
            "width": 0,
            "height": 0,
            "fps": 0.0,
            "frames": 0,
            "video_codec": None,
            "pix_fmt": None,
            "audio_codec": None,
            "sample_rate": 0,
            "has_audio": bool(container.streams.audio),
            "has_video": bool(container.streams.video),
            "duration": (container.duration or 0) / 1_000_000,
            "faststart": False,  # filled in below
        }
        if container.streams.video:
            video = container.streams.video[0]
            info["width"] = video.codec_context.width
            info["height"] = video.codec_context.height
            info["fps"] = float(video.average_rate or video.guessed_rate or 0)
            info["frames"] = video.frames
            info["video_codec"] = video.codec_context.name
            info["pix_fmt"] = video.codec_context.pix_fmt
            info["colorspace"] = int(video.codec_context.colorspace)
            info["video_duration"] = _seconds(video.duration, video.time_base)
        if container.streams.audio:
            sound = container.streams.audio[0]
            info["audio_codec"] = sound.codec_context.name
            info["sample_rate"] = sound.codec_context.sample_rate
            info["audio_duration"] = _seconds(sound.duration, sound.time_base)
    info["faststart"] = _moov_before_mdat(Path(path))
    return info


def _seconds(duration: int | None, time_base: Fraction | None) -> float | None:
    """A stream's duration in seconds, None when the file does not say."""
    if not duration or time_base is None:
        return None
    return float(duration * time_base)


def _resample(audio: NDArray[np.float32], rate: int, target: int) -> NDArray[np.float32]:
    """Band-limited resampling by a rational factor (16 kHz → 48 kHz is exactly 3:1)."""
    if rate == target or audio.size == 0:
        return audio.astype(np.float32, copy=False)
    g = gcd(rate, target)
    resampled: NDArray[np.float64] = resample_poly(audio, target // g, rate // g)  # scipy has no stubs
    return resampled.astype(np.float32)


def _moov_before_mdat(path: Path) -> bool:
    """True when the MP4's index box comes before its media data (playback starts while downloading)."""
    with path.open("rb") as f:
        while header := f.read(8):
            if len(header) < 8:
                return False
            size, kind = struct.unpack(">I4s", header)
            if kind == b"moov":
                return True
            if kind == b"mdat":
                return False
            if size == 1:
                size = struct.unpack(">Q", f.read(8))[0]
                f.seek(size - 16, io.SEEK_CUR)
            elif size == 0:
                return False
            else:
                f.seek(size - 8, io.SEEK_CUR)
    return False

"""Typed inputs and outputs of the render library, and its one exception.

This module is the contract between `generator/` and its callers (the bot's worker, the CLI,
benchmarks); stage modules fill these in. It imports nothing heavy.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
from numpy.typing import NDArray

from generator.landmarks import N_LANDMARKS

#: Output frame rate, defined once.
FPS = 25
#: Longest clip, seconds.
MAX_SECONDS = 15.0
#: The performance styles a user can pick; "natural" is the default.
Style = Literal["natural", "calm", "lively", "serious", "cheerful"]
STYLES: tuple[Style, ...] = get_args(Style)
#: The motion-intensity scale's bounds (1.0 is the style as designed).
MOTION_RANGE = (0.0, 2.0)
#: Longest output side, pixels.
MAX_SIDE = 1280

#: Source of an image or a sound: a path or the file's bytes.
Source = Path | str | bytes
#: Progress callback: fraction done in [0, 1].
ProgressCallback = Callable[[float], None]


class ErrorCode(StrEnum):
    """Stable codes for input the generator cannot use; callers map them to user messages."""

    NO_FACE = "NO_FACE"
    FACE_TOO_SMALL = "FACE_TOO_SMALL"
    FACE_TURNED_AWAY = "FACE_TURNED_AWAY"
    MOUTH_NOT_VISIBLE = "MOUTH_NOT_VISIBLE"
    FACE_NOT_FOUND = "FACE_NOT_FOUND"  # a track names a face index the photo does not have
    NO_SPEECH = "NO_SPEECH"
    IMAGE_UNREADABLE = "IMAGE_UNREADABLE"
    IMAGE_TOO_LARGE = "IMAGE_TOO_LARGE"
    AUDIO_UNREADABLE = "AUDIO_UNREADABLE"
    AUDIO_TOO_LONG = "AUDIO_TOO_LONG"


class GeneratorError(Exception):
    """Input the generator cannot use; `code` is stable, `details` says what was measured."""

    def __init__(self, code: ErrorCode, message: str, **details: object) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.details = details

    def __reduce__(self) -> tuple[object, ...]:
        # Renders run in a process pool; the default pickling would call __init__ with one argument.
        return (_rebuild_error, (self.code, self.message, self.details))


def _rebuild_error(code: ErrorCode, message: str, details: dict[str, object]) -> GeneratorError:
    return GeneratorError(code, message, **details)


#: The pose landmarks kept for a person's body (MediaPipe Pose ids), the subject's left side first:
#: shoulders, elbows, wrists, index fingertips.
POSE_IDS = (11, 12, 13, 14, 15, 16, 19, 20)
LEFT_SHOULDER, RIGHT_SHOULDER, LEFT_ELBOW, RIGHT_ELBOW = 0, 1, 2, 3
LEFT_WRIST, RIGHT_WRIST, LEFT_INDEX, RIGHT_INDEX = 4, 5, 6, 7


@dataclass(frozen=True)
class BodyPose:
    """One person's shoulders, elbows, wrists and fingertips, in the photo's pixels.

    `visibility` is the pose model's own (0..1, how likely the point is in view and not hidden); a
    pose with every visibility 0 means the model was asked and found no body for this face.
    """

    points: NDArray[np.float32]  # (8, 2): x, y per POSE_IDS entry
    visibility: NDArray[np.float32]  # (8,)

    @classmethod
    def absent(cls) -> BodyPose:
        """The pose of a face whose body the model did not find."""
        n = len(POSE_IDS)
        return cls(points=np.zeros((n, 2), np.float32), visibility=np.zeros(n, np.float32))

    def scaled(self, sx: float, sy: float) -> BodyPose:
        """The same pose in a photo resized by sx, sy."""
        points = (self.points * np.array([sx, sy], np.float32)).astype(np.float32)
        return BodyPose(points=points, visibility=self.visibility)

    def to_stored(self) -> dict[str, object]:
        """A JSON-ready form, exact: a render from a stored analysis makes the same frames as a fresh one."""
        return {
            "points": [[float(x), float(y)] for x, y in self.points],
            "visibility": [float(v) for v in self.visibility],
        }

    @classmethod
    def from_stored(cls, data: Any) -> BodyPose | None:
        """A pose back from `to_stored`'s form; None for anything else."""
        try:
            points = np.asarray(data["points"], dtype=np.float32)
            visibility = np.asarray(data["visibility"], dtype=np.float32)
        except (KeyError, TypeError, ValueError):
            return None
        if points.shape != (len(POSE_IDS), 2) or visibility.shape != (len(POSE_IDS),):
            return None
        if not (np.all(np.isfinite(points)) and np.all((visibility >= 0) & (visibility <= 1))):
            return None
        return cls(points=points, visibility=visibility)


@dataclass(frozen=True)
class FaceAnalysis:
    """One face found in a photo, in the photo's own pixel coordinates (EXIF-rotated)."""

    index: int  # 0-based, faces ordered left to right
    box: tuple[int, int, int, int]  # x, y, width, height
    score: float  # detector confidence
    landmarks: NDArray[np.float32]  # (478, 3) float32: x, y in pixels, z relative depth (same scale as x)
    yaw: float  # degrees, + = subject turned to their left (our right)
    pitch: float  # degrees, + = looking up
    roll: float  # degrees, + = head tilted clockwise in the image
    mouth_open: float  # inner-lip gap over mouth width, as photographed
    usable: bool
    reason: ErrorCode | None = None  # why not usable
    #: This face's body from the pose model; None when nobody looked (an analysis stored before
    #: poses were kept): the render then looks itself.
    body: BodyPose | None = None

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready view without the landmark array."""
        return {
            "index": self.index,
            "box": list(self.box),
            "score": round(self.score, 3),
            "yaw": round(self.yaw, 1),
            "pitch": round(self.pitch, 1),
            "roll": round(self.roll, 1),
            "mouth_open": round(self.mouth_open, 3),
            "usable": self.usable,
            "reason": str(self.reason) if self.reason else None,
        }


@dataclass(frozen=True)
class ImageAnalysis:
    """Everything found in a photo: its size and its faces, usable or not."""

    width: int
    height: int
    faces: list[FaceAnalysis]

    @property
    def usable_faces(self) -> list[FaceAnalysis]:
        return [face for face in self.faces if face.usable]

    def to_dict(self) -> dict[str, object]:
        return {"width": self.width, "height": self.height, "faces": [f.to_dict() for f in self.faces]}

    def to_stored(self) -> dict[str, object]:
        """`to_dict` plus what a render needs to skip the analysis: exact measures and landmarks.

        Landmarks are the float32 array's bytes in base64 (about 7.6 kB a face), so a render from
        the stored form draws exactly what one from the photo would. `from_stored` reads it back.
        """
        faces: list[dict[str, object]] = []
        for face in self.faces:
            stored = face.to_dict()
            stored.update(score=face.score, yaw=face.yaw, pitch=face.pitch, roll=face.roll)
            stored.update(mouth_open=face.mouth_open)
            points = np.ascontiguousarray(face.landmarks, dtype="<f4")
            stored["landmarks"] = base64.b64encode(points.tobytes()).decode("ascii")
            if face.body is not None:
                stored["body"] = face.body.to_stored()
            faces.append(stored)
        return {"width": self.width, "height": self.height, "faces": faces}

    @classmethod
    def from_stored(cls, data: Any) -> ImageAnalysis | None:
        """An analysis back from `to_stored`'s form; None for anything else (e.g. stored without
        landmarks by an older version), so the caller analyses the photo again. A face stored
        without a body pose (older versions) comes back with `body=None`."""
        try:
            faces = []
            for i, face in enumerate(data["faces"]):
                raw = base64.b64decode(face["landmarks"], validate=True)
                if len(raw) != N_LANDMARKS * 3 * 4:
                    return None
                points = np.frombuffer(raw, dtype="<f4").astype(np.float32).reshape(N_LANDMARKS, 3)
                reason = face["reason"]
                x, y, w, h = (int(v) for v in face["box"])
                faces.append(
                    FaceAnalysis(
                        index=i,
                        box=(x, y, w, h),
                        score=float(face["score"]),
                        landmarks=points,
                        yaw=float(face["yaw"]),
                        pitch=float(face["pitch"]),
                        roll=float(face["roll"]),
                        mouth_open=float(face["mouth_open"]),
                        usable=bool(face["usable"]),
                        reason=None if reason is None else ErrorCode(reason),
                        body=BodyPose.from_stored(face["body"]) if "body" in face else None,
                    )
                )
            return cls(width=int(data["width"]), height=int(data["height"]), faces=faces)
        except (KeyError, TypeError, ValueError, binascii.Error):
            return None


@dataclass(frozen=True)
class PhonemeSpan:
    """One phoneme of a known text, timed on its recording (seconds from the recording's start).

    `phoneme` is an IPA symbol as espeak-ng / piper write it (e.g. "a", "uː", "m", "θ"); for
    Mandarin, pinyin-derived IPA from espeak-ng. Word boundaries from engines that report only
    words (edge-tts) come as spans whose phoneme is the empty string.
    """

    start: float
    end: float
    phoneme: str


@dataclass(frozen=True)
class AudioTrack:
    """One speech recording and the face that speaks it.

    `face` is a face index from `analyze()`; None means the largest usable face, or, with
    `chorus=True` on the request, every usable face. `start` (seconds) places the track on the
    clip's timeline; None plays it right after the previous track ends.
    """

    audio: Source
    face: int | None = None
    start: float | None = None
    #: The phoneme timeline when the words are known (typed text through TTS); None for recordings.
    phonemes: tuple[PhonemeSpan, ...] | None = None


@dataclass(frozen=True)
class RenderRequest:
    """One render: a photo, one or more speech tracks, output limits and a seed."""

    image: Source
    tracks: list[AudioTrack]
    max_seconds: float = MAX_SECONDS
    max_side: int = MAX_SIDE
    fps: int = FPS
    seed: int = 0
    trim: bool = True  # cut audio longer than max_seconds instead of raising AUDIO_TOO_LONG
    chorus: bool = False  # tracks with face=None drive every usable face
    #: The photo's analysis made earlier (e.g. when the photo arrived), so the render skips
    #: finding faces again; ignored (the photo is analysed) when its size is not the photo's.
    analysis: ImageAnalysis | None = None
    #: How the person performs: "natural" (the default), "calm", "lively", "serious", "cheerful".
    style: Style = "natural"
    #: Scales head, body and hand motion: 0.0 (still but for the mouth and blinks) to 2.0; 1.0 as styled.
    motion: float = 1.0


@dataclass(frozen=True)
class RenderResult:
    """A finished clip on disk and what a caller needs to send it."""

    path: Path
    width: int
    height: int
    duration: float  # seconds
    fps: int
    trimmed: bool  # the audio was cut to max_seconds
    speech_seconds: float  # total voiced time found
    faces: list[int] = field(default_factory=list)  # face indexes that speak
    thumbnail: bytes = b""  # JPEG, longest side <= 320, for Telegram's sendVideo
    reused_analysis: bool = False  # the request's precomputed analysis was used, no face search ran

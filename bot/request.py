"""The render request: what a job asks the worker to make, typed and versioned.

Private chats and group scenes build it with `render_job(...)`; it travels as the job's JSON
payload (`to_payload`) and the worker reads it back with `RenderJob.from_payload`, which checks
every field: a payload from another version, or a damaged one, raises `UnreadableRequest` (the worker
fails the job with a refund and says so) instead of a KeyError half-way through a render.

The status message ("queued… rendering 40 %") is not part of it: its id lives in the job row
(`Job.status_message_id`). Each track names the member it belongs to (`user_id`), so /forget can
scrub a member's lines out of someone else's job (storage does).

`style` and `motion` (how the person performs, see generator.RenderRequest) are optional fields of
version 1 rather than a version 2: a payload written before them reads as "natural" at 1.0, and
during a rolling deploy an older worker renders a newer payload in the default style instead of
refusing (and refunding) it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal, cast

from generator import PhonemeSpan
from generator.types import MOTION_RANGE, STYLES, Style

#: The payload version this code writes and reads.
VERSION = 1

Source = Literal["voice", "audio", "video", "video_note", "text"]
SOURCES: tuple[str, ...] = ("voice", "audio", "video", "video_note", "text")


class UnreadableRequest(ValueError):
    """A job payload this version cannot read."""


@dataclass(frozen=True)
class PhotoRef:
    """The photo, as Telegram knows it."""

    file_id: str
    file_unique_id: str


@dataclass(frozen=True)
class Track:
    """One line: a recording (Telegram file id) or typed text (spoken by TTS), and who says it."""

    source: Source
    user_id: int
    file_id: str | None = None
    text: str | None = None
    voice: str | None = None  # TTS voice id, for text
    face: int | None = None  # face index; None: the largest usable face (or all, with chorus)
    #: [start, end, phoneme] rows when the words' timing is known (see generator.PhonemeSpan).
    phonemes: tuple[tuple[float, float, str], ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The track as JSON (job payloads, requests waiting for their photo)."""
        data = asdict(self)
        data["phonemes"] = None if self.phonemes is None else [list(p) for p in self.phonemes]
        return data

    @classmethod
    def from_dict(cls, data: Any) -> Track:
        """A track back from JSON; UnreadableRequest if it is not a valid one."""
        try:
            return _track(data)
        except UnreadableRequest:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise UnreadableRequest(f"unreadable track: {exc!r}") from exc

    def phoneme_spans(self) -> tuple[PhonemeSpan, ...] | None:
        """The phoneme timeline in the generator's type."""
        if self.phonemes is None:
            return None
        return tuple(PhonemeSpan(start, end, phoneme) for start, end, phoneme in self.phonemes)


@dataclass(frozen=True)
class RenderJob:
    """Everything the worker needs to make and deliver one video."""

    language: str
    photo: PhotoRef
    tracks: tuple[Track, ...]
    chorus: bool = False
    reply_to_message_id: int | None = None
    scene_id: int | None = None
    style: Style = "natural"
    motion: float = 1.0
    version: int = field(default=VERSION)

    def to_payload(self) -> dict[str, Any]:
        """The JSON payload stored with the job."""
        payload = asdict(self)
        payload["tracks"] = [track.to_dict() for track in self.tracks]
        return payload

    @classmethod
    def from_payload(cls, payload: Any) -> RenderJob:
        """Reads a stored payload back; UnreadableRequest if it is not one this version wrote."""
        try:
            if not isinstance(payload, dict):
                raise UnreadableRequest("the payload is not an object")
            if payload.get("version") != VERSION:
                raise UnreadableRequest(f"payload version {payload.get('version')!r}, not {VERSION}")
            photo = payload["photo"]
            tracks = tuple(_track(track) for track in payload["tracks"])
            if not tracks:
                raise UnreadableRequest("no tracks")
            return cls(
                language=_str(payload["language"]),
                photo=PhotoRef(_str(photo["file_id"]), _str(photo["file_unique_id"])),
                tracks=tracks,
                chorus=bool(payload.get("chorus", False)),
                reply_to_message_id=_opt_int(payload.get("reply_to_message_id")),
                scene_id=_opt_int(payload.get("scene_id")),
                style=_style(payload.get("style", "natural")),
                motion=_motion(payload.get("motion", 1.0)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, UnreadableRequest):
                raise
            raise UnreadableRequest(f"unreadable payload: {exc!r}") from exc


def track_from(
    source: str,
    user_id: int,
    *,
    file_id: str | None = None,
    text: str | None = None,
    voice: str | None = None,
    face: int | None = None,
    phonemes: list[list[Any]] | tuple[tuple[float, float, str], ...] | None = None,
) -> Track:
    """A checked track: a recording needs a file id, typed text needs text."""
    if source not in SOURCES:
        raise UnreadableRequest(f"unknown source {source!r}")
    if source == "text" and not text:
        raise UnreadableRequest("a text track without text")
    if source != "text" and not file_id:
        raise UnreadableRequest(f"a {source} track without a file id")
    spans = None
    if phonemes is not None:
        spans = tuple((float(start), float(end), str(phoneme)) for start, end, phoneme in phonemes)
    return Track(cast(Source, source), user_id, file_id, text, voice, face, spans)


def render_job(
    *,
    language: str,
    photo: PhotoRef,
    tracks: list[Track],
    chorus: bool = False,
    reply_to_message_id: int | None = None,
    scene_id: int | None = None,
    style: str = "natural",
    motion: float = 1.0,
) -> RenderJob:
    """The one builder of render requests, for private chats and scenes alike."""
    if not tracks:
        raise UnreadableRequest("a render needs at least one track")
    return RenderJob(
        language=language,
        photo=photo,
        tracks=tuple(tracks),
        chorus=chorus,
        reply_to_message_id=reply_to_message_id,
        scene_id=scene_id,
        style=_style(style),
        motion=_motion(motion),
    )


def _track(data: Any) -> Track:
    if not isinstance(data, dict):
        raise UnreadableRequest("a track is not an object")
    return track_from(
        data["source"],
        int(data["user_id"]),
        file_id=data.get("file_id"),
        text=data.get("text"),
        voice=data.get("voice"),
        face=_opt_int(data.get("face")),
        phonemes=data.get("phonemes"),
    )


def _str(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise UnreadableRequest(f"expected text, got {value!r}")
    return value


def _style(value: Any) -> Style:
    if value not in STYLES:
        raise UnreadableRequest(f"unknown style {value!r}")
    return cast(Style, value)


def _motion(value: Any) -> float:
    low, high = MOTION_RANGE
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise UnreadableRequest(f"motion {value!r} is outside {low}..{high}")
    return float(value)


def _opt_int(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise UnreadableRequest(f"expected a whole number, got {value!r}")
    return value

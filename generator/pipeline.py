"""The render entry point: a photo and speech tracks in, a lip-synced MP4 out.

`render` reads top to bottom, one stage per numbered step. Everything that can reject the input
(the photo, its faces, each recording, whether it holds speech) runs before the first frame is
drawn, so a caller learns about bad input in about a second, not after a render.
"""

from __future__ import annotations

import dataclasses
import math
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from queue import Full, Queue

import cv2
import numpy as np
from numpy.typing import NDArray

from generator.analysis import analyze_image, detect_pose, segment_person
from generator.encode import VideoEncoder, make_thumbnail
from generator.engine import Engine, EngineName, choose_engine
from generator.intake import SAMPLE_RATE, fit_size, load_audio, load_image
from generator.motion import plan_motion
from generator.render import render_frames
from generator.speech import SpeechTrack, check_speech, track_mouth
from generator.types import (
    MOTION_RANGE,
    STYLES,
    ErrorCode,
    FaceAnalysis,
    GeneratorError,
    ImageAnalysis,
    PhonemeSpan,
    ProgressCallback,
    RenderRequest,
    RenderResult,
)

__all__ = ["render"]


@dataclass(frozen=True)
class Line:
    """One speech track placed on the clip's timeline, with the faces that say it."""

    audio: NDArray[np.float32]  # mono float32 at SAMPLE_RATE, already cut to the clip
    start: int  # first sample on the timeline
    faces: tuple[int, ...]
    speech: SpeechTrack  # of this line alone, for the NO_SPEECH check
    phonemes: tuple[PhonemeSpan, ...] | None = None  # the TTS timeline, seconds from the line's start


def render(
    request: RenderRequest,
    output: Path | str,
    progress: ProgressCallback | None = None,
    engine: Engine | EngineName | None = None,
) -> RenderResult:
    """Renders `request` into an MP4 at `output` and describes the result.

    `engine`: an engine, or its name (`generator.engine.choose_engine`); None is the CPU rig.
    Raises GeneratorError for input it cannot use, always before drawing anything, and
    EngineUnavailable for an engine this machine cannot run.
    """
    report = _Progress(progress)
    drawer = choose_engine(engine) if isinstance(engine, str) else engine

    # 1. Check inputs: the photo decodes (and is not a decompression bomb), every recording decodes.
    image, recordings, trimmed = check_inputs(request)
    report(0.04)

    # 2. Analyze faces, and pick who says each track.
    analysis, reused = analyze_faces(image, request.analysis)
    speakers = assign_speakers(request, analysis)
    report(0.12)

    # 3. Track mouths: place the lines on one timeline; every line must hold speech.
    lines, n_frames, trimmed = place_lines(request, recordings, speakers, trimmed)
    face_tracks = track_faces(lines, analysis, n_frames, request.fps)
    report(0.18)

    # -- Every check has passed: from here on the input is good and only drawing is left. --

    # 4. Fit the output size, keeping the photo's aspect ratio; find the person for body motion.
    frame, frame_analysis = fit_output(image, analysis, request.max_side)
    person = segment_person(frame)
    frame_analysis = find_bodies(frame, frame_analysis)
    report(0.2)

    # 5. Plan motion: mouths, blinks, gaze, head, body, hands, breathing and the camera, per frame,
    #    in the request's style.
    plan = plan_motion(
        face_tracks,
        n_frames,
        request.fps,
        seed=request.seed,
        style=request.style,
        motion=request.motion,
        positions={face.index: face.box[0] + face.box[2] / 2 for face in frame_analysis.faces},
    )

    # 6. Render frames and encode the video, streamed: the clip is never held in memory.
    frames = render_frames(frame, frame_analysis, plan, person, engine=drawer)
    soundtrack = mix_lines(lines, n_frames, request.fps)
    # Frames drawn on a GPU are encoded there too when it can (NVENC); a CPU engine keeps x264.
    on_gpu = bool(getattr(drawer, "on_gpu", False))
    thumbnail = encode_video(
        frames,
        soundtrack,
        Path(output),
        frame.shape,
        request.fps,
        n_frames,
        report,
        hardware=on_gpu,
        reference=plan.lip_closures(),
    )
    report(1.0)

    return RenderResult(
        path=Path(output),
        width=frame.shape[1],
        height=frame.shape[0],
        duration=n_frames / request.fps,
        fps=request.fps,
        trimmed=trimmed,
        speech_seconds=round(sum(line.speech.speech_seconds for line in lines), 2),
        faces=sorted({face for line in lines for face in line.faces}),
        thumbnail=thumbnail,
        reused_analysis=reused,
    )


# --- 1. inputs -----------------------------------------------------------------------------------


def check_inputs(request: RenderRequest) -> tuple[NDArray[np.uint8], list[NDArray[np.float32]], bool]:
    """Decodes the photo and every recording; says whether any recording was cut to the limit."""
    if not request.tracks:
        raise GeneratorError(ErrorCode.NO_SPEECH, "the request has no speech track", tracks=0)
    if request.style not in STYLES:
        raise ValueError(f"unknown style {request.style!r}; one of {', '.join(STYLES)}")
    if not MOTION_RANGE[0] <= request.motion <= MOTION_RANGE[1]:
        raise ValueError(f"motion {request.motion} is outside {MOTION_RANGE}")
    image = load_image(request.image)
    recordings: list[NDArray[np.float32]] = []
    trimmed = False
    for track in request.tracks:
        audio, cut = load_audio(track.audio, SAMPLE_RATE, max_seconds=request.max_seconds, trim=request.trim)
        recordings.append(audio)
        trimmed = trimmed or cut
    return image, recordings, trimmed


# --- 2. faces ------------------------------------------------------------------------------------


def analyze_faces(image: NDArray[np.uint8], known: ImageAnalysis | None = None) -> tuple[ImageAnalysis, bool]:
    """Every face in the photo, with landmarks, pose and whether it can speak; and whether `known`
    (an analysis made earlier) was used instead of searching again.

    `known` is trusted only for a photo of its size: another size means another decode (or
    another photo), whose pixels its landmarks do not describe.
    """
    if known is not None and (known.width, known.height) == (image.shape[1], image.shape[0]):
        return known, True
    return analyze_image(image), False


def assign_speakers(request: RenderRequest, analysis: ImageAnalysis) -> list[tuple[int, ...]]:
    """The faces that say each track.

    face=None: the largest usable face, or every usable face with `chorus`. An explicit index must
    exist (FACE_NOT_FOUND) and be usable (its own reason code).
    """
    speakers: list[tuple[int, ...]] = []
    for track in request.tracks:
        if track.face is None:
            usable = analysis.usable_faces
            if not usable:
                raise _no_usable_face(analysis)
            if request.chorus:
                speakers.append(tuple(face.index for face in usable))
            else:
                speakers.append((max(usable, key=_face_area).index,))
            continue
        if not 0 <= track.face < len(analysis.faces):
            raise GeneratorError(
                ErrorCode.FACE_NOT_FOUND,
                f"the photo has no face {track.face}",
                face=track.face,
                faces=len(analysis.faces),
            )
        face = analysis.faces[track.face]
        if not face.usable:
            raise GeneratorError(
                face.reason or ErrorCode.NO_FACE,
                f"face {face.index} cannot speak: {face.reason}",
                face=face.index,
                **face.to_dict(),
            )
        speakers.append((face.index,))
    return speakers


def _no_usable_face(analysis: ImageAnalysis) -> GeneratorError:
    """NO_FACE for a photo without faces; otherwise the largest face's own reason."""
    if not analysis.faces:
        return GeneratorError(ErrorCode.NO_FACE, "no face found in the photo", faces=0)
    best = max(analysis.faces, key=_face_area)
    return GeneratorError(
        best.reason or ErrorCode.NO_FACE,
        f"no face in the photo can speak; the largest: {best.reason}",
        faces=len(analysis.faces),
        **best.to_dict(),
    )


def _face_area(face: FaceAnalysis) -> int:
    return face.box[2] * face.box[3]


# --- 3. speech -----------------------------------------------------------------------------------


def place_lines(
    request: RenderRequest,
    recordings: list[NDArray[np.float32]],
    speakers: list[tuple[int, ...]],
    trimmed: bool,
) -> tuple[list[Line], int, bool]:
    """Puts each track on the timeline (at `start`, or after the previous one), cut to max_seconds.

    Checks every line for speech (NO_SPEECH, with what was measured). Returns the lines, the clip's
    length in frames and whether anything was cut.
    """
    limit = round(request.max_seconds * SAMPLE_RATE)
    lines: list[Line] = []
    cursor = 0
    end = 0
    for track, audio, faces in zip(request.tracks, recordings, speakers, strict=True):
        start = cursor if track.start is None else max(0, round(track.start * SAMPLE_RATE))
        stop = start + len(audio)
        if stop > limit and not request.trim:
            raise GeneratorError(
                ErrorCode.AUDIO_TOO_LONG,
                f"the tracks run past {request.max_seconds:g} s",
                limit_seconds=request.max_seconds,
                seconds=round(stop / SAMPLE_RATE, 2),
            )
        if start >= limit:
            trimmed = True
            continue  # starts after the clip's end: nothing of it is heard
        # Judged whole: a line cut to its first syllable by the limit is still a voice.
        phonemes = track.phonemes or None
        speech = track_mouth(audio, SAMPLE_RATE, request.fps, phonemes=phonemes)
        check_speech(speech)
        if stop > limit:
            trimmed = True
            audio = audio[: limit - start]
            stop = limit
            speech = track_mouth(audio, SAMPLE_RATE, request.fps, phonemes=phonemes)
        lines.append(Line(audio=audio, start=start, faces=faces, speech=speech, phonemes=phonemes))
        cursor = stop
        end = max(end, stop)
    n_frames = max(1, math.ceil(end * request.fps / SAMPLE_RATE - 1e-9))
    return lines, n_frames, trimmed


def track_faces(
    lines: list[Line], analysis: ImageAnalysis, n_frames: int, fps: int
) -> dict[int, SpeechTrack | None]:
    """One mouth track per speaking face over the whole clip; every other usable face stays idle."""
    tracks: dict[int, SpeechTrack | None] = {face.index: None for face in analysis.usable_faces}
    for face in sorted({f for line in lines for f in line.faces}):
        own = [line for line in lines if face in line.faces]
        if len(own) == 1 and own[0].start == 0:
            tracks[face] = own[0].speech  # the common case: one recording from the start
            continue
        # The face's own lines on the timeline, silence elsewhere, analysed as one recording.
        audio = np.zeros(round(n_frames * SAMPLE_RATE / fps), np.float32)
        for line in own:
            part = audio[line.start : line.start + len(line.audio)]
            part += line.audio[: len(part)]
        # Known words shape the mouth only when every line of this face has them.
        timeline: list[PhonemeSpan] | None = []
        for line in own:
            if line.phonemes is None or timeline is None:
                timeline = None
                continue
            shift = line.start / SAMPLE_RATE
            timeline += [PhonemeSpan(p.start + shift, p.end + shift, p.phoneme) for p in line.phonemes]
        tracks[face] = track_mouth(audio, SAMPLE_RATE, fps, n_frames=n_frames, phonemes=timeline)
    return tracks


def mix_lines(lines: list[Line], n_frames: int, fps: int) -> NDArray[np.float32]:
    """The clip's soundtrack: every line at its place, overlaps summed and kept within [-1, 1]."""
    audio = np.zeros(round(n_frames * SAMPLE_RATE / fps), np.float32)
    for line in lines:
        part = audio[line.start : line.start + len(line.audio)]
        part += line.audio[: len(part)]
    return np.clip(audio, -1.0, 1.0)


# --- 4. output size ------------------------------------------------------------------------------


def fit_output(
    image: NDArray[np.uint8], analysis: ImageAnalysis, max_side: int
) -> tuple[NDArray[np.uint8], ImageAnalysis]:
    """The photo at the output size (aspect kept, even sides) and its faces in those pixels."""
    height, width = image.shape[:2]
    out_w, out_h = fit_size(width, height, max_side)
    if (out_w, out_h) == (width, height):
        return image, analysis
    frame = np.asarray(cv2.resize(image, (out_w, out_h), interpolation=cv2.INTER_AREA), dtype=np.uint8)
    sx, sy = out_w / width, out_h / height
    faces: list[FaceAnalysis] = []
    for face in analysis.faces:
        points = face.landmarks.astype(np.float32) * np.array([sx, sy, 0.5 * (sx + sy)], np.float32)
        x, y, w, h = face.box
        box = (round(x * sx), round(y * sy), round(w * sx), round(h * sy))
        body = None if face.body is None else face.body.scaled(sx, sy)
        faces.append(dataclasses.replace(face, landmarks=points, box=box, body=body))
    return frame, ImageAnalysis(width=out_w, height=out_h, faces=faces)


def find_bodies(frame: NDArray[np.uint8], analysis: ImageAnalysis) -> ImageAnalysis:
    """The analysis with every usable face's body pose; an analysis stored before poses were kept
    gets them here, from the output frame."""
    if all(face.body is not None for face in analysis.usable_faces):
        return analysis
    faces = [
        dataclasses.replace(face, body=detect_pose(frame, face))
        if face.usable and face.body is None
        else face
        for face in analysis.faces
    ]
    return dataclasses.replace(analysis, faces=faces)


# --- 6. encode -----------------------------------------------------------------------------------


def encode_video(
    frames: Iterator[NDArray[np.uint8]],
    soundtrack: NDArray[np.float32],
    output: Path,
    shape: tuple[int, ...],
    fps: int,
    n_frames: int,
    report: _Progress,
    hardware: bool = False,
    reference: frozenset[int] = frozenset(),
) -> bytes:
    """Streams frames into the MP4 with its soundtrack; returns a JPEG thumbnail of the first frame.

    Frames in `reference` (where lips meet) are coded as P-frames (`VideoEncoder.write`).
    """
    thumbnail = b""
    every = max(1, n_frames // 40)
    with VideoEncoder(output, shape[1], shape[0], fps, soundtrack, SAMPLE_RATE, hardware=hardware) as encoder:
        for i, frame in enumerate(_ahead(frames)):
            if i == 0:
                thumbnail = make_thumbnail(frame)
            encoder.write(frame, reference=i in reference)
            if i % every == 0:
                report(0.2 + 0.79 * (i + 1) / n_frames)
    return thumbnail


def _ahead(frames: Iterator[NDArray[np.uint8]], depth: int = 3) -> Iterator[NDArray[np.uint8]]:
    """Draws the next few frames on a second thread while this one encodes.

    OpenCV, NumPy and the encoder release the GIL, so drawing and encoding share the two cores
    instead of taking turns. At most `depth` frames wait in the queue; memory stays flat.
    """
    queue: Queue[tuple[str, object]] = Queue(maxsize=depth)
    stop = threading.Event()

    def hand_over(item: tuple[str, object]) -> bool:
        """Queues an item unless the consumer has stopped listening."""
        while not stop.is_set():
            try:
                queue.put(item, timeout=0.1)
                return True
            except Full:
                continue
        return False

    def produce() -> None:
        try:
            for frame in frames:
                if not hand_over(("frame", frame)):
                    return
            hand_over(("end", None))
        except BaseException as exc:  # handed to the consumer, which re-raises it
            hand_over(("error", exc))
        finally:
            close = getattr(frames, "close", None)
            if close is not None:
                close()  # lets the engine release its own threads and buffers now

    worker = threading.Thread(target=produce, name="render-frames", daemon=True)
    worker.start()
    try:
        while True:
            kind, item = queue.get()
            if kind == "end":
                return
            if kind == "error":
                assert isinstance(item, BaseException)
                raise item
            assert isinstance(item, np.ndarray)
            yield item
    finally:
        stop.set()
        worker.join(timeout=5.0)


class _Progress:
    """Calls the caller's progress callback with fractions that never go backwards."""

    def __init__(self, callback: ProgressCallback | None) -> None:
        self.callback = callback
        self.done = 0.0

    def __call__(self, fraction: float) -> None:
        fraction = min(1.0, max(self.done, fraction))
        self.done = fraction
        if self.callback is not None:
            self.callback(fraction)

"""The project's own lip-sync evaluator: does the mouth in a video follow its sound?

It knows nothing about how the video was made. It decodes the frames, re-detects one face on every
frame (MediaPipe's face mesh on a crop that follows the face), measures the inner-lip gap in units
of the distance between the outer eye corners, and compares it with the sound's loudness around
each frame:

- lip sync: Pearson r between lip gap and loudness at lag 0, and the lag in ±5 frames where r
  peaks (positive lag: the mouth follows the sound late). A still photo scores r ≈ 0.
- mouth at rest: mean lip gap in the silences vs during speech, and on the first frame.
- blinks: dips of the eye aspect ratio below 60 % of its median, counted as events.
- head motion: spread of the face's centre (in eye-distances) and of its yaw/pitch/roll (degrees).

Loudness is the RMS of the sound in an 80 ms window centred on the middle of each frame's display
interval, in dB, clipped 50 dB below the clip's loud frames (95th percentile); frames more than
45 dB below them count as silence, frames within 25 dB as speech. `lip_sync_r_speech` repeats the
correlation over speech frames only, where a mouth that merely opens for talk and shuts for pauses
scores low.

    python -m generator.evaluate VIDEO [--face N] [--json] [--check]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import av
import numpy as np
from numpy.typing import NDArray

from generator import landmarks as lm
from generator.analysis import analyze_image, fit_mesh, head_pose
from generator.intake import SAMPLE_RATE, load_audio
from generator.types import ErrorCode, FaceAnalysis, GeneratorError

#: Lags tried, in frames, each way.
MAX_LAG = 5
#: Loudness window around each frame, seconds.
ENERGY_WINDOW = 0.08
#: Frames at least this many dB below the clip's loud frames (95th percentile) are silence.
SILENCE_DB = 45.0
#: Loudness is clipped this far below the loud frames.
FLOOR_DB = 50.0
#: Frames within this many dB of the loud frames count as speech.
SPEECH_DB = 25.0
#: A blink is an eye aspect ratio below this fraction of the clip's median.
BLINK_FRACTION = 0.6
#: A lip gap that varies less than this (eye-distances; ~0.1 px on a phone portrait) is not moving;
#: a still photo through the encoder varies by ~0.0001.
STILL_MOUTH = 0.002
#: The issue's bar for lip sync.
MIN_R = 0.6
MAX_BEST_LAG = 1


@dataclass
class EvaluationReport:
    """What the evaluator measured in one video, for one face."""

    path: str
    face: int  # which face (left to right on the first frame)
    frames: int
    fps: float
    duration: float
    tracked: float  # fraction of frames where the face mesh was found
    lip_sync_r: float  # Pearson r, lip gap vs loudness, lag 0
    lip_sync_r_speech: float  # the same over speech frames only: syllables, not just talk vs pause
    best_lag: int  # frames; + = mouth late
    best_lag_r: float
    r_by_lag: dict[int, float]
    mouth_first_frame: float  # lip gap on the first frame (the photo itself), eye-distances
    mouth_silence: float  # mean lip gap in silent frames
    mouth_speech: float  # mean lip gap in speech frames
    mouth_silence_motion: float  # std of the lip gap in silent frames: a mouth at rest stays still
    silence_frames: int
    speech_frames: int
    blinks: int
    blink_times: list[float]
    head_translation: float  # std of the face centre, eye-distances
    head_rotation: float  # largest std of yaw, pitch, roll, degrees
    lip_gap: list[float] = field(default_factory=list, repr=False)
    mouth_width: list[float] = field(default_factory=list, repr=False)  # corner to corner, eye-distances
    loudness_db: list[float] = field(default_factory=list, repr=False)

    def checks(self) -> dict[str, bool]:
        """The issue's quality bar, one named verdict each."""
        return {
            "lip_sync_r": self.lip_sync_r >= MIN_R,
            "best_lag": abs(self.best_lag) <= MAX_BEST_LAG,
            # Back to the photo's own mouth (or closer) in silences: at most 30 % of the way to speech.
            "mouth_rests_in_silence": self.silence_frames == 0
            or self.mouth_silence - self.mouth_first_frame
            <= 0.3 * max(self.mouth_speech - self.mouth_first_frame, 0.01),
            "blinks": self.blinks > 0 or self.duration < 3.0,
            # A still photo reads up to ~0.5° and ~0.005 eye-distances: the mesh's response to the
            # encoder's changing quality, not motion.
            "head_moves": self.head_rotation > 1.0 or self.head_translation > 0.01,
            "head_motion_subtle": self.head_rotation < 8.0 and self.head_translation < 0.25,
        }

    def summary(self) -> dict[str, object]:
        """A JSON-ready view without the per-frame series."""
        view = asdict(self)
        view.pop("lip_gap")
        view.pop("mouth_width")
        view.pop("loudness_db")
        view["r_by_lag"] = {lag: round(r, 4) for lag, r in self.r_by_lag.items()}
        view["checks"] = self.checks()
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in view.items()}


def evaluate_video(path: Path | str, face: int | None = None) -> EvaluationReport:
    """Measures lip sync, mouth rest, blinks and head motion of one face in a video.

    `face` picks a face by its left-to-right index on the first frame; None picks the largest
    usable one. Raises GeneratorError FACE_NOT_FOUND / NO_FACE when the first frame lacks it.
    """
    fps, _, start, pictures = _open_video(Path(path), face)
    index = start.index
    box = start.box
    gaps: list[float] = []
    widths: list[float] = []
    ears: list[float] = []
    centres: list[tuple[float, float]] = []
    angles: list[tuple[float, float, float]] = []
    for rgb in pictures:
        points = fit_mesh(rgb, box)
        if points is None:
            gaps.append(math.nan)
            widths.append(math.nan)
            ears.append(math.nan)
            centres.append((math.nan, math.nan))
            angles.append((math.nan, math.nan, math.nan))
            continue
        eyes = float(np.linalg.norm(points[263, :2] - points[33, :2]))
        lip_gap = float(
            np.linalg.norm(points[lm.LOWER_LIP_INNER_MID, :2] - points[lm.UPPER_LIP_INNER_MID, :2])
        )
        gaps.append(lip_gap / max(eyes, 1e-6))
        width = float(np.linalg.norm(points[lm.MOUTH_CORNER_LEFT, :2] - points[lm.MOUTH_CORNER_RIGHT, :2]))
        widths.append(width / max(eyes, 1e-6))
        ears.append((_eye_aspect(points, lm.RIGHT_EYE_EAR) + _eye_aspect(points, lm.LEFT_EYE_EAR)) / 2)
        centre = points[:, :2].mean(axis=0) / max(eyes, 1e-6)
        centres.append((float(centre[0]), float(centre[1])))
        angles.append(head_pose(points))
        box = _follow(box, points)

    n = len(gaps)
    gap = np.array(gaps)
    tracked = float(np.mean(~np.isnan(gap)))
    loudness = _loudness_db(Path(path), n, fps)
    loud = float(np.percentile(loudness, 95))
    # Digital silence reads -100 dB, a phone's room tone -60: clipped to one floor, so how quiet a
    # pause is does not outweigh how the mouth follows the syllables.
    loudness = np.maximum(loudness, loud - FLOOR_DB)
    r_by_lag = {lag: _lagged_r(gap, loudness, lag) for lag in range(-MAX_LAG, MAX_LAG + 1)}
    best_lag = max(r_by_lag, key=lambda k: (r_by_lag[k], -abs(k)))
    silent = loudness < loud - SILENCE_DB
    speech = loudness > loud - SPEECH_DB
    within_speech = np.where(speech, gap, np.nan)
    ear = np.array(ears)
    blink_frames = _blink_onsets(ear)
    centre_std = np.nanstd(np.array(centres), axis=0) if tracked > 0 else np.zeros(2)
    angle_std = np.nanstd(np.array(angles), axis=0) if tracked > 0 else np.zeros(3)
    return EvaluationReport(
        path=str(path),
        face=index,
        frames=n,
        fps=fps,
        duration=n / fps,
        tracked=tracked,
        lip_sync_r=r_by_lag[0],
        lip_sync_r_speech=_lagged_r(within_speech, loudness, 0),
        best_lag=best_lag,
        best_lag_r=r_by_lag[best_lag],
        r_by_lag=r_by_lag,
        mouth_first_frame=_nan_to_zero(float(gap[0])),
        mouth_silence=_nan_to_zero(float(np.nanmean(gap[silent]))) if np.any(silent) else 0.0,
        mouth_speech=_nan_to_zero(float(np.nanmean(gap[speech]))) if np.any(speech) else 0.0,
        mouth_silence_motion=_nan_to_zero(float(np.nanstd(gap[silent]))) if np.any(silent) else 0.0,
        silence_frames=int(np.sum(silent)),
        speech_frames=int(np.sum(speech)),
        blinks=len(blink_frames),
        blink_times=[round(i / fps, 2) for i in blink_frames],
        head_translation=float(np.hypot(*centre_std)),
        head_rotation=float(np.max(angle_std)),
        lip_gap=[float(v) for v in gap],
        mouth_width=widths,
        loudness_db=[float(v) for v in loudness],
    )


# --- visemes: does the mouth take the shape of the sounds? ---------------------------------------

#: The issue's bars: lips spread for /i/ vs pursed for /u/, open for /a/ vs /i/, closures shown.
MIN_SPREAD_VS_ROUND = 0.15
MIN_OPEN_VS_CLOSE = 1.5
MIN_CLOSURES_SEEN = 0.8
#: Lips meet: an inner-lip gap under this many eye-distances (about 2 px at a 60 px eye distance;
#: the mesh reads a closed mouth at 0.00-0.02).
LIPS_MEET = 0.035
#: Span labels and the phoneme classes they stand for.
CLASS_LABELS = {"i": "spread", "spread": "spread", "u": "round", "round": "round", "a": "open",
                "open": "open", "m": "bilabial", "bilabial": "bilabial"}  # fmt: skip


@dataclass(frozen=True)
class LabelledSpan:
    """A stretch of the recording (seconds) and what it holds: a class label or one phoneme."""

    start: float
    end: float
    label: str  # "spread" (i), "round" (u), "open" (a), "bilabial" (m), or an IPA phoneme


def phoneme_class(phoneme: str) -> str | None:
    """The viseme class a phoneme belongs to, None for one that no bar is about."""
    from generator.visemes import phoneme_visemes

    shapes = phoneme_visemes(phoneme)
    if len(shapes) != 1:
        return None  # diphthongs and pauses change shape inside their span
    shape = shapes[0]
    if shape.pressed >= 1.0:
        return "bilabial"
    if shape.jaw >= 0.85 and shape.round < 0.3:
        return "open"
    if shape.spread >= 0.7 and shape.jaw <= 0.5:
        return "spread"
    if shape.round >= 0.7 and shape.jaw <= 0.6 and shape.jaw >= 0.25:
        return "round"
    return None


def load_spans(path: Path | str) -> list[LabelledSpan]:
    """Spans from a JSON list of {"start", "end", and "label" or "phoneme"} objects (seconds)."""
    items = json.loads(Path(path).read_text())
    spans = []
    for item in items:
        label = str(item.get("label") or item.get("phoneme") or "")
        spans.append(LabelledSpan(float(item["start"]), float(item["end"]), label))
    return spans


@dataclass
class VisemeReport:
    """Mouth width and inner-lip gap per labelled class, re-detected on the frames, and the bars."""

    width_rest: float  # mouth width on the first frame (the photo), eye-distances
    width: dict[str, float]  # class -> mean mouth width over its speech frames
    gap: dict[str, float]  # class -> mean inner-lip gap over its speech frames
    frames: dict[str, int]
    spread_vs_round: float  # (width_spread - width_round) / width_rest; nan without both classes
    open_vs_close: float  # gap_open / gap_spread; nan without both classes
    closures: int  # bilabial spans
    closures_seen: int  # of which the lips met on a frame inside (or one frame around) the span

    @property
    def closure_rate(self) -> float:
        return self.closures_seen / self.closures if self.closures else math.nan

    def checks(self) -> dict[str, bool]:
        """The issue's bars for the classes this recording has (a missing class is not judged)."""
        out: dict[str, bool] = {}
        if not math.isnan(self.spread_vs_round):
            out["spread_vs_round"] = self.spread_vs_round >= MIN_SPREAD_VS_ROUND
        if not math.isnan(self.open_vs_close):
            out["open_vs_close"] = self.open_vs_close >= MIN_OPEN_VS_CLOSE
        if self.closures:
            out["closures_seen"] = self.closure_rate >= MIN_CLOSURES_SEEN
        return out

    def summary(self) -> dict[str, object]:
        view: dict[str, object] = {
            k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()
        }
        view["width"] = {k: round(v, 4) for k, v in self.width.items()}
        view["gap"] = {k: round(v, 4) for k, v in self.gap.items()}
        view["closure_rate"] = round(self.closure_rate, 3)
        view["checks"] = self.checks()
        return view


def evaluate_visemes(report: EvaluationReport, spans: list[LabelledSpan]) -> VisemeReport:
    """Measures the viseme contrasts of one evaluated video over its labelled spans.

    Class means use speech frames only (within 25 dB of the loud frames), so a sentence-long span
    is judged on its sounds, not its pauses. A bilabial span counts as seen when the inner-lip gap
    drops under LIPS_MEET on any frame it overlaps, or the frame either side.
    """
    gap = np.array(report.lip_gap)
    width = np.array(report.mouth_width)
    loud = np.array(report.loudness_db)
    speech = loud > np.percentile(loud, 95) - SPEECH_DB if loud.size else np.zeros(0, bool)
    n, fps = len(gap), report.fps
    picked: dict[str, NDArray[np.bool_]] = {}
    closures = seen = 0
    for span in spans:
        cls = CLASS_LABELS.get(span.label) or phoneme_class(span.label)
        if cls is None:
            continue
        a = max(0, math.floor(span.start * fps))
        b = min(n, max(a + 1, math.ceil(span.end * fps)))
        if a >= n:
            continue
        if cls == "bilabial":
            closures += 1
            around = gap[max(0, a - 1) : min(n, b + 1)]
            seen += bool(np.nanmin(around, initial=np.inf) <= LIPS_MEET) if around.size else False
            continue
        mask = picked.setdefault(cls, np.zeros(n, bool))
        mask[a:b] |= speech[a:b]
    width_rest = _nan_to_zero(width[0]) if n else 0.0
    means_w = {c: float(np.nanmean(width[m])) for c, m in picked.items() if m.any()}
    means_g = {c: float(np.nanmean(gap[m])) for c, m in picked.items() if m.any()}
    spread_round = (
        (means_w["spread"] - means_w["round"]) / max(width_rest, 1e-6)
        if "spread" in means_w and "round" in means_w
        else math.nan
    )
    open_close = (
        means_g["open"] / max(means_g["spread"], 1e-3)
        if "open" in means_g and "spread" in means_g
        else math.nan
    )
    return VisemeReport(
        width_rest=width_rest,
        width=means_w,
        gap=means_g,
        frames={c: int(m.sum()) for c, m in picked.items()},
        spread_vs_round=spread_round,
        open_vs_close=open_close,
        closures=closures,
        closures_seen=int(seen),
    )


def _decode_frames(path: Path) -> Iterator[tuple[float, NDArray[np.uint8]]]:
    """Yields (fps, RGB frame) for every frame of the video's first video stream."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        fps = float(stream.average_rate or stream.guessed_rate or 25)
        for frame in container.decode(stream):
            yield fps, np.asarray(frame.to_ndarray(format="rgb24"), dtype=np.uint8)


def _open_video(
    path: Path, face: int | None
) -> tuple[float, NDArray[np.uint8], FaceAnalysis, Iterator[NDArray[np.uint8]]]:
    """A video's frame rate, first frame, the face to follow on it, and every frame (the first too).

    Raises GeneratorError NO_FACE for a video without frames, and as `_pick_face` does.
    """
    frames = _decode_frames(path)
    first = next(frames, None)
    if first is None:
        raise GeneratorError(ErrorCode.NO_FACE, "the video has no frames")
    fps, image = first
    return fps, image, _pick_face(image, face), _chain(image, (frame for _, frame in frames))


def _chain(first: NDArray[np.uint8], rest: Iterable[NDArray[np.uint8]]) -> Iterator[NDArray[np.uint8]]:
    yield first
    yield from rest


def _pick_face(rgb: NDArray[np.uint8], face: int | None) -> FaceAnalysis:
    """The face to follow, found on the first frame."""
    analysis = analyze_image(rgb)
    if face is not None:
        if not 0 <= face < len(analysis.faces):
            raise GeneratorError(
                ErrorCode.FACE_NOT_FOUND,
                f"the first frame has {len(analysis.faces)} faces, not a face {face}",
                faces=len(analysis.faces),
            )
        return analysis.faces[face]
    candidates = analysis.usable_faces or analysis.faces
    if not candidates:
        raise GeneratorError(ErrorCode.NO_FACE, "no face on the first frame")
    return max(candidates, key=lambda f: f.box[2] * f.box[3])


def _follow(box: tuple[int, int, int, int], points: NDArray[np.float32]) -> tuple[int, int, int, int]:
    """The crop box for the next frame: moved only when the face has left it noticeably.

    A crop that shifts by a pixel every frame would make the mesh jitter by itself, and that
    jitter, not the video, would then correlate with the sound.
    """
    x0, y0 = points[:, :2].min(axis=0)
    x1, y1 = points[:, :2].max(axis=0)
    found = (round(float(x0)), round(float(y0)), round(float(x1 - x0)), round(float(y1 - y0)))
    side = max(box[2], box[3], 1)
    shift = math.hypot(
        found[0] + found[2] / 2 - box[0] - box[2] / 2, found[1] + found[3] / 2 - box[1] - box[3] / 2
    )
    resize = abs(max(found[2], found[3]) - side)
    return found if shift > 0.1 * side or resize > 0.1 * side else box


def _eye_aspect(points: NDArray[np.float32], idx: tuple[int, ...]) -> float:
    """Eye aspect ratio: mean lid gap over eye width (≈0.3 open, under 0.1 closed)."""
    p = points[list(idx), :2]
    width = np.linalg.norm(p[1] - p[0])
    gaps = np.linalg.norm(p[2::2] - p[3::2], axis=1)
    return float(gaps.mean() / max(width, 1e-6))


def _loudness_db(path: Path, frames: int, fps: float) -> NDArray[np.float64]:
    """RMS loudness in dB of the sound around the middle of each frame."""
    try:
        audio, _ = load_audio(path)
    except GeneratorError:
        audio = np.zeros(1, np.float32)  # a video without sound: loudness is flat, r is 0
    half = round(ENERGY_WINDOW * SAMPLE_RATE / 2)
    padded = np.concatenate([np.zeros(half, np.float32), audio, np.zeros(half + SAMPLE_RATE, np.float32)])
    power = np.concatenate([[0.0], np.cumsum(padded.astype(np.float64) ** 2)])
    centres = np.round((np.arange(frames) + 0.5) / fps * SAMPLE_RATE).astype(int) + half
    lo = np.clip(centres - half, 0, len(padded))
    hi = np.clip(centres + half, 0, len(padded))
    mean_power = (power[hi] - power[lo]) / np.maximum(hi - lo, 1)
    return np.asarray(10.0 * np.log10(mean_power + 1e-10), dtype=np.float64)


def _lagged_r(gap: NDArray[np.float64], loudness: NDArray[np.float64], lag: int) -> float:
    """Pearson r between gap[t] and loudness[t - lag] over frames where both exist."""
    if lag > 0:
        a, b = gap[lag:], loudness[:-lag]
    elif lag < 0:
        a, b = gap[:lag], loudness[-lag:]
    else:
        a, b = gap, loudness
    ok = ~np.isnan(a) & ~np.isnan(b)
    a, b = a[ok], b[ok]
    # A mouth that never moves (a still photo) correlates with nothing: its gap wobbles only by the
    # mesh's own noise and the encoder's, far under `STILL_MOUTH`.
    if a.size < 3 or np.std(a) < STILL_MOUTH or np.std(b) < 1e-6:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def _blink_onsets(ear: NDArray[np.float64]) -> list[int]:
    """Frames where the eyes start to close: the eye aspect ratio drops below a fraction of its median."""
    if np.all(np.isnan(ear)):
        return []
    closed = ear < BLINK_FRACTION * np.nanmedian(ear)
    return [i for i in range(len(closed)) if closed[i] and (i == 0 or not closed[i - 1])]


def _nan_to_zero(value: float) -> float:
    return 0.0 if value is None or math.isnan(float(value)) else float(value)


def main(argv: list[str] | None = None) -> int:
    """Command line: prints the report (or JSON); with --check, exits 1 when the quality bar is missed."""
    parser = argparse.ArgumentParser(prog="python -m generator.evaluate", description=__doc__.splitlines()[0])
    parser.add_argument("video", type=Path)
    parser.add_argument("--face", type=int, default=None, help="face index, left to right (default: largest)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--check", action="store_true", help="exit 1 when a quality check fails")
    parser.add_argument(
        "--spans",
        type=Path,
        default=None,
        help='JSON list of {"start", "end", "label" or "phoneme"}: adds the viseme report',
    )
    args = parser.parse_args(argv)
    try:
        report = evaluate_video(args.video, face=args.face)
        spans = load_spans(args.spans) if args.spans else None
    except GeneratorError as exc:
        print(f"error: {exc.code}: {exc.message}", file=sys.stderr)
        return 2
    except (OSError, ValueError, KeyError, av.error.FFmpegError) as exc:
        print(f"error: cannot read {args.video}: {exc}", file=sys.stderr)
        return 2
    summary = report.summary()
    checks = report.checks()
    if spans is not None:
        visemes = evaluate_visemes(report, spans)
        summary["visemes"] = visemes.summary()
        checks = {**checks, **visemes.checks()}
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        for key, value in summary.items():
            print(f"{key:>22}: {value}")
    return 1 if args.check and not all(checks.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())


# --- body: do the arms, hands, head and brows perform? -------------------------------------------

#: The issue's bars for a half-body photo with visible hands: re-detected wrist motion (std, % of
#: body height) and its correlation with the speech's emphasis; and, on any photo, the largest
#: frame-to-frame jump of a re-detected elbow or wrist (% of body height) that is still the pose
#: model's own flicker, not a limb breaking: on the astronaut rendered without any arm motion (the
#: renderer before the body rig) the model's elbow already jumps 4.3 % between frames.
MIN_WRIST_STD = 1.0
MIN_HAND_EMPHASIS_R = 0.3
MAX_LIMB_JUMP = 6.0
#: A joint counts when the pose model's visibility for it on the first frame is at least this.
SEEN = 0.6
#: Emphasis impulses are spread over this many seconds (Gaussian sigma) before correlating.
EMPHASIS_SIGMA = 0.12
#: A hand gesture: a rise of the wrist's displacement at least this prominent (% of body height).
#: The pose model's own flicker on still, clasped painted hands (bench/people.py `together`) makes
#: rises under about 1 %; this stays above them.
GESTURE_PROMINENCE = 1.5


@dataclass
class BodyReport:
    """Body figures of one person in a video, from the pose model and face mesh re-run per frame."""

    path: str
    frames: int
    fps: float
    body_height: float  # pixels: the person mask's height on the first frame
    wrists_seen: int  # wrists the pose model sees on the first frame (visibility >= SEEN)
    wrist_std: float  # % of body height: std of the most moving seen wrist's displacement
    elbow_std: float  # % of body height: the same for the elbows
    hand_emphasis_r: float  # Pearson r, that wrist's displacement vs the emphasis track, lag 0
    hand_emphasis_best_lag: int  # frames in ±MAX_LAG where r peaks (+ = hand late)
    hand_emphasis_best_r: float
    gesture_rate: float  # hand gestures (displacement peaks) per second
    limb_jump: float  # % of body height: largest frame-to-frame move of a seen elbow or wrist
    head_motion: float  # degrees: largest std of yaw, pitch, roll
    brow_raise_at_emphasis: float  # brow height near stresses minus elsewhere, % of eye distance
    emphasis_count: int

    def checks(self) -> dict[str, bool]:
        """The issue's body bars: hand bars only where wrists are seen; no limb jumps anywhere."""
        out = {"limbs_do_not_jump": self.limb_jump <= MAX_LIMB_JUMP}
        if self.wrists_seen:
            out["wrist_moves"] = self.wrist_std >= MIN_WRIST_STD
            out["hands_follow_emphasis"] = self.hand_emphasis_r >= MIN_HAND_EMPHASIS_R
        return out

    def summary(self) -> dict[str, object]:
        view: dict[str, object] = {
            k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(self).items()
        }
        view["checks"] = self.checks()
        return view


def evaluate_body(path: Path | str, face: int | None = None) -> BodyReport:
    """Measures the body of one person (by face, as `evaluate_video` picks it) in a video.

    Every frame: the pose model on the region around the first frame's face (fixed, so the crop
    does not move by itself) gives elbows and wrists, each smoothed by a 5-frame running median;
    the face mesh gives head angles and brow height. Hand figures follow the seen wrist the model
    is surest of over the clip. Limb jumps count between frames where the model sees the joint
    (visibility >= SEEN) on both. The emphasis track comes from the video's own sound
    (`speech.track_mouth`). Body height is the person mask's height on the first frame.
    """
    from generator.analysis import detect_pose_in, pose_region, segment_person
    from generator.types import LEFT_ELBOW, LEFT_WRIST

    fps, image, start, pictures = _open_video(Path(path), face)
    height, width = image.shape[:2]
    rows = np.flatnonzero((segment_person(image) >= 0.5).mean(axis=1) >= 0.01)
    body_height = float(rows[-1] - rows[0] + 1) if rows.size else float(height)
    region = pose_region(start, width, height)
    joints = [LEFT_ELBOW, LEFT_ELBOW + 1, LEFT_WRIST, LEFT_WRIST + 1]
    tracks: list[NDArray[np.float32]] = []
    visible: list[NDArray[np.float32]] = []
    seen = np.zeros(len(joints), bool)
    brows: list[float] = []
    angles: list[tuple[float, float, float]] = []
    box = start.box
    for k, rgb in enumerate(pictures):
        found = detect_pose_in(rgb, region) if region is not None else None
        if found is None:
            tracks.append(np.full((len(joints), 2), np.nan, np.float32))
            visible.append(np.zeros(len(joints), np.float32))
        else:
            tracks.append(found[1][joints])
            visible.append(found[2][joints])
            if k == 0:
                seen = found[2][joints] >= SEEN
        points = fit_mesh(rgb, box)
        if points is None:
            brows.append(math.nan)
            angles.append((math.nan, math.nan, math.nan))
            continue
        brows.append(_brow_height(points))
        angles.append(head_pose(points))
        box = _follow(box, points)
    n = len(tracks)
    # The pose model flickers on single frames; a 5-frame running median keeps motion and drops that.
    xy = _running_median(np.array(tracks, dtype=np.float64), 5)  # (n, 4, 2)
    unit = 100.0 / max(body_height, 1.0)
    moved = np.linalg.norm(xy - xy[:1], axis=-1) * unit  # (n, 4): % of body height from the first frame
    sure = np.array(visible) >= SEEN if visible else np.zeros((0, 4), bool)
    jumps = np.linalg.norm(np.diff(xy, axis=0), axis=-1) * unit if n > 1 else np.zeros((0, 4))
    jumps = np.where(sure[1:] & sure[:-1], jumps, 0.0) if n > 1 else jumps
    wrist_cols = [c for c in (2, 3) if seen[c]]
    elbow_cols = [c for c in (0, 1) if seen[c]]
    stds = {c: float(np.nanstd(moved[:, c])) for c in range(4)}
    # The wrist the model is surest of over the clip (the steadier measurement of the two).
    sureness = np.mean(np.array(visible), axis=0) if visible else np.zeros(4)
    hand = max(wrist_cols, key=lambda c: float(sureness[c])) if wrist_cols else None
    emphasis = _emphasis_track(Path(path), n, fps)
    spread = _gaussian(emphasis, EMPHASIS_SIGMA * fps)
    if hand is not None:
        signal = moved[:, hand]
        by_lag = {lag: _lagged_r(signal, spread, lag) for lag in range(-MAX_LAG, MAX_LAG + 1)}
        best = max(by_lag, key=lambda k: (by_lag[k], -abs(k)))
        r0, best_r = by_lag[0], by_lag[best]
        rate = _peaks_per_second(signal, fps)
    else:
        r0, best, best_r, rate = math.nan, 0, math.nan, 0.0
    seen_cols = [c for c in range(4) if seen[c]]
    limb_jump = float(np.nanmax(jumps[:, seen_cols])) if seen_cols and jumps.size else 0.0
    brow = np.array(brows)
    # Brows are judged around each stress: from the stress to half a second after it.
    near = np.zeros(n, bool)
    for i in np.flatnonzero(emphasis > 0):
        near[i : i + max(1, round(0.5 * fps))] = True
    raise_at = (
        100.0 * (float(np.nanmean(brow[near])) - float(np.nanmean(brow[~near])))
        if near.any() and (~near).any()
        else math.nan
    )
    angle_std = np.nanstd(np.array(angles), axis=0) if n else np.zeros(3)
    return BodyReport(
        path=str(path),
        frames=n,
        fps=fps,
        body_height=body_height,
        wrists_seen=len(wrist_cols),
        wrist_std=stds[hand] if hand is not None else 0.0,
        elbow_std=max((stds[c] for c in elbow_cols), default=0.0),
        hand_emphasis_r=r0,
        hand_emphasis_best_lag=best,
        hand_emphasis_best_r=best_r,
        gesture_rate=rate,
        limb_jump=_nan_to_zero(limb_jump),
        head_motion=_nan_to_zero(float(np.max(angle_std))),
        brow_raise_at_emphasis=_nan_to_zero(raise_at),
        emphasis_count=int(np.sum(emphasis > 0)),
    )


def _running_median(xy: NDArray[np.float64], size: int) -> NDArray[np.float64]:
    """Each coordinate's running median over `size` frames (gaps filled from the nearest frame)."""
    from scipy import ndimage

    out = xy.copy()
    flat = out.reshape(len(out), -1)
    for c in range(flat.shape[1]):
        column = flat[:, c]
        ok = ~np.isnan(column)
        if not ok.any():
            continue
        filled = np.interp(np.arange(len(column)), np.flatnonzero(ok), column[ok])
        flat[:, c] = ndimage.median_filter(filled, size=size, mode="nearest")
    return out


def _brow_height(points: NDArray[np.float32]) -> float:
    """Mean height of both brows above their eye's upper lid, in eye-corner distances."""
    eyes = float(np.linalg.norm(points[263, :2] - points[33, :2]))
    lift = 0.0
    for brow, lid in ((lm.RIGHT_BROW, lm.RIGHT_EYE_UPPER), (lm.LEFT_BROW, lm.LEFT_EYE_UPPER)):
        lift += float(points[list(lid), 1].mean() - points[list(brow), 1].mean())
    return lift / 2.0 / max(eyes, 1e-6)


def _emphasis_track(path: Path, frames: int, fps: float) -> NDArray[np.float64]:
    """The speech's emphasis impulses per frame, from the video's own sound (0 without sound)."""
    try:
        audio, _ = load_audio(path)
    except GeneratorError:
        return np.zeros(frames)
    from generator.speech import track_mouth

    speech = track_mouth(audio, SAMPLE_RATE, round(fps), n_frames=frames)
    return np.asarray(speech.emphasis, dtype=np.float64)


def _gaussian(x: NDArray[np.float64], sigma: float) -> NDArray[np.float64]:
    from scipy import ndimage

    smoothed: NDArray[np.float64] = ndimage.gaussian_filter1d(np.asarray(x, np.float64), max(sigma, 1e-3))
    return smoothed


def _peaks_per_second(signal: NDArray[np.float64], fps: float) -> float:
    """Rises of a displacement signal (% of body height) at least GESTURE_PROMINENCE high, a second."""
    from scipy import signal as sp

    clean = np.nan_to_num(signal, nan=float(np.nanmedian(signal)) if np.any(~np.isnan(signal)) else 0.0)
    peaks, _ = sp.find_peaks(_gaussian(clean, 1.0), prominence=GESTURE_PROMINENCE)
    return len(peaks) / max(len(signal) / fps, 1e-6)

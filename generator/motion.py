"""Stage 4, motion plan: what every face, the body and the camera do on every frame.

The plan is numbers only (no pixels): the renderer turns it into warps. For each face:

- the mouth, copied from its speech track (or at rest for a face without one);
- blinks every 2–6 s (randomised, about one in five a double blink), each 150–250 ms;
- gaze: small saccades between fixations, mostly at the camera while speaking;
- head yaw/pitch/roll and translation: slow smooth noise, nods on emphasised syllables, small
  listening nods for idle faces;
- brows lift on emphasis and at a question's rising end, less in quiet speech; neck and shoulders
  follow the head late and softly; breathing;
- gestures for the body rig (`generator.body`): shoulders rise with each breath and shrug a little
  on stresses, upper arms sway, and the hands beat on stressed syllables (the stroke's peak on
  the syllable, as people time them); a cheerful face smiles;
- a listener in a group glances and turns a little towards whoever speaks, and nods now and then.

A `Style` scales each of these (calm < natural < lively in head motion and gesture rate; serious
keeps the brows and smile down; cheerful smiles), and `motion` scales head, body and hand
amplitudes on top (0 = only mouth, blinks and gaze move). The mouth never depends on either.

And for the whole picture a slow camera drift, with the person moving a little more than the
background (parallax). Every motion fades in and out, so the first and last frames are the photo.
Everything random comes from one `numpy.random.Generator` seeded by the request.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from generator.speech import SpeechTrack, silent_track
from generator.types import MOTION_RANGE, STYLES, Style

#: Frames over which motion fades in at the start and out at the end.
FADE_SECONDS = 0.32
#: Frames over which the mouth may fade in: short, so speech that starts at once is not lost.
MOUTH_FADE_FRAMES = 2
#: Seconds between blinks (uniform), and a blink's length.
BLINK_GAP = (2.0, 6.0)
BLINK_LENGTH = (0.15, 0.25)
DOUBLE_BLINK_CHANCE = 0.2


@dataclass(frozen=True)
class StyleParams:
    """How one style performs; 1.0 is natural for every multiplier."""

    head: float  # head turn, tilt and drift amplitude
    nod: float  # depth of the nods on stressed syllables
    tempo: float  # time scale of the slow head motion: < 1 faster, > 1 slower
    brow: float  # brow raise on stresses and questions
    smile: float  # resting smile and cheek raise, 0..1
    blink_gap: tuple[float, float]  # seconds between blinks
    gaze_away: float  # chance that a fixation while speaking is away from the camera
    gesture: float  # hand beat amplitude
    beat_floor: float  # weakest emphasis (0..1) that still gets a hand beat: higher = fewer beats
    sway: float  # upper-arm and shoulder sway amplitude


#: Every style's parameters. Calm moves about half as much as natural and beats only on the
#: strongest stresses; lively moves about one and a half times as much, faster, and beats on
#: nearly every stress.
STYLE_PARAMS: dict[Style, StyleParams] = {
    "natural": StyleParams(1.0, 1.0, 1.0, 1.0, 0.0, BLINK_GAP, 0.3, 1.0, 0.35, 1.0),
    "calm": StyleParams(0.5, 0.55, 1.5, 0.6, 0.1, (3.0, 7.0), 0.2, 0.55, 0.65, 0.5),
    "lively": StyleParams(1.55, 1.45, 0.7, 1.4, 0.25, (1.8, 4.5), 0.4, 1.6, 0.2, 1.5),
    "serious": StyleParams(0.7, 1.0, 1.2, 0.45, 0.0, (3.0, 7.0), 0.15, 0.8, 0.45, 0.7),
    "cheerful": StyleParams(1.2, 1.15, 0.9, 1.2, 0.6, (2.0, 5.0), 0.3, 1.2, 0.3, 1.2),
}
#: A full hand beat at natural style and motion 1: the hand lifts this many forearm lengths (the
#: rise of a level forearm turned by this many radians; the body rig eases large lifts below the
#: fold limit), and the upper arm's sway, radians.
BEAT_ANGLE = 0.6
SWAY_ANGLE = 0.02
#: Shoulder rise per breath and per stress, fraction of face height.
SHOULDER_BREATH = 0.012
SHOULDER_SHRUG = 0.02


@dataclass(frozen=True)
class Gestures:
    """What the body rig moves on each frame, beyond the face mesh; everything is 0 at rest."""

    shoulders: NDArray[np.float32]  # (n, 2): left, right shoulder rise, fraction of face height
    arms: NDArray[np.float32]  # (n, 2): upper-arm sway about the shoulder, radians, left, right
    hands: NDArray[np.float32]  # (n, 2): hand lift of a beat, forearm lengths, left, right
    smile: NDArray[np.float32]  # [0, 1]: mouth corners and cheeks raised


@dataclass(frozen=True)
class FaceMotion:
    """One face's motion, one value (or row) per frame; everything is 0 at rest."""

    face: int  # index into the analysis' faces
    speaking: bool  # has a speech track
    engage: NDArray[np.float32]  # [0, 1]: 0 = exactly the photo (first/last frames), 1 = fully animated
    jaw_open: NDArray[np.float32]  # [0, 1]
    lip_width: NDArray[np.float32]  # [-1, 1]
    lip_round: NDArray[np.float32]  # [0, 1]
    lips_pressed: NDArray[np.float32]  # [0, 1]
    lip_teeth: NDArray[np.float32]  # [0, 1]: lower lip under the upper teeth (f, v)
    tongue: NDArray[np.float32]  # [0, 1]: tongue tip showing (th, l)
    speech: NDArray[np.bool_]  # bool
    talking: NDArray[np.float32]  # [0, 1]: within ~0.5 s of this face's speech (its lips may rest closed)
    blink: NDArray[np.float32]  # [0, 1]: lid closure
    blink_starts: tuple[int, ...]  # first frame of each blink event (a double blink counts once)
    gaze: NDArray[np.float32]  # (n, 2): iris offset as a fraction of the eye's width (x right, y down)
    brow: NDArray[np.float32]  # [0, 1]: raise
    head: NDArray[np.float32]  # (n, 3): yaw, pitch, roll in degrees, relative to the photo
    shift: NDArray[np.float32]  # (n, 2): head translation, fraction of face height (x right, y down)
    body: NDArray[np.float32]  # (n, 2): neck and shoulders translation, fraction of face height
    breath: NDArray[np.float32]  # [-1, 1]: chest rise
    #: The body rig's weights; None moves no shoulders, arms or hands (and no smile).
    gestures: Gestures | None = None

    @property
    def n_frames(self) -> int:
        return len(self.engage)


@dataclass(frozen=True)
class MotionPlan:
    """All faces' motion plus the camera, for `n_frames` frames at `fps`."""

    fps: int
    n_frames: int
    faces: list[FaceMotion]
    camera: NDArray[np.float32]  # (n, 3): dx, dy (fraction of the image's shorter side), zoom (relative)
    parallax: float  # the person moves (1 + parallax) times as far as the background

    def lip_closures(self) -> frozenset[int]:
        """Frames on which some face's lips are pressed shut (m, b, p)."""
        pressed = np.zeros(self.n_frames, bool)
        for face in self.faces:
            pressed |= face.lips_pressed > 0.5
        return frozenset(np.flatnonzero(pressed).tolist())


def plan_motion(
    face_tracks: Mapping[int, SpeechTrack | None],
    n_frames: int,
    fps: int,
    seed: int = 0,
    style: Style = "natural",
    motion: float = 1.0,
    positions: Mapping[int, float] | None = None,
) -> MotionPlan:
    """Plans every frame's motion; faces mapped to None stay idle (blink, breathe, listen).

    `style` and `motion` (within MOTION_RANGE) shape every face's performance; the mouth follows
    the sound alone. `positions` (each face's centre x, any unit) lets a listener glance towards
    whoever speaks. Deterministic for a seed: each face draws from its own stream, so adding a face
    does not change what the others do.
    """
    if style not in STYLES:
        raise ValueError(f"unknown style {style!r}; one of {', '.join(STYLES)}")
    if not MOTION_RANGE[0] <= motion <= MOTION_RANGE[1]:
        raise ValueError(f"motion {motion} is outside {MOTION_RANGE}")
    params = STYLE_PARAMS[style]
    speakers = _speaking_frames(face_tracks, n_frames)
    faces = [
        _plan_face(
            face,
            track,
            n_frames,
            fps,
            np.random.default_rng([seed, face]),
            params,
            motion,
            _towards_speaker(face, speakers, positions, n_frames, fps) if track is None else None,
        )
        for face, track in sorted(face_tracks.items())
    ]
    camera_rng = np.random.default_rng([seed, 1_000_003])
    engage = fade_envelope(n_frames, fps)
    camera = np.zeros((n_frames, 3), dtype=np.float32)
    camera[:, 0] = 0.004 * _noise(camera_rng, n_frames, fps, 2.5)
    camera[:, 1] = 0.003 * _noise(camera_rng, n_frames, fps, 2.5)
    # A slow push-in and back, as if a camera operator leaned closer while the person talks; a short
    # clip gets a smaller one, so it stays slow.
    push = 0.012 * min(1.0, n_frames / (10.0 * fps))
    camera[:, 2] = push * np.sin(np.linspace(0.0, np.pi, n_frames)) ** 2
    camera *= engage[:, None] * min(1.0, motion)
    return MotionPlan(fps=fps, n_frames=n_frames, faces=faces, camera=camera, parallax=0.6)


def _speaking_frames(face_tracks: Mapping[int, SpeechTrack | None], n: int) -> dict[int, NDArray[np.bool_]]:
    """Each speaking face's voiced frames on the n-frame timeline."""
    return {face: _fit(track, n).speech for face, track in face_tracks.items() if track is not None}


def _towards_speaker(
    face: int,
    speakers: Mapping[int, NDArray[np.bool_]],
    positions: Mapping[int, float] | None,
    n: int,
    fps: int,
) -> NDArray[np.float64] | None:
    """Per frame, -1..1: which way (image left -, right +) a listener would turn to face the
    speaker talking now, eased in and out; None without positions or speakers."""
    if positions is None or face not in positions or not speakers:
        return None
    side = np.zeros(n, dtype=np.float64)
    for other, voiced in speakers.items():
        if other == face or other not in positions:
            continue
        sign = float(np.sign(positions[other] - positions[face]))
        side += sign * voiced[:n].astype(np.float64)
    if not np.any(side):
        return None
    return np.clip(_smooth(side, 0.5 * fps), -1.0, 1.0)


def fade_envelope(n_frames: int, fps: int, frames: int | None = None) -> NDArray[np.float32]:
    """0 on the first and last frame, easing to 1 within FADE_SECONDS (or `frames`)."""
    ramp = max(1, round(FADE_SECONDS * fps) if frames is None else frames)
    i = np.arange(n_frames, dtype=np.float64)
    t = np.clip(np.minimum(i, n_frames - 1 - i) / ramp, 0.0, 1.0)
    return (t * t * (3.0 - 2.0 * t)).astype(np.float32)


def _plan_face(
    face: int,
    track: SpeechTrack | None,
    n: int,
    fps: int,
    rng: np.random.Generator,
    params: StyleParams | None = None,
    motion: float = 1.0,
    towards: NDArray[np.float64] | None = None,
) -> FaceMotion:
    style = params or STYLE_PARAMS["natural"]
    speaking = track is not None
    mouth = _fit(track, n) if track is not None else silent_track(n, fps)
    engage = fade_envelope(n, fps)
    mouth_engage = fade_envelope(n, fps, MOUTH_FADE_FRAMES)

    blink, blink_starts = _blinks(rng, n, fps, style.blink_gap)
    talk = _smooth(mouth.energy.astype(np.float64), 0.25 * fps)  # how animated the speaker is now
    # Quiet speech makes a softer face: stresses spoken quietly raise the brows and nod less.
    loud = 0.5 + 0.5 * np.clip(_smooth(mouth.energy.astype(np.float64), 0.5 * fps) / 0.6, 0.0, 1.0)
    scale = (1.0 if speaking else 0.6) * style.head * motion
    tempo = style.tempo

    head = np.zeros((n, 3), dtype=np.float64)
    head[:, 0] = scale * 2.2 * _noise(rng, n, fps, 1.2 * tempo)  # yaw
    head[:, 1] = scale * 1.2 * _noise(rng, n, fps, 0.9 * tempo)  # pitch
    head[:, 2] = scale * 1.3 * _noise(rng, n, fps, 1.5 * tempo)  # roll
    # Talking people move more while they talk, and nod down on stressed syllables.
    head[:, 0] += style.head * motion * 1.2 * talk * _noise(rng, n, fps, 0.4 * tempo)
    nods = _kernel_train(mouth.emphasis, fps, 0.45) * loud
    head[:, 1] -= style.nod * motion * 2.6 * nods
    head[:, 2] += style.nod * motion * 0.6 * nods * rng.choice([-1.0, 1.0])
    question = _question_ends(mouth, fps)
    raise_ = 0.9 * _kernel_train(mouth.emphasis, fps, 0.6) * loud + 0.8 * question
    brow: NDArray[np.float64] = np.clip(style.brow * raise_ + 0.15 * talk * min(style.brow, 1.0), 0.0, 1.0)
    if not speaking:
        listening = np.zeros(n)
        t = rng.uniform(1.0, 3.0)
        while t * fps < n:
            listening[int(t * fps)] = rng.uniform(0.4, 1.0)
            t += rng.uniform(2.5, 6.0)
        head[:, 1] -= 1.5 * style.nod * motion * _kernel_train(listening, fps, 0.6)
        if towards is not None:
            # A listener turns a little towards the one who speaks (yaw + = towards our right).
            head[:, 0] += 4.0 * min(1.0, motion) * towards

    shift = np.zeros((n, 2), dtype=np.float64)
    # Turning the head moves it sideways a little; leaning adds slow drift.
    shift[:, 0] = 0.004 * head[:, 0] + scale * 0.012 * _noise(rng, n, fps, 2.0 * tempo)
    shift[:, 1] = -0.003 * head[:, 1] + scale * 0.006 * _noise(rng, n, fps, 2.0 * tempo)

    breath_rate = rng.uniform(0.2, 0.3)  # breaths a second
    breath: NDArray[np.float64] = np.sin(2 * np.pi * (breath_rate * np.arange(n) / fps + rng.uniform()))

    # Neck and shoulders follow the head late and softly, and rise with each breath.
    lag = round(0.2 * fps)
    body = 0.35 * _smooth(np.roll(shift, lag, axis=0), 0.3 * fps, axis=0)
    body[:lag] = 0.0
    body[:, 1] -= 0.008 * breath

    gaze = _gaze(rng, n, fps, mouth.speech, style.gaze_away)
    if towards is not None:
        gaze[:, 0] += 0.06 * towards  # the eyes lead the head

    gestures = _gestures(rng, mouth, n, fps, style, motion, breath)

    def rest(x: NDArray[np.floating[Any]], env: NDArray[np.float32] = engage) -> NDArray[np.float32]:
        e = env if x.ndim == 1 else env[:, None]
        return (x * e).astype(np.float32)

    return FaceMotion(
        face=face,
        speaking=speaking,
        engage=engage,
        jaw_open=rest(mouth.jaw_open, mouth_engage),
        lip_width=rest(mouth.lip_width, mouth_engage),
        lip_round=rest(mouth.lip_round, mouth_engage),
        lips_pressed=rest(mouth.lips_pressed, mouth_engage),
        lip_teeth=rest(mouth.lip_teeth, mouth_engage),
        tongue=rest(mouth.tongue, mouth_engage),
        speech=mouth.speech.copy(),
        talking=_talking(mouth.speech, fps),
        blink=blink.astype(np.float32),
        blink_starts=blink_starts,
        gaze=rest(gaze),
        brow=rest(brow),
        head=rest(head),
        shift=rest(shift),
        body=rest(body),
        breath=rest(breath),
        gestures=Gestures(
            shoulders=rest(gestures[0]),
            arms=rest(gestures[1]),
            hands=rest(gestures[2]),
            smile=rest(gestures[3]),
        ),
    )


def _gestures(
    rng: np.random.Generator,
    mouth: SpeechTrack,
    n: int,
    fps: int,
    style: StyleParams,
    motion: float,
    breath: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Shoulders (n, 2), upper-arm sway (n, 2), hand beats (n, 2) and smile (n,) for one face.

    A hand beat is a quick rise and fall of the forearm whose peak falls on the stressed syllable
    (people time a gesture's stroke to the stress, not after it). Each stress at or above the
    style's `beat_floor` gets a beat of both hands, one leading, the other 40-80 % as far.
    """
    shoulders = np.zeros((n, 2), dtype=np.float64)
    arms = np.zeros((n, 2), dtype=np.float64)
    hands = np.zeros((n, 2), dtype=np.float64)
    stresses = np.flatnonzero(mouth.emphasis >= style.beat_floor)
    impulses = np.zeros((n, 2), dtype=np.float64)
    for i in stresses:
        # Both hands beat together, one leading (people mostly gesture with both, unevenly).
        # Any stress that earns a beat gets a visible one; stronger stresses a larger one.
        lead = int(rng.integers(0, 2))
        size = 0.5 + 0.5 * float(mouth.emphasis[i])
        impulses[i, lead] = size
        impulses[i, 1 - lead] = size * rng.uniform(0.4, 0.8)
    for k in range(2):
        hands[:, k] = _centred_train(impulses[:, k], fps, 0.8)
        arms[:, k] = _noise(rng, n, fps, 1.6 * style.tempo)
    hands *= BEAT_ANGLE * style.gesture * motion
    # The upper arms sway slowly, and lift a little with their hand's beat.
    arms = SWAY_ANGLE * style.sway * motion * arms + 0.15 * hands
    shrug = _centred_train(mouth.emphasis * (mouth.emphasis >= style.beat_floor), fps, 0.5)
    for k in range(2):
        shoulders[:, k] = SHOULDER_BREATH * np.clip(motion, 0.0, 1.0) * (0.5 + 0.5 * breath)
        shoulders[:, k] += SHOULDER_SHRUG * style.sway * motion * shrug
    # A cheerful face keeps a smile that grows a little while it talks.
    talk = _smooth(mouth.energy.astype(np.float64), 0.4 * fps)
    smile = np.clip(style.smile * (0.75 + 0.25 * talk), 0.0, 1.0) * np.ones(n)
    return shoulders, arms, hands, smile


def _question_ends(mouth: SpeechTrack, fps: int) -> NDArray[np.float64]:
    """A brow-raise bump (0..1) where a phrase ends on a rising pitch, as a question does.

    A phrase is a run of speech frames; its end rises when the pitch over its last 0.4 s climbs
    at least 2 semitones above the phrase's median.
    """
    n = mouth.n_frames
    out = np.zeros(n, dtype=np.float64)
    speech = np.asarray(mouth.speech, bool)
    if not speech.any():
        return out
    edges = np.flatnonzero(np.diff(np.concatenate([[0], speech.astype(np.int8), [0]])))
    tail = max(2, round(0.4 * fps))
    impulses = np.zeros(n, dtype=np.float64)
    for start, stop in zip(edges[::2], edges[1::2], strict=True):
        if stop - start < 2 * tail:
            continue
        pitch = np.asarray(mouth.pitch[start:stop], dtype=np.float64)
        voiced = pitch != 0
        if voiced.sum() < tail:
            continue
        end = pitch[-tail:][voiced[-tail:]]
        if end.size >= 2 and float(end.max()) - float(np.median(pitch[voiced])) >= 2.0 and end[-1] > end[0]:
            impulses[max(start, stop - tail)] = 1.0
    return np.clip(_kernel_train(impulses, fps, 0.9), 0.0, 1.0)


def _talking(speech: NDArray[np.bool_], fps: int) -> NDArray[np.float32]:
    """1 around speech (half a second either side), easing to 0 in longer silences."""
    reach = max(1, round(0.5 * fps))
    near: NDArray[np.bool_] = ndimage.binary_dilation(np.asarray(speech, bool), np.ones(2 * reach + 1, bool))
    return np.clip(_smooth(near.astype(np.float64), 0.1 * fps), 0.0, 1.0).astype(np.float32)


_Item = TypeVar("_Item", bound=np.generic)  # a per-frame array's element type, kept by `_fit`


def _fit(track: SpeechTrack, n: int) -> SpeechTrack:
    """The track placed on an n-frame timeline: cut, or padded with rest."""
    if track.n_frames == n:
        return track
    pad = silent_track(n, track.fps)
    m = min(n, track.n_frames)

    def fit(values: NDArray[_Item], rest: NDArray[_Item]) -> NDArray[_Item]:
        out = rest.copy()
        out[:m] = values[:m]
        return out

    return SpeechTrack(
        fps=track.fps,
        jaw_open=fit(track.jaw_open, pad.jaw_open),
        lip_width=fit(track.lip_width, pad.lip_width),
        lip_round=fit(track.lip_round, pad.lip_round),
        lips_pressed=fit(track.lips_pressed, pad.lips_pressed),
        lip_teeth=fit(track.lip_teeth, pad.lip_teeth),
        tongue=fit(track.tongue, pad.tongue),
        speech=fit(track.speech, pad.speech),
        energy=fit(track.energy, pad.energy),
        pitch=fit(track.pitch, pad.pitch),
        emphasis=fit(track.emphasis, pad.emphasis),
        speech_seconds=track.speech_seconds,
        floor_db=track.floor_db,
        peak_db=track.peak_db,
    )


def _blinks(
    rng: np.random.Generator, n: int, fps: int, gap: tuple[float, float] = BLINK_GAP
) -> tuple[NDArray[np.float64], tuple[int, ...]]:
    """Lid closure per frame and the first frame of each blink event, `gap` seconds apart."""
    closure = np.zeros(n, dtype=np.float64)
    starts: list[int] = []
    fade = round(FADE_SECONDS * fps)
    t = rng.uniform(0.8, 2.5)
    while True:
        start = round(t * fps)
        length = rng.uniform(*BLINK_LENGTH)
        double = rng.uniform() < DOUBLE_BLINK_CHANCE
        end = start + int(np.ceil((length * (2.3 if double else 1.0)) * fps)) + 1
        if end >= n - fade:
            break
        if start >= fade:
            starts.append(start)
            _add_blink(closure, t, length, fps)
            if double:
                _add_blink(closure, t + length * 1.3, length * 0.9, fps)
        t += rng.uniform(*gap)
    return np.clip(closure, 0.0, 1.0), tuple(starts)


def _add_blink(closure: NDArray[np.float64], start_s: float, length_s: float, fps: int) -> None:
    """A blink: the lid falls fast (a third of the time), stays shut briefly, rises slower."""
    i = np.arange(len(closure)) / fps
    u = (i - start_s) / length_s
    down = np.sin(0.5 * np.pi * np.clip(u / 0.33, 0.0, 1.0))
    up = np.sin(0.5 * np.pi * np.clip((1.0 - u) / 0.45, 0.0, 1.0))
    shape = np.where(u < 0.33, down, np.where(u < 0.55, 1.0, up))
    shape[(u < 0) | (u > 1)] = 0.0
    np.maximum(closure, shape, out=closure)


def _gaze(
    rng: np.random.Generator, n: int, fps: int, speech: NDArray[np.bool_], away: float = 0.3
) -> NDArray[np.float64]:
    """Fixations joined by quick saccades; a speaker mostly looks at the camera.

    A look away (chance `away` while speaking, twice that in silence) is always followed by a
    return to the camera, where the eyes rest exactly (a still face's crop is then reused, not
    warped again: see render.REUSE_PX).
    """
    gaze = np.zeros((n, 2), dtype=np.float64)
    i = 0
    was_away = False
    while i < n:
        hold = int(rng.uniform(0.6, 2.8) * fps)
        talking = float(np.mean(speech[i : i + hold])) > 0.3
        looking_away = not was_away and rng.uniform() < (away if talking else min(0.9, 2 * away))
        if looking_away:
            hold = min(hold, int(1.2 * fps))  # a glance away is brief
            gaze[i : i + hold] = rng.normal(0.0, [0.05, 0.025])
        was_away = looking_away
        i += max(1, hold)
    # Saccades last ~40-60 ms: smooth just enough that a move spans one or two frames.
    return _smooth(gaze, 0.03 * fps + 0.4, axis=0)


def _noise(rng: np.random.Generator, n: int, fps: int, seconds: float) -> NDArray[np.float64]:
    """Smooth random motion with about unit standard deviation and about `seconds` between turns.

    Scaled by the clip's own spread, but never by less than the process's: a clip shorter than
    one turn drifts part of a turn. (Scaling a 2 s clip to its own tiny spread blew a slow drift up
    to head turns of 25 degrees and shifts of most of a face.)
    """
    sigma = seconds * fps / 2.0
    pad = int(3 * seconds * fps)
    raw = rng.standard_normal(n + 2 * pad)
    smooth: NDArray[np.float64] = ndimage.gaussian_filter1d(raw, sigma)[pad : pad + n]
    impulse = np.zeros(2 * pad + 1)
    impulse[pad] = 1.0
    process_std = float(np.linalg.norm(ndimage.gaussian_filter1d(impulse, sigma)))
    std = max(float(np.std(smooth)) if n > 1 else 0.0, process_std)
    return smooth / std


def _kernel_train(impulses: NDArray[np.floating[Any]], fps: int, seconds: float) -> NDArray[np.float64]:
    """Each impulse becomes a smooth bump (rise then fall) peaking about a third of `seconds` later."""
    length = max(3, round(seconds * fps))
    u = np.linspace(0.0, 1.0, length)
    bump = np.sin(np.pi * u**0.7) ** 2
    out: NDArray[np.float64] = np.convolve(np.asarray(impulses, dtype=np.float64), bump)[: len(impulses)]
    return np.clip(out, 0.0, 1.5)


def _centred_train(impulses: NDArray[np.floating[Any]], fps: int, seconds: float) -> NDArray[np.float64]:
    """Each impulse becomes a smooth bump (0..1 peak) centred on it, `seconds` wide."""
    length = max(3, round(seconds * fps) | 1)
    bump = np.sin(np.linspace(0.0, np.pi, length)) ** 2
    x = np.asarray(impulses, dtype=np.float64)
    half = length // 2
    out: NDArray[np.float64] = np.convolve(x, bump)[half : half + len(x)]
    return np.clip(out, 0.0, 1.5)


def _smooth(x: NDArray[np.floating[Any]], sigma: float, axis: int = 0) -> NDArray[np.float64]:
    smoothed: NDArray[np.float64] = ndimage.gaussian_filter1d(
        np.asarray(x, dtype=np.float64), max(sigma, 1e-3), axis=axis, mode="nearest"
    )
    return smoothed

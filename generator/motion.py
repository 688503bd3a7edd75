"""Stage 4, motion plan: what every face, the body and the camera do on every frame.

The plan is numbers only (no pixels): the renderer turns it into warps. For each face:

- the mouth, copied from its speech track (or at rest for a face without one);
- blinks every 2–6 s (randomised, about one in five a double blink), each 150–250 ms;
- gaze: small saccades between fixations, mostly at the camera while speaking;
- head yaw/pitch/roll and translation: slow smooth noise, nods on emphasised syllables, small
  listening nods for idle faces;
- brows lift on emphasis; neck and shoulders follow the head late and softly; breathing.

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

#: Frames over which motion fades in at the start and out at the end.
FADE_SECONDS = 0.32
#: Frames over which the mouth may fade in: short, so speech that starts at once is not lost.
MOUTH_FADE_FRAMES = 2
#: Seconds between blinks (uniform), and a blink's length.
BLINK_GAP = (2.0, 6.0)
BLINK_LENGTH = (0.15, 0.25)
DOUBLE_BLINK_CHANCE = 0.2


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


def plan_motion(
    face_tracks: Mapping[int, SpeechTrack | None], n_frames: int, fps: int, seed: int = 0
) -> MotionPlan:
    """Plans every frame's motion; faces mapped to None stay idle (blink, breathe, listen).

    Deterministic for a seed: each face draws from its own stream, so adding a face does not
    change what the others do.
    """
    faces = [
        _plan_face(face, track, n_frames, fps, np.random.default_rng([seed, face]))
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
    camera *= engage[:, None]
    return MotionPlan(fps=fps, n_frames=n_frames, faces=faces, camera=camera, parallax=0.6)


def fade_envelope(n_frames: int, fps: int, frames: int | None = None) -> NDArray[np.float32]:
    """0 on the first and last frame, easing to 1 within FADE_SECONDS (or `frames`)."""
    ramp = max(1, round(FADE_SECONDS * fps) if frames is None else frames)
    i = np.arange(n_frames, dtype=np.float64)
    t = np.clip(np.minimum(i, n_frames - 1 - i) / ramp, 0.0, 1.0)
    return (t * t * (3.0 - 2.0 * t)).astype(np.float32)


def _plan_face(
    face: int, track: SpeechTrack | None, n: int, fps: int, rng: np.random.Generator
) -> FaceMotion:
    speaking = track is not None
    mouth = _fit(track, n) if track is not None else silent_track(n, fps)
    engage = fade_envelope(n, fps)
    mouth_engage = fade_envelope(n, fps, MOUTH_FADE_FRAMES)

    blink, blink_starts = _blinks(rng, n, fps)
    talk = _smooth(mouth.energy.astype(np.float64), 0.25 * fps)  # how animated the speaker is now
    scale = 1.0 if speaking else 0.6

    head = np.zeros((n, 3), dtype=np.float64)
    head[:, 0] = scale * 2.2 * _noise(rng, n, fps, 1.2)  # yaw
    head[:, 1] = scale * 1.2 * _noise(rng, n, fps, 0.9)  # pitch
    head[:, 2] = scale * 1.3 * _noise(rng, n, fps, 1.5)  # roll
    # Talking people move more while they talk, and nod down on stressed syllables.
    head[:, 0] += 1.2 * talk * _noise(rng, n, fps, 0.4)
    nods = _kernel_train(mouth.emphasis, fps, 0.45)
    head[:, 1] -= 2.6 * nods
    head[:, 2] += 0.6 * nods * rng.choice([-1.0, 1.0])
    brow: NDArray[np.float64] = np.clip(0.9 * _kernel_train(mouth.emphasis, fps, 0.6) + 0.15 * talk, 0.0, 1.0)
    if not speaking:
        listening = np.zeros(n)
        t = rng.uniform(1.0, 3.0)
        while t * fps < n:
            listening[int(t * fps)] = rng.uniform(0.4, 1.0)
            t += rng.uniform(2.5, 6.0)
        head[:, 1] -= 1.5 * _kernel_train(listening, fps, 0.6)

    shift = np.zeros((n, 2), dtype=np.float64)
    # Turning the head moves it sideways a little; leaning adds slow drift.
    shift[:, 0] = 0.004 * head[:, 0] + scale * 0.012 * _noise(rng, n, fps, 2.0)
    shift[:, 1] = -0.003 * head[:, 1] + scale * 0.006 * _noise(rng, n, fps, 2.0)

    breath_rate = rng.uniform(0.2, 0.3)  # breaths a second
    breath: NDArray[np.float64] = np.sin(2 * np.pi * (breath_rate * np.arange(n) / fps + rng.uniform()))

    # Neck and shoulders follow the head late and softly, and rise with each breath.
    lag = round(0.2 * fps)
    body = 0.35 * _smooth(np.roll(shift, lag, axis=0), 0.3 * fps, axis=0)
    body[:lag] = 0.0
    body[:, 1] -= 0.008 * breath

    gaze = _gaze(rng, n, fps, mouth.speech)

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
    )


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


def _blinks(rng: np.random.Generator, n: int, fps: int) -> tuple[NDArray[np.float64], tuple[int, ...]]:
    """Lid closure per frame and the first frame of each blink event."""
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
        t += rng.uniform(*BLINK_GAP)
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


def _gaze(rng: np.random.Generator, n: int, fps: int, speech: NDArray[np.bool_]) -> NDArray[np.float64]:
    """Fixations joined by quick saccades; a speaker mostly looks at the camera."""
    gaze = np.zeros((n, 2), dtype=np.float64)
    i = 0
    while i < n:
        hold = int(rng.uniform(0.6, 2.8) * fps)
        talking = float(np.mean(speech[i : i + hold])) > 0.3
        looking_away = rng.uniform() < (0.3 if talking else 0.6)
        if looking_away:
            gaze[i : i + hold] = rng.normal(0.0, [0.05, 0.025])
        i += hold
    # Saccades last ~40-60 ms: smooth just enough that a move spans one or two frames.
    return _smooth(gaze, 0.03 * fps + 0.4, axis=0)


def _noise(rng: np.random.Generator, n: int, fps: int, seconds: float) -> NDArray[np.float64]:
    """Smooth random motion with unit standard deviation and about `seconds` between turns."""
    pad = int(3 * seconds * fps)
    raw = rng.standard_normal(n + 2 * pad)
    smooth: NDArray[np.float64] = ndimage.gaussian_filter1d(raw, seconds * fps / 2.0)[pad : pad + n]
    std = float(np.std(smooth)) if n > 1 else 0.0
    return smooth / std if std > 1e-9 else smooth


def _kernel_train(impulses: NDArray[np.floating[Any]], fps: int, seconds: float) -> NDArray[np.float64]:
    """Each impulse becomes a smooth bump (rise then fall) peaking about a third of `seconds` later."""
    length = max(3, round(seconds * fps))
    u = np.linspace(0.0, 1.0, length)
    bump = np.sin(np.pi * u**0.7) ** 2
    out: NDArray[np.float64] = np.convolve(np.asarray(impulses, dtype=np.float64), bump)[: len(impulses)]
    return np.clip(out, 0.0, 1.5)


def _smooth(x: NDArray[np.floating[Any]], sigma: float, axis: int = 0) -> NDArray[np.float64]:
    smoothed: NDArray[np.float64] = ndimage.gaussian_filter1d(
        np.asarray(x, dtype=np.float64), max(sigma, 1e-3), axis=axis, mode="nearest"
    )
    return smoothed

"""The body rig: shoulders, arms, hands and a smile as smooth displacement fields on a coarse grid.

Built once per render from each face's `BodyPose` (the pose model's shoulders, elbows, wrists and
fingertips) and the person mask; every frame then adds a handful of fields, each scaled by one
number from the motion plan's `Gestures`, to the scene's coarse forward displacement field. Being a
coarse field like the head and camera ones, it runs on whatever engine executes the scene's warp.

- Shoulders: a soft blob around each visible shoulder, on the person only, rises (breath, shrug);
  a free arm rises with its shoulder.
- A free arm: the whole arm (a soft capsule along shoulder-elbow-wrist-fingertip) sways about
  the shoulder (a small rigid rotation), and for a beat the forearm and hand lift straight up in
  the picture, hinged at the elbow, by the beat times the forearm's length (a beat
  is a vertical stroke of the hand whichever way the forearm points). Each field is whole inside
  its capsule, fades to nothing over about a face height outside it (the hand's lift also eases
  in along the forearm from the elbow), and never reaches a head: the background beside a moving
  hand stretches instead of tearing, and faces keep their own warps. Each field's travel is eased into a
  fraction of its fade (`FOLD_SAFE`), so however large the plan's beat, the warp never folds.
- An arm stays still (no field at all) unless the pose model sees its shoulder, elbow and wrist
  (`MIN_VISIBILITY`), the elbow and wrist lie inside the photo away from its edges (not cut off),
  the wrist is on its own side of the body and apart from the other hand (not folded, not holding
  something with both hands), away from the face (not holding a phone, not a chin on a hand), on
  the person mask near the wrist (not behind or holding an object the mask leaves out), and the
  forearm is long enough to move visibly (not pointing at the camera). `arm_state` says which rule held it.
- Smile: mouth corners up and out, cheeks up, as smooth bumps around the mesh's corner and cheek
  points.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from generator import landmarks as lm
from generator.motion import FaceMotion
from generator.types import (
    LEFT_ELBOW,
    LEFT_INDEX,
    LEFT_SHOULDER,
    LEFT_WRIST,
    RIGHT_SHOULDER,
    BodyPose,
    FaceAnalysis,
)

__all__ = ["ArmState", "BodyRig", "arm_state"]

#: The pose model's visibility a joint needs for its limb to move.
MIN_VISIBILITY = 0.6
#: Elbow and wrist at least this far (fraction of the photo's longer side) inside the photo.
EDGE_MARGIN = 0.03
#: Wrists closer than this (fraction of shoulder width) are folded or holding something together.
MIN_WRIST_GAP = 0.45
#: A wrist nearer the face centre than this (face heights) is at the face: a phone, a chin rest.
MIN_FACE_DISTANCE = 1.0
#: Forearms shorter than this (face heights) point at the camera: rotating them shows nothing.
MIN_FOREARM = 0.35
#: Capsule radius around a limb (face heights) and the fade outside it.
LIMB_RADIUS = 0.3
LIMB_FADE = 1.1
#: No hand field moves anything further than this fraction of its fade, no sway field further than
#: SWAY_SAFE (larger values are eased into it): a smoothstep fade is at most 1.5 times as steep
#: as linear, so the two together stretch the picture by well under 100 % and never fold it
#: (tests/generator/test_body.py checks the warp's Jacobian at twice the lively motion).
FOLD_SAFE = 0.3
SWAY_SAFE = 0.1
#: Smile: corner rise and spread, cheek rise (face heights), and the bumps' widths.
SMILE_RISE = 0.022
SMILE_SPREAD = 0.012
CHEEK_RISE = 0.01
CORNER_SIGMA = 0.07
CHEEK_SIGMA = 0.11
#: Mesh points at the cheeks' apples, below the eyes.
CHEEK_POINTS = (205, 425)

ArmState = Literal["free", "unseen", "cut_off", "folded", "at_face", "off_person", "foreshortened"]


def arm_state(
    pose: BodyPose, side: int, face: FaceAnalysis, width: int, height: int, person_at: float = 1.0
) -> ArmState:
    """Whether one arm (side 0: the subject's left, 1: right) may move, or the rule that keeps it still.

    `person_at` is the person mask's value at the hand (1 without a mask).
    """
    s, e, w = LEFT_SHOULDER + side, LEFT_ELBOW + side, LEFT_WRIST + side
    if float(pose.visibility[[s, e, w]].min()) < MIN_VISIBILITY:
        return "unseen"
    margin = EDGE_MARGIN * max(width, height)
    joints = pose.points[[e, w]]
    if np.any(joints < margin) or np.any(joints > np.array([width, height]) - margin):
        return "cut_off"
    shoulders = pose.points[[LEFT_SHOULDER, RIGHT_SHOULDER]]
    shoulder_w = float(np.linalg.norm(shoulders[0] - shoulders[1]))
    middle = float(shoulders[:, 0].mean())
    own_side = float(np.sign(pose.points[s, 0] - middle))  # which way this arm's shoulder lies
    wrist, other = pose.points[w], pose.points[LEFT_WRIST + 1 - side]
    if (wrist[0] - middle) * own_side < -0.1 * shoulder_w:
        return "folded"  # crosses the body
    if float(pose.visibility[LEFT_WRIST + 1 - side]) >= MIN_VISIBILITY and float(
        np.linalg.norm(wrist - other)
    ) < MIN_WRIST_GAP * max(shoulder_w, 1.0):
        return "folded"
    face_h = face_height(face)
    centre = np.asarray(face.landmarks[list(lm.FACE_OVAL), :2], np.float64).mean(axis=0)
    if float(np.linalg.norm(wrist - centre)) < MIN_FACE_DISTANCE * face_h:
        return "at_face"
    if person_at < 0.4:
        return "off_person"
    if float(np.linalg.norm(pose.points[w] - pose.points[e])) < MIN_FOREARM * face_h:
        return "foreshortened"
    return "free"


def face_height(face: FaceAnalysis) -> float:
    """Forehead to chin, pixels."""
    points = np.asarray(face.landmarks[:, :2], np.float64)
    return max(1.0, float(np.linalg.norm(points[lm.CHIN] - points[lm.FOREHEAD])))


@dataclass
class _PersonFields:
    """One face's fields on the grid (gh, gw, 2), per unit of its `Gestures` value; None: absent."""

    shoulders: list[NDArray[np.float32] | None]  # per face height of rise, left, right
    arms: list[NDArray[np.float32] | None]  # per radian of sway, left, right
    hands: list[NDArray[np.float32] | None]  # per forearm length of lift, left, right
    smile: NDArray[np.float32] | None  # at smile = 1
    #: The largest value each arm (SWAY_SAFE) and hand (FOLD_SAFE) field takes, per side.
    arm_limit: tuple[float, float] = (0.0, 0.0)
    hand_limit: tuple[float, float] = (0.0, 0.0)


class BodyRig:
    """Every person's shoulder, arm, hand and smile fields on the scene's coarse grid, built once."""

    def __init__(
        self,
        xy: NDArray[np.float32],
        person: NDArray[np.float32],
        faces: Sequence[FaceAnalysis],
        width: int,
        height: int,
    ) -> None:
        """`xy`: (gh, gw, 2) cell centres in pixels; `person`: the person mask at those cells."""
        self.xy = np.asarray(xy, np.float64)
        self.person = np.asarray(person, np.float64)
        heads = np.ones(self.xy.shape[:2])
        for face in faces:
            heads *= 1.0 - self._head(face)
        self.not_head = heads
        self.states: list[tuple[ArmState, ArmState]] = []
        self.people = [self._person(face, width, height) for face in faces]

    def add(self, field: NDArray[np.float32], motions: Sequence[FaceMotion], i: int) -> None:
        """Adds frame i's body displacement (forward, pixels) to `field` (gh, gw, 2) in place."""
        for fields, m in zip(self.people, motions, strict=True):
            g = m.gestures
            if g is None:
                continue
            for k in range(2):
                for basis, value in (
                    (fields.shoulders[k], float(g.shoulders[i, k])),
                    (fields.arms[k], _ease(float(g.arms[i, k]), fields.arm_limit[k])),
                    (fields.hands[k], _ease(float(g.hands[i, k]), fields.hand_limit[k])),
                ):
                    if basis is not None and value != 0.0:
                        field += value * basis
            if fields.smile is not None and g.smile[i] != 0.0:
                field += float(g.smile[i]) * fields.smile

    # -- setup --

    def _head(self, face: FaceAnalysis) -> NDArray[np.float64]:
        """1 on the head (and a margin), fading to 0 a face height from its centre."""
        centre = np.asarray(face.landmarks[list(lm.FACE_OVAL), :2], np.float64).mean(axis=0)
        d = np.linalg.norm(self.xy - centre, axis=-1) / face_height(face)
        return 1.0 - _smoothstep(0.75, 1.05, d)

    def _person(self, face: FaceAnalysis, width: int, height: int) -> _PersonFields:
        fh = face_height(face)
        fields = _PersonFields(shoulders=[None, None], arms=[None, None], hands=[None, None], smile=None)
        if face.usable:
            fields.smile = self._smile(face, fh)
        pose = face.body
        if pose is None or not face.usable:
            self.states.append(("unseen", "unseen"))
            return fields
        states: list[ArmState] = []
        arm_limit, hand_limit = [0.0, 0.0], [0.0, 0.0]
        fade = LIMB_FADE * fh
        for side in range(2):
            s, e, w, tip = (LEFT_SHOULDER + side, LEFT_ELBOW + side, LEFT_WRIST + side, LEFT_INDEX + side)
            hand_at = self._sample_person(pose.points[w], LIMB_RADIUS * fh)
            state = arm_state(pose, side, face, width, height, hand_at)
            states.append(state)
            free = state == "free"
            shoulder = pose.points[s].astype(np.float64)
            if pose.visibility[s] >= 0.5:
                d = np.linalg.norm(self.xy - shoulder, axis=-1) / fh
                blob = np.exp(-0.5 * (d / 0.6) ** 2) * _smoothstep(0.1, 0.4, self.person)
                weight = np.maximum(blob, self._arm(pose, side, fh)) if free else blob
                up = np.zeros(self.xy.shape)
                up[..., 1] = -fh
                fields.shoulders[side] = (weight * self.not_head)[..., None] * up
            if not free:
                continue
            elbow, wrist = pose.points[e].astype(np.float64), pose.points[w].astype(np.float64)
            tip_point = self._hand_tip(pose, wrist, elbow, tip, fh)
            # Sway: the whole arm about the shoulder.
            arm = self._arm(pose, side, fh) * _beyond(self.xy, shoulder, elbow, 0.5 * fade)
            sway = (arm * self.not_head)[..., None] * _rotation(self.xy, shoulder)
            fields.arms[side] = sway.astype(np.float32)
            arm_limit[side] = SWAY_SAFE * fade / max(float(np.linalg.norm(sway, axis=-1).max()), 1e-6)
            # Beat: forearm and hand lift straight up in the picture, hinged at the elbow, by the
            # forearm's length per unit of the plan's beat (a level forearm turned that many radians).
            fore = _capsule(self.xy, [elbow, wrist, tip_point], LIMB_RADIUS * fh, LIMB_FADE * fh)
            fore *= _beyond(self.xy, elbow, wrist, 0.5 * fade)
            lift = np.zeros(self.xy.shape)
            lift[..., 1] = -float(np.linalg.norm(wrist - elbow))
            beat = (fore * self.not_head)[..., None] * lift
            fields.hands[side] = beat.astype(np.float32)
            hand_limit[side] = FOLD_SAFE * fade / max(float(np.linalg.norm(beat, axis=-1).max()), 1e-6)
        for side in range(2):
            basis = fields.shoulders[side]
            if basis is not None:
                fields.shoulders[side] = basis.astype(np.float32)
        self.states.append((states[0], states[1]))
        fields.arm_limit = (arm_limit[0], arm_limit[1])
        fields.hand_limit = (hand_limit[0], hand_limit[1])
        return fields

    def _arm(self, pose: BodyPose, side: int, fh: float) -> NDArray[np.float64]:
        """A soft capsule along one arm, shoulder to fingertip."""
        s, e, w, tip = (LEFT_SHOULDER + side, LEFT_ELBOW + side, LEFT_WRIST + side, LEFT_INDEX + side)
        shoulder, elbow, wrist = (pose.points[k].astype(np.float64) for k in (s, e, w))
        tip_point = self._hand_tip(pose, wrist, elbow, tip, fh)
        return _capsule(self.xy, [shoulder, elbow, wrist, tip_point], LIMB_RADIUS * fh, LIMB_FADE * fh)

    @staticmethod
    def _hand_tip(
        pose: BodyPose, wrist: NDArray[np.float64], elbow: NDArray[np.float64], tip: int, fh: float
    ) -> NDArray[np.float64]:
        """Where the hand ends: the fingertip when seen, else a hand's length past the wrist."""
        if pose.visibility[tip] >= 0.3:
            found = pose.points[tip].astype(np.float64)
            tip_at: NDArray[np.float64] = wrist + (found - wrist) * 1.2
            return tip_at
        along = (wrist - elbow) / max(float(np.linalg.norm(wrist - elbow)), 1e-6)
        return wrist + along * 0.5 * fh

    def _sample_person(self, point: NDArray[np.float32], radius: float) -> float:
        """The person mask's largest value within `radius` of a point (at least the nearest cell):
        a hand is a capsule radius across, and the coarse cells along its outline are half off it."""
        d = np.linalg.norm(self.xy - point.astype(np.float64), axis=-1)
        near = d <= max(radius, float(d.min()))
        return float(self.person[near].max())

    def _smile(self, face: FaceAnalysis, fh: float) -> NDArray[np.float32]:
        """Corners up and out, cheeks up, at smile = 1."""
        p = np.asarray(face.landmarks[:, :2], np.float64)
        centre = 0.5 * (p[lm.MOUTH_CORNER_LEFT] + p[lm.MOUTH_CORNER_RIGHT])
        eyes = p[list(lm.LEFT_EYE)].mean(axis=0) - p[list(lm.RIGHT_EYE)].mean(axis=0)
        ex = eyes / max(float(np.linalg.norm(eyes)), 1e-6)
        up = np.array([ex[1], -ex[0]])
        out = np.zeros(self.xy.shape)
        for corner in (lm.MOUTH_CORNER_LEFT, lm.MOUTH_CORNER_RIGHT):
            at = p[corner]
            bump = np.exp(-0.5 * (np.linalg.norm(self.xy - at, axis=-1) / (CORNER_SIGMA * fh)) ** 2)
            outward = (at - centre) / max(float(np.linalg.norm(at - centre)), 1e-6)
            out += bump[..., None] * (SMILE_RISE * up + SMILE_SPREAD * outward) * fh
        for cheek in CHEEK_POINTS:
            bump = np.exp(-0.5 * (np.linalg.norm(self.xy - p[cheek], axis=-1) / (CHEEK_SIGMA * fh)) ** 2)
            out += bump[..., None] * CHEEK_RISE * up * fh
        return out.astype(np.float32)


def _ease(value: float, limit: float) -> float:
    """`value` eased smoothly into [-limit, limit] (about linear well below the limit)."""
    return limit * float(np.tanh(value / limit)) if limit > 0 else 0.0


def _smoothstep(edge0: float, edge1: float, x: NDArray[np.float64]) -> NDArray[np.float64]:
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _rotation(xy: NDArray[np.float64], pivot: NDArray[np.float64]) -> NDArray[np.float64]:
    """Displacement per radian of a small rotation about `pivot` (image coordinates, y down)."""
    rel = xy - pivot
    return np.dstack([-rel[..., 1], rel[..., 0]])


def _capsule(
    xy: NDArray[np.float64], chain: Sequence[NDArray[np.float64]], radius: float, fade: float
) -> NDArray[np.float64]:
    """1 within `radius` of a polyline, easing to 0 over `fade` beyond it."""
    best = np.full(xy.shape[:2], np.inf)
    for a, b in itertools.pairwise(chain):
        ab = b - a
        t = np.clip(((xy - a) @ ab) / max(float(ab @ ab), 1e-9), 0.0, 1.0)
        d = np.linalg.norm(xy - (a + t[..., None] * ab), axis=-1)
        best = np.minimum(best, d)
    return 1.0 - _smoothstep(radius, radius + fade, best)


def _beyond(
    xy: NDArray[np.float64], pivot: NDArray[np.float64], toward: NDArray[np.float64], reach: float
) -> NDArray[np.float64]:
    """0 behind a joint, 1 past it along the limb towards `toward`, eased over `reach` pixels either
    side: a rotation about the joint then moves only the limb beyond it, and never steeply."""
    ab = toward - pivot
    along = ((xy - pivot) @ ab) / max(float(np.linalg.norm(ab)), 1e-9)
    return _smoothstep(-reach, reach, along)

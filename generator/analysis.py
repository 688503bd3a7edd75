"""Stage 2: finds every face in the photo and measures it — box, 478-point mesh, head pose, usability.

Faces are found by MediaPipe's full-range face detector on the whole photo and on overlapping
tiles (the detector sees a 192-pixel thumbnail, so small faces in group photos appear only in
tiles); the 478-point face mesh then runs on an enlarged crop around each face, because the mesh's
own detector is short-range and misses faces that are small in the frame. Head pose comes from the
mesh's 3D points. The person mask, which the render uses to move the body apart from the
background, comes from MediaPipe's selfie segmentation; each usable face's body (shoulders,
elbows, wrists, fingertips, with visibility) from its pose model, on a region around that person.

Every model ships inside the mediapipe 0.10.21 wheel; nothing is downloaded. The graphs are
created once per process (creating one takes longer than running it) and are not thread-safe.

A face is usable when all of these hold (otherwise `reason` says which failed first):
- FACE_TOO_SMALL: its box's shorter side is at least `MIN_FACE_PIXELS` (48 px) and at least
  `MIN_FACE_FRACTION` (3 %) of the photo's longer side — the output is scaled to at most 1280 px,
  and a face under ~38 px there has lips a few pixels tall, too small to show speech;
- MOUTH_NOT_VISIBLE: the mesh fits the face and every lip point lies inside the photo;
- FACE_TURNED_AWAY: |yaw| ≤ `MAX_YAW` (45°) and |pitch| ≤ `MAX_PITCH` (40°).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, cast

import cv2
import numpy as np
from numpy.typing import NDArray

from generator import landmarks as lm
from generator.intake import load_image
from generator.types import (
    LEFT_SHOULDER,
    POSE_IDS,
    RIGHT_SHOULDER,
    BodyPose,
    ErrorCode,
    FaceAnalysis,
    ImageAnalysis,
    Source,
)

MIN_FACE_PIXELS = 48
MIN_FACE_FRACTION = 0.03
MAX_YAW = 45.0
MAX_PITCH = 40.0
#: Detections below this confidence are dropped; tiles ask for more, as zooming in invites look-alikes.
MIN_DETECTION_SCORE = 0.5
MIN_TILE_SCORE = 0.65
#: A detection whose mesh fails is still reported (as MOUTH_NOT_VISIBLE) only when this sure.
MIN_MESHLESS_SCORE = 0.75
#: The mesh runs on a square crop this many face-box sides wide, scaled to this many pixels.
_CROP_SCALE = 2.0
_CROP_PIXELS = 384
#: Person masks are computed on a copy of the photo at most this large (the model sees 256x256).
_MASK_SIDE = 640


@dataclass(frozen=True)
class _Detection:
    """A face box from the detector, in photo pixels."""

    x: float
    y: float
    w: float
    h: float
    score: float

    @property
    def area(self) -> float:
        return self.w * self.h


def analyze(source: Source) -> ImageAnalysis:
    """Reads a photo and finds its faces (the library's public `analyze`)."""
    return analyze_image(load_image(source))


def analyze_image(rgb: NDArray[np.uint8]) -> ImageAnalysis:
    """Finds every face in an RGB photo, ordered left to right, with mesh, pose and usability."""
    height, width = rgb.shape[:2]
    faces: list[FaceAnalysis] = []
    # Surest detections first, so when two detections turn out to be one face (a tile saw part
    # of it), the better one is kept.
    for detection in sorted(_detect_faces(rgb), key=lambda d: d.score, reverse=True):
        face = _measure_face(rgb, detection)
        if face is not None and all(_overlap(_as_detection(face), _as_detection(f)) < 0.5 for f in faces):
            faces.append(face)
    faces.sort(key=lambda face: face.box[0] + face.box[2] / 2)
    ordered = [_with_index(face, i) for i, face in enumerate(faces)]
    # Each usable face's body, for the arms and shoulders to move; kept with the stored analysis.
    ordered = [dataclasses.replace(f, body=detect_pose(rgb, f)) if f.usable else f for f in ordered]
    return ImageAnalysis(width=width, height=height, faces=ordered)


def segment_person(rgb: NDArray[np.uint8]) -> NDArray[np.float32]:
    """A soft mask of the people in the photo: float32 (H, W) in [0, 1], 1 on a person.

    Edges are feathered over ~1 % of the photo so a warp weighted by the mask has no seam.
    """
    height, width = rgb.shape[:2]
    scale = min(1.0, _MASK_SIDE / max(height, width))
    small = _resize(rgb, scale) if scale < 1.0 else rgb
    result = _segmenter().process(np.ascontiguousarray(small))
    answer = result.segmentation_mask
    if answer is None:  # pragma: no cover - the model always answers, but never crash the render for it
        return np.zeros((height, width), np.float32)
    mask = np.asarray(answer, dtype=np.float32)
    if mask.shape != (height, width):
        mask = np.asarray(cv2.resize(mask, (width, height), interpolation=cv2.INTER_LINEAR), dtype=np.float32)
    sigma = max(1.0, 0.01 * max(height, width))
    mask = np.asarray(cv2.GaussianBlur(mask, (0, 0), sigmaX=sigma, sigmaY=sigma), dtype=np.float32)
    return np.clip(mask, 0.0, 1.0)


def detect_shoulders(rgb: NDArray[np.uint8], face: FaceAnalysis) -> NDArray[np.float32] | None:
    """Where this face's person has their shoulders: float32 (2, 2) pixel x, y of the subject's left
    (pose landmark 11) and right (12) shoulder, or None when they are not visible in the photo.
    """
    pose = detect_pose(rgb, face)
    shoulders = pose.points[[LEFT_SHOULDER, RIGHT_SHOULDER]]
    height, width = rgb.shape[:2]
    visible = float(pose.visibility[[LEFT_SHOULDER, RIGHT_SHOULDER]].min()) >= 0.5
    inside = bool(np.all((shoulders >= 0) & (shoulders < [width, height])))
    below = bool(np.all(shoulders[:, 1] > face.box[1] + face.box[3] * 0.5))
    return shoulders if visible and inside and below else None


def detect_pose(rgb: NDArray[np.uint8], face: FaceAnalysis) -> BodyPose:
    """This face's body from MediaPipe's pose model: shoulders, elbows, wrists and fingertips.

    The model runs on a region around this person only (2.5 face sides either way, 1 above, 4.5
    below), so it does not pick a neighbour in a group; a pose whose nose is not on this face
    belongs to someone else and counts as not found (`BodyPose.absent()`).
    """
    region = pose_region(face, rgb.shape[1], rgb.shape[0])
    if region is None:
        return BodyPose.absent()
    found = detect_pose_in(rgb, region)
    if found is None:
        return BodyPose.absent()
    nose, points, visibility = found
    x, y, w, h = face.box
    if not (x - 0.25 * w <= nose[0] <= x + 1.25 * w and y - 0.25 * h <= nose[1] <= y + 1.25 * h):
        return BodyPose.absent()  # the pose belongs to someone else
    return BodyPose(points=points, visibility=visibility)


def pose_region(face: FaceAnalysis, width: int, height: int) -> tuple[int, int, int, int] | None:
    """The photo region (x0, y0, x1, y1) the pose model sees for this face's person, or None."""
    x, y, w, h = face.box
    side = max(w, h)
    x0, x1 = max(0, int(x + w / 2 - 2.5 * side)), min(width, int(x + w / 2 + 2.5 * side))
    y0, y1 = max(0, int(y - 1.0 * side)), min(height, int(y + 4.5 * side))
    if x1 - x0 < 16 or y1 - y0 < 16:
        return None
    return x0, y0, x1, y1


def detect_pose_in(
    rgb: NDArray[np.uint8], region: tuple[int, int, int, int]
) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.float32]] | None:
    """The pose model on one region: nose (2,), the POSE_IDS points (8, 2) in photo pixels, and
    their visibility (8,); None when it finds no body."""
    x0, y0, x1, y1 = region
    crop = np.ascontiguousarray(rgb[y0:y1, x0:x1])
    scale = min(1.0, 512 / max(crop.shape[:2]))
    if scale < 1.0:
        crop = _resize(crop, scale)
    result = _pose().process(crop)
    if result.pose_landmarks is None:
        return None
    marks = result.pose_landmarks.landmark
    crop_w, crop_h = x1 - x0, y1 - y0
    nose = np.array([x0 + marks[0].x * crop_w, y0 + marks[0].y * crop_h], np.float32)
    points = np.array([[x0 + marks[i].x * crop_w, y0 + marks[i].y * crop_h] for i in POSE_IDS], np.float32)
    visibility = np.clip(np.array([marks[i].visibility for i in POSE_IDS], np.float32), 0.0, 1.0)
    return nose, points, visibility


def head_pose(points: NDArray[np.float32]) -> tuple[float, float, float]:
    """Yaw, pitch, roll in degrees from mesh points (N, 3) in pixels (x right, y down, z away).

    The face's own axes are built from the mesh: "right" runs between the outer eye corners, "down"
    from forehead to chin (in MediaPipe's canonical face both lines lie flat in the face plane, so a
    frontal face reads 0, 0, 0). Signs follow `FaceAnalysis`: yaw + = turned to the subject's left
    (our right), pitch + = looking up, roll + = tilted clockwise in the image.
    """
    right = _unit(points[263] - points[33]) + _unit(points[lm.CHEEK_LEFT] - points[lm.CHEEK_RIGHT])
    right = _unit(right)
    down = _unit(points[lm.CHIN] - points[lm.FOREHEAD])
    back = _unit(np.cross(right, down))  # points away from the camera, out of the back of the head
    down = np.cross(back, right)
    nose = -back
    yaw = math.degrees(math.atan2(nose[0], -nose[2]))
    pitch = math.degrees(math.atan2(-nose[1], math.hypot(nose[0], nose[2])))
    roll = math.degrees(math.atan2(right[1], right[0]))
    return yaw, pitch, roll


def mouth_openness(points: NDArray[np.float32]) -> float:
    """Inner-lip gap over mouth width: 0 for closed lips, ~0.5 and up for a wide open mouth."""
    gap = float(np.linalg.norm(points[lm.LOWER_LIP_INNER_MID, :2] - points[lm.UPPER_LIP_INNER_MID, :2]))
    width = float(np.linalg.norm(points[lm.MOUTH_CORNER_LEFT, :2] - points[lm.MOUTH_CORNER_RIGHT, :2]))
    return gap / max(width, 1e-6)


def face_problem(
    box: tuple[int, int, int, int],
    points: NDArray[np.float32],
    yaw: float,
    pitch: float,
    width: int,
    height: int,
) -> ErrorCode | None:
    """Why a meshed face cannot speak in a video, or None when it can (rules in the module docstring)."""
    if _too_small(box, width, height):
        return ErrorCode.FACE_TOO_SMALL
    lips = points[list(lm.LIPS), :2]
    if not np.all((lips >= 0) & (lips <= [width - 1, height - 1])):
        return ErrorCode.MOUTH_NOT_VISIBLE
    if abs(yaw) > MAX_YAW or abs(pitch) > MAX_PITCH:
        return ErrorCode.FACE_TURNED_AWAY
    return None


# --- faces ---------------------------------------------------------------------------------------


def _detect_faces(rgb: NDArray[np.uint8]) -> list[_Detection]:
    """Face boxes from a whole-photo pass plus overlapping tiles, duplicates merged."""
    height, width = rgb.shape[:2]
    found = _detect_in(rgb, 0, 0, MIN_DETECTION_SCORE)
    tile = int(min(max(320, max(height, width) / 3.5), max(height, width)))
    if tile < max(height, width):
        stride = tile // 2
        for ty in _starts(height, tile, stride):
            for tx in _starts(width, tile, stride):
                crop = rgb[ty : ty + tile, tx : tx + tile]
                found += _detect_in(crop, tx, ty, MIN_TILE_SCORE)
    return _merge(found)


def _detect_in(rgb: NDArray[np.uint8], ox: int, oy: int, min_score: float) -> list[_Detection]:
    """The detector's boxes in one image region, shifted to photo coordinates."""
    height, width = rgb.shape[:2]
    result = _detector().process(np.ascontiguousarray(rgb))
    boxes = []
    for detection in result.detections or []:
        score = float(detection.score[0])
        box = detection.location_data.relative_bounding_box
        if score < min_score or box.width <= 0 or box.height <= 0:
            continue
        boxes.append(
            _Detection(
                x=ox + box.xmin * width,
                y=oy + box.ymin * height,
                w=box.width * width,
                h=box.height * height,
                score=score,
            )
        )
    return boxes


def _merge(boxes: list[_Detection]) -> list[_Detection]:
    """Keeps one box per face: the surest of those that overlap (a tile may cut a face in part)."""
    kept: list[_Detection] = []
    for box in sorted(boxes, key=lambda b: b.score * math.sqrt(b.area), reverse=True):
        if all(_overlap(box, other) < 0.4 for other in kept):
            kept.append(box)
    return kept


def _overlap(a: _Detection, b: _Detection) -> float:
    """Intersection over the smaller box's area: 1 when one box lies inside the other."""
    ix = max(0.0, min(a.x + a.w, b.x + b.w) - max(a.x, b.x))
    iy = max(0.0, min(a.y + a.h, b.y + b.h) - max(a.y, b.y))
    return ix * iy / max(min(a.area, b.area), 1e-6)


def _measure_face(rgb: NDArray[np.uint8], detection: _Detection) -> FaceAnalysis | None:
    """Mesh, pose and usability for one detected face; None for a likely false detection."""
    height, width = rgb.shape[:2]
    points = fit_mesh(rgb, (detection.x, detection.y, detection.w, detection.h))
    if points is None:
        if detection.score < MIN_MESHLESS_SCORE:
            return None
        box = _clip_box(detection.x, detection.y, detection.w, detection.h, width, height)
        reason = ErrorCode.FACE_TOO_SMALL if _too_small(box, width, height) else ErrorCode.MOUTH_NOT_VISIBLE
        return FaceAnalysis(
            index=0,
            box=box,
            score=detection.score,
            landmarks=np.zeros((lm.N_LANDMARKS, 3), np.float32),
            yaw=0.0,
            pitch=0.0,
            roll=0.0,
            mouth_open=0.0,
            usable=False,
            reason=reason,
        )
    # The mesh outlines the whole face (forehead to chin, cheek to cheek): a better box than the
    # detector's, which stops at the brows.
    x0, y0 = points[:, 0].min(), points[:, 1].min()
    x1, y1 = points[:, 0].max(), points[:, 1].max()
    box = _clip_box(x0, y0, x1 - x0, y1 - y0, width, height)
    yaw, pitch, roll = head_pose(points)
    problem = face_problem(box, points, yaw, pitch, width, height)
    return FaceAnalysis(
        index=0,
        box=box,
        score=detection.score,
        landmarks=points,
        yaw=yaw,
        pitch=pitch,
        roll=roll,
        mouth_open=mouth_openness(points),
        usable=problem is None,
        reason=problem,
    )


def fit_mesh(rgb: NDArray[np.uint8], box: tuple[float, float, float, float]) -> NDArray[np.float32] | None:
    """The 478-point mesh (478, 3) of the face in `box` (x, y, w, h), in photo pixels (z too), or None.

    The mesh runs on a square crop twice the box's size, so the face sits in its middle whatever
    its size in the photo; a face the mesh finds elsewhere in the crop (a neighbour) is ignored.
    """
    x, y, w, h = box
    side = _CROP_SCALE * max(w, h)
    cx, cy = x + w / 2, y + h / 2
    x0, y0 = round(cx - side / 2), round(cy - side / 2)
    size = max(8, round(side))
    crop = _crop_padded(rgb, x0, y0, size)
    scale = _CROP_PIXELS / size
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    crop = np.asarray(
        cv2.resize(crop, (_CROP_PIXELS, _CROP_PIXELS), interpolation=interpolation), dtype=np.uint8
    )
    result = _mesh().process(crop)
    if not result.multi_face_landmarks:
        return None
    best: NDArray[np.float32] | None = None
    best_distance = math.inf
    for found in result.multi_face_landmarks:
        normalised = np.array([(p.x, p.y, p.z) for p in found.landmark], dtype=np.float32)
        centre = normalised[:, :2].mean(axis=0)
        distance = float(np.hypot(centre[0] - 0.5, centre[1] - 0.5))
        if distance < best_distance:
            best, best_distance = normalised, distance
    # The face the detector meant sits in the middle of the crop; anything else is a neighbour.
    if best is None or best_distance > 0.25 or best.shape[0] != lm.N_LANDMARKS:
        return None
    points = best * size  # x, y and z are all normalised by the crop's width
    points[:, 0] += x0
    points[:, 1] += y0
    return points.astype(np.float32)


def _crop_padded(rgb: NDArray[np.uint8], x0: int, y0: int, size: int) -> NDArray[np.uint8]:
    """A size x size square from the photo starting at x0, y0, edge pixels repeated beyond the border."""
    height, width = rgb.shape[:2]
    sx0, sy0 = max(0, x0), max(0, y0)
    sx1, sy1 = min(width, x0 + size), min(height, y0 + size)
    crop = rgb[sy0:sy1, sx0:sx1]
    padded = cv2.copyMakeBorder(
        crop, sy0 - y0, y0 + size - sy1, sx0 - x0, x0 + size - sx1, borderType=cv2.BORDER_REPLICATE
    )
    return np.asarray(padded, dtype=np.uint8)


def _too_small(box: tuple[int, int, int, int], width: int, height: int) -> bool:
    shorter = min(box[2], box[3])
    return shorter < MIN_FACE_PIXELS or shorter < MIN_FACE_FRACTION * max(width, height)


def _clip_box(x: float, y: float, w: float, h: float, width: int, height: int) -> tuple[int, int, int, int]:
    x0, y0 = max(0, round(x)), max(0, round(y))
    x1, y1 = min(width, round(x + w)), min(height, round(y + h))
    return x0, y0, max(0, x1 - x0), max(0, y1 - y0)


def _as_detection(face: FaceAnalysis) -> _Detection:
    x, y, w, h = face.box
    return _Detection(float(x), float(y), float(w), float(h), score=face.score)


def _with_index(face: FaceAnalysis, index: int) -> FaceAnalysis:
    return dataclasses.replace(face, index=index)


def _starts(length: int, tile: int, stride: int) -> list[int]:
    """Tile offsets covering `length`, the last tile flush with the end."""
    if tile >= length:
        return [0]
    starts = list(range(0, length - tile, stride))
    starts.append(length - tile)
    return starts


def _unit(v: NDArray[np.floating[Any]]) -> NDArray[np.floating[Any]]:
    return v / max(float(np.linalg.norm(v)), 1e-9)


def _resize(rgb: NDArray[np.uint8], scale: float) -> NDArray[np.uint8]:
    height, width = rgb.shape[:2]
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)


# --- MediaPipe graphs, created once per process ----------------------------------------------------
# mediapipe ships no type hints; these protocols list the parts of its results this module reads,
# and each graph is cast to one when it is created.

_Result = TypeVar("_Result", covariant=True)


class _Graph(Protocol[_Result]):
    def process(self, image: NDArray[np.uint8]) -> _Result: ...


class _Landmark(Protocol):
    x: float  # 0..1 across the image
    y: float  # 0..1 down the image
    z: float  # depth, on x's scale
    visibility: float  # pose landmarks only


class _Landmarks(Protocol):
    landmark: Sequence[_Landmark]


class _RelativeBox(Protocol):
    xmin: float
    ymin: float
    width: float
    height: float


class _LocationData(Protocol):
    relative_bounding_box: _RelativeBox


class _FaceDetection(Protocol):
    score: Sequence[float]
    location_data: _LocationData


class _DetectorResult(Protocol):
    detections: Sequence[_FaceDetection] | None


class _MeshResult(Protocol):
    multi_face_landmarks: Sequence[_Landmarks] | None


class _SegmentationResult(Protocol):
    segmentation_mask: NDArray[np.float32] | None


class _PoseResult(Protocol):
    pose_landmarks: _Landmarks | None


@functools.cache
def _detector() -> _Graph[_DetectorResult]:
    import mediapipe as mp

    graph = mp.solutions.face_detection.FaceDetection(
        model_selection=1, min_detection_confidence=MIN_DETECTION_SCORE
    )
    return cast("_Graph[_DetectorResult]", graph)


@functools.cache
def _mesh() -> _Graph[_MeshResult]:
    import mediapipe as mp

    graph = mp.solutions.face_mesh.FaceMesh(
        static_image_mode=True, max_num_faces=2, refine_landmarks=True, min_detection_confidence=0.5
    )
    return cast("_Graph[_MeshResult]", graph)


@functools.cache
def _segmenter() -> _Graph[_SegmentationResult]:
    import mediapipe as mp

    graph = mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0)
    return cast("_Graph[_SegmentationResult]", graph)


@functools.cache
def _pose() -> _Graph[_PoseResult]:
    import mediapipe as mp

    graph = mp.solutions.pose.Pose(
        static_image_mode=True, model_complexity=1, enable_segmentation=False, min_detection_confidence=0.5
    )
    return cast("_Graph[_PoseResult]", graph)

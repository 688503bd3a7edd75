"""Stage 2: faces are found where they are, measured plausibly, and judged usable or not, with the code."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from generator import landmarks as lm
from generator.analysis import (
    MAX_YAW,
    analyze,
    analyze_image,
    detect_shoulders,
    face_problem,
    head_pose,
    segment_person,
)
from generator.intake import load_image
from generator.types import ErrorCode, FaceAnalysis, GeneratorError

# Where the astronaut's face is (x, y, w, h), measured by eye on the 512x512 photo.
ASTRONAUT_FACE = (180, 70, 92, 108)


@pytest.fixture(scope="module")
def astronaut_face(astronaut_rgb: np.ndarray) -> FaceAnalysis:
    analysis = analyze_image(astronaut_rgb)
    assert len(analysis.faces) == 1
    return analysis.faces[0]


def _inside(point: np.ndarray, box: tuple[int, int, int, int], margin: float = 0.0) -> bool:
    x, y, w, h = box
    return x - margin <= point[0] <= x + w + margin and y - margin <= point[1] <= y + h + margin


def test_astronaut_has_one_usable_frontal_face(astronaut_face: FaceAnalysis) -> None:
    face = astronaut_face
    assert face.usable and face.reason is None and face.index == 0
    assert face.score > 0.7
    x, y, w, h = face.box
    ex, ey, ew, eh = ASTRONAUT_FACE
    assert abs(x - ex) < 12 and abs(y - ey) < 12 and abs(w - ew) < 15 and abs(h - eh) < 15
    # She looks at the camera: small angles, well inside the usable range.
    assert abs(face.yaw) < 12 and abs(face.pitch) < 20 and abs(face.roll) < 10


def test_landmarks_sit_on_the_face_in_photo_pixels(astronaut_face: FaceAnalysis) -> None:
    points = astronaut_face.landmarks
    assert points.shape == (lm.N_LANDMARKS, 3) and points.dtype == np.float32
    assert all(_inside(points[i], astronaut_face.box, margin=1) for i in range(lm.N_LANDMARKS))
    # Anatomy, in image coordinates: eyes above the nose above the mouth above the chin, and the
    # subject's right eye on the image's left.
    eye_y = (points[159, 1] + points[386, 1]) / 2
    assert eye_y < points[lm.NOSE_TIP, 1] < points[lm.UPPER_LIP_OUTER_MID, 1] < points[lm.CHIN, 1]
    assert points[lm.RIGHT_IRIS[0], 0] < points[lm.NOSE_TIP, 0] < points[lm.LEFT_IRIS[0], 0]


def test_mouth_openness_measures_the_photographed_smile(astronaut_face: FaceAnalysis) -> None:
    # The astronaut smiles with her teeth showing: a visible gap, far from a wide-open mouth.
    assert 0.05 < astronaut_face.mouth_open < 0.4


def test_analyze_reads_the_file_like_analyze_image(astronaut_path: Path) -> None:
    from_file = analyze(astronaut_path)
    direct = analyze_image(load_image(astronaut_path))
    assert (from_file.width, from_file.height) == (512, 512)
    assert [f.box for f in from_file.faces] == [f.box for f in direct.faces]
    assert from_file.to_dict()["faces"][0]["usable"] is True


def test_analyze_refuses_a_file_that_is_no_photo(not_an_image_path: Path) -> None:
    with pytest.raises(GeneratorError) as caught:
        analyze(not_an_image_path)
    assert caught.value.code == ErrorCode.IMAGE_UNREADABLE


def test_tilting_the_photo_shows_as_roll(astronaut_rgb: np.ndarray, astronaut_face: FaceAnalysis) -> None:
    # cv2 turns counter-clockwise for positive angles: -20 turns the photo 20° clockwise.
    turn = cv2.getRotationMatrix2D((256, 256), -20, 1.0)
    tilted = cv2.warpAffine(astronaut_rgb, turn, (512, 512), borderMode=cv2.BORDER_REFLECT)
    face = analyze_image(tilted).faces[0]
    assert face.roll - astronaut_face.roll == pytest.approx(20, abs=5)


def test_mirroring_the_photo_mirrors_yaw_and_roll(
    astronaut_rgb: np.ndarray, astronaut_face: FaceAnalysis
) -> None:
    mirrored = analyze_image(np.ascontiguousarray(astronaut_rgb[:, ::-1])).faces[0]
    assert mirrored.roll == pytest.approx(-astronaut_face.roll, abs=2)
    assert mirrored.yaw == pytest.approx(-astronaut_face.yaw, abs=3)
    assert mirrored.pitch == pytest.approx(astronaut_face.pitch, abs=3)


def _turned(points: np.ndarray, yaw: float = 0.0, pitch: float = 0.0) -> np.ndarray:
    """The mesh turned in 3D about its own centre: yaw about the vertical axis, pitch the horizontal."""
    y, p = math.radians(yaw), math.radians(pitch)
    # Positive yaw turns the nose (which points to -z, the camera) towards +x.
    about_vertical = np.array([[math.cos(y), 0, -math.sin(y)], [0, 1, 0], [math.sin(y), 0, math.cos(y)]])
    # Positive pitch turns the nose up, towards -y.
    about_horizontal = np.array([[1, 0, 0], [0, math.cos(p), math.sin(p)], [0, -math.sin(p), math.cos(p)]])
    centre = points.mean(axis=0)
    return ((points - centre) @ (about_horizontal @ about_vertical).T + centre).astype(np.float32)


@pytest.mark.parametrize(("yaw", "pitch"), [(30, 0), (-30, 0), (0, 25), (60, 0), (0, -50)])
def test_head_pose_reads_a_turned_mesh(astronaut_face: FaceAnalysis, yaw: float, pitch: float) -> None:
    # No photo of a turned head is at hand (squeezing a frontal face is not a turn), so the measured
    # mesh itself is turned in 3D; the photo's own pose is the zero point.
    base_yaw, base_pitch, _ = head_pose(astronaut_face.landmarks)
    frontal = _turned(astronaut_face.landmarks, yaw=-base_yaw, pitch=-base_pitch)
    measured_yaw, measured_pitch, _ = head_pose(_turned(frontal, yaw=yaw, pitch=pitch))
    assert measured_yaw == pytest.approx(yaw, abs=4)
    assert measured_pitch == pytest.approx(pitch, abs=4)


def test_face_turned_beyond_45_degrees_is_turned_away(astronaut_face: FaceAnalysis) -> None:
    face = astronaut_face
    problem = face_problem(face.box, face.landmarks, MAX_YAW + 10, 0.0, 512, 512)
    assert problem == ErrorCode.FACE_TURNED_AWAY
    assert face_problem(face.box, face.landmarks, 0.0, -50.0, 512, 512) == ErrorCode.FACE_TURNED_AWAY
    assert face_problem(face.box, face.landmarks, MAX_YAW - 10, 0.0, 512, 512) is None


def test_group_photo_faces_come_left_to_right(group_photo_path: Path) -> None:
    analysis = analyze(group_photo_path)
    assert [f.index for f in analysis.faces] == [0, 1, 2]
    assert all(f.usable for f in analysis.faces)
    centres = [f.box[0] + f.box[2] / 2 for f in analysis.faces]
    assert centres == sorted(centres)
    # One face per 512-pixel panel of the composite.
    assert [int(c // 512) for c in centres] == [0, 1, 2]


def test_duo_photo_has_two_faces(duo_photo_path: Path) -> None:
    analysis = analyze(duo_photo_path)
    assert len(analysis.faces) == len(analysis.usable_faces) == 2
    assert analysis.faces[0].box[0] < 512 <= analysis.faces[1].box[0]


def test_photo_without_a_person_has_no_faces(no_face_path: Path) -> None:
    analysis = analyze(no_face_path)
    assert analysis.faces == [] and analysis.usable_faces == []


def test_tiny_face_is_found_but_too_small(tiny_face_path: Path) -> None:
    analysis = analyze(tiny_face_path)
    assert len(analysis.faces) == 1
    face = analysis.faces[0]
    assert not face.usable and face.reason == ErrorCode.FACE_TOO_SMALL
    assert 900 <= face.box[0] <= 1120 and 500 <= face.box[1] <= 720  # where it was pasted


def test_face_with_the_mouth_cut_off_has_no_visible_mouth(astronaut_rgb: np.ndarray) -> None:
    above_the_mouth = np.ascontiguousarray(astronaut_rgb[:145])
    faces = analyze_image(above_the_mouth).faces
    assert len(faces) == 1
    assert faces[0].reason == ErrorCode.MOUTH_NOT_VISIBLE and not faces[0].usable


@pytest.mark.parametrize(("fixture", "size"), [("portrait_path", (320, 512)), ("landscape_path", (512, 288))])
def test_portrait_and_landscape_crops_keep_their_face(
    fixture: str, size: tuple[int, int], request: pytest.FixtureRequest
) -> None:
    analysis = analyze(request.getfixturevalue(fixture))
    assert (analysis.width, analysis.height) == size
    assert len(analysis.usable_faces) == 1


def test_person_mask_covers_the_astronaut_not_the_sky(
    astronaut_rgb: np.ndarray, astronaut_face: FaceAnalysis
) -> None:
    mask = segment_person(astronaut_rgb)
    assert mask.shape == (512, 512) and mask.dtype == np.float32
    assert mask.min() >= 0.0 and mask.max() <= 1.0
    x, y, w, h = astronaut_face.box
    assert mask[y + h // 4 : y + 3 * h // 4, x + w // 4 : x + 3 * w // 4].mean() > 0.9
    assert mask[:60, :60].mean() < 0.2  # the top-left corner is background


def test_shoulders_are_found_below_the_face(astronaut_rgb: np.ndarray, astronaut_face: FaceAnalysis) -> None:
    shoulders = detect_shoulders(astronaut_rgb, astronaut_face)
    assert shoulders is not None and shoulders.shape == (2, 2)
    left, right = shoulders
    x, y, w, h = astronaut_face.box
    # The subject's left shoulder (landmark 11) is on the image's right; both are under the chin.
    assert left[0] > x + w / 2 > right[0]
    assert min(left[1], right[1]) > y + h * 0.8


def test_shoulders_outside_the_photo_are_none(astronaut_rgb: np.ndarray) -> None:
    head_only = np.ascontiguousarray(astronaut_rgb[:200])
    face = analyze_image(head_only).faces[0]
    assert detect_shoulders(head_only, face) is None

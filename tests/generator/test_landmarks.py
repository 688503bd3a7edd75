"""The face-mesh index sets every stage uses are MediaPipe's own shapes, in drawing order."""

from __future__ import annotations

import mediapipe as mp
import pytest

from generator import landmarks as lm

face_mesh = mp.solutions.face_mesh


def _loop_edges(loop: tuple[int, ...]) -> set[frozenset[int]]:
    return {frozenset((loop[i], loop[(i + 1) % len(loop)])) for i in range(len(loop))}


def _edges(connections: frozenset[tuple[int, int]]) -> set[frozenset[int]]:
    return {frozenset(edge) for edge in connections}


@pytest.mark.parametrize(
    ("loop", "connections"),
    [
        (lm.RIGHT_EYE, face_mesh.FACEMESH_RIGHT_EYE),
        (lm.LEFT_EYE, face_mesh.FACEMESH_LEFT_EYE),
        (lm.FACE_OVAL, face_mesh.FACEMESH_FACE_OVAL),
    ],
)
def test_closed_outlines_follow_mediapipes_connections(
    loop: tuple[int, ...], connections: frozenset[tuple[int, int]]
) -> None:
    # Same edges means same points in drawing order: the polygon can be filled without crossing.
    assert _loop_edges(loop) == _edges(connections)


def test_lip_contours_together_are_mediapipes_lips() -> None:
    assert _loop_edges(lm.LIPS_OUTER) | _loop_edges(lm.LIPS_INNER) == _edges(face_mesh.FACEMESH_LIPS)
    assert set(lm.LIPS) == {i for edge in face_mesh.FACEMESH_LIPS for i in edge}


def test_lip_halves_split_each_contour_at_the_corners() -> None:
    assert lm.LIPS_INNER_LOWER[0] == lm.LIPS_INNER_UPPER[-1] == lm.MOUTH_INNER_CORNER_RIGHT
    assert lm.LIPS_INNER_LOWER[-1] == lm.LIPS_INNER_UPPER[0] == lm.MOUTH_INNER_CORNER_LEFT
    assert lm.LOWER_LIP_INNER_MID in lm.LIPS_INNER_LOWER and lm.UPPER_LIP_INNER_MID in lm.LIPS_INNER_UPPER
    assert lm.LIPS_OUTER_LOWER[0] == lm.MOUTH_CORNER_RIGHT and lm.LIPS_OUTER_LOWER[-1] == lm.MOUTH_CORNER_LEFT
    assert lm.LOWER_LIP_OUTER_MID in lm.LIPS_OUTER_LOWER and lm.UPPER_LIP_OUTER_MID in lm.LIPS_OUTER_UPPER


@pytest.mark.parametrize(
    ("brow", "connections"),
    [(lm.RIGHT_BROW, face_mesh.FACEMESH_RIGHT_EYEBROW), (lm.LEFT_BROW, face_mesh.FACEMESH_LEFT_EYEBROW)],
)
def test_brows_are_mediapipes_brows(brow: tuple[int, ...], connections: frozenset[tuple[int, int]]) -> None:
    # MediaPipe draws a brow as two open lines; ours closes them into one outline.
    assert _edges(connections) <= _loop_edges(brow)
    assert set(brow) == {i for edge in connections for i in edge}


def test_eyelids_and_ear_points_belong_to_their_eye() -> None:
    for eye, upper, lower, ear in [
        (lm.RIGHT_EYE, lm.RIGHT_EYE_UPPER, lm.RIGHT_EYE_LOWER, lm.RIGHT_EYE_EAR),
        (lm.LEFT_EYE, lm.LEFT_EYE_UPPER, lm.LEFT_EYE_LOWER, lm.LEFT_EYE_EAR),
    ]:
        assert set(upper) | set(lower) == set(eye)
        assert set(upper) & set(lower) == {upper[0], upper[-1]}  # they share only the corners
        assert set(ear) <= set(eye)
        assert set(ear[2::2]) <= set(upper) and set(ear[3::2]) <= set(lower)


def test_irises_are_the_refined_points() -> None:
    assert {i for edge in face_mesh.FACEMESH_RIGHT_IRIS for i in edge} == set(lm.RIGHT_IRIS[1:])
    assert {i for edge in face_mesh.FACEMESH_LEFT_IRIS for i in edge} == set(lm.LEFT_IRIS[1:])
    assert max(lm.LEFT_IRIS + lm.RIGHT_IRIS) == lm.N_LANDMARKS - 1


def test_jaw_runs_from_ear_to_ear_round_the_chin() -> None:
    assert lm.JAW[0] == lm.CHEEK_LEFT and lm.JAW[-1] == lm.CHEEK_RIGHT
    assert lm.CHIN in lm.JAW and lm.FOREHEAD not in lm.JAW

"""The motion plan: natural blinks, subtle head motion, nods on emphasis, rest at both ends."""

from __future__ import annotations

import numpy as np
import pytest

from generator.intake import SAMPLE_RATE
from generator.motion import FaceMotion, plan_motion
from generator.speech import SpeechTrack, track_mouth

FPS = 25


@pytest.fixture(scope="module")
def english_track(english_samples: np.ndarray) -> SpeechTrack:
    return track_mouth(english_samples, SAMPLE_RATE, FPS)


def per_frame_arrays(face: FaceMotion) -> dict[str, np.ndarray]:
    names = ("jaw_open", "lip_width", "lip_round", "lips_pressed", "blink", "gaze", "brow", "head", "shift")
    return {name: getattr(face, name) for name in (*names, "body", "breath")}


def test_blinks_come_every_two_to_six_seconds_and_are_brief() -> None:
    n = 60 * FPS
    gaps: list[float] = []
    doubles = 0
    for seed in range(5):
        face = plan_motion({0: None}, n, FPS, seed=seed).faces[0]
        starts = np.array(face.blink_starts)
        assert len(starts) >= 9  # a minute holds 10–30 blinks
        gaps += list(np.diff(starts) / FPS)
        # Each blink event: lids closed (above half) for a short moment; a double blink closes twice.
        for start in starts:
            closed = face.blink[start : start + 15] > 0.5
            runs = np.flatnonzero(np.diff(closed.astype(int)) == 1)
            doubles += len(runs) + int(closed[0]) > 1
            first_run = np.argmax(~closed[np.argmax(closed) :])
            assert 1 <= first_run <= round(0.25 * FPS)
    assert min(gaps) >= 2.0 - 1.0 / FPS
    assert max(gaps) <= 6.0 + 1.0 / FPS
    assert 0 < doubles < 0.5 * len(gaps)  # some, not most, are double blinks


def test_first_and_last_frames_are_the_photo_at_rest(english_track: SpeechTrack) -> None:
    plan = plan_motion({0: english_track, 1: None}, english_track.n_frames, FPS, seed=3)

    for face in plan.faces:
        assert face.engage[0] == 0.0 and face.engage[-1] == 0.0
        for name, values in per_frame_arrays(face).items():
            assert np.all(values[0] == 0), name
            assert np.all(values[-1] == 0), name
    assert np.all(plan.camera[0] == 0) and np.all(plan.camera[-1] == 0)


def test_same_seed_same_motion_other_seed_other_motion(english_track: SpeechTrack) -> None:
    n = english_track.n_frames
    a = plan_motion({0: english_track}, n, FPS, seed=11)
    b = plan_motion({0: english_track}, n, FPS, seed=11)
    c = plan_motion({0: english_track}, n, FPS, seed=12)

    for name, values in per_frame_arrays(a.faces[0]).items():
        np.testing.assert_array_equal(values, getattr(b.faces[0], name), err_msg=name)
    np.testing.assert_array_equal(a.camera, b.camera)
    assert not np.allclose(a.faces[0].head, c.faces[0].head)
    # The mouth follows the sound, not the seed.
    np.testing.assert_array_equal(a.faces[0].jaw_open, c.faces[0].jaw_open)


def test_adding_a_face_does_not_change_the_others(english_track: SpeechTrack) -> None:
    n = english_track.n_frames
    alone = plan_motion({0: english_track}, n, FPS, seed=5).faces[0]
    with_friend = plan_motion({0: english_track, 1: None}, n, FPS, seed=5).faces[0]

    np.testing.assert_array_equal(alone.head, with_friend.head)
    np.testing.assert_array_equal(alone.blink, with_friend.blink)


def test_head_motion_is_visible_but_subtle(english_track: SpeechTrack) -> None:
    face = plan_motion({0: english_track}, english_track.n_frames, FPS, seed=1).faces[0]

    assert np.abs(face.head).max() < 8.0  # degrees
    assert face.head.std(axis=0).max() > 0.5
    assert np.abs(face.shift).max() < 0.06  # of the face's height
    # Smooth: under 25 degrees a second even in a nod (people nod at up to ~50).
    assert np.abs(np.diff(face.head, axis=0)).max() < 1.0


def test_speakers_nod_on_stressed_syllables(english_track: SpeechTrack) -> None:
    face = plan_motion({0: english_track}, english_track.n_frames, FPS, seed=2).faces[0]

    stressed = np.flatnonzero(english_track.emphasis > 0)
    assert stressed.size >= 1
    after = np.concatenate([np.arange(s + 2, min(s + 8, face.n_frames)) for s in stressed])
    # A nod is the head pitching down (negative pitch) and the brows lifting just after the stress.
    assert face.head[after, 1].mean() < face.head[:, 1].mean()
    assert face.brow[after].mean() > face.brow.mean()


def test_idle_faces_listen_with_the_mouth_at_rest(english_track: SpeechTrack) -> None:
    plan = plan_motion({0: english_track, 1: None}, english_track.n_frames, FPS, seed=4)
    speaker, listener = plan.faces

    assert (speaker.face, listener.face) == (0, 1)
    assert speaker.speaking and not listener.speaking
    for name in ("jaw_open", "lip_width", "lip_round", "lips_pressed"):
        assert np.all(getattr(listener, name) == 0), name
    assert speaker.jaw_open.max() > 0.5
    assert listener.blink.max() > 0.9  # still blinks
    assert 0.1 < listener.head.std(axis=0).max() < speaker.head.std(axis=0).max()
    assert np.abs(listener.breath).max() > 0.5  # still breathes


def test_camera_drifts_slowly_and_the_person_is_nearer() -> None:
    plan = plan_motion({0: None}, 10 * FPS, FPS, seed=0)

    assert np.abs(plan.camera[:, :2]).max() < 0.02  # of the shorter side
    assert np.abs(plan.camera[:, :2]).max() > 0.001
    assert np.abs(np.diff(plan.camera[:, :2], axis=0)).max() < 0.001  # slow
    assert plan.parallax > 0

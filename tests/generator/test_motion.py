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


@pytest.mark.parametrize("seconds", [1.0, 2.0, 2.4, 3.0])
def test_a_short_clip_moves_the_head_as_gently_as_a_long_one(seconds: float) -> None:
    # A clip of a second or two used to scale its slow drift up to a full swing: heads turned 25
    # degrees and slid most of a face's height within two seconds.
    n = round(seconds * FPS)
    for seed in range(20):
        face = plan_motion({0: None}, n, FPS, seed=seed).faces[0]
        assert np.abs(face.head).max() < 8.0, (seed, np.abs(face.head).max())
        assert np.abs(face.shift).max() < 0.06, (seed, np.abs(face.shift).max())


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


# --- styles, motion scale, expression from speech, listeners (issue 12) ----------------------------


def beats(face: FaceMotion) -> int:
    """Hand beats planned: rises of either hand's forearm above a tenth of its largest."""
    from scipy.signal import find_peaks

    assert face.gestures is not None
    hands = face.gestures.hands.max(axis=1)
    return len(find_peaks(hands, height=0.02)[0])


def test_styles_order_head_motion_and_gesture_rate(english_track: SpeechTrack) -> None:
    n = english_track.n_frames
    by_style = {
        style: [plan_motion({0: english_track}, n, FPS, seed=s, style=style).faces[0] for s in range(4)]
        for style in ("calm", "natural", "lively")
    }
    head = {style: np.mean([f.head.std(axis=0).max() for f in faces]) for style, faces in by_style.items()}
    rate = {style: np.mean([beats(f) for f in faces]) for style, faces in by_style.items()}

    assert head["calm"] < 0.8 * head["natural"] < 0.8 * head["lively"]
    assert rate["calm"] < rate["lively"]
    assert rate["calm"] <= rate["natural"] <= rate["lively"]


def test_the_mouth_is_the_same_in_every_style_and_motion(english_track: SpeechTrack) -> None:
    n = english_track.n_frames
    natural = plan_motion({0: english_track}, n, FPS, seed=1).faces[0]
    for style in ("calm", "lively", "serious", "cheerful"):
        for motion in (0.0, 2.0):
            face = plan_motion({0: english_track}, n, FPS, seed=1, style=style, motion=motion).faces[0]
            for name in ("jaw_open", "lip_width", "lip_round", "lips_pressed", "lip_teeth", "tongue"):
                np.testing.assert_array_equal(getattr(face, name), getattr(natural, name), err_msg=name)


def test_motion_zero_keeps_the_head_and_body_still_but_blinks(english_track: SpeechTrack) -> None:
    n = english_track.n_frames
    still = plan_motion({0: english_track}, n, FPS, seed=2, motion=0.0)
    face = still.faces[0]

    assert np.all(face.head == 0) and np.all(face.shift == 0)
    assert face.gestures is not None
    assert np.all(face.gestures.hands == 0) and np.all(face.gestures.arms == 0)
    assert np.all(still.camera == 0)
    assert face.blink.max() > 0.9


def test_motion_scales_head_and_hands(english_track: SpeechTrack) -> None:
    n = english_track.n_frames
    one = plan_motion({0: english_track}, n, FPS, seed=3, motion=1.0).faces[0]
    two = plan_motion({0: english_track}, n, FPS, seed=3, motion=2.0).faces[0]
    assert one.gestures is not None and two.gestures is not None

    np.testing.assert_allclose(two.head.std(axis=0), 2.0 * one.head.std(axis=0), rtol=0.01)
    np.testing.assert_allclose(two.gestures.hands, 2.0 * one.gestures.hands, rtol=1e-5, atol=1e-7)


def test_cheerful_smiles_and_serious_does_not(english_track: SpeechTrack) -> None:
    n = english_track.n_frames
    cheerful = plan_motion({0: english_track}, n, FPS, seed=0, style="cheerful").faces[0]
    serious = plan_motion({0: english_track}, n, FPS, seed=0, style="serious").faces[0]
    natural = plan_motion({0: english_track}, n, FPS, seed=0).faces[0]
    assert cheerful.gestures is not None and serious.gestures is not None

    assert cheerful.gestures.smile[n // 2] > 0.4
    assert np.all(serious.gestures.smile == 0)
    assert serious.brow.max() < natural.brow.max()


def test_hand_beats_peak_on_stressed_syllables(english_track: SpeechTrack) -> None:
    face = plan_motion({0: english_track}, english_track.n_frames, FPS, seed=5, style="lively").faces[0]
    assert face.gestures is not None
    hands = face.gestures.hands.max(axis=1)

    fade = round(0.32 * FPS)
    for stress in np.flatnonzero(english_track.emphasis > 0):
        if fade < stress < english_track.n_frames - fade:
            window = hands[max(0, stress - 4) : stress + 5]
            assert abs(int(np.argmax(window)) - min(4, stress)) <= 1  # the stroke's peak on the stress


def test_brows_rise_at_a_question_end() -> None:
    import dataclasses

    from generator.speech import silent_track

    n = 4 * FPS
    base = silent_track(n, FPS)
    speech = np.zeros(n, bool)
    speech[10:70] = True
    energy = np.where(speech, 0.7, 0.0).astype(np.float32)
    flat = np.where(speech, 0.0, 0.0).astype(np.float32)
    rising = flat.copy()
    rising[60:70] = np.linspace(0.5, 5.0, 10)  # the last 0.4 s climbs ~5 semitones
    rising[10:60] = 0.1
    statement = dataclasses.replace(
        base, speech=speech, energy=energy, pitch=np.where(speech, 0.1, 0.0).astype(np.float32)
    )
    question = dataclasses.replace(statement, pitch=rising)

    said = plan_motion({0: statement}, n, FPS, seed=0).faces[0]
    asked = plan_motion({0: question}, n, FPS, seed=0).faces[0]

    after = slice(62, 95)
    assert asked.brow[after].max() > said.brow[after].max() + 0.3


def test_quiet_speech_raises_the_brows_less(english_track: SpeechTrack) -> None:
    import dataclasses

    quiet = dataclasses.replace(english_track, energy=(english_track.energy * 0.2).astype(np.float32))
    n = english_track.n_frames
    loud_face = plan_motion({0: english_track}, n, FPS, seed=0).faces[0]
    quiet_face = plan_motion({0: quiet}, n, FPS, seed=0).faces[0]

    # Energy is relative to the speaker's own loud syllables: these are the quiet stretches of a voice.
    assert quiet_face.brow.mean() < 0.8 * loud_face.brow.mean()
    assert np.abs(quiet_face.head[:, 1]).mean() < np.abs(loud_face.head[:, 1]).mean()


def test_gaze_glances_away_and_returns_to_the_camera(english_track: SpeechTrack) -> None:
    n = 30 * FPS
    face = plan_motion({0: None}, n, FPS, seed=7, style="lively").faces[0]
    away = np.hypot(*face.gaze.T) > 0.03

    assert away.any()
    runs = np.flatnonzero(np.diff(away.astype(int)) == -1)  # every glance ends...
    starts = np.flatnonzero(np.diff(away.astype(int)) == 1)
    assert len(runs) >= 2
    for end in runs:
        later = starts[starts > end]
        # ...and the eyes rest on the camera for a while before the next glance.
        assert not later.size or later[0] - end >= round(0.5 * FPS)


def test_a_listener_turns_towards_whoever_speaks(english_track: SpeechTrack) -> None:
    n = english_track.n_frames
    left_speaks = plan_motion({0: english_track, 1: None}, n, FPS, seed=4, positions={0: 100.0, 1: 600.0})
    right_speaks = plan_motion({0: None, 1: english_track}, n, FPS, seed=4, positions={0: 100.0, 1: 600.0})
    talking = english_track.speech

    # Yaw + turns to our right: the listener on the right turns left towards the speaker, and back.
    assert left_speaks.faces[1].head[talking, 0].mean() < -1.0
    assert left_speaks.faces[1].gaze[talking, 0].mean() < -0.02
    assert right_speaks.faces[0].head[talking, 0].mean() > 1.0


def test_unknown_styles_and_motion_out_of_range_are_refused(english_track: SpeechTrack) -> None:
    with pytest.raises(ValueError, match="style"):
        plan_motion({0: english_track}, 10, FPS, style="sleepy")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="motion"):
        plan_motion({0: english_track}, 10, FPS, motion=2.5)

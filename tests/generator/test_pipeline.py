"""`generator.render`: every rejection with its code before any drawing, and the clip a caller gets."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from generator import render
from generator.encode import probe
from generator.motion import MotionPlan
from generator.types import AudioTrack, ErrorCode, GeneratorError, ImageAnalysis, RenderRequest
from tests.generator.media import write_audio

#: Short clips keep the suite fast: what is tested is the plumbing, not the look.
SHORT = 1.6


@pytest.fixture(scope="module")
def silent_voice_note(generator_dir: Path) -> Path:
    return write_audio(
        generator_dir / "silence.ogg", np.zeros(48000 * 2, np.float32), 48000, "libopus", "ogg"
    )


@pytest.fixture(scope="module")
def long_voice_note(generator_dir: Path, english_pcm: tuple[np.ndarray, int]) -> Path:
    """About 40 seconds of speech: the English line ten times over."""
    samples, rate = english_pcm
    return write_audio(generator_dir / "forty.ogg", np.tile(samples, 10), rate, "libopus", "ogg")


@pytest.fixture(scope="module")
def garbage_voice_note(generator_dir: Path) -> Path:
    path = generator_dir / "garbage.ogg"
    path.write_bytes(b"OggS" + bytes(range(256)) * 8)
    return path


def rejection(request: RenderRequest, output: Path) -> GeneratorError:
    """Renders a request that must be refused; checks nothing was drawn and returns the error."""
    seen: list[float] = []
    with pytest.raises(GeneratorError) as caught:
        render(request, output, progress=seen.append)
    assert not output.exists()  # refused before the first frame
    assert max(seen, default=0.0) <= 0.2
    return caught.value


def test_a_photo_without_a_person_is_no_face(
    no_face_path: Path, english_speech: Path, tmp_path: Path
) -> None:
    error = rejection(RenderRequest(no_face_path, [AudioTrack(english_speech)]), tmp_path / "out.mp4")

    assert error.code is ErrorCode.NO_FACE
    assert error.details["faces"] == 0


def test_a_tiny_face_is_too_small(tiny_face_path: Path, english_speech: Path, tmp_path: Path) -> None:
    error = rejection(RenderRequest(tiny_face_path, [AudioTrack(english_speech)]), tmp_path / "out.mp4")

    assert error.code is ErrorCode.FACE_TOO_SMALL
    assert error.details["usable"] is False


def test_a_face_index_the_photo_lacks_is_not_found(
    astronaut_path: Path, english_speech: Path, tmp_path: Path
) -> None:
    error = rejection(
        RenderRequest(astronaut_path, [AudioTrack(english_speech, face=3)]), tmp_path / "out.mp4"
    )

    assert error.code is ErrorCode.FACE_NOT_FOUND
    assert error.details == {"face": 3, "faces": 1}


def test_an_unusable_face_chosen_by_index_says_why(
    tiny_face_path: Path, english_speech: Path, tmp_path: Path
) -> None:
    error = rejection(
        RenderRequest(tiny_face_path, [AudioTrack(english_speech, face=0)]), tmp_path / "out.mp4"
    )

    assert error.code is ErrorCode.FACE_TOO_SMALL
    assert error.details["face"] == 0


def test_silence_is_no_speech(astronaut_path: Path, silent_voice_note: Path, tmp_path: Path) -> None:
    error = rejection(RenderRequest(astronaut_path, [AudioTrack(silent_voice_note)]), tmp_path / "out.mp4")

    assert error.code is ErrorCode.NO_SPEECH
    assert error.details["speech_seconds"] == 0.0


def test_one_silent_track_among_good_ones_is_no_speech(
    duo_photo_path: Path, english_speech: Path, silent_voice_note: Path, tmp_path: Path
) -> None:
    tracks = [AudioTrack(english_speech, face=0), AudioTrack(silent_voice_note, face=1)]

    error = rejection(RenderRequest(duo_photo_path, tracks), tmp_path / "out.mp4")

    assert error.code is ErrorCode.NO_SPEECH


@pytest.mark.parametrize("photo", ["truncated_jpeg_path", "not_an_image_path"])
def test_a_broken_photo_is_unreadable(
    photo: str, english_speech: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    path = request.getfixturevalue(photo)

    error = rejection(RenderRequest(path, [AudioTrack(english_speech)]), tmp_path / "out.mp4")

    assert error.code is ErrorCode.IMAGE_UNREADABLE


def test_a_broken_recording_is_unreadable(
    astronaut_path: Path, garbage_voice_note: Path, tmp_path: Path
) -> None:
    error = rejection(RenderRequest(astronaut_path, [AudioTrack(garbage_voice_note)]), tmp_path / "out.mp4")

    assert error.code is ErrorCode.AUDIO_UNREADABLE


def test_long_audio_is_refused_when_trimming_is_off(
    astronaut_path: Path, long_voice_note: Path, tmp_path: Path
) -> None:
    request = RenderRequest(astronaut_path, [AudioTrack(long_voice_note)], trim=False)

    error = rejection(request, tmp_path / "out.mp4")

    assert error.code is ErrorCode.AUDIO_TOO_LONG
    assert error.details["limit_seconds"] == 15.0


def test_long_audio_is_trimmed_to_the_limit(
    astronaut_path: Path, long_voice_note: Path, tmp_path: Path
) -> None:
    request = RenderRequest(astronaut_path, [AudioTrack(long_voice_note)], max_seconds=SHORT, max_side=256)

    result = render(request, tmp_path / "out.mp4")

    assert result.trimmed
    assert result.duration == pytest.approx(SHORT, abs=1 / 25)
    assert probe(result.path)["duration"] == pytest.approx(SHORT, abs=0.05)


def test_a_render_is_a_playable_clip_of_the_audio_length(
    astronaut_path: Path, english_speech: Path, english_samples: np.ndarray, tmp_path: Path
) -> None:
    seen: list[float] = []
    request = RenderRequest(astronaut_path, [AudioTrack(english_speech)], max_side=320)

    result = render(request, tmp_path / "talk.mp4", progress=seen.append)

    info = probe(result.path)
    audio_seconds = len(english_samples) / 16000
    assert (result.width, result.height) == (320, 320) == (info["width"], info["height"])
    assert result.duration == pytest.approx(audio_seconds, abs=1 / 25)
    assert info["duration"] == pytest.approx(audio_seconds, abs=0.05)
    assert not result.trimmed
    assert result.faces == [0]
    assert 1.5 < result.speech_seconds < audio_seconds
    assert result.thumbnail.startswith(b"\xff\xd8")  # a JPEG
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) > 10


@pytest.mark.parametrize(("photo", "size"), [("portrait_path", (200, 320)), ("landscape_path", (320, 180))])
def test_the_photo_aspect_ratio_is_kept(
    photo: str, size: tuple[int, int], english_speech: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    path = request.getfixturevalue(photo)
    render_request = RenderRequest(path, [AudioTrack(english_speech)], max_seconds=SHORT, max_side=320)

    result = render(render_request, tmp_path / "out.mp4")

    assert (result.width, result.height) == size
    info = probe(result.path)
    assert (info["width"], info["height"]) == size


def decoded(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def test_renders_are_deterministic_for_a_seed(
    astronaut_path: Path, english_speech: Path, tmp_path: Path
) -> None:
    def clip(seed: int, name: str) -> list[np.ndarray]:
        request = RenderRequest(
            astronaut_path, [AudioTrack(english_speech)], max_seconds=SHORT, max_side=192, seed=seed
        )
        return decoded(render(request, tmp_path / name).path)

    first, again, other = clip(7, "a.mp4"), clip(7, "b.mp4"), clip(8, "c.mp4")

    assert all(np.array_equal(x, y) for x, y in zip(first, again, strict=True))
    assert not all(np.array_equal(x, y) for x, y in zip(first, other, strict=True))


def test_tracks_play_one_after_another_each_on_its_face(
    duo_photo_path: Path, english_speech: Path, mandarin_speech: Path, tmp_path: Path
) -> None:
    tracks = [AudioTrack(english_speech, face=1), AudioTrack(mandarin_speech, face=0)]

    result = render(RenderRequest(duo_photo_path, tracks, max_side=256), tmp_path / "duo.mp4")

    assert result.faces == [0, 1]
    assert result.duration > 7.0  # both lines, not overlapping
    assert probe(result.path)["duration"] == pytest.approx(result.duration, abs=0.05)


def test_chorus_makes_every_usable_face_speak(
    duo_photo_path: Path, english_speech: Path, tmp_path: Path
) -> None:
    request = RenderRequest(
        duo_photo_path, [AudioTrack(english_speech)], max_seconds=SHORT, max_side=256, chorus=True
    )

    result = render(request, tmp_path / "chorus.mp4")

    assert result.faces == [0, 1]


def test_without_a_face_index_the_largest_usable_face_speaks(
    group_photo_path: Path, english_speech: Path, tmp_path: Path
) -> None:
    request = RenderRequest(group_photo_path, [AudioTrack(english_speech)], max_seconds=SHORT, max_side=384)

    result = render(request, tmp_path / "group.mp4")

    assert result.faces in ([0], [1])  # the two full-size faces; the third is smaller


def test_another_engine_plugs_into_the_pipeline(
    astronaut_path: Path, english_speech: Path, tmp_path: Path
) -> None:
    class StillEngine:
        """Stands in for a GPU engine: shows the photo on every frame."""

        name = "still"
        prepared = 0

        def prepare(
            self, image: np.ndarray, analysis: ImageAnalysis, plan: MotionPlan, person_mask: np.ndarray | None
        ) -> Iterator[np.ndarray]:
            self.prepared += 1
            return (image for _ in range(plan.n_frames))

    engine = StillEngine()
    request = RenderRequest(astronaut_path, [AudioTrack(english_speech)], max_seconds=SHORT, max_side=128)

    result = render(request, tmp_path / "still.mp4", engine=engine)

    assert engine.prepared == 1
    frames = decoded(result.path)
    assert len(frames) == round(SHORT * 25)
    photo = cv2.resize(cv2.imread(str(astronaut_path))[:, :, ::-1], (128, 128), interpolation=cv2.INTER_AREA)
    assert all(np.abs(frame.astype(int) - photo.astype(int)).mean() < 6.0 for frame in frames)


def test_tracks_at_a_start_time_overlap_and_late_ones_are_cut(
    duo_photo_path: Path, english_speech: Path, mandarin_speech: Path, tmp_path: Path
) -> None:
    tracks = [
        AudioTrack(english_speech, face=0),
        AudioTrack(mandarin_speech, face=1, start=0.5),  # answers over the first line
        AudioTrack(english_speech, face=1, start=9.0),  # after the limit: never heard
    ]

    result = render(
        RenderRequest(duo_photo_path, tracks, max_seconds=SHORT, max_side=256), tmp_path / "talk.mp4"
    )

    assert result.trimmed
    assert result.faces == [0, 1]
    assert result.duration == pytest.approx(SHORT, abs=1 / 25)


def test_a_failing_engine_fails_the_render_and_leaves_no_file(
    astronaut_path: Path, english_speech: Path, tmp_path: Path
) -> None:
    class BrokenEngine:
        """Draws a few frames, then breaks, as a GPU running out of memory would."""

        name = "broken"

        def prepare(
            self, image: np.ndarray, analysis: ImageAnalysis, plan: MotionPlan, person_mask: np.ndarray | None
        ) -> Iterator[np.ndarray]:
            yield image
            yield image
            raise MemoryError("out of GPU memory")

    request = RenderRequest(astronaut_path, [AudioTrack(english_speech)], max_seconds=SHORT, max_side=128)

    with pytest.raises(MemoryError):
        render(request, tmp_path / "broken.mp4", engine=BrokenEngine())

    assert not (tmp_path / "broken.mp4").exists()


def test_a_render_from_a_stored_analysis_makes_the_same_clip_without_searching_for_faces(
    astronaut_path: Path, english_speech: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from generator import analyze, pipeline

    stored = json.loads(json.dumps(analyze(astronaut_path).to_stored()))  # as the bot's database keeps it
    known = ImageAnalysis.from_stored(stored)
    assert known is not None
    fresh = render(
        RenderRequest(astronaut_path, [AudioTrack(english_speech)], max_seconds=SHORT, max_side=192, seed=3),
        tmp_path / "fresh.mp4",
    )

    def no_search(image: np.ndarray) -> ImageAnalysis:
        raise AssertionError("the render searched for faces again")

    monkeypatch.setattr(pipeline, "analyze_image", no_search)
    reused = render(
        RenderRequest(
            astronaut_path,
            [AudioTrack(english_speech)],
            max_seconds=SHORT,
            max_side=192,
            seed=3,
            analysis=known,
        ),
        tmp_path / "reused.mp4",
    )

    assert reused.reused_analysis and not fresh.reused_analysis
    assert all(np.array_equal(x, y) for x, y in zip(decoded(fresh.path), decoded(reused.path), strict=True))
    assert len(json.dumps(stored)) < 12_000  # one face: the mesh is about 7.6 kB of it


def test_a_stored_analysis_of_another_size_is_ignored_and_the_photo_analysed(
    astronaut_path: Path, english_speech: Path, tmp_path: Path
) -> None:
    from generator import analyze

    other = analyze(astronaut_path)
    wrong = ImageAnalysis(width=other.width + 2, height=other.height, faces=other.faces)
    request = RenderRequest(
        astronaut_path, [AudioTrack(english_speech)], max_seconds=SHORT, max_side=192, analysis=wrong
    )

    result = render(request, tmp_path / "out.mp4")

    assert not result.reused_analysis
    assert result.faces == [0]


def test_an_analysis_stored_without_landmarks_is_not_read_back(astronaut_path: Path) -> None:
    from generator import analyze

    analysis = analyze(astronaut_path)

    assert ImageAnalysis.from_stored(analysis.to_dict()) is None  # an older row: analyse again
    assert ImageAnalysis.from_stored({"nonsense": 1}) is None
    back = ImageAnalysis.from_stored(analysis.to_stored())
    assert back is not None
    assert np.array_equal(back.faces[0].landmarks, analysis.faces[0].landmarks)
    assert back.faces[0].yaw == analysis.faces[0].yaw

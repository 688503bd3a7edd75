"""Whole renders judged by the project's own evaluator: the mouth follows English and Mandarin speech.

Short clips at a small size keep CI fast; the bars are the issues': Pearson r >= 0.6 between the
re-detected lip gap and the sound's loudness at lag 0, with the best lag within one frame; and for
typed text (TTS with its phoneme timeline) the mouth's shape: lips spread for /i/ and purse for /u/
(width difference >= 15 % of the resting width), open wider for /a/ than /i/ (gap ratio >= 1.5),
and meet on >= 80 % of m, b and p.
"""

from __future__ import annotations

import asyncio
import io
import wave
from pathlib import Path

import numpy as np
import pytest

from bot.tts import Synthesizer
from generator import render
from generator.evaluate import LabelledSpan, evaluate_video, evaluate_visemes
from generator.types import AudioTrack, PhonemeSpan, RenderRequest
from tests.generator.conftest import (  # noqa: F401 - session fixtures shared with tests/generator
    ENGLISH_TEXT,
    MANDARIN_TEXT,
    astronaut_path,
    astronaut_rgb,
    duo_photo_path,
    english_pcm,
    english_speech,
    generator_dir,
    mandarin_pcm,
    mandarin_speech,
)
from tests.generator.media import write_audio

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("speech", ["english_speech", "mandarin_speech"])
def test_lips_follow_the_speech(
    speech: str,
    astronaut_path: Path,  # noqa: F811
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    voice = request.getfixturevalue(speech)
    result = render(RenderRequest(astronaut_path, [AudioTrack(voice)], max_side=480), tmp_path / "talk.mp4")

    report = evaluate_video(result.path)

    assert report.tracked > 0.95
    assert report.lip_sync_r >= 0.6, report.summary()
    assert abs(report.best_lag) <= 1, report.summary()
    checks = report.checks()
    assert checks["mouth_rests_in_silence"], report.summary()
    assert checks["blinks"] and report.blinks >= 1, report.summary()
    assert checks["head_moves"] and checks["head_motion_subtle"], report.summary()


def test_only_the_speaking_face_talks(
    duo_photo_path: Path,  # noqa: F811
    english_speech: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    # At 960 px: at 640 the listener's face is small enough that the face mesh's reading of its
    # mouth moves with the encoder alone (the same drawn frames read 0.014 or 0.021 from the first
    # frame, depending on which frames x264 codes as P); at 960 both read 0.001.
    request = RenderRequest(duo_photo_path, [AudioTrack(english_speech, face=1)], max_side=960)
    result = render(request, tmp_path / "duo.mp4")

    speaker = evaluate_video(result.path, face=1)
    listener = evaluate_video(result.path, face=0)

    assert speaker.lip_sync_r >= 0.6, speaker.summary()
    assert abs(speaker.best_lag) <= 1
    assert speaker.mouth_speech > speaker.mouth_first_frame + 0.05
    # The listener's mouth stays where the photo has it, while the other one talks.
    assert abs(listener.mouth_speech - listener.mouth_first_frame) < 0.02, listener.summary()
    # Its lip gap barely varies: what is left is the mesh's own jitter as the head moves (the
    # evaluator's r on such a flat series is noise, so it is not tested).
    assert np.std(listener.lip_gap) < 0.4 * np.std(speaker.lip_gap)
    assert listener.blinks >= 1  # but it is alive


#: Typed lines, a few sentences per class, none of them the ones the mouth was tuned on.
TYPED = {
    "en": {
        "spread": ["Eve sees the green leaves.", "Keep the key, Pete, we need three."],
        "round": ["Lou knew the rude goose.", "Sue, do you use two shoes?"],
        "open": ["Ah, calm Carl, start the car.", "Father saw the large dark hall."],
        "bilabial": ["Bob made a map of my home.", "Pam baked by the pump."],
    },
    "zh": {
        "spread": ["一起洗衣，七里地。", "弟弟记习题。"],
        "round": ["读书不哭，姑姑住屋。", "五个兔子路上走。"],
        "open": ["哈哈，他拉大沙发。", "大哥打卡，他怕辣。"],
        "bilabial": ["妹妹买面包。", "宝宝不怕爬山。"],
    },
}


def _typed_clip(language: str, folder: Path) -> tuple[Path, tuple[PhonemeSpan, ...], list[LabelledSpan]]:
    """The language's typed lines spoken offline, joined with pauses: file, phonemes, labelled spans."""
    # No sampling noise: the bars are checked on the same recording every run (piper varies otherwise).
    synthesizer = Synthesizer(use_edge=False, piper_variation=False)
    pieces: list[np.ndarray] = []
    phonemes: list[PhonemeSpan] = []
    spans: list[LabelledSpan] = []
    rate, t = 0, 0.3
    for label, texts in TYPED[language].items():
        for text in texts:
            speech = asyncio.run(synthesizer.synthesize(text, language=language))
            assert speech.phonemes, f"{speech.engine} reported no phonemes"
            with wave.open(io.BytesIO(speech.data)) as wav:
                rate = wav.getframerate()
                samples = np.frombuffer(wav.readframes(wav.getnframes()), "<i2").astype(np.float32) / 32768
            if not pieces:
                pieces.append(np.zeros(round(0.3 * rate), np.float32))
            pieces += [samples, np.zeros(round(0.3 * rate), np.float32)]
            phonemes += [PhonemeSpan(p.start + t, p.end + t, p.phoneme) for p in speech.phonemes]
            spans.append(LabelledSpan(t, t + len(samples) / rate, label))
            t += (len(samples) + round(0.3 * rate)) / rate
    spans += [LabelledSpan(p.start, p.end, p.phoneme) for p in phonemes]
    path = write_audio(
        folder / f"typed-{language}.wav", np.concatenate(pieces), rate, codec="pcm_s16le", container="wav"
    )
    return path, tuple(phonemes), spans


@pytest.mark.parametrize("language", ["en", "zh"])
def test_typed_text_shapes_the_mouth_by_its_phonemes(
    language: str,
    astronaut_path: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    recording, phonemes, spans = _typed_clip(language, tmp_path)
    request = RenderRequest(astronaut_path, [AudioTrack(recording, phonemes=phonemes)], max_side=512)
    result = render(request, tmp_path / "typed.mp4")

    visemes = evaluate_visemes(evaluate_video(result.path), spans)

    assert visemes.spread_vs_round >= 0.15, visemes.summary()
    assert visemes.open_vs_close >= 1.5, visemes.summary()
    assert visemes.closures >= 8 and visemes.closure_rate >= 0.8, visemes.summary()


#: Typed lines whose mouths must follow their sound. piper speaks the same recording every run;
#: espeak-ng's Mandarin varies a little from call to call (a pitch flutter whose state no API
#: resets), enough to move one line's r by 0.05, so Mandarin is judged over three lines.
TYPED_LINES = {
    "en": [ENGLISH_TEXT],
    "zh": [MANDARIN_TEXT, "这家饭馆的菜很好吃，价格也不贵。", "他今天下午去图书馆看书了。"],
}


@pytest.mark.parametrize("language", ["en", "zh"])
def test_typed_text_lips_follow_the_speech(
    language: str,
    astronaut_path: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    synthesizer = Synthesizer(use_edge=False, piper_variation=False)
    reports = []
    for k, text in enumerate(TYPED_LINES[language]):
        speech = asyncio.run(synthesizer.synthesize(text, language=language))
        recording = tmp_path / f"typed{k}{speech.suffix}"
        recording.write_bytes(speech.data)
        track = AudioTrack(recording, phonemes=speech.phonemes)
        request = RenderRequest(astronaut_path, [track], max_side=480)
        reports.append(evaluate_video(render(request, tmp_path / f"typed{k}.mp4").path))
    summary = "\n".join(str(report.summary()) for report in reports)

    # Measured (three syntheses of each Mandarin line): English 0.73; Mandarin 0.63-0.67,
    # 0.65-0.66 and 0.60-0.64 (before the typed jaw followed loudness: 0.58-0.59, 0.60-0.64 and
    # 0.50-0.51), each 0.62-0.71 over speech frames alone. A mouth 200 ms late, one that only
    # opens for talk and shuts for pauses, or a still one fails here.
    assert np.mean([report.lip_sync_r for report in reports]) >= 0.6, summary
    assert all(report.lip_sync_r >= 0.55 for report in reports), summary
    assert all(abs(report.best_lag) <= 1 for report in reports), summary
    # Syllable by syllable, not just open for talk and shut for pauses.
    assert all(report.lip_sync_r_speech >= 0.5 for report in reports), summary


#: Lines for closures heard from the sound alone (among `bench/visemes.py`'s dev sentences, which
#: the closure score was fitted on): m/b/p-heavy lines, and lines with no m, b or p at all (every
#: closure there is a false one).
CLOSURE_LINES = {
    "en": (
        ["Bob made a bubble map.", "Put the pen by my bed, Ben.", "A puppy bumped the empty tub."],
        ["Call the cat, Kate, at three.", "Teddy said the dog is nice.", "Sit here and read the story."],
    ),
    "zh": (
        ["爸爸抱宝宝。", "妈妈买苹果。", "白猫爬门，别怕。", "明天拜拜，朋友。"],
        ["他是老师。", "你去哪里？", "今天天气很好。", "谁在说话？"],
    ),
}


def _sound_only_closures(language: str, texts: list[str]) -> tuple[int, int, int, float]:
    """Lines spoken offline, mouth tracked from the sound alone (no timeline): bilabials, how many
    of them closed the lips (a pressed frame inside the span or one frame either side), closures
    away from every bilabial, and seconds of speech."""
    from generator.speech import track_mouth
    from generator.visemes import phoneme_visemes

    bilabials = seen = false = 0
    seconds = 0.0
    # No sampling noise: the bars are checked on the same recording every run (piper varies otherwise).
    synthesizer = Synthesizer(use_edge=False, piper_variation=False)
    for text in texts:
        speech = asyncio.run(synthesizer.synthesize(text, language=language))
        with wave.open(io.BytesIO(speech.data)) as wav:
            rate = wav.getframerate()
            samples = np.frombuffer(wav.readframes(wav.getnframes()), "<i2").astype(np.float32) / 32768
        fps = 25
        track = track_mouth(samples, rate, fps)
        pressed = track.lips_pressed > 0.5
        near = np.zeros(len(pressed), bool)
        for span in speech.phonemes or ():
            shapes = phoneme_visemes(span.phoneme)
            if len(shapes) == 1 and shapes[0].pressed >= 1.0:
                a, b = max(0, int(span.start * fps) - 1), int(np.ceil(span.end * fps)) + 1
                near[a:b] = True
                bilabials += 1
                seen += bool(pressed[a:b].any())
        runs = np.flatnonzero(np.diff(np.concatenate([[0], (pressed & ~near).astype(int), [0]])) == 1)
        false += len(runs)
        seconds += float(track.speech.sum()) / fps
    return bilabials, seen, false, seconds


@pytest.mark.parametrize(("language", "least_seen"), [("en", 0.8), ("zh", 0.8)])
def test_voice_note_closes_the_lips_on_many_bilabials_and_rarely_elsewhere(
    language: str, least_seen: float
) -> None:
    # Measured on these lines, each tracked on its own from the sound (2026-12-02): English 19 of 21
    # (0.90), Mandarin 17 of 19 (0.89); false closures 0.7 a second in both. These lines are among
    # the closure score's dev sentences, so this guards the shipped score and its use against
    # regressions; the held-out figures are `tests/generator/test_visemes.py`'s. (An earlier,
    # rule-based build: English 0.75-0.86, Mandarin 0.47.)
    bilabials, seen, _, _ = _sound_only_closures(language, CLOSURE_LINES[language][0])
    _, _, false, seconds = _sound_only_closures(language, CLOSURE_LINES[language][1])

    assert bilabials >= 10
    assert seen / bilabials >= least_seen, f"{seen}/{bilabials} closures seen"
    assert false / seconds <= 2.0, f"{false} false closures in {seconds:.1f} s of speech"

"""Viseme figures from the sound alone (the voice-note path), on lines the tuning never heard.

Each line is spoken offline (piper for English, espeak-ng for Mandarin: `bot.tts.Synthesizer`),
the lines are joined with 0.35 s pauses and rendered from the recording alone (no phoneme
timeline) with scikit-image's astronaut at 512 px. `generator.evaluate` re-detects the face on
every frame and reports, against the TTS's own phoneme timeline: m/b/p closures seen (the lips
meet inside the span or one frame either side), /i/ vs /u/ width contrast where a set has both,
and lip-sync r at lag 0. Closure-free lines measure false closures: lips pressed in the track away
from every bilabial, per second of speech.

    python bench/visemes.py [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import tempfile
import wave
from pathlib import Path

import numpy as np
from skimage import data

from bot.tts import Synthesizer
from generator import render
from generator.evaluate import LabelledSpan, evaluate_video, evaluate_visemes
from generator.speech import track_mouth
from generator.types import AudioTrack, RenderRequest
from generator.visemes import phoneme_visemes
from tests.generator.media import save_image, write_audio

SETS = {
    "en m/b/p": (
        "en",
        [
            "Bob made a bubble map.",
            "Put the pen by my bed, Ben.",
            "A puppy bumped the empty tub.",
            "Mom paid for more plums.",
        ],
    ),
    "en no m/b/p": (
        "en",
        [
            "Call the cat, Kate, at three.",
            "Teddy said the dog is nice.",
            "Lisa got a large red kite.",
            "Sit here and read the story.",
        ],
    ),
    "en /i/ + /u/": (
        "en",
        [
            "Keep the cheese, Pete.",
            "Neil feeds the geese each week.",
            "See the eagle leave the tree.",
            "Lou, do you choose blue shoes?",
            "The goose flew to the pool.",
            "Ruth knew the truth soon.",
        ],
    ),
    "zh m/b/p": ("zh", ["爸爸抱宝宝。", "妈妈买苹果。", "白猫爬门，别怕。", "明天拜拜，朋友。"]),
    "zh no m/b/p": ("zh", ["他是老师。", "你去哪里？", "今天天气很好。", "谁在说话？"]),
}
FPS = 25


def _clip(
    language: str, texts: list[str], folder: Path, name: str
) -> tuple[Path, np.ndarray, int, list[LabelledSpan]]:
    synthesizer = Synthesizer(use_edge=False)
    pieces: list[np.ndarray] = []
    spans: list[LabelledSpan] = []
    rate, t = 0, 0.35
    for text in texts:
        speech = asyncio.run(synthesizer.synthesize(text, language=language))
        with wave.open(io.BytesIO(speech.data)) as wav:
            rate = wav.getframerate()
            samples = np.frombuffer(wav.readframes(wav.getnframes()), "<i2").astype(np.float32) / 32768
        if not pieces:
            pieces.append(np.zeros(round(0.35 * rate), np.float32))
        pieces += [samples, np.zeros(round(0.35 * rate), np.float32)]
        spans += [LabelledSpan(p.start + t, p.end + t, p.phoneme) for p in speech.phonemes or ()]
        t += (len(samples) + round(0.35 * rate)) / rate
    audio = np.concatenate(pieces)
    path = write_audio(folder / f"{name}.wav", audio, rate, codec="pcm_s16le", container="wav")
    return path, audio, rate, spans


def _false_closures(audio: np.ndarray, rate: int, spans: list[LabelledSpan]) -> float:
    track = track_mouth(audio, rate, FPS)
    pressed = track.lips_pressed > 0.5
    near = np.zeros(len(pressed), bool)
    for span in spans:
        shapes = phoneme_visemes(span.label)
        if len(shapes) == 1 and shapes[0].pressed >= 1.0:
            near[max(0, int(span.start * FPS) - 1) : int(np.ceil(span.end * FPS)) + 1] = True
    runs = np.flatnonzero(np.diff(np.concatenate([[0], (pressed & ~near).astype(int), [0]])) == 1)
    return len(runs) / max(float(track.speech.sum()) / FPS, 1e-3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        photo = save_image(folder / "astronaut.jpg", data.astronaut(), quality=92)
        for i, (name, (language, texts)) in enumerate(SETS.items()):
            recording, audio, rate, spans = _clip(language, texts, folder, f"set{i}")
            result = render(
                RenderRequest(photo, [AudioTrack(recording)], max_side=512), folder / f"set{i}.mp4"
            )
            report = evaluate_video(result.path)
            shapes = evaluate_visemes(report, spans)
            rows[name] = {
                "closures_seen": f"{shapes.closures_seen}/{shapes.closures}" if shapes.closures else None,
                "false_closures_per_s": round(_false_closures(audio, rate, spans), 2),
                "i_vs_u": None if np.isnan(shapes.spread_vs_round) else round(shapes.spread_vs_round, 3),
                "lip_sync_r": round(report.lip_sync_r, 2),
                "best_lag": report.best_lag,
            }
            if not args.json:
                print(name, rows[name], flush=True)
    if args.json:
        print(json.dumps(rows, ensure_ascii=False))


if __name__ == "__main__":
    main()

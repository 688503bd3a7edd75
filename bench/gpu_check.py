"""Parity, speed and throughput of the torch engine; prints one table (run by bench/gpu_check.sh)."""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, "bench")
sys.path.insert(0, ".")
import render as bench  # bench/render.py: its photos and voice note

from generator import AudioTrack, RenderRequest
from generator import pipeline as p
from generator.encode import nvenc_available
from generator.render import CpuRigEngine
from generator.torch_engine import TorchRigEngine

SECONDS = float(os.environ.get("SECONDS_CLIP", "15"))
RUNS = int(os.environ.get("RUNS", "3"))
IN_FLIGHT = int(os.environ.get("IN_FLIGHT", "4"))
RENDERS = int(os.environ.get("RENDERS", "8"))
DEVICE = os.environ.get("DEVICE", "cuda")
SIZES = os.environ.get("SIZES", "720p,1080p,4K").split(",")
rows: list[tuple[str, ...]] = []


def row(*cells: object) -> None:
    rows.append(tuple(str(c) for c in cells))
    print("  ".join(rows[-1]), file=sys.stderr, flush=True)


def stages(photo: Path, voice: Path, max_side: int, seconds: float):
    """The pipeline's stages 1-5: the frame, its faces, the person mask and the motion plan."""
    request = RenderRequest(
        image=photo, tracks=[AudioTrack(audio=voice)], max_seconds=seconds, max_side=max_side
    )
    image, recordings, trimmed = p.check_inputs(request)
    analysis, _ = p.analyze_faces(image, request.analysis)
    speakers = p.assign_speakers(request, analysis)
    lines, n_frames, _ = p.place_lines(request, recordings, speakers, trimmed)
    tracks = p.track_faces(lines, analysis, n_frames, request.fps)
    frame, frame_analysis = p.fit_output(image, analysis, request.max_side)
    return frame, frame_analysis, p.segment_person(frame), p.plan_motion(tracks, n_frames, request.fps)


def frame_seconds(engine, inputs, runs: int) -> float:
    frame, analysis, person, plan = inputs
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        for _frame in engine.prepare(frame, analysis, plan, person):
            pass
        if DEVICE == "cuda":
            import torch

            torch.cuda.synchronize()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(255.0**2 / mse)


def photo_at(src: Path, folder: Path, name: str, long_side: int) -> Path:
    image = cv2.imread(str(src))
    scale = long_side / max(image.shape[:2])
    out = folder / name
    cv2.imwrite(str(out), cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC))
    return out


def one_render(args: tuple[str, str, str, int]) -> float:
    photo, voice, out, max_side = args
    started = time.perf_counter()
    p.render(
        RenderRequest(image=photo, tracks=[AudioTrack(audio=voice)], max_seconds=SECONDS, max_side=max_side),
        out,
        engine="torch-rig",
    )
    return time.perf_counter() - started


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        photos, voice = bench.make_inputs(folder, SECONDS)
        one, six = photos[1080], photos[886]
        gpu = TorchRigEngine(device=DEVICE)
        cpu = CpuRigEngine()
        row("check", "size", "faces", "engine", "figure")

        # 1. Parity at 720p: the same plan through both engines, every frame compared.
        for name, photo in (("1", photos[720]), ("6", six)):
            frame, analysis, person, plan = stages(photo, voice, 1280, min(SECONDS, 6.0))
            a = list(cpu.prepare(frame, analysis, plan, person))
            b = list(gpu.prepare(frame, analysis, plan, person))
            scores = [psnr(x, y) for x, y in zip(a, b, strict=True)]
            row(
                "parity",
                f"{frame.shape[1]}x{frame.shape[0]}",
                name,
                "torch-rig vs cpu-rig",
                f"mean PSNR {np.mean(scores):.1f} dB (worst frame {min(scores):.1f})",
            )

        # 2. Frame speed: prepare + every frame back on the host, median of RUNS (cpu-rig once, 720p/1080p).
        for label, long_side in (("720p", 1280), ("1080p", 1920), ("4K", 3840)):
            if label not in SIZES:
                continue
            for faces, src in (("1", one), ("6", six)):
                photo = photo_at(src, folder, f"{label}_{faces}.jpg", long_side)
                inputs = stages(photo, voice, long_side, SECONDS)
                size = f"{inputs[0].shape[1]}x{inputs[0].shape[0]}"
                clip = inputs[3].n_frames / inputs[3].fps
                gpu_s = frame_seconds(gpu, inputs, RUNS)
                row(
                    "frames",
                    size,
                    faces,
                    f"torch-rig ({DEVICE})",
                    f"{gpu_s:.2f} s for {clip:.0f} s ({gpu_s / clip:.3f}x real time)",
                )
                if long_side <= 1920:
                    cpu_s = frame_seconds(cpu, inputs, 1)
                    row(
                        "frames",
                        size,
                        faces,
                        "cpu-rig",
                        f"{cpu_s:.2f} s ({cpu_s / gpu_s:.1f}x torch-rig's time)",
                    )

        # 3. A whole 1080p render (analysis, plan, frames, encode) on the torch engine.
        started = time.perf_counter()
        result = p.render(
            RenderRequest(image=one, tracks=[AudioTrack(audio=voice)], max_seconds=SECONDS, max_side=1920),
            folder / "full.mp4",
            engine="torch-rig",
        )
        whole = time.perf_counter() - started
        row(
            "render",
            f"{result.width}x{result.height}",
            "1",
            "torch-rig + " + ("h264_nvenc" if nvenc_available() else "libx264"),
            f"{whole:.2f} s for {result.duration:.0f} s clip",
        )

        # 4. Worker throughput: RENDERS 720p renders, IN_FLIGHT at a time, a process each (spawn, as the bot).
        jobs = [
            (str(photos[720]), str(voice), str(folder / f"w{i}.mp4"), 1280)
            for i in range(RENDERS + IN_FLIGHT)
        ]
        with ProcessPoolExecutor(IN_FLIGHT, mp_context=get_context("spawn")) as pool:
            list(
                pool.map(one_render, jobs[:IN_FLIGHT])
            )  # warm: models and CUDA contexts loaded once per process
            started = time.perf_counter()
            list(pool.map(one_render, jobs[IN_FLIGHT:]))
            wall = time.perf_counter() - started
        row(
            "worker",
            "1280x720",
            "1",
            f"torch-rig, {IN_FLIGHT} in flight",
            f"{RENDERS} renders of {SECONDS:.0f} s in {wall:.1f} s = "
            f"{RENDERS * SECONDS / wall:.1f} s of video per s",
        )

    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    print()
    for r in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip())


if __name__ == "__main__":
    main()

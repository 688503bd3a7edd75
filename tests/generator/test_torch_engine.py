"""The torch engine draws what the CPU rig draws; ENGINE picks it; the default install never loads torch.

Parity runs on CPU torch (CI installs the gpu extra, whose torch is a CPU build there): the same
plan rendered by both engines, frame by frame, at 720p, on a one-face and a three-face photo.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from generator import AudioTrack, RenderRequest
from generator.encode import VideoEncoder, nvenc_available, probe
from generator.engine import Engine, EngineUnavailable, choose_engine, nvidia_driver_present
from generator.evaluate import evaluate_video
from generator.motion import MotionPlan
from generator.pipeline import render
from generator.render import CpuRigEngine
from generator.types import ImageAnalysis
from tests.generator.conftest import group_panels
from tests.generator.media import save_image

torch = pytest.importorskip("torch", reason="the torch engine needs the gpu extra (pip install '.[gpu]')")
from generator.torch_engine import TorchRigEngine  # noqa: E402  (only with torch installed)

REPO = Path(__file__).resolve().parents[2]
#: Every third frame is compared: neighbours differ little, and the clip is never held twice.
EVERY = 3


class Tee:
    """An engine that hands on another engine's frames and keeps every EVERY-th one."""

    def __init__(self, inner: Engine) -> None:
        self.inner = inner
        self.name = inner.name
        self.kept: list[np.ndarray] = []

    def prepare(
        self, image: np.ndarray, analysis: ImageAnalysis, plan: MotionPlan, person_mask: np.ndarray | None
    ) -> Iterator[np.ndarray]:
        for i, frame in enumerate(self.inner.prepare(image, analysis, plan, person_mask)):
            if i % EVERY == 0:
                self.kept.append(np.array(frame, dtype=np.uint8))
            yield frame


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else 10.0 * np.log10(255.0**2 / mse)


@pytest.fixture(scope="module")
def photos_720p(generator_dir: Path, astronaut_rgb: np.ndarray) -> dict[str, Path]:
    """1280x720 photos: the astronaut's head and shoulders, and three people side by side."""
    square = cv2.resize(astronaut_rgb, (1280, 1280), interpolation=cv2.INTER_CUBIC)
    one = save_image(generator_dir / "one_720p.jpg", square[102:822], quality=92)
    canvas = np.full((720, 1280, 3), 228, np.uint8)
    for k, panel in enumerate(group_panels(astronaut_rgb)):
        canvas[150:570, 10 + 425 * k : 430 + 425 * k] = cv2.resize(panel, (420, 420))
    three = save_image(generator_dir / "three_720p.jpg", canvas, quality=92)
    return {"one face": one, "three faces": three}


@pytest.mark.slow
@pytest.mark.parametrize("photo", ["one face", "three faces"])
def test_torch_rig_frames_match_the_cpu_rig_at_720p_and_lip_sync_scores_alike(
    photo: str, photos_720p: dict[str, Path], english_speech: Path, tmp_path: Path
) -> None:
    request = RenderRequest(
        image=photos_720p[photo], tracks=[AudioTrack(audio=english_speech)], max_side=1280
    )
    cpu, gpu = Tee(CpuRigEngine()), Tee(TorchRigEngine(device="cpu"))
    cpu_result = render(request, tmp_path / "cpu.mp4", engine=cpu)
    gpu_result = render(request, tmp_path / "torch.mp4", engine=gpu)

    assert (gpu_result.width, gpu_result.height) == (cpu_result.width, cpu_result.height) == (1280, 720)
    assert len(gpu.kept) == len(cpu.kept) > 20
    psnrs = [_psnr(a, b) for a, b in zip(cpu.kept, gpu.kept, strict=True)]
    assert float(np.mean(psnrs)) >= 40.0, f"mean PSNR {np.mean(psnrs):.1f} dB, worst {min(psnrs):.1f} dB"
    # The clip moves (otherwise equal frames prove nothing): the mouth opens on some frame.
    assert min(_psnr(cpu.kept[0], frame) for frame in cpu.kept) < 35.0
    cpu_r = evaluate_video(cpu_result.path).lip_sync_r
    gpu_r = evaluate_video(gpu_result.path).lip_sync_r
    print(f"{photo}: mean PSNR {np.mean(psnrs):.1f} dB (worst {min(psnrs):.1f}); r {cpu_r:.3f} / {gpu_r:.3f}")
    assert cpu_r > 0.3, f"the CPU clip itself does not lip-sync (r = {cpu_r:.2f})"
    assert abs(gpu_r - cpu_r) <= 0.02, f"lip-sync r: cpu-rig {cpu_r:.3f}, torch-rig {gpu_r:.3f}"


def test_torch_rig_reuses_a_still_face_and_warps_the_scene_like_the_cpu_rig(
    astronaut_rgb: np.ndarray,
) -> None:
    """Camera drift and a head roll with a face that rests between two mouth movements (REUSE_PX)."""
    from generator.analysis import analyze_image, segment_person
    from tests.generator.test_render import posed_plan

    n = 12
    jaw = np.array([0, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.2, 0.2, 0.2, 0.9, 0.0], np.float32)
    head = np.zeros((n, 3), np.float32)
    head[:, 2] = np.linspace(0.0, 4.0, n)  # roll, degrees: the scene's field
    camera = np.tile(np.array([0.004, -0.003, 0.01], np.float32), (n, 1))
    plan = posed_plan(n, jaw_open=jaw, head=head, camera=camera, blink=np.where(np.arange(n) == 5, 0.9, 0.0))
    analysis, mask = analyze_image(astronaut_rgb), segment_person(astronaut_rgb)
    cpu = list(CpuRigEngine().prepare(astronaut_rgb, analysis, plan, mask))
    gpu = list(TorchRigEngine(device="cpu").prepare(astronaut_rgb, analysis, plan, mask))
    assert len(cpu) == len(gpu) == n
    for i, (a, b) in enumerate(zip(cpu, gpu, strict=True)):
        assert b.dtype == np.uint8 and b.shape == a.shape
        assert _psnr(a, b) >= 40.0, f"frame {i}: {_psnr(a, b):.1f} dB"
    assert _psnr(cpu[0], cpu[-1]) < 40.0  # the frames do move


def test_asking_for_torch_rig_without_torch_names_the_gpu_extra_at_startup_and_render() -> None:
    code = textwrap.dedent(
        """
        import sys

        class NoTorch:  # as if torch were not installed
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] == "torch":
                    raise ModuleNotFoundError("No module named 'torch'", name="torch")

        sys.meta_path.insert(0, NoTorch())
        from generator.engine import EngineUnavailable, choose_engine
        try:
            choose_engine("torch-rig")
        except EngineUnavailable as exc:
            print("render:", exc)
        from pydantic import ValidationError
        from bot.settings import Settings
        try:
            Settings(engine="torch-rig")
        except ValidationError as exc:
            print("startup:", exc)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120, check=True
    )
    render, startup = done.stdout.split("startup:")
    for said in (render, startup):  # the render call, and the bot's settings at startup
        assert "pip install '.[gpu]'" in said and "ENGINE=torch-rig" in said, done.stdout


def test_engine_names_pick_their_engine() -> None:
    assert isinstance(choose_engine("cpu-rig"), CpuRigEngine)
    assert isinstance(choose_engine("torch-rig"), TorchRigEngine)
    expected = TorchRigEngine if nvidia_driver_present() and torch.cuda.is_available() else CpuRigEngine
    assert isinstance(choose_engine("auto"), expected)
    with pytest.raises(ValueError, match="unknown engine"):
        choose_engine("gpu")
    assert not issubclass(ValueError, EngineUnavailable)


def test_the_worker_and_the_cli_render_without_importing_torch_when_engine_is_unset(
    astronaut_path: Path, english_speech: Path, tmp_path: Path
) -> None:
    """The worker's render call and `python -m generator render`, ENGINE unset, on a machine
    without an NVIDIA driver (here, CI): cpu-rig, and torch never loaded though it is installed."""
    code = textwrap.dedent(
        f"""
        import json, sys
        from pathlib import Path
        from bot.settings import Settings
        from bot.delivery import render_in_process
        from generator import AudioTrack, RenderRequest
        import generator.__main__ as cli

        settings = Settings()
        track = AudioTrack(audio={str(english_speech)!r})
        request = RenderRequest(image={str(astronaut_path)!r}, tracks=[track], max_side=256, max_seconds=2.0)
        render_in_process(request, Path("worker.mp4"), Path("progress"), settings.engine)
        status = cli.main(["render", {str(astronaut_path)!r}, {str(english_speech)!r}, "-o", "cli.mp4",
                           "--size", "256", "--max-seconds", "2"])
        print(json.dumps({{"engine": settings.engine, "status": status, "torch": "torch" in sys.modules}}))
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "ENGINE"}
    env["PYTHONPATH"] = str(REPO)
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=240
    )
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert (tmp_path / "worker.mp4").stat().st_size > 0 and (tmp_path / "cli.mp4").stat().st_size > 0
    assert seen["engine"] == "auto" and seen["status"] == 0
    assert seen["torch"] is nvidia_driver_present(), (
        "torch was imported with ENGINE unset on a machine without a GPU"
    )


def test_hardware_encode_falls_back_to_x264_where_nvenc_does_not_open(tmp_path: Path) -> None:
    frames = np.random.default_rng(0).integers(0, 255, (10, 64, 96, 3), dtype=np.uint8)
    with VideoEncoder(
        tmp_path / "clip.mp4", 96, 64, 25, np.zeros(16000, np.float32), 16000, hardware=True
    ) as enc:
        for frame in frames:
            enc.write(frame)
    assert enc.codec == ("h264_nvenc" if nvenc_available() else "libx264")
    info = probe(tmp_path / "clip.mp4")
    assert info["video_codec"] == "h264" and info["width"] == 96

"""The renderer contract: what any engine (the CPU rig, a GPU model) must offer the pipeline.

It sits beside `generator.types` so a new engine depends on the contract, not on the CPU rig's
module. Two engines draw the same rig (`generator.render` describes every frame once):
`generator.render.CpuRigEngine` (OpenCV on the CPU, the default) and
`generator.torch_engine.TorchRigEngine` (torch, on CUDA when present). `choose_engine` turns an
ENGINE name into one; torch is imported only when the torch engine is asked for or picked.
"""

from __future__ import annotations

import ctypes.util
import functools
import importlib.util
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Literal, Protocol, get_args

import numpy as np
import numpy.typing as npt

from generator.types import ImageAnalysis

#: An RGB uint8 picture, (height, width, 3); a person mask is (height, width) float.
Image = npt.NDArray[np.generic]

if TYPE_CHECKING:  # the plan's module pulls in SciPy; the contract only names its type
    from generator.motion import MotionPlan

__all__ = [
    "ENGINE_NAMES",
    "Engine",
    "EngineName",
    "EngineUnavailable",
    "choose_engine",
    "nvidia_driver_present",
    "torch_installed",
]

#: What ENGINE (settings) and `--engine` (CLI) accept; auto: torch-rig on a CUDA GPU, else cpu-rig.
EngineName = Literal["auto", "cpu-rig", "torch-rig"]
ENGINE_NAMES: tuple[EngineName, ...] = get_args(EngineName)
#: What an operator runs to get the torch engine.
GPU_INSTALL = "pip install '.[gpu]'"


class Engine(Protocol):
    """Turns a photo, its faces and a motion plan into frames (RGB uint8, the photo's size), streamed."""

    name: str

    def prepare(
        self, image: Image, analysis: ImageAnalysis, plan: MotionPlan, person_mask: Image | None
    ) -> Iterator[Image]: ...


class EngineUnavailable(RuntimeError):
    """The engine asked for cannot run on this machine (its optional dependency is not installed)."""


def choose_engine(name: str = "auto") -> Engine:
    """The engine ENGINE names: cpu-rig, torch-rig, or auto (torch-rig on a CUDA GPU, else cpu-rig).

    Raises EngineUnavailable for torch-rig without torch, ValueError for an unknown name.
    """
    if name not in ENGINE_NAMES:
        raise ValueError(f"unknown engine {name!r}; choose one of {', '.join(ENGINE_NAMES)}")
    if name == "torch-rig" or (name == "auto" and nvidia_driver_present() and _torch_has_cuda()):
        try:
            from generator.torch_engine import TorchRigEngine
        except ImportError as exc:  # torch missing, or a build that cannot load here
            raise EngineUnavailable(
                f"ENGINE=torch-rig needs torch, which is not installed here ({exc}); "
                f"install the GPU extra with {GPU_INSTALL}, or set ENGINE=cpu-rig"
            ) from exc
        return TorchRigEngine()
    from generator.render import CpuRigEngine

    return CpuRigEngine()


def torch_installed() -> bool:
    """Whether torch could be imported, found without importing it."""
    try:
        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):
        return False


@functools.cache  # find_library runs ldconfig; once per process is enough
def nvidia_driver_present() -> bool:
    """Whether this machine has an NVIDIA driver (its kernel module or libcuda); torch is not imported.

    auto asks torch about CUDA only where this holds: importing torch costs about a second and
    hundreds of MB, so a CPU machine with the gpu extra installed (CI) never loads it.
    """
    return os.path.exists("/proc/driver/nvidia/version") or ctypes.util.find_library("cuda") is not None


def _torch_has_cuda() -> bool:
    """torch is installed and sees a CUDA device."""
    if not torch_installed():
        return False
    import torch

    return bool(torch.cuda.is_available())

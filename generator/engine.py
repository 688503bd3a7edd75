"""The renderer contract: what any engine (the CPU rig, a GPU model) must offer the pipeline.

It sits beside `generator.types` so a new engine depends on the contract, not on the CPU rig's
module; `generator.render.CpuRigEngine` is the default implementation.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Protocol

import numpy as np
import numpy.typing as npt

from generator.types import ImageAnalysis

#: An RGB uint8 picture, (height, width, 3); a person mask is (height, width) float.
Image = npt.NDArray[np.generic]

if TYPE_CHECKING:  # the plan's module pulls in SciPy; the contract only names its type
    from generator.motion import MotionPlan

__all__ = ["Engine"]


class Engine(Protocol):
    """Turns a photo, its faces and a motion plan into frames (RGB uint8, the photo's size), streamed."""

    name: str

    def prepare(
        self, image: Image, analysis: ImageAnalysis, plan: MotionPlan, person_mask: Image | None
    ) -> Iterator[Image]: ...

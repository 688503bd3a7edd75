"""The rig on torch: the same faces and scene as `generator.render`, drawn on a GPU (or CPU torch).

What each frame looks like is decided once, by the rig in `generator.render`: per face a coarse
backward map and the painted overlays (`FaceRig.describe`), for the whole picture one coarse
backward map (`SceneRig.describe`). This engine only executes that description, for a block of
frames at a time: coarse maps are upsampled with `F.interpolate` and sampled with one
`grid_sample` per face and block and one for the scene, the overlays are blended on the device,
and uint8 frames come back to the encoder.

Pixel conventions, so frames match the CPU engine's `cv2.remap`: maps hold absolute pixel
positions with pixel centres at integers, which is `grid_sample(align_corners=True)` after
`2 * x / (w - 1) - 1`; the crop's BORDER_REPLICATE is `padding_mode="border"` and the frame's
BORDER_REFLECT_101 is `padding_mode="reflection"` (with align_corners=True both reflect about the
outer pixel centres). A coarse map upsamples as `cv2.resize` does (half-pixel centres), which is
`F.interpolate(align_corners=False)`. Every warp is rounded and every paint stroke truncated to
whole values, as uint8 pixels are on the CPU.

Nothing else imports torch: `generator.engine.choose_engine` imports this module when torch-rig is
asked for, or for auto on a machine with an NVIDIA driver (where it first asks torch about CUDA).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray

from generator.engine import Image
from generator.motion import FaceMotion, MotionPlan
from generator.render import FaceFrame, FaceRig, Overlay, SceneRig, _Grid, build_rigs
from generator.types import ImageAnalysis

__all__ = ["TorchRigEngine"]

#: Pixels held on the device per block of frames (all frames of a block are warped together).
BLOCK_PIXELS = 32 * 1024 * 1024
#: Most frames in one block.
MAX_BLOCK = 8


class TorchRigEngine:
    """The rig's warps and paint as batched tensor ops: CUDA when present, else CPU torch."""

    name = "torch-rig"

    def __init__(self, device: str | torch.device | None = None) -> None:
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        #: Frames are drawn on a CUDA GPU (the pipeline then tries NVENC for the encode).
        self.on_gpu = self.device.type == "cuda"

    def prepare(
        self, image: Image, analysis: ImageAnalysis, plan: MotionPlan, person_mask: Image | None
    ) -> Iterator[NDArray[np.uint8]]:
        """Builds the shared rig (on the CPU), then yields one frame per plan frame."""
        pixels, rigs, scene = build_rigs(image, analysis, plan, person_mask)
        return self._frames(pixels, plan, rigs, scene)

    def _frames(
        self,
        pixels: NDArray[np.uint8],
        plan: MotionPlan,
        rigs: list[tuple[FaceRig, FaceMotion]],
        scene: SceneRig,
    ) -> Iterator[NDArray[np.uint8]]:
        """Blocks of frames: block k+1 is described on a helper thread while block k is drawn."""
        if plan.n_frames == 0:
            return
        height, width = pixels.shape[:2]
        block = max(1, min(MAX_BLOCK, BLOCK_PIXELS // (height * width)))
        photo = self._tensor(pixels).permute(2, 0, 1)
        motions = [motion for _, motion in rigs]
        kept: list[torch.Tensor | None] = [None] * len(rigs)

        def describe(start: int) -> tuple[list[list[FaceFrame | None]], list[NDArray[np.float32] | None]]:
            frames = range(start, min(plan.n_frames, start + block))
            faces = [[rig.describe(motion, i) for i in frames] for rig, motion in rigs]
            return faces, [scene.describe(plan, motions, i) for i in frames]

        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="describe") as helper:
            pending = helper.submit(describe, 0)
            for start in range(0, plan.n_frames, block):
                faces, scene_backs = pending.result()
                if start + block < plan.n_frames:
                    pending = helper.submit(describe, start + block)
                work = photo.expand(len(scene_backs), -1, -1, -1).clone()
                for k, (rig, _) in enumerate(rigs):
                    kept[k] = self._draw_face(work, rig, faces[k], kept[k])
                moving = [j for j, back in enumerate(scene_backs) if back is not None]
                if moving:
                    grid = self._sampling_grid(scene.grid, [b for b in scene_backs if b is not None])
                    still = len(moving) < len(scene_backs)  # mostly none: the camera always drifts
                    moved = F.grid_sample(
                        work[moving] if still else work,
                        grid,
                        mode="bilinear",
                        padding_mode="reflection",
                        align_corners=True,
                    ).round_()
                    if still:
                        work[moving] = moved
                    else:
                        work = moved
                out = work.clamp_(0.0, 255.0).to(torch.uint8).permute(0, 2, 3, 1).contiguous().cpu().numpy()
                yield from out

    def _draw_face(
        self, work: torch.Tensor, rig: FaceRig, frames: Sequence[FaceFrame | None], kept: torch.Tensor | None
    ) -> torch.Tensor | None:
        """Warps and paints one face's crop in every frame of the block; returns the crop kept for reuse."""
        x0, y0, x1, y1 = rig.box
        drawn = [j for j, face in enumerate(frames) if face is not None and face.back is not None]
        if drawn:
            backs = [face.back for face in frames if face is not None and face.back is not None]
            grid = self._sampling_grid(rig.grid, backs)
            crops = F.grid_sample(
                work[drawn, :, y0:y1, x0:x1], grid, mode="bilinear", padding_mode="border", align_corners=True
            ).round_()
            for n, j in enumerate(drawn):
                face = frames[j]
                assert face is not None
                for overlay in face.overlays:
                    self._composite(crops[n], overlay)
            work[drawn, :, y0:y1, x0:x1] = crops
        # In frame order: a reused face takes the crop remembered last, maybe earlier in this block;
        # each run of reuses is pasted in one copy.
        reused: list[int] = []
        for j, face in enumerate(frames):
            if face is None:
                continue
            if face.back is None:
                reused.append(j)
            elif face.remember:
                self._paste(work, reused, kept, rig.box)
                reused = []
                kept = work[j, :, y0:y1, x0:x1].clone()
        self._paste(work, reused, kept, rig.box)
        return kept

    @staticmethod
    def _paste(
        work: torch.Tensor, frames: list[int], crop: torch.Tensor | None, box: tuple[int, int, int, int]
    ) -> None:
        """Puts one face's kept crop back into the given frames of the block."""
        if not frames:
            return
        assert crop is not None, "a face is reused only after it was drawn"
        x0, y0, x1, y1 = box
        work[frames, :, y0:y1, x0:x1] = crop

    def _sampling_grid(self, grid: _Grid, backs: Sequence[NDArray[np.float32]]) -> torch.Tensor:
        """grid_sample's (n, h, w, 2) grid from coarse backward maps: upsampled, cropped, normalised."""
        # int(): the grid's sizes may be NumPy integers, which would make float64 maps.
        spans = np.array([2.0 / max(int(grid.w) - 1, 1), 2.0 / max(int(grid.h) - 1, 1)], np.float32)
        # Normalised on the coarse grid, a hundredth of the pixels: bilinear upsampling commutes
        # with this affine map.
        coarse = np.stack([(grid.xy + back) * spans - 1.0 for back in backs]).transpose(0, 3, 1, 2)
        c = grid.cell
        fine = F.interpolate(
            self._tensor(coarse), size=(grid.gh * c, grid.gw * c), mode="bilinear", align_corners=False
        )
        return fine[:, :, c : c + grid.h, c : c + grid.w].permute(0, 2, 3, 1)

    def _composite(self, crop: torch.Tensor, overlay: Overlay) -> None:
        """Paints one overlay onto a (3, h, w) crop in place, as `generator.render.composite` does."""
        x0, y0, x1, y1 = overlay.box
        region = crop[:, y0:y1, x0:x1]
        for layer in overlay.layers:
            colour = self._tensor(layer.colour).permute(2, 0, 1)
            alpha = self._tensor(layer.alpha).permute(2, 0, 1)
            region = region * (1.0 - alpha) + colour * alpha
        crop[:, y0:y1, x0:x1] = region.clamp_(0.0, 255.0).floor_()

    def _tensor(self, array: NDArray[np.generic]) -> torch.Tensor:
        """A float32 copy of `array` on the device."""
        return torch.from_numpy(np.array(array, dtype=np.float32, order="C")).to(self.device)

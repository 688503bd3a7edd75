"""Stage 5, render: the photo and a motion plan in, video frames out, one at a time.

The default engine is a 2D rig that runs in real time on a CPU. Each frame is two warps of the
photo and two small composites:

1. Local, per face, inside a crop around the face: every expression (jaw, lips, blinks, gaze,
   brows, the 2.5D parallax of a small head turn from the mesh's depth) is a displacement of the
   478 mesh points, with a ring of fixed anchors around the face so nothing beyond it moves. The
   sparse displacements become a dense field through barycentric weights over a Delaunay
   triangulation, computed once per face as a sparse matrix: a frame costs one mat-vec on a coarse
   grid, a blur, a two-step inversion (the field is forward, a remap needs it backward) and one
   `cv2.remap` of the crop.
2. The mouth interior (cavity, upper and lower teeth, tongue) is painted inside the warped inner-lip
   outline when the mouth opens further than in the photo, softened and grained like the photo round
   it; a blink shades the closed eye with lid skin.
3. Global, over the whole frame: head translation and roll, neck and shoulders, breathing and the
   camera's drift are a handful of smooth fields (weighted by the person mask and by distance from
   the head) on a coarse grid, combined per frame and upsampled into one remap. The background only
   gets the camera's drift, so it never wobbles with the jaw.

Only the mouth interior and a closed eye are ever painted; everything else is the photo's own
pixels, moved. What a frame looks like is decided here once, as data: `FaceRig.describe` gives a
face's coarse backward map and its painted overlays (colour layers and alphas), `SceneRig.describe`
the frame's coarse backward map. `CpuRigEngine` draws that with OpenCV; `generator.torch_engine`
draws the very same description with torch on a GPU. An engine is anything with
`prepare(image, analysis, plan, person_mask)` returning frames (`generator.engine.Engine`).
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import cv2
import numpy as np
from numpy.typing import NDArray
from scipy import sparse
from scipy.sparse.linalg import spsolve
from scipy.spatial import Delaunay

from generator import landmarks as lm
from generator.body import BodyRig
from generator.engine import Engine, Image
from generator.motion import FaceMotion, MotionPlan
from generator.types import FaceAnalysis, ImageAnalysis

__all__ = [
    "REUSE",
    "CpuRigEngine",
    "Engine",
    "FaceFrame",
    "FaceRig",
    "Layer",
    "Overlay",
    "SceneRig",
    "build_rigs",
    "composite",
    "render_frames",
]

#: Extra inner-lip gap at jaw_open = 1, as a fraction of the mouth's width.
JAW_GAP = 0.45
#: Mouth width change (fraction of its width) for fully spread and fully rounded lips.
SPREAD_WIDTH = 0.22
ROUND_WIDTH = 0.34
#: How far the upper teeth show below the upper lip, and the lower teeth above the lower lip
#: (fraction of mouth width; the lower ones less when the lips are not spread).
UPPER_TEETH = 0.11
LOWER_TEETH = 0.08
#: Inner-lip gap left when the lower lip touches the upper teeth (f, v), fraction of mouth width.
TUCK_GAP = 0.05
#: A photographed mouth open wider than this (gap / width) is closed whenever it rests.
WIDE_OPEN = 0.28
#: One open wider than this (a smile showing teeth) relaxes to nearly closed lips in the pauses
#: of its own speech, and keeps the photo's smile elsewhere (a listener, a long silence). Lips that
#: closed for m, b and p but hung open in every pause would move against the sound: pauses are
#: the quietest moments, and a real speaker's lips meet there too.
SMILE_OPEN = 0.1
#: A photographed mouth open wider than this (gap / width) shows its own upper teeth.
PHOTO_TEETH = 0.06
#: How far pressed lips push into each other, fraction of the mouth's width.
PRESS_SQUEEZE = 0.03
#: A face whose control points all moved less than this (pixels) since its last drawn crop reuses it.
REUSE_PX = 0.25
#: Cells across the face height of the local deformation grid.
LOCAL_GRID_CELLS = 96
#: Cells along the longer side of the global motion grid.
GLOBAL_GRID_CELLS = 128

#: Geometry is float64; fields, masks and remap maps float32; colours either (a median of float32
#: pixels, or a float64 default).
_Float = TypeVar("_Float", np.float32, np.float64)
Colour = NDArray[np.float32] | NDArray[np.float64]


# --- the rig's per-frame description, drawn by either engine ---------------------------------------


@dataclass(frozen=True)
class Layer:
    """Paint over pixels: `pixels * (1 - alpha) + colour * alpha`."""

    colour: NDArray[Any]  # float (h, w, 3), or (1, 1, 3) for one colour; numpy's stubs lose the dtype
    alpha: Colour  # (h, w, 1)


@dataclass(frozen=True)
class Overlay:
    """Painted layers inside `box` (x0, y0, x1, y1) of a face's crop, blended in order in float and
    then clipped and truncated to uint8 once, as one paint stroke."""

    box: tuple[int, int, int, int]
    layers: tuple[Layer, ...]


@dataclass(frozen=True)
class FaceFrame:
    """One face on one frame, as data: warp the crop through `back`, then paint `overlays` in order.

    `back` is the coarse backward displacement on the face's grid (`_Grid.backward`); None means
    "the crop this face drew last" (see REUSE_PX). `remember`: keep this drawing for such reuse.
    """

    back: NDArray[np.float32] | None
    overlays: tuple[Overlay, ...] = ()
    remember: bool = False


#: A face drawn exactly as on its last drawn frame.
REUSE = FaceFrame(back=None)


class CpuRigEngine:
    """The default engine: mesh-driven warps and a painted mouth interior, real time on a CPU."""

    name = "cpu-rig"

    def prepare(
        self, image: Image, analysis: ImageAnalysis, plan: MotionPlan, person_mask: Image | None
    ) -> Iterator[NDArray[np.uint8]]:
        """Precomputes every face's rig and the global fields, then yields one frame per plan frame."""
        pixels, rigs, scene = build_rigs(image, analysis, plan, person_mask)
        return self._frames(pixels, plan, rigs, scene)

    def _frames(
        self,
        image: NDArray[np.uint8],
        plan: MotionPlan,
        rigs: list[tuple[FaceRig, FaceMotion]],
        scene: SceneRig,
    ) -> Iterator[NDArray[np.uint8]]:
        """Two stages in step: faces of frame i+1 are drawn on a helper thread while frame i moves.

        OpenCV and NumPy release the GIL, so the two stages share the cores. Two buffers of the
        photo alternate: the helper only writes the one the main stage is not reading.
        """
        buffers = [image.copy(), image.copy()]
        motions = [motion for _, motion in rigs]
        drawn: list[NDArray[np.uint8] | None] = [None] * len(rigs)  # each face's crop kept for reuse

        def draw_faces(i: int) -> NDArray[np.uint8]:
            work = buffers[i % 2]
            for rig, _ in rigs:
                rig.restore(work, image)
            for k, (rig, motion) in enumerate(rigs):
                face = rig.describe(motion, i)
                if face is None:
                    continue
                x0, y0, x1, y1 = rig.box
                kept = drawn[k]
                if face.back is None:
                    assert kept is not None, "a face is reused only after it was drawn"
                    work[y0:y1, x0:x1] = kept
                    continue
                source_map = rig.grid.source_map(face.back)
                src = work[y0:y1, x0:x1].copy()
                out = np.asarray(_remap(src, source_map, cv2.BORDER_REPLICATE), dtype=np.uint8)
                for overlay in face.overlays:
                    composite(out, overlay)
                work[y0:y1, x0:x1] = out
                if face.remember:
                    drawn[k] = out
            return work

        if plan.n_frames == 0:
            return
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="faces") as helper:
            pending = helper.submit(draw_faces, 0)
            for i in range(plan.n_frames):
                work = pending.result()
                if i + 1 < plan.n_frames:
                    pending = helper.submit(draw_faces, i + 1)
                back = scene.describe(plan, motions, i)
                if back is None:
                    yield work.copy()
                else:
                    source_map = scene.grid.source_map(back)
                    yield np.asarray(_remap(work, source_map, cv2.BORDER_REFLECT101), dtype=np.uint8)


def composite(out: NDArray[np.uint8], overlay: Overlay) -> None:
    """Paints one overlay onto `out` (a face's warped crop) in place."""
    x0, y0, x1, y1 = overlay.box
    region = out[y0:y1, x0:x1].astype(np.float32)
    for layer in overlay.layers:
        region = region * (1.0 - layer.alpha) + layer.colour * layer.alpha
    out[y0:y1, x0:x1] = np.clip(region, 0.0, 255.0).astype(np.uint8)


def build_rigs(
    image: Image, analysis: ImageAnalysis, plan: MotionPlan, person_mask: Image | None
) -> tuple[NDArray[np.uint8], list[tuple[FaceRig, FaceMotion]], SceneRig]:
    """The rig every engine draws: the photo as uint8, each planned face's rig with its motion, the scene."""
    pixels = np.ascontiguousarray(image, dtype=np.uint8)
    # float32 already from segment_person(), so the same array; the scene reads it as float32 too.
    mask_in = None if person_mask is None else np.asarray(person_mask, dtype=np.float32)
    by_index = {face.index: face for face in analysis.faces}
    rigs = [(FaceRig(pixels, by_index[m.face], mask_in), m) for m in plan.faces if m.face in by_index]
    for rig, _ in rigs:
        rig.reusable = not any(other is not rig and _overlap(rig.box, other.box) for other, _ in rigs)
    mask = _guess_person(pixels.shape, [rig for rig, _ in rigs]) if mask_in is None else mask_in
    scene = SceneRig(pixels.shape, mask, [rig for rig, _ in rigs], plan.parallax)
    return pixels, rigs, scene


def render_frames(
    image: NDArray[np.uint8],
    analysis: ImageAnalysis,
    plan: MotionPlan,
    person_mask: NDArray[np.float32] | None = None,
    engine: Engine | None = None,
) -> Iterator[NDArray[np.uint8]]:
    """Yields the clip's frames one at a time (RGB uint8, the image's size); never holds the clip."""
    # An engine's frames are typed as any array; the encoder takes uint8 (a no-op for ours). The
    # engine's prepare() still runs here, not on the first frame: a generator's source is eager.
    return (
        np.asarray(frame, dtype=np.uint8)
        for frame in (engine or CpuRigEngine()).prepare(image, analysis, plan, person_mask)
    )


# --- geometry helpers ----------------------------------------------------------------------------


def _smoothstep(edge0: float, edge1: float, x: NDArray[_Float]) -> NDArray[_Float]:
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return np.asarray(t * t * (3.0 - 2.0 * t), dtype=x.dtype)


def _unit(v: NDArray[np.float64]) -> NDArray[np.float64]:
    return v / max(float(np.linalg.norm(v)), 1e-6)


@dataclass(frozen=True)
class _TeethRow:
    """One row of teeth as seen from the front, from the midline outwards, per tooth."""

    edges: NDArray[np.float32]  # where each tooth ends (fractions of the face's width)
    lengths: NDArray[np.float32]  # each tooth's length, relative to the central incisor's
    rounding: NDArray[np.float32]  # how much of its biting edge is rounded off at the corners
    notch: NDArray[np.float32]  # how far those corners recede (fraction of its length)
    light: float  # how much light the row gets
    fade: tuple[float, float]  # where it fades into the dark by the corners (fraction of half the opening)
    highlight: bool  # whether the central incisors catch a highlight
    sides_only: bool = False  # only out by the corners (beside a photo's own teeth)


def _f32(*values: float) -> NDArray[np.float32]:
    return np.array(values, np.float32)


#: Central and lateral incisors, canine, two premolars and a molar each side; the arch turns the
#: side teeth away from the camera, so they look narrower than they are.
UPPER_ROW = _TeethRow(
    edges=_f32(0.0, 0.058, 0.1, 0.134, 0.158, 0.176, 0.192),
    lengths=_f32(1.0, 0.86, 0.95, 0.8, 0.74, 0.68),
    rounding=_f32(0.3, 0.5, 1.0, 0.6, 0.6, 0.6),
    notch=_f32(0.08, 0.14, 0.22, 0.15, 0.15, 0.15),
    light=1.0,
    fade=(0.5, 0.8),
    highlight=True,
)
#: The lower incisors are narrower; the whole row sits in the shadow of the upper one.
LOWER_ROW = _TeethRow(
    edges=_f32(0.0, 0.036, 0.074, 0.104, 0.13, 0.15, 0.168),
    lengths=_f32(1.0, 1.0, 0.95, 0.86, 0.8, 0.76),
    rounding=_f32(0.3, 0.35, 1.0, 0.6, 0.6, 0.6),
    notch=_f32(0.06, 0.08, 0.2, 0.15, 0.15, 0.15),
    light=0.85,
    fade=(0.3, 0.65),
    highlight=False,
)


def _chaikin(points: NDArray[np.float64], rounds: int = 2, closed: bool = False) -> NDArray[np.float64]:
    """A polyline's corners cut off (Chaikin): a smooth curve near the points; an open one keeps its ends."""
    for _ in range(rounds):
        cur = points if closed else points[:-1]
        nxt = np.roll(points, -1, axis=0) if closed else points[1:]
        cut = np.empty((2 * len(cur), 2), np.float64)
        cut[0::2] = 0.75 * cur + 0.25 * nxt
        cut[1::2] = 0.25 * cur + 0.75 * nxt
        points = cut if closed else np.vstack([points[:1], cut, points[-1:]])
    return points


def _softness_and_grain(patch: NDArray[np.uint8]) -> tuple[float, float]:
    """A photo patch's blur (Gaussian sigma, pixels) and fine grain (std of its finest detail).

    Blur: the ratio of gradient to Laplacian grows in proportion to it (about 0.35 for a sharp
    photo, 1.35 for one blurred by sigma 1). Grain: the median deviation of what a sigma-1 blur
    removes, so edges (lips, wrinkles) barely count.
    """
    if patch.shape[0] < 8 or patch.shape[1] < 8:
        return 0.0, 0.0
    gray = cv2.cvtColor(np.ascontiguousarray(patch), cv2.COLOR_RGB2GRAY).astype(np.float32)
    gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3) / 8.0
    gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3) / 8.0
    lap = cv2.Laplacian(gray, cv2.CV_32F, ksize=1)
    ratio = float(np.sqrt(np.mean(gx**2 + gy**2) / max(float(np.mean(lap**2)), 1e-6)))
    fine = gray - cv2.GaussianBlur(gray, (0, 0), 1.0)
    grain = 1.4826 * float(np.median(np.abs(fine - np.median(fine))))
    return float(np.clip(ratio - 0.35, 0.0, 4.0)), grain


def _grain_texture(shape: tuple[int, int], grain: float, softness: float) -> NDArray[np.float32]:
    """Fixed noise with a photo's grain: blurred like the photo, its finest detail `grain` strong."""
    noise = np.random.default_rng(7).standard_normal(shape).astype(np.float32)
    if softness > 0.3:
        noise = np.asarray(cv2.GaussianBlur(noise, (0, 0), softness), dtype=np.float32)
    fine = float(np.std(noise - cv2.GaussianBlur(noise, (0, 0), 1.0)))
    return np.asarray(noise * (grain / max(fine, 1e-6)), dtype=np.float32)


class _Grid:
    """A coarse grid of square cells over a w x h area, with one spare cell around it.

    Cell j's centre sits at fine coordinate (j - 0.5) * cell - 0.5, so `cv2.resize` by exactly
    `cell` reproduces every fine pixel's own coordinate without clamping at the borders: a coarse
    map of absolute source positions upsamples straight into the fine remap map.
    """

    def __init__(self, w: int, h: int, cell: int) -> None:
        self.w, self.h, self.cell = w, h, max(1, cell)
        self.gw = -(-w // self.cell) + 2
        self.gh = -(-h // self.cell) + 2
        xs = (np.arange(self.gw) - 0.5) * self.cell - 0.5
        ys = (np.arange(self.gh) - 0.5) * self.cell - 0.5
        gx, gy = np.meshgrid(xs, ys)
        #: (gh, gw, 2) float32: each cell centre in fine pixel coordinates.
        self.xy = np.dstack([gx, gy]).astype(np.float32)
        #: The same, in (fractional) cell coordinates, for sampling coarse fields.
        self.uv = self.to_cells(self.xy)
        self._fine = np.empty((self.gh * self.cell, self.gw * self.cell, 2), np.float32)

    def to_cells(self, xy: NDArray[np.float32]) -> NDArray[np.float32]:
        """Fine pixel coordinates to (fractional) cell coordinates."""
        return ((xy + 0.5) / self.cell + 0.5).astype(np.float32)

    def sample(self, fine: NDArray[np.float32]) -> NDArray[np.float32]:
        """A fine single-channel image read at the cell centres, averaged over about a cell."""
        if self.cell > 1:
            fine = np.asarray(cv2.GaussianBlur(fine, (0, 0), 0.5 * self.cell), dtype=np.float32)
        return np.asarray(_remap(fine, self.xy, cv2.BORDER_REPLICATE), dtype=np.float32)

    def backward(self, forward: NDArray[np.float32], steps: int = 2) -> NDArray[np.float32]:
        """Inverts a smooth forward displacement field on this grid by fixed-point iteration.

        Output point q came from p with p + f(p) = q, so p = q - f(p): start with p = q - f(q).
        Returns the backward displacement (fine pixels) at each cell.
        """
        back = -forward
        scale = 1.0 / self.cell
        for _ in range(steps):
            at = np.asarray(cv2.scaleAdd(back, scale, self.uv), dtype=np.float32)
            back = np.asarray(_remap(forward, at, cv2.BORDER_REPLICATE), dtype=np.float32)
            np.negative(back, out=back)
        return back

    def source_map(self, back: NDArray[np.float32]) -> NDArray[np.float32]:
        """The fine remap map (h, w, 2): where each pixel takes its colour from. A view; reused."""
        absolute = cv2.add(self.xy, back)
        cv2.resize(
            absolute,
            (self._fine.shape[1], self._fine.shape[0]),
            dst=self._fine,
            interpolation=cv2.INTER_LINEAR,
        )
        c = self.cell
        return self._fine[c : c + self.h, c : c + self.w]


# --- a face --------------------------------------------------------------------------------------


class FaceRig:
    """One face's local deformation rig, built once: crop, triangulation, per-control bases."""

    def __init__(
        self, image: NDArray[np.uint8], face: FaceAnalysis, person_mask: NDArray[np.float32] | None = None
    ) -> None:
        height, width = image.shape[:2]
        pts = np.asarray(face.landmarks, dtype=np.float64)
        xy, z = pts[:, :2], pts[:, 2]
        self.face = face
        eye_r = xy[list(lm.RIGHT_EYE)].mean(axis=0)
        eye_l = xy[list(lm.LEFT_EYE)].mean(axis=0)
        ex = _unit(eye_l - eye_r)  # image right, along the eye line
        ey = np.array([-ex[1], ex[0]])  # image down, across it
        self.ex, self.ey = ex, ey
        self.face_h = float(np.linalg.norm(xy[lm.CHIN] - xy[lm.FOREHEAD]))
        self.face_w = float(np.linalg.norm(xy[lm.CHEEK_LEFT] - xy[lm.CHEEK_RIGHT]))
        self.mouth_w = float(np.linalg.norm(xy[lm.MOUTH_CORNER_LEFT] - xy[lm.MOUTH_CORNER_RIGHT]))
        oval = xy[list(lm.FACE_OVAL)]
        self.center = oval.mean(axis=0)
        self.chin = xy[lm.CHIN]

        # The crop: the face, a ring of fixed anchors around it, and a margin.
        ring = self._anchor_ring(oval)
        lo = np.floor(np.minimum(ring.min(axis=0), xy.min(axis=0)) - 4).astype(int)
        hi = np.ceil(np.maximum(ring.max(axis=0), xy.max(axis=0)) + 4).astype(int)
        x0, y0 = max(0, lo[0]), max(0, lo[1])
        x1, y1 = min(width, hi[0] + 1), min(height, hi[1] + 1)
        self.box = (x0, y0, x1, y1)
        cw, ch = x1 - x0, y1 - y0
        self.size = [cw, ch]  # the crop's (width, height): overlays stay inside it
        self.origin = np.array([x0, y0], dtype=np.float64)
        local = xy - self.origin
        self.points = local  # mesh points in crop coordinates

        # Control points: the mesh (tiny jitter so coincident lip points survive triangulation),
        # the ring, and the crop's border.
        border = _border_points(cw, ch, step=max(8.0, self.face_h / 6.0))
        ring_local = ring - self.origin
        inside = (
            (ring_local[:, 0] > 1)
            & (ring_local[:, 0] < cw - 2)
            & (ring_local[:, 1] > 1)
            & (ring_local[:, 1] < ch - 2)
        )
        jitter = np.random.default_rng(0).uniform(-0.02, 0.02, local.shape)
        teeth_points = self._teeth_points(local)
        controls = np.vstack([local + jitter, teeth_points, ring_local[inside], border])
        self.n_mesh = len(local)
        self.n_moving = len(local) + len(teeth_points)
        self.n_controls = len(controls)

        # Fine enough that a thin lip spans a few cells.
        self.grid = _Grid(cw, ch, round(self.face_h / LOCAL_GRID_CELLS))
        self.weights = _barycentric_matrix(controls, self.grid.xy.reshape(-1, 2))
        self.blur = 0.6  # cells: rounds off the triangulation's creases, keeps thin lips intact
        self.keep = self._keep_weights(person_mask, local)

        self.bases = self._bases(local, z, ring_local)
        # The photo's teeth ride with the upper lip (the jaw carries the lower teeth out of sight).
        n_teeth = len(teeth_points)
        for name, basis in self.bases.items():
            extra = (
                np.repeat(basis[[lm.UPPER_LIP_INNER_MID]], n_teeth, axis=0)
                if name == "upper"
                else np.zeros((n_teeth, 2))
            )
            if name in ("yaw", "pitch"):
                extra = np.repeat(basis[[lm.UPPER_LIP_INNER_MID]], n_teeth, axis=0)
            self.bases[name] = np.vstack([basis, extra])
        closing = np.zeros((self.n_moving, 2))
        if n_teeth:
            closing[self.n_mesh :] = self.teeth_fraction[:, None] * self.ey
        self.bases["teeth_closing"] = closing
        self.points = np.vstack([local, teeth_points])
        self._mouth_setup(image, local, face)
        self._eyes_setup(image, local)
        #: What drew the last remembered crop; only for a face whose crop no other face's overlaps.
        self.reusable = True
        self._last: tuple[NDArray[np.float64], float] | None = None

    # -- setup --

    def _keep_weights(
        self, person_mask: NDArray[np.float32] | None, p: NDArray[np.float64]
    ) -> NDArray[np.float32]:
        """(gh, gw, 1) weights that let the face's deformation reach the person but not the background.

        The face itself always moves; around it, only where the person mask says person (hair,
        neck). The wall behind a head never wobbles with its jaw.
        """
        x0, y0, x1, y1 = self.box
        g = self.grid
        face = np.zeros((y1 - y0, x1 - x0), np.float32)
        cv2.fillPoly(face, [np.round(p[list(lm.FACE_OVAL)]).astype(np.int32)], (1.0,))
        if person_mask is not None:
            person = _smoothstep(0.02, 0.3, person_mask[y0:y1, x0:x1]).astype(np.float32)
            face = np.maximum(face, person)
        else:
            face = np.maximum(face, 1.0)  # no mask: no way to tell, so move everything in the crop
        return g.sample(face)[..., None]

    def _anchor_ring(self, oval: NDArray[np.float64]) -> NDArray[np.float64]:
        """Fixed points around the face: wider below the chin so the jaw can pull the neck smoothly."""
        rel = oval - self.center
        down = rel @ self.ey
        scale = 1.3 + 0.3 * _smoothstep(0.0, 1.0, down / (0.5 * self.face_h))
        ring = self.center + rel * scale[:, None]
        # A second, sparser ring further out so the falloff is gentle.
        outer = self.center + rel[::3] * (scale[::3, None] + 0.3)
        return np.vstack([ring, outer])

    def _teeth_points(self, p: NDArray[np.float64]) -> NDArray[np.float64]:
        """Where the photo's visible upper teeth end, below the upper inner lip; empty if none show.

        Pinned to the upper lip, they keep the photo's teeth from being stretched when the jaw
        drops; the opening below them is painted.
        """
        self.gap0 = float(np.linalg.norm(p[lm.UPPER_LIP_INNER_MID] - p[lm.LOWER_LIP_INNER_MID]))
        self.photo_teeth = self.gap0 / max(self.mouth_w, 1.0) > PHOTO_TEETH
        self.photo_teeth_len = 0.0
        if not self.photo_teeth:
            return np.zeros((0, 2))
        upper = p[list(lm.LIPS_INNER_UPPER[2:-2])]
        lower = p[list(lm.LIPS_INNER_LOWER[2:-2])]
        lo_s, lo_t = lower @ self.ex, lower @ self.ey
        order = np.argsort(lo_s)
        below = np.interp(upper @ self.ex, lo_s[order], lo_t[order]) - upper @ self.ey
        depth = np.minimum(np.clip(below, 0.0, None) * 0.85, 0.16 * self.mouth_w)
        self.photo_teeth_len = float(np.max(depth))
        # How far down the opening each point sits: when the mouth closes they close with it.
        self.teeth_fraction = np.clip(depth / np.maximum(below, 1e-3), 0.0, 1.0)
        return np.asarray(upper + depth[:, None] * self.ey, dtype=np.float64)

    def _bases(
        self, p: NDArray[np.float64], z: NDArray[np.float64], ring: NDArray[np.float64]
    ) -> dict[str, NDArray[np.float64]]:
        """Per-control displacement (n_mesh, 2) per unit of each motion parameter (`ring`: the
        fixed anchors round the face, in the same coordinates as `p`)."""
        ex, ey = self.ex, self.ey
        mouth_c = 0.5 * (p[lm.UPPER_LIP_INNER_MID] + p[lm.LOWER_LIP_INNER_MID])
        self.mouth_c = mouth_c
        rel = p - mouth_c
        s = (rel @ ex) / (0.5 * self.face_w)
        chin_t = float((p[lm.CHIN] - mouth_c) @ ey)
        t = (rel @ ey) / max(chin_t, 1.0)

        corners = [
            lm.MOUTH_CORNER_LEFT,
            lm.MOUTH_CORNER_RIGHT,
            lm.MOUTH_INNER_CORNER_LEFT,
            lm.MOUTH_INNER_CORNER_RIGHT,
        ]
        lower_band, upper_band = self._lip_bands(p, corners)
        # Lips part most in the middle and less towards the corners, so the opening is a lens,
        # not a box (the corners are tied to the cheeks). Each lip moves as a band: its outer
        # edge and the red between follow its inner edge, so it keeps its shape and thickness.
        taper = 1.0 - 0.5 * np.clip(np.abs(rel @ ex) / (0.5 * self.mouth_w), 0.0, 1.0) ** 2
        fixed, lower = np.zeros(len(p), bool), np.zeros(len(p))
        fixed[lower_band] = True
        lower[lower_band] = taper[lower_band] ** 2
        fixed[upper_band] = True
        fixed[corners] = True
        lower[corners] = 0.45
        # The inner corners, where the lips meet, drop least: the opening narrows to a point
        # there instead of ending in a straight dark side.
        lower[[lm.MOUTH_INNER_CORNER_LEFT, lm.MOUTH_INNER_CORNER_RIGHT]] = 0.12
        # The jaw's edge carries the chin down with it (less towards the ears); the nose tip and
        # all above it stay. The skin in between (chin, cheeks beside the corners) stretches as
        # evenly as the mesh allows, so no strip of it is smeared.
        nose_t = float((p[lm.NOSE_TIP] - mouth_c) @ ey)
        still = (rel @ ey) <= nose_t
        jaw = list(lm.JAW)
        fixed[jaw] = True
        lower[jaw] = (_smoothstep(-0.05, 0.35, t) * (1.0 - _smoothstep(0.5, 1.05, np.abs(s))))[jaw]
        fixed |= still
        lower[still] = 0.0
        lower = _harmonic(p, fixed, lower, ring)
        # The upper lip lifts as a band; the skin up to the nose tip gives way gradually.
        fixed_up, upper = still.copy(), np.zeros(len(p))
        fixed_up[upper_band] = True
        upper[upper_band] = taper[upper_band]
        below = ((rel @ ey) >= 0.0) & ~upper_band
        fixed_up[below | lower_band] = True
        fixed_up[corners + jaw] = True
        upper = _harmonic(p, fixed_up, upper, ring)

        # The lips' own width change fades out over the cheeks, faster upwards (the eyes never follow).
        dist = np.hypot((rel @ ex) / self.mouth_w, (rel @ ey) / (0.6 * self.mouth_w))
        near_mouth = 1.0 - _smoothstep(0.5, 1.1, dist)
        width = (near_mouth * (rel @ ex))[:, None] * ex

        # Pushed-forward (rounded) lips look fuller from the front: the outer lip line moves away
        # from the mouth's middle, most at the middle of each lip, less at the corners; the skin
        # round the lips follows half-way. Spread lips thin the other way.
        along = np.clip(np.abs(rel @ ex) / (0.5 * self.mouth_w), 0.0, 1.0)
        bulge = (1.0 - along**2) * (1.0 - _smoothstep(0.4, 1.0, dist))
        outer_ids = list(set(lm.LIPS_OUTER) - set(corners))
        full = 0.5 * bulge
        full[outer_ids] = bulge[outer_ids]
        full[list(set(lm.LIPS_INNER))] = 0.0
        pout = (full * np.sign(rel @ ey))[:, None] * ey * self.mouth_w

        bases: dict[str, NDArray[np.float64]] = {
            "lower": lower[:, None] * ey,  # per pixel of lower-lip travel
            "upper": upper[:, None] * -ey,  # per pixel of upper-lip travel (up)
            "width": width,  # per unit of relative mouth-width change
            "pout": pout,  # per unit of lip fullness, in mouth widths
        }
        for name, upper_ids, lower_ids, iris in (
            ("blink_r", lm.RIGHT_EYE_UPPER, lm.RIGHT_EYE_LOWER, lm.RIGHT_IRIS),
            ("blink_l", lm.LEFT_EYE_UPPER, lm.LEFT_EYE_LOWER, lm.LEFT_IRIS),
        ):
            bases[name] = self._blink_basis(p, upper_ids, lower_ids, iris)
        eye_w = np.linalg.norm(p[lm.RIGHT_EYE_EAR[0]] - p[lm.RIGHT_EYE_EAR[1]])
        irises = np.zeros(len(p))
        irises[list(lm.RIGHT_IRIS) + list(lm.LEFT_IRIS)] = eye_w
        bases["gaze_x"] = irises[:, None] * ex
        bases["gaze_y"] = irises[:, None] * ey
        brow = np.zeros(len(p))
        brow_ids = list(lm.RIGHT_BROW) + list(lm.LEFT_BROW)
        brow[brow_ids] = 1.0
        brow_line = float(np.mean((p[brow_ids] - self.center) @ ey))
        above = (p - self.center) @ ey < brow_line
        brow[above & (brow == 0)] = 0.45
        bases["brow"] = brow[:, None] * -ey * (0.035 * self.face_h)
        # A small head turn seen in 2D: points nearer the camera (negative z) move further.
        oval_z = float(np.mean(z[list(lm.FACE_OVAL)]))
        depth = np.clip(z - oval_z, -self.face_w, 0.0) * 1.4
        bases["yaw"] = -depth[:, None] * ex  # per sin(yaw)
        bases["pitch"] = depth[:, None] * ey  # per sin(pitch)
        return bases

    def _lip_bands(
        self, p: NDArray[np.float64], corners: list[int]
    ) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
        """Which mesh points lie on the lower lip and which on the upper (their red, between the
        inner and outer lip lines, both lines included; the corners in neither)."""
        rel = p - self.mouth_c
        s, t = rel @ self.ex, rel @ self.ey

        def line(ids: tuple[int, ...]) -> NDArray[np.float64]:
            return self._line_height(p[list(ids)], s)

        # Between the lips' inner lines: a closed mouth's lines meet, and the mesh points of each
        # lip lie on its own side of their middle.
        middle = 0.5 * (line(lm.LIPS_INNER_UPPER) + line(lm.LIPS_INNER_LOWER))
        tol = 0.02 * self.mouth_w
        ends = s[corners]
        across = (s > ends.min()) & (s < ends.max())
        lower = across & (t >= middle) & (t <= line(lm.LIPS_OUTER_LOWER) + tol)
        upper = across & (t < middle) & (t >= line(lm.LIPS_OUTER_UPPER) - tol)
        upper_ids = list(set(lm.LIPS_INNER_UPPER) | set(lm.LIPS_OUTER_UPPER))
        lower_ids = list(set(lm.LIPS_INNER_LOWER) | set(lm.LIPS_OUTER_LOWER))
        lower[upper_ids], upper[upper_ids] = False, True
        lower[lower_ids], upper[lower_ids] = True, False
        lower[corners] = upper[corners] = False
        return lower, upper

    def _blink_basis(
        self,
        p: NDArray[np.float64],
        upper_ids: tuple[int, ...],
        lower_ids: tuple[int, ...],
        iris: tuple[int, ...],
    ) -> NDArray[np.float64]:
        """Displacement at full closure: the upper lid meets the lower lid, which rises a little."""
        basis = np.zeros((len(p), 2))
        low = p[list(lower_ids)]
        order = np.argsort(low @ self.ex)
        low_s, low_t = (low @ self.ex)[order], (low @ self.ey)[order]
        up = p[list(upper_ids)]
        up_t = up @ self.ey
        meet = np.interp(up @ self.ex, low_s, low_t)
        gap = np.maximum(meet - up_t, 0.0)
        # The upper lid does nearly all the travel; the lower one rises to meet it.
        basis[list(upper_ids)] = (0.9 * gap)[:, None] * self.ey
        low_gap = np.interp(low @ self.ex, up @ self.ex, gap, left=0.0, right=0.0) if len(up) > 1 else 0.0
        basis[list(lower_ids)] += (-0.1 * np.asarray(low_gap))[:, None] * self.ey
        # Corners stay put.
        basis[[upper_ids[0], upper_ids[-1]]] = 0.0
        # The iris slides down under the lid a little instead of being squashed flat.
        iris_gap = float(np.max(gap)) if gap.size else 0.0
        basis[list(iris)] = 0.3 * iris_gap * self.ey
        return basis

    def _mouth_setup(self, image: NDArray[np.uint8], p: NDArray[np.float64], face: FaceAnalysis) -> None:
        """Measures the photo's mouth and samples the colours the interior is painted with."""
        x0, y0, x1, y1 = self.box
        crop = image[y0:y1, x0:x1]
        ratio = self.gap0 / max(self.mouth_w, 1.0)
        self.gap_rest = self.gap0 if ratio <= SMILE_OPEN else 0.04 * self.mouth_w
        self.always_close = ratio > WIDE_OPEN
        outer = np.zeros(crop.shape[:2], np.uint8)
        inner = np.zeros(crop.shape[:2], np.uint8)
        cv2.fillPoly(outer, [np.round(p[list(lm.LIPS_OUTER)]).astype(np.int32)], (1,))
        cv2.fillPoly(inner, [np.round(p[list(lm.LIPS_INNER)]).astype(np.int32)], (1,))
        lips = crop[(outer > 0) & (inner == 0)].astype(np.float32)
        self.lip_rgb = np.median(lips, axis=0) if len(lips) else np.array([150.0, 80.0, 80.0])
        skin_pts = np.round(p[[lm.NOSE_TIP, 50, 280, 205, 425]]).astype(int)
        skin_pts = np.clip(skin_pts, 0, [crop.shape[1] - 1, crop.shape[0] - 1])
        self.skin_rgb = np.median(crop[skin_pts[:, 1], skin_pts[:, 0]].astype(np.float32), axis=0)
        # Teeth: the photo's own if it shows them (bright, low-saturation pixels inside the lips).
        shown = crop[inner > 0].astype(np.float32)
        # Otherwise ivory, a little dimmer in a dim photo (teeth are never as dark as dark skin).
        light = float(np.clip(np.percentile(crop.mean(axis=2), 95) / 230.0, 0.75, 1.0))
        # The photo's colour cast tints them a little (a warm photo, warm teeth), much less than
        # it tints skin: enamel is nearly grey, and tinted like skin it reads as tan.
        cast = self.skin_rgb / max(float(self.skin_rgb.mean()), 1.0)
        teeth = np.array([232.0, 226.0, 212.0]) * light * (0.88 + 0.12 * cast)
        if self.photo_teeth and len(shown) > 8:
            # Bright and not red (lips, gums): yellowed or warm-lit teeth count too.
            tint = np.ptp(shown, axis=1) / np.maximum(shown.max(axis=1), 1.0)
            bright = shown[(shown.mean(axis=1) > np.percentile(shown.mean(axis=1), 70)) & (tint < 0.42)]
            if len(bright) > 4:
                teeth = np.median(bright, axis=0)
        self.teeth_rgb = teeth
        self.light = light
        # How soft and how grainy the photo is round the mouth: paint sharper or cleaner than the
        # skin around it looks pasted on, most at 1080p where a small photo was scaled up.
        mw = self.mouth_w
        c = self.mouth_c
        ys = slice(max(0, int(c[1] - 0.8 * mw)), max(1, int(c[1] + 0.8 * mw)))
        xs = slice(max(0, int(c[0] - mw)), max(1, int(c[0] + mw)))
        self.softness, grain = _softness_and_grain(crop[ys, xs])
        self.skin_luma = max(float(self.skin_rgb.mean()), 1.0)
        # A fixed grain pattern (the photo's own amplitude and blur) that rides with the mouth.
        self.grain_pad = int(0.6 * mw) + 2
        self.grain = _grain_texture(
            (crop.shape[0] + 2 * self.grain_pad, crop.shape[1] + 2 * self.grain_pad), grain, self.softness
        )
        #: The photo's upper-lip middle: where the painted teeth and grain are anchored.
        self.upper_mid0 = p[lm.UPPER_LIP_INNER_MID].copy()

    def _eyes_setup(self, image: NDArray[np.uint8], p: NDArray[np.float64]) -> None:
        """Samples each eye's lid skin (above and below the eye) and lash colour, for closed eyes."""
        x0, y0, x1, y1 = self.box
        crop = image[y0:y1, x0:x1].astype(np.float32)
        size = np.array([crop.shape[1] - 1, crop.shape[0] - 1])
        eye_h = max(2.0, 0.08 * self.face_h)
        self.lids: list[tuple[Colour, Colour, Colour]] = []
        for loop, upper_ids, lower_ids in (
            (lm.RIGHT_EYE, lm.RIGHT_EYE_UPPER, lm.RIGHT_EYE_LOWER),
            (lm.LEFT_EYE, lm.LEFT_EYE_UPPER, lm.LEFT_EYE_LOWER),
        ):
            above = np.clip(np.round(p[list(upper_ids)][2:-2] - 0.5 * eye_h * self.ey).astype(int), 0, size)
            below = np.clip(np.round(p[list(lower_ids)][2:-2] + 0.4 * eye_h * self.ey).astype(int), 0, size)
            inside = np.zeros(crop.shape[:2], np.uint8)
            cv2.fillPoly(inside, [np.round(p[list(loop)]).astype(np.int32)], (1,))
            eye = crop[inside > 0]
            dark = eye[eye.mean(axis=1) <= np.percentile(eye.mean(axis=1), 10)] if len(eye) > 10 else eye
            lash = np.median(dark, axis=0) if len(dark) else np.array([40.0, 30.0, 30.0])
            # Lids are in a little shadow compared with the skin around them.
            top = np.median(crop[above[:, 1], above[:, 0]], axis=0) * 0.9
            bottom = np.median(crop[below[:, 1], below[:, 0]], axis=0) * 0.95
            self.lids.append((top, bottom, lash))

    # -- per frame --

    def restore(self, work: NDArray[np.uint8], image: NDArray[np.uint8]) -> None:
        """Puts the photo's pixels back in this face's crop before the frame's warps."""
        x0, y0, x1, y1 = self.box
        work[y0:y1, x0:x1] = image[y0:y1, x0:x1]

    def displacements(self, m: FaceMotion, i: int) -> tuple[NDArray[np.float64], float]:
        """Every mesh point's forward displacement on frame i, and the inner-lip gap it makes."""
        b = self.bases
        jaw, width, rnd, press = (
            float(m.jaw_open[i]),
            float(m.lip_width[i]),
            float(m.lip_round[i]),
            float(m.lips_pressed[i]),
        )
        tuck = float(m.lip_teeth[i])
        spread = max(0.0, width + rnd)
        engage = float(m.engage[i])
        # The lips settle from the photo's smile to their resting place quickly (about 0.1 s).
        # A smile relaxes only around this face's own speech: a listener keeps the photo's smile.
        settle = min(1.0, 3.0 * engage) * (1.0 if self.always_close else float(m.talking[i]))
        rest = self.gap0 + (self.gap_rest - self.gap0) * settle
        # Slightly convex: half-open vowels stay well under the open ones, as a real jaw does.
        open_px = jaw**1.4 * JAW_GAP * self.mouth_w
        # While talking the jaw sets the opening: a photo smiling with parted lips still closes
        # down for /i/ and opens wide for /a/, instead of adding every vowel onto its smile.
        rest *= 1.0 - 0.5 * min(1.0, jaw / 0.6)  # stays monotonic: rest < 0.36 mouth widths
        gap = max(0.0, (rest + open_px) * (1.0 - press))
        # Pressed (m, b, p), the lips do not just touch: they press into each other and the red
        # of both narrows a little.
        gap -= PRESS_SQUEEZE * self.mouth_w * max(0.0, 2.0 * press - 1.0)
        # f, v: the lower lip rises to the upper teeth, leaving only the teeth's edge in between.
        gap += (TUCK_GAP * self.mouth_w - gap) * tuck
        delta = gap - self.gap0
        if delta >= 0:
            # Opening: the jaw drops the lower lip, the upper lip lifts a little, teeth ride with it
            # (the lip lifts whole, so the short skin above it takes up its travel: kept small).
            d = b["lower"] * (0.8 * delta) + b["upper"] * (0.2 * delta)
        else:
            # Closing past the photo's mouth: the jaw does nearly all of it (the upper lip would
            # drag the nose), and the photo's teeth are squeezed in between, never crossed.
            d = b["lower"] * (0.9 * delta) + b["upper"] * (0.1 * delta) + b["teeth_closing"] * delta
        # Spread lips pull the corners out (/i/ about 15 % wider), rounded ones purse them in (/u/
        # about 25 % narrower) and push them forward; an open jaw draws the corners in a little.
        d += b["width"] * (SPREAD_WIDTH * spread - ROUND_WIDTH * rnd - 0.05 * jaw)
        d += b["pout"] * (0.05 * rnd - 0.02 * spread - 0.015 * press)
        if tuck > 0:
            d += b["upper"] * (0.03 * self.mouth_w * tuck)
        blink = float(m.blink[i])
        if blink > 0:
            d += (b["blink_r"] + b["blink_l"]) * blink
        gx, gy = float(m.gaze[i, 0]), float(m.gaze[i, 1])
        d += b["gaze_x"] * gx + b["gaze_y"] * gy
        d += b["brow"] * float(m.brow[i])
        yaw, pitch = np.radians(m.head[i, 0]), np.radians(m.head[i, 1])
        d += b["yaw"] * np.sin(yaw) + b["pitch"] * np.sin(pitch)
        return d, gap

    def describe(self, m: FaceMotion, i: int) -> FaceFrame | None:
        """This face on frame i: how its crop warps and what is painted on it (mouth, closed eyes).

        None: the photo's own pixels (nothing moved). A face whose every control point is within
        REUSE_PX of where it was last drawn (a listener between blinks and glances, a speaker in a
        pause) gets REUSE, its last crop back, instead of a new warp: that is what keeps a photo of
        six people, one speaking, nearly as cheap as one. Call it once per frame, frames in order.
        """
        d, gap = self.displacements(m, i)
        if not np.any(np.abs(d) > 1e-3):
            self._last = None
            return None
        if (
            self.reusable
            and self._last is not None
            and float(np.max(np.abs(d - self._last[0]))) < REUSE_PX
            and abs(gap - self._last[1]) < REUSE_PX
            and float(m.blink[i]) <= 0.3
        ):
            return REUSE
        g = self.grid
        controls = np.zeros((self.n_controls, 2), np.float64)
        controls[: self.n_moving] = d
        field = (self.weights @ controls).astype(np.float32).reshape(g.gh, g.gw, 2)
        field = np.asarray(cv2.GaussianBlur(field, (0, 0), self.blur), dtype=np.float32)
        field *= self.keep
        back = g.backward(field)
        moved = self.points + d
        overlays: list[Overlay | None] = [self._paint_mouth(moved, gap, m, i)]
        press = float(m.lips_pressed[i])
        if press > 0.3:
            overlays.append(self._seal_lips(moved, press))
        blink = float(m.blink[i])
        if blink > 0.3:
            overlays.extend(self._paint_eyes(moved, blink))
        remember = self.reusable and blink <= 0.3
        if remember:
            self._last = (d, gap)
        return FaceFrame(back, tuple(o for o in overlays if o is not None), remember)

    def _paint_mouth(self, moved: NDArray[np.float64], gap: float, m: FaceMotion, i: int) -> Overlay | None:
        """Paints the cavity, tongue and upper and lower teeth inside the warped lips when they part.

        Only the opening beyond the photo's own is new. A photo that shows its upper teeth keeps
        them (they moved with the upper lip) and only the space below them is painted. The upper
        teeth hang from the upper lip and the lower teeth rise from the lower lip, tooth by tooth,
        so the dark gap between them grows and shrinks with the jaw, as a real bite does; the upper
        row overlaps the lower one, so a nearly closed mouth shows upper teeth only. Rounded lips
        cover the lower teeth, spread ones and a wide jaw bare them. The paint is softened and
        given grain to match the photo round it.
        """
        extra = gap - self.gap0
        strength = float(_smoothstep(0.01 * self.mouth_w, 0.05 * self.mouth_w, np.array(extra)))
        if strength <= 0.01 or gap < 1.0:
            return None
        # The outline through the mesh points, its corners rounded off: at 1080p a polygon's
        # straight sides and kinks show.
        lower_pts = moved[list(lm.LIPS_INNER_LOWER)]  # image left -> right
        lower = _chaikin(lower_pts)
        # The photo's own teeth edge (right -> left) when it shows teeth, else the upper inner lip.
        upper_pts = moved[self.n_mesh :] if self.photo_teeth else moved[list(lm.LIPS_INNER_UPPER[1:-1])]
        upper = _chaikin(upper_pts)
        poly_pts = _chaikin(np.vstack([lower_pts, upper_pts]), closed=True)
        # Never sharper than the photo round it: a hard edge at 1080p reads as a cut-out.
        feather = max(0.5, 0.012 * self.mouth_w, 1.6 * self.softness)
        pad = 3 + int(2 * feather)
        lo = np.maximum(np.floor(poly_pts.min(axis=0) - pad).astype(int), 0)
        hi = np.minimum(np.ceil(poly_pts.max(axis=0) + pad).astype(int), self.size)
        if np.any(hi - lo < 3):
            return None
        pw, ph = hi - lo
        mask = np.zeros((ph, pw), np.float32)
        cv2.fillPoly(mask, [np.round((poly_pts - lo) * 8).astype(np.int32)], (1.0,), cv2.LINE_AA, shift=3)
        # Blur, then keep the inner part: soft edges that stay inside the lips (no smear at corners).
        mask = _smoothstep(0.1, 0.65, np.asarray(cv2.GaussianBlur(mask, (0, 0), feather), dtype=np.float32))

        ys, xs = np.mgrid[lo[1] : hi[1], lo[0] : hi[0]].astype(np.float32)
        rel_x, rel_y = xs - self.mouth_c[0], ys - self.mouth_c[1]
        s_coord = rel_x * self.ex[0] + rel_y * self.ex[1]
        t_coord = rel_x * self.ey[0] + rel_y * self.ey[1]
        below_upper = t_coord - self._line_height(upper, s_coord)
        above_lower = self._line_height(lower, s_coord) - t_coord
        if self.photo_teeth:
            # Paint only where the opening below the photo's teeth grew. Beside their ends (the
            # photo's own dark corners, where rounded lips draw in) it did not: painted there, the
            # cavity would wrap the teeth in a thin dark horseshoe.
            grown = above_lower + below_upper - self._own_opening(moved, s_coord)
            mask = mask * _smoothstep(0.01 * self.mouth_w, 0.04 * self.mouth_w, grown)
        lo_s, lo_t = (lower - self.mouth_c) @ self.ex, (lower - self.mouth_c) @ self.ey
        up_t = (upper - self.mouth_c) @ self.ey
        half_w = 0.5 * float(np.ptp(lo_s)) + 1e-3
        mid_s = 0.5 * (float(lo_s.min()) + float(lo_s.max()))
        across = np.clip(np.abs(s_coord - mid_s) / half_w, 0.0, 1.0)
        opening = max(float(np.max(lo_t)) - float(np.min(up_t)), 1.0)
        w = self.mouth_w
        aa = 0.7  # pixels: the anti-aliased width of edges inside the paint
        rnd, tongue_out = float(m.lip_round[i]), float(m.tongue[i])
        spread = max(0.0, float(m.lip_width[i]) + rnd)
        lip = self.lip_rgb.astype(np.float32)

        # Cavity: the lips' inner side in their own shadow at the rim, nearly black at the back of
        # the throat (the middle of the opening); the cheeks by the corners catch a little light.
        depth = np.clip(np.minimum(below_upper, above_lower) / (0.5 * opening), 0.0, 1.0)
        back = _smoothstep(0.0, 0.9, depth) * (1.0 - 0.5 * across**2)
        flesh = 0.55 * lip + 0.45 * np.array([140.0, 45.0, 50.0], np.float32)  # a wet, dark red
        rim, deep = flesh * 0.32, flesh * 0.11
        colour = rim + (deep - rim) * back[..., None]

        # Tongue: a dome resting behind the lower teeth, visible once the jaw is well open; its top
        # catches the light, a groove runs down its middle; for th and l its tip rises to the teeth.
        tongue_h = (0.4 + 0.45 * tongue_out) * opening
        lo_mid = moved[lm.LOWER_LIP_INNER_MID] - self.mouth_c
        s_lo_mid = float(lo_mid @ self.ex)
        rise = float(lo_mid @ self.ey) - t_coord  # height above the lower lip's middle
        dome_x = np.clip((s_coord - s_lo_mid) / ((0.75 - 0.15 * tongue_out) * half_w), -1.0, 1.0)
        dome = tongue_h * np.sqrt(1.0 - dome_x**2)
        edge = max(1.0, 0.15 * tongue_h)
        tongue = (1.0 - _smoothstep(-edge, 0.0, rise - dome)) * (1.0 - _smoothstep(0.75, 1.0, np.abs(dome_x)))
        tongue *= max(float(_smoothstep(0.1 * w, 0.2 * w, np.array(gap))), tongue_out)
        if float(tongue.max(initial=0.0)) > 0.01:
            tcol = 0.5 * lip + 0.5 * np.array([170.0, 84.0, 88.0], np.float32) * (0.7 + 0.3 * self.light)
            from_top = np.clip((dome - rise) / max(tongue_h, 1.0), 0.0, 1.0)
            lit = np.exp(-(((from_top - 0.2) / 0.45) ** 2))
            groove = np.exp(-(((s_coord - s_lo_mid) / max(0.035 * w, 0.7)) ** 2)) * (1.0 - from_top)
            tshade = (0.35 + 0.25 * lit + 0.3 * tongue_out - 0.08 * groove) * (1.0 - 0.4 * dome_x**2)
            a = tongue[..., None]
            colour = colour * (1.0 - a) + tcol * tshade[..., None] * a

        teeth_col = self.teeth_rgb.astype(np.float32)
        # Lower teeth: rise from the lower lip and ride with the jaw; the lip covers most of them
        # until the jaw opens wide or the lips spread; rounded lips and a tongue tip cover them.
        s_lo = np.abs(s_coord - s_lo_mid) / self.face_w
        show_lo = (
            0.25 + 0.35 * float(_smoothstep(0.1 * w, 0.3 * w, np.array(gap))) + 0.4 * min(1.0, spread)
        ) * ((1.0 - 0.8 * rnd) * (1.0 - tongue_out))
        rows: list[tuple[NDArray[np.float32], NDArray[np.float32], float, _TeethRow]] = []
        if show_lo > 0.05:
            rows.append((above_lower, s_lo, LOWER_TEETH * w * show_lo, LOWER_ROW))
        # Upper teeth: hang from the upper lip. Where the photo shows its own, they only carry them
        # on beside its teeth's ends, out to the corners (what pursed lips bring into the opening).
        s_up_mid = float((moved[lm.UPPER_LIP_INNER_MID] - self.mouth_c) @ self.ex)
        s_up = np.abs(s_coord - s_up_mid) / self.face_w
        if self.photo_teeth:
            lip_line = _chaikin(moved[list(lm.LIPS_INNER_UPPER[1:-1])])
            below_lip = t_coord - self._line_height(lip_line, s_coord)
            rows.append(
                (below_lip, s_up, self.photo_teeth_len, replace(UPPER_ROW, fade=(0.85, 1.0), sides_only=True))
            )
        else:
            # A tongue tip (th) pushes up to their edge, so less of them shows.
            rows.append((below_upper, s_up, UPPER_TEETH * w * (1.0 - 0.65 * tongue_out), UPPER_ROW))
        for dist, s_row, length, row in rows:
            if length < 0.5:
                continue
            k_f = np.interp(s_row, row.edges, np.arange(len(row.edges), dtype=np.float32))
            k = np.minimum(k_f.astype(np.int32), len(row.lengths) - 1)
            u = k_f - k  # across the tooth: 0 and 1 at its neighbours
            # The biting edge: rounded tooth corners leave small notches between neighbours.
            corner = np.clip((np.abs(2.0 * u - 1.0) - (1.0 - row.rounding[k])) / row.rounding[k], 0.0, 1.0)
            long = length * row.lengths[k] * (1.0 - row.notch[k] * (1.0 - np.sqrt(1.0 - corner**2)))
            long *= 1.0 - 0.15 * across**2
            band = (1.0 - _smoothstep(-aa, aa, dist - long)) * (1.0 - _smoothstep(*row.fade, across))
            if row.sides_only:
                band *= _smoothstep(0.55, 0.75, across)
            if float(band.max(initial=0.0)) < 0.01:
                continue
            # Each tooth rounded (lighter in the middle), a dark hairline between neighbours.
            width_px = np.maximum((row.edges[k + 1] - row.edges[k]) * self.face_w, 1.0)
            between = np.minimum(u, 1.0 - u) * width_px
            seam = np.exp(-((between / max(0.5, 0.05 * float(width_px.max()))) ** 2))
            along = np.clip(dist / max(length, 1.0), 0.0, 1.0)  # from the lip to the biting edge
            tshade = (0.9 + 0.1 * np.sin(np.pi * u)) * (1.0 - 0.22 * seam)
            # The arch curves away: side teeth sit deeper in the cheeks' shadow; the lip shades
            # the root end; the biting edge is a little translucent (the cavity shows through).
            tshade *= row.light * (1.0 - 0.45 * across**2) * (0.7 + 0.3 * _smoothstep(0.0, 0.4, along))
            tooth = teeth_col * tshade[..., None]
            if row.highlight:
                glint = np.exp(-(((u - 0.4) / 0.22) ** 2) - ((along - 0.45) / 0.3) ** 2) * (k == 0)
                tooth += (255.0 - tooth) * (0.18 * glint)[..., None]
            clear = (0.12 * _smoothstep(0.7, 1.0, dist / np.maximum(long, 1.0)))[..., None]
            tooth = tooth * (1.0 - clear) + colour * clear
            a = band[..., None]
            colour = colour * (1.0 - a) + tooth * a

        colour = self._match_photo(colour, lo, moved)
        alpha = (mask * strength)[..., None]
        return Overlay((lo[0], lo[1], hi[0], hi[1]), (Layer(colour, alpha),))

    def _own_opening(self, moved: NDArray[np.float64], s_coord: NDArray[np.float32]) -> NDArray[np.float64]:
        """The photo's own opening below its teeth (never less than 0) at each point across the
        mouth, carried to where the lower lip's points moved (lips that draw in take it along)."""
        ids = list(lm.LIPS_INNER_LOWER)
        edge = self.points[self.n_mesh :]
        was = self.points[ids]
        own = (was - self.mouth_c) @ self.ey - self._line_height(edge, (was - self.mouth_c) @ self.ex)
        now_s = (moved[ids] - self.mouth_c) @ self.ex
        order = np.argsort(now_s)
        return np.asarray(np.interp(s_coord, now_s[order], np.maximum(own, 0.0)[order]), dtype=np.float64)

    def _line_height(
        self, line: NDArray[np.float64], s_coord: NDArray[np.floating[Any]]
    ) -> NDArray[np.float64]:
        """Where a lip line is (down the mouth, from its centre) at each point across the mouth."""
        s, t = (line - self.mouth_c) @ self.ex, (line - self.mouth_c) @ self.ey
        order = np.argsort(s)
        return np.asarray(np.interp(s_coord, s[order], t[order]), dtype=np.float64)

    def _match_photo(
        self, colour: NDArray[np.float32], lo: NDArray[np.int_], moved: NDArray[np.float64]
    ) -> NDArray[np.float32]:
        """Paint softened to the photo's own blur and given its grain, riding with the upper lip."""
        if self.softness > 0.3:
            colour = np.asarray(cv2.GaussianBlur(colour, (0, 0), self.softness), dtype=np.float32)
        ph, pw = colour.shape[:2]
        pad = self.grain_pad
        shift = np.clip(np.round(moved[lm.UPPER_LIP_INNER_MID] - self.upper_mid0), -pad, pad).astype(int)
        y0, x0 = pad + lo[1] - shift[1], pad + lo[0] - shift[0]
        grain = self.grain[y0 : y0 + ph, x0 : x0 + pw]
        # Grain grows with brightness, as a photo's does (the dark cavity is quieter); gently, since
        # the face mesh re-detected on frames jitters on strong grain in the mouth.
        luma = colour.mean(axis=2)
        amount = 0.2 + 0.25 * np.clip(luma / self.skin_luma, 0.0, 1.2)
        return np.asarray(colour + (grain * amount)[..., None], dtype=np.float32)

    def _seal_lips(self, moved: NDArray[np.float64], press: float) -> Overlay | None:
        """Lips pressed (m, b, p): whatever is left of the opening becomes lip, with a dark seam.

        The warp brings the lips together, but a photo with parted lips or teeth keeps a sliver
        of them between the lips; pressed lips show none.
        """
        inner = moved[list(lm.LIPS_INNER)]
        lo = np.maximum(np.floor(inner.min(axis=0) - 3).astype(int), 0)
        hi = np.minimum(np.ceil(inner.max(axis=0) + 3).astype(int), self.size)
        if np.any(hi - lo < 3):
            return None
        mask = np.zeros((hi[1] - lo[1], hi[0] - lo[0]), np.float32)
        pts = np.round((inner - lo) * 8).astype(np.int32)
        thick = max(1, round(0.02 * self.mouth_w))
        cv2.fillPoly(mask, [pts], (1.0,), cv2.LINE_AA, shift=3)
        cv2.polylines(mask, [pts], True, (1.0,), thick, cv2.LINE_AA, shift=3)
        mask = np.asarray(cv2.GaussianBlur(mask, (0, 0), max(0.5, 0.01 * self.mouth_w)), dtype=np.float32)
        # The seam: the middle line between the upper and lower inner lip, in the lips' shadow.
        upper = moved[list(lm.LIPS_INNER_UPPER)][::-1]  # right corner -> left corner
        lower = moved[list(lm.LIPS_INNER_LOWER)]
        seam_pts = np.round((0.5 * (upper + lower) - lo) * 8).astype(np.int32)
        seam = np.zeros_like(mask)
        cv2.polylines(seam, [seam_pts], False, (1.0,), thick, cv2.LINE_AA, shift=3)
        seam = np.asarray(cv2.GaussianBlur(seam, (0, 0), max(0.5, 0.008 * self.mouth_w)), dtype=np.float32)
        lip = self.lip_rgb.astype(np.float32)
        a = (mask * min(1.0, (press - 0.3) / 0.4))[..., None]
        sealed = Layer(lip[None, None, :] * 0.92, a)
        sa = (seam * 0.6 * a[..., 0])[..., None]
        seamed = Layer(lip[None, None, :] * 0.4, sa)
        return Overlay((lo[0], lo[1], hi[0], hi[1]), (sealed, seamed))

    def _paint_eyes(self, moved: NDArray[np.float64], blink: float) -> list[Overlay]:
        """Covers what the lowering lid hides with lid skin, and draws the lash line along its edge."""
        strength = float(_smoothstep(0.3, 0.8, np.array(blink)))
        overlays: list[Overlay] = []
        for loop, upper_ids, (top, bottom, lash_rgb) in (
            (lm.RIGHT_EYE, lm.RIGHT_EYE_UPPER, self.lids[0]),
            (lm.LEFT_EYE, lm.LEFT_EYE_UPPER, self.lids[1]),
        ):
            was, now = self.points[list(loop)], moved[list(loop)]
            both = np.vstack([was, now])
            lo = np.maximum(np.floor(both.min(axis=0) - 3).astype(int), 0)
            hi = np.minimum(np.ceil(both.max(axis=0) + 3).astype(int), self.size)
            if np.any(hi - lo < 3):
                continue
            covered = np.zeros((hi[1] - lo[1], hi[0] - lo[0]), np.float32)
            cv2.fillPoly(covered, [np.round((was - lo) * 8).astype(np.int32)], (1.0,), cv2.LINE_AA, shift=3)
            cv2.fillPoly(covered, [np.round((now - lo) * 8).astype(np.int32)], (0.0,), cv2.LINE_AA, shift=3)
            covered = np.asarray(
                cv2.GaussianBlur(covered, (0, 0), max(0.5, 0.006 * self.face_h)), dtype=np.float32
            )
            lash = np.zeros_like(covered)
            line = np.round((moved[list(upper_ids)] - lo) * 8).astype(np.int32)
            cv2.polylines(
                lash, [line], False, (1.0,), max(1, round(0.009 * self.face_h)), cv2.LINE_AA, shift=3
            )
            lash = np.asarray(cv2.GaussianBlur(lash, (0, 0), 0.5), dtype=np.float32)
            # Lid skin shades from the tone above the eye to the tone below it.
            rows = np.linspace(0.0, 1.0, covered.shape[0], dtype=np.float32)[:, None, None]
            skin = top[None, None, :] * (1.0 - rows) + bottom[None, None, :] * rows
            a = (covered * strength)[..., None]
            lidded = Layer(skin, a)
            la = (lash * strength * 0.75)[..., None]
            lashed = Layer(lash_rgb[None, None, :], la)
            overlays.append(Overlay((lo[0], lo[1], hi[0], hi[1]), (lidded, lashed)))
        return overlays


def _remap(
    src: NDArray[np.uint8] | NDArray[np.float32], map_xy: NDArray[np.float32], border: int
) -> NDArray[np.uint8] | NDArray[np.float32]:
    """`cv2.remap` (bilinear) through one two-channel map of absolute source positions."""
    # The stubs require map2, but with a two-channel (x, y) map1 OpenCV takes None for it.
    moved: NDArray[np.uint8] | NDArray[np.float32] = cv2.remap(  # type: ignore[call-overload]
        src, map_xy, None, cv2.INTER_LINEAR, borderMode=border
    )
    return moved


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    """Whether two (x0, y0, x1, y1) boxes share any pixel."""
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _guess_person(shape: tuple[int, ...], faces: list[FaceRig]) -> NDArray[np.float32]:
    """Without a person mask: a soft head-and-shoulders silhouette under each face."""
    mask = np.zeros(shape[:2], np.float32)
    for face in faces:
        centre = (round(face.center[0]), round(face.center[1] - 0.1 * face.face_h))
        head = (round(0.8 * face.face_w), round(0.75 * face.face_h))
        cv2.ellipse(mask, centre, head, 0.0, 0.0, 360.0, (1.0,), -1)
        chest = (round(face.center[0]), round(face.chin[1] + 1.6 * face.face_h))
        cv2.ellipse(
            mask, chest, (round(2.2 * face.face_w), round(1.4 * face.face_h)), 0.0, 0.0, 360.0, (1.0,), -1
        )
    sigma = max(1.0, 0.01 * max(shape[:2]))
    return np.asarray(cv2.GaussianBlur(mask, (0, 0), sigma), dtype=np.float32)


def _border_points(w: int, h: int, step: float) -> NDArray[np.float64]:
    """Points along a w x h rectangle's edge (pixel centres' outer bound), corners included."""
    xs = np.linspace(-0.5, w - 0.5, max(2, int(np.ceil(w / step)) + 1))
    ys = np.linspace(-0.5, h - 0.5, max(2, int(np.ceil(h / step)) + 1))[1:-1]
    top = np.stack([xs, np.full_like(xs, -0.5)], axis=1)
    bottom = np.stack([xs, np.full_like(xs, h - 0.5)], axis=1)
    left = np.stack([np.full_like(ys, -0.5), ys], axis=1)
    right = np.stack([np.full_like(ys, w - 0.5), ys], axis=1)
    return np.vstack([top, bottom, left, right])


def _harmonic(
    points: NDArray[np.float64],
    fixed: NDArray[np.bool_],
    values: NDArray[np.float64],
    anchors: NDArray[np.float64],
) -> NDArray[np.float64]:
    """`values` kept where `fixed`, and everywhere else as smooth as the points allow between them.

    A Laplace equation on the edges of the points' Delaunay triangulation (each edge weighted by
    its inverse length): each free point ends up the weighted mean of its neighbours, so the
    change from one fixed value to another is spread over all the points between. `anchors`
    (fixed at 0) join the triangulation; only the points' values are returned.
    """
    every = np.vstack([points, anchors])
    n = len(every)
    keep = np.concatenate([fixed, np.ones(len(anchors), bool)])
    value = np.concatenate([values, np.zeros(len(anchors))])
    simplices = Delaunay(every).simplices
    edges = np.vstack([simplices[:, [0, 1]], simplices[:, [1, 2]], simplices[:, [2, 0]]])
    edges = np.unique(np.sort(edges, axis=1), axis=0)
    length = np.linalg.norm(every[edges[:, 0]] - every[edges[:, 1]], axis=1)
    w = 1.0 / np.maximum(length, 0.5)
    adjacency = sparse.coo_matrix((w, (edges[:, 0], edges[:, 1])), shape=(n, n)).tocsr()
    adjacency = adjacency + adjacency.T
    degree = np.asarray(adjacency.sum(axis=1)).ravel()
    laplacian = sparse.diags(degree) - adjacency
    # A point the triangulation left out (one lying on another) keeps its value: no neighbours.
    free = np.flatnonzero(~keep & (degree > 0))
    out = value.copy()
    if len(free):
        system = laplacian[free][:, free].tocsc()
        rhs = -(laplacian[free][:, np.flatnonzero(keep)] @ value[keep])
        out[free] = spsolve(system, rhs)
    return np.asarray(out[: len(points)], dtype=np.float64)


def _barycentric_matrix(controls: NDArray[np.float64], targets: NDArray[np.float32]) -> sparse.csr_matrix:
    """Sparse (targets x controls) weights: each target as a barycentric mix of its triangle."""
    tri = Delaunay(controls)
    simplex = tri.find_simplex(targets)
    outside = simplex < 0
    if outside.any():  # rounding at the very border: use the nearest triangle
        simplex[outside] = tri.find_simplex(
            np.clip(targets[outside], controls.min(0) + 1e-3, controls.max(0) - 1e-3)
        )
        simplex[simplex < 0] = 0
    transform = tri.transform[simplex]
    b = np.einsum("nij,nj->ni", transform[:, :2], targets - transform[:, 2])
    bary = np.column_stack([b, 1.0 - b.sum(axis=1)])
    bary = np.clip(bary, 0.0, 1.0)
    bary /= bary.sum(axis=1, keepdims=True)
    rows = np.repeat(np.arange(len(targets)), 3)
    cols = tri.simplices[simplex].reshape(-1)
    return sparse.csr_matrix((bary.reshape(-1), (rows, cols)), shape=(len(targets), len(controls)))


# --- the whole picture ---------------------------------------------------------------------------


class SceneRig:
    """Global motion fields: heads, necks and shoulders, breathing, and the camera's drift."""

    def __init__(
        self, shape: tuple[int, ...], person_mask: NDArray[np.float32], faces: list[FaceRig], parallax: float
    ) -> None:
        height, width = shape[:2]
        self.width, self.height = width, height
        self.grid = _Grid(width, height, round(max(width, height) / GLOBAL_GRID_CELLS))
        g = self.grid
        x, y = g.xy[..., 0], g.xy[..., 1]
        person = g.sample(np.asarray(person_mask, np.float32))
        self.face_fields: list[dict[str, NDArray[np.float32] | float]] = []
        covered = np.zeros_like(person)
        for face in faces:
            rel_x, rel_y = x - face.center[0], y - face.center[1]
            s = rel_x * face.ex[0] + rel_y * face.ex[1]
            t = rel_x * face.ey[0] + rel_y * face.ey[1]
            # Head and hair: an ellipse a little above the face centre, cut off below the chin.
            r = np.hypot(s / (1.05 * face.face_w), (t + 0.12 * face.face_h) / (0.9 * face.face_h))
            chin_t = float((face.chin - face.center) @ face.ey)
            region = (1.0 - _smoothstep(0.85, 1.45, r)) * (
                1.0 - _smoothstep(chin_t, chin_t + 0.5 * face.face_h, t)
            )
            core = 1.0 - _smoothstep(0.55, 0.8, np.hypot(s / (0.55 * face.face_w), t / (0.55 * face.face_h)))
            head = np.clip(np.maximum(person, core) * region, 0.0, 1.0).astype(np.float32)
            below = _smoothstep(chin_t, chin_t + 0.6 * face.face_h, t)
            near = 1.0 - _smoothstep(1.6 * face.face_w, 3.2 * face.face_w, np.abs(s))
            body = np.clip(np.maximum(person, 0.5 * core) * below * near * (1.0 - head), 0.0, 1.0).astype(
                np.float32
            )
            pivot = face.chin + 0.3 * face.face_h * face.ey
            roll = np.dstack([-(y - pivot[1]), x - pivot[0]]).astype(np.float32) * head[..., None]
            self.face_fields.append({"head": head, "body": body, "roll": roll, "face_h": face.face_h})
            covered = np.maximum(covered, head)
        # The camera: everything drifts and zooms a little; the person (nearer) a little more.
        near_factor = (1.0 + parallax * np.maximum(person, covered)).astype(np.float32)
        self.cam_x = near_factor
        self.cam_zoom = (
            np.dstack([x - width / 2.0, y - height / 2.0]).astype(np.float32) * near_factor[..., None]
        )
        self.short_side = float(min(width, height))
        # Shoulders, arms, hands and smiles: more coarse fields (generator.body), weighted per frame.
        self.bodies = BodyRig(g.xy, person, [face.face for face in faces], width, height)

    def field(self, plan: MotionPlan, motions: list[FaceMotion], i: int) -> NDArray[np.float32]:
        """Frame i's forward displacement (gh, gw, 2) on the coarse grid: every global motion, summed."""
        g = self.grid
        field = np.zeros((g.gh, g.gw, 2), np.float32)
        cam = plan.camera[i]
        field[..., 0] += float(cam[0]) * self.short_side * self.cam_x
        field[..., 1] += float(cam[1]) * self.short_side * self.cam_x
        field += float(cam[2]) * self.cam_zoom
        for fields, m in zip(self.face_fields, motions, strict=True):
            fh = float(fields["face_h"])
            head, body = fields["head"], fields["body"]
            assert isinstance(head, np.ndarray) and isinstance(body, np.ndarray)
            field[..., 0] += float(m.shift[i, 0]) * fh * head + float(m.body[i, 0]) * fh * body
            field[..., 1] += float(m.shift[i, 1]) * fh * head + float(m.body[i, 1]) * fh * body
            field += float(np.radians(m.head[i, 2])) * fields["roll"]
        self.bodies.add(field, motions, i)
        return field

    def describe(self, plan: MotionPlan, motions: list[FaceMotion], i: int) -> NDArray[np.float32] | None:
        """Frame i's coarse backward displacement (`_Grid.backward`); None when nothing moves.

        An engine upsamples `grid.xy + back` to every pixel and reads the frame there, the border
        reflected (cv2.BORDER_REFLECT_101).
        """
        field = self.field(plan, motions, i)
        if not np.any(np.abs(field) > 1e-3):
            return None
        return self.grid.backward(field)

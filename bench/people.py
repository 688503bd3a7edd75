"""Half-body test photos, composed at run time from photos that installed packages ship.

No photo of a person with visible hands ships with our dependencies, so these are composed: a real
upper body (scikit-image's astronaut, matplotlib's Grace Hopper) on a wider canvas, with painted
arms (a shaded sleeve, a bare forearm and an open hand in the photo's own skin and sleeve colours)
from the shoulders the pose model finds. MediaPipe's pose model finds shoulders, elbows and
wrists on each with visibility of at least 0.7 (checked in tests/generator/test_body.py).

- `waving`: the astronaut, both forearms raised beside her, hands open;
- `mixed`: the astronaut mirrored and recoloured, one hand raised, the other low in front;
- `hopper`: Grace Hopper in her navy uniform, both hands raised beside her;
- `hopper_level`: Grace Hopper mirrored and recoloured, elbows at her sides, forearms level and
  hands open to either side (a beat must lift a level forearm, not only a raised one);
- `together`: the astronaut with both hands clasped in front of her (folded: arms must stay still);
- `no_arms`: the astronaut as photographed (arms cut off by the frame);
- `hopper_no_arms`: Grace Hopper as photographed (arms cut off).

Used by bench/body.py and by the tests (bench is not a package the code imports).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

Point = tuple[float, float]
Arm = tuple[Point, Point, Point]  # shoulder, elbow, wrist in the source photo's pixels

PHOTOS_WITH_HANDS = ("waving", "mixed", "hopper", "hopper_level")
PHOTOS_WITHOUT_ARMS = ("no_arms", "hopper_no_arms", "together")


def astronaut() -> NDArray[np.uint8]:
    from skimage import data

    load: Callable[[], NDArray[np.uint8]] = data.astronaut
    return np.asarray(load(), dtype=np.uint8)


def hopper() -> NDArray[np.uint8]:
    import matplotlib.cbook
    from PIL import Image

    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:
        return np.asarray(Image.open(f).convert("RGB"), dtype=np.uint8)


def make_photos() -> dict[str, NDArray[np.uint8]]:
    """Every test photo by name, RGB uint8."""
    ast = astronaut()
    mirrored = _recolour(ast[:, ::-1], hue_shift=8, saturation=1.15, brightness=1.05)
    hop = hopper()
    return {
        "waving": _compose(ast, 150, 812, 620, [((95, 255), (20, 430), (-60, 330)),
                                                  ((325, 265), (400, 440), (480, 340))],
                           skin_at=(210, 150), sleeve_at=(40, 320), limb=60, hand=56),
        "mixed": _compose(mirrored, 150, 812, 620, [((187, 265), (102, 420), (42, 300)),
                                                      ((417, 255), (472, 440), (392, 470))],
                          skin_at=(272, 150), sleeve_at=(442, 320), limb=60, hand=56),
        "hopper": _compose(hop, 180, 872, 700, [((110, 440), (40, 620), (-60, 500)),
                                                 ((440, 445), (520, 625), (620, 500))],
                           skin_at=(250, 300), sleeve_at=(60, 550), limb=70, hand=60),
        "hopper_level": _compose(
            _recolour(hop[:, ::-1], hue_shift=-6, saturation=0.9, brightness=1.08), 180, 872, 760,
            [((110, 440), (70, 640), (-50, 610)), ((440, 445), (480, 645), (600, 615))],
            skin_at=(262, 300), sleeve_at=(452, 550), limb=72, hand=62),
        "together": _compose(ast, 100, 712, 640, [((95, 255), (70, 450), (170, 420)),
                                                    ((325, 265), (350, 460), (260, 430))],
                             skin_at=(210, 150), sleeve_at=(40, 320), limb=60, hand=56),
        "no_arms": ast,
        "hopper_no_arms": hop,
    }  # fmt: skip


def save_photos(folder: Path) -> dict[str, Path]:
    """Writes every photo as a JPEG (as a phone sends it); returns the paths by name."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, rgb in make_photos().items():
        path = folder / f"{name}.jpg"
        Image.fromarray(rgb).save(path, quality=92)
        paths[name] = path
    return paths


def _recolour(
    rgb: NDArray[np.uint8], hue_shift: int, saturation: float, brightness: float
) -> NDArray[np.uint8]:
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV).astype(np.float32)
    hsv[..., 0] = (hsv[..., 0] + hue_shift) % 180
    hsv[..., 1] = np.clip(hsv[..., 1] * saturation, 0, 255)
    hsv[..., 2] = np.clip(hsv[..., 2] * brightness, 0, 255)
    return np.asarray(cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB), dtype=np.uint8)


def _compose(
    src: NDArray[np.uint8],
    left: int,
    width: int,
    height: int,
    arms: list[Arm],
    skin_at: tuple[int, int],
    sleeve_at: tuple[int, int],
    limb: int = 60,
    hand: int = 56,
) -> NDArray[np.uint8]:
    """The photo `left` pixels in from the left of a width x height canvas (its edge colours
    continue beyond it), with painted arms."""
    photo = src.astype(np.float32)
    h0, w0 = photo.shape[:2]
    canvas = np.zeros((height, width, 3), np.float32)
    canvas[:] = np.linspace(photo[:, :8].mean((0, 1)), photo[:, -8:].mean((0, 1)), width)[None, :, :]
    canvas[:h0, left : left + w0] = photo
    canvas[h0:, left : left + w0] = photo[-1:, :, :]
    sx, sy = skin_at
    skin = photo[sy : sy + 10, sx : sx + 20].reshape(-1, 3).mean(0)
    vx, vy = sleeve_at
    sleeve = photo[vy : vy + 10, vx : vx + 20].reshape(-1, 3).mean(0)
    for shoulder, elbow, wrist in arms:
        s, e, w = (np.array([p[0] + left, p[1]], np.float64) for p in (shoulder, elbow, wrist))
        _arm(canvas, s, e, w, limb, sleeve, skin, hand)
    return np.clip(canvas, 0, 255).astype(np.uint8)


def _arm(
    canvas: NDArray[np.float32],
    shoulder: NDArray[np.float64],
    elbow: NDArray[np.float64],
    wrist: NDArray[np.float64],
    width: int,
    sleeve: NDArray[np.float32],
    skin: NDArray[np.float32],
    hand: int,
) -> None:
    cuff = elbow + (wrist - elbow) * 0.75
    _paint(canvas, _limb(canvas.shape, [shoulder, elbow, cuff], width), sleeve)
    _paint(canvas, _limb(canvas.shape, [cuff - (wrist - elbow) * 0.05, wrist], int(width * 0.6)), skin)
    _hand(canvas, wrist, wrist - elbow, hand, skin)


def _limb(
    shape: tuple[int, ...], points: list[NDArray[np.float64]], width: int
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """A capsule chain's mask and its round shading (darker at the edges, like a cylinder)."""
    mask = np.zeros(shape[:2], np.float32)
    for a, b in itertools.pairwise(points):
        cv2.line(mask, _pt(a), _pt(b), (1.0,), int(width), cv2.LINE_AA)
    inside = cv2.distanceTransform((mask > 0.5).astype(np.uint8), cv2.DIST_L2, 5)
    shade = 0.6 + 0.4 * np.clip(inside / (width / 2), 0, 1) ** 0.5
    return mask, shade.astype(np.float32)


def _hand(
    canvas: NDArray[np.float32],
    wrist: NDArray[np.float64],
    direction: NDArray[np.float64],
    size: int,
    skin: NDArray[np.float32],
) -> None:
    """An open hand: a palm, four fingers fanning out and a thumb."""
    d = direction / np.linalg.norm(direction)
    n = np.array([-d[1], d[0]])
    mask = np.zeros(canvas.shape[:2], np.float32)
    palm = wrist + d * size * 0.45
    angle = float(np.degrees(np.arctan2(d[1], d[0])))
    cv2.ellipse(mask, _pt(palm), (int(size * 0.45), int(size * 0.38)), angle, 0, 360, (1.0,), -1, cv2.LINE_AA)
    for k, off in enumerate((-0.3, -0.1, 0.1, 0.3)):
        base = palm + d * size * 0.3 + n * off * size
        way = d + n * off * 0.6
        tip = base + way / np.linalg.norm(way) * size * (0.55 if k in (1, 2) else 0.45)
        cv2.line(mask, _pt(base), _pt(tip), (1.0,), max(2, int(size * 0.15)), cv2.LINE_AA)
    thumb = palm - n * size * 0.35
    cv2.line(
        mask,
        _pt(thumb),
        _pt(thumb + (d * 0.5 - n) * size * 0.4),
        (1.0,),
        max(2, int(size * 0.16)),
        cv2.LINE_AA,
    )
    cv2.line(mask, _pt(wrist), _pt(palm), (1.0,), int(size * 0.5), cv2.LINE_AA)
    inside = cv2.distanceTransform((mask > 0.5).astype(np.uint8), cv2.DIST_L2, 5)
    _paint(canvas, (mask, (0.7 + 0.3 * np.clip(inside / (size * 0.15), 0, 1)).astype(np.float32)), skin)


def _paint(
    canvas: NDArray[np.float32],
    layer: tuple[NDArray[np.float32], NDArray[np.float32]],
    colour: NDArray[np.float32],
) -> None:
    mask, shade = layer
    alpha = np.asarray(cv2.GaussianBlur(mask, (0, 0), 1.0), np.float32)[..., None]
    canvas[:] = canvas * (1 - alpha) + colour[None, None, :] * shade[..., None] * alpha


def _pt(p: NDArray[np.float64]) -> tuple[int, int]:
    return round(float(p[0])), round(float(p[1]))

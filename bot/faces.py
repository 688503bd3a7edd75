"""Draws numbered boxes on the faces of a photo, so a user can pick who speaks."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from generator.intake import load_image

#: Longest side of the picture sent back; Telegram recompresses anything larger anyway.
MAX_SIDE = 1280
_COLOUR = (0, 200, 255)  # BGR amber: readable on skin, hair and most backgrounds


def draw_numbered_faces(
    image: Path | str | bytes | npt.NDArray[np.uint8], boxes: Sequence[Sequence[int]]
) -> bytes:
    """Returns a JPEG of `image` with `boxes` (x, y, w, h in photo pixels) outlined and numbered 1..n.

    `image` is a file, its bytes, or RGB pixels. Files are decoded by the generator's `load_image`,
    the decoder the analysis used: the same upright frame the boxes were measured in, and every
    format it reads (HEIC, GIF, WebP, 16-bit PNG…), where OpenCV's own reader fails on some.
    """
    rgb = image if isinstance(image, np.ndarray) else load_image(image)
    picture = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    scale = min(1.0, MAX_SIDE / max(picture.shape[:2]))
    if scale < 1.0:
        picture = cv2.resize(picture, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    thickness = max(2, round(max(picture.shape[:2]) / 300))
    for number, (x, y, w, h) in enumerate(boxes, start=1):
        x0, y0 = round(x * scale), round(y * scale)
        x1, y1 = round((x + w) * scale), round((y + h) * scale)
        cv2.rectangle(picture, (x0, y0), (x1, y1), _COLOUR, thickness)
        label = str(number)
        font_scale = max(0.6, (x1 - x0) / 120)
        (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, font_scale, thickness)
        # The label sits on a filled tab above the box, or inside it at the top edge.
        top = y0 - th - base - 2 * thickness if y0 - th - base - 2 * thickness >= 0 else y0
        cv2.rectangle(
            picture, (x0, top), (x0 + tw + 2 * thickness, top + th + base + 2 * thickness), _COLOUR, -1
        )
        cv2.putText(
            picture,
            label,
            (x0 + thickness, top + th + thickness),
            cv2.FONT_HERSHEY_SIMPLEX,
            font_scale,
            (0, 0, 0),
            thickness,
            cv2.LINE_AA,
        )
    ok, encoded = cv2.imencode(".jpg", picture, [cv2.IMWRITE_JPEG_QUALITY, 88])
    if not ok:  # pragma: no cover - OpenCV encodes any 8-bit BGR image
        raise ValueError("could not encode the picture")
    return encoded.tobytes()

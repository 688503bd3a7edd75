"""The face picker picture: numbered boxes drawn where the faces are."""

from __future__ import annotations

import cv2
import numpy as np

from bot.faces import MAX_SIDE, draw_numbered_faces


def _grey_jpeg(width: int, height: int) -> bytes:
    ok, data = cv2.imencode(".jpg", np.full((height, width, 3), 128, np.uint8))
    assert ok
    return data.tobytes()


def _decode(data: bytes) -> np.ndarray:
    picture = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert picture is not None
    return picture


def test_boxes_are_drawn_on_the_faces_and_nowhere_else() -> None:
    out = _decode(draw_numbered_faces(_grey_jpeg(640, 480), [(100, 150, 120, 120), (400, 150, 120, 120)]))
    assert out.shape == (480, 640, 3)
    for x in (100, 400):
        edge = out[200, x - 1 : x + 2].astype(int)  # the left edge of each box
        assert (np.abs(edge - 128).max(axis=1) > 60).any()
    assert np.abs(out[400:470, 250:350].astype(int) - 128).max() < 20  # between and below: untouched


def test_each_face_gets_its_own_number_label() -> None:
    one = _decode(draw_numbered_faces(_grey_jpeg(640, 480), [(100, 150, 120, 120)]))
    two = _decode(draw_numbered_faces(_grey_jpeg(640, 480), [(100, 150, 120, 120), (400, 150, 120, 120)]))
    assert np.abs(one[:, :300].astype(int) - two[:, :300].astype(int)).max() < 20  # face 1 drawn alike
    assert np.abs(one[:, 380:].astype(int) - two[:, 380:].astype(int)).max() > 60  # face 2 only in two


def test_large_photos_are_scaled_down_with_their_boxes(tmp_path) -> None:
    path = tmp_path / "big.jpg"
    path.write_bytes(_grey_jpeg(3000, 1500))
    out = _decode(draw_numbered_faces(path, [(1500, 600, 600, 600)]))
    assert max(out.shape[:2]) == MAX_SIDE
    scale = MAX_SIDE / 3000
    assert (
        np.abs(out[int(900 * scale), int(1500 * scale) - 1 : int(1500 * scale) + 2].astype(int) - 128).max()
        > 60
    )


def _grey_in(format_: str, width: int, height: int) -> bytes:
    import io

    from PIL import Image

    if format_ == "HEIF":
        import pillow_heif

        pillow_heif.register_heif_opener()
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (128, 128, 128)).save(buffer, format=format_)
    return buffer.getvalue()


def test_gif_and_heic_photos_get_their_boxes_too() -> None:
    # OpenCV cannot read either; the picker decodes them as the analysis did.
    for format_ in ("GIF", "HEIF"):
        out = _decode(
            draw_numbered_faces(_grey_in(format_, 640, 480), [(100, 150, 120, 120), (400, 150, 120, 120)])
        )
        assert out.shape == (480, 640, 3), format_
        assert (np.abs(out[200, 99:102].astype(int) - 128).max(axis=1) > 60).any(), format_

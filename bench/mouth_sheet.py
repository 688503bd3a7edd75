"""Mouth contact sheet for docs/mouth-sheet.png: three faces x (rest, /ɑ/, /i/, /u/, m/b, f, ð).

Faces: Grace Hopper (closed mouth, matplotlib's sample), the astronaut (smiling with teeth,
scikit-image) and the astronaut with her skin (and lips) darkened to a deep brown, teeth and eye
whites left as they are (a synthetic stand-in: no photo of a dark-skinned or bearded person ships
with our dependencies). Each is rendered at 512 px and at 1080 px saying "Ah, we knew Bob's
father." (piper, offline, with its phoneme timeline); the frame in the middle of each sound is
cropped round the re-detected mouth. The 1080 px rows are the video's own pixels (1:1); the 512 px
rows show the same part of the face, scaled up 2.1x, so both rows frame the mouth alike.

    python bench/mouth_sheet.py docs/mouth-sheet.png
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

import av
import cv2
import matplotlib.cbook as cbook
import numpy as np
from PIL import Image, ImageDraw
from skimage import data

from bot.tts import Synthesizer
from generator import analyze, render
from generator import landmarks as lm
from generator.analysis import analyze_image, fit_mesh
from generator.types import AudioTrack, RenderRequest

TILE = (240, 180)


def deeper_skin(image: np.ndarray) -> np.ndarray:
    """The photo with its skin and lips darkened to a deep brown; teeth and eye whites left alone.

    Skin: the face mesh's oval (its highlights included) and skin-coloured pixels (YCrCb range)
    beyond it (neck, ears), less the mouth opening and the eyes.
    """
    ycc = cv2.cvtColor(image, cv2.COLOR_RGB2YCrCb).astype(np.float32)
    cr, cb = ycc[..., 1], ycc[..., 2]
    skin = ((cr > 138) & (cr < 180) & (cb > 80) & (cb < 130)).astype(np.uint8)
    for face in analyze_image(image).faces:
        pts = face.landmarks[:, :2]
        cv2.fillPoly(skin, [np.round(pts[list(lm.FACE_OVAL)]).astype(np.int32)], (1,))
        for part in (lm.LIPS_INNER, lm.RIGHT_EYE, lm.LEFT_EYE):
            cv2.fillPoly(skin, [np.round(pts[list(part)]).astype(np.int32)], (0,))
    soft = cv2.GaussianBlur(skin.astype(np.float32), (0, 0), 1.5)[..., None]
    tone = np.array([0.42, 0.33, 0.28], np.float32)
    return np.clip(image * (1.0 + (tone - 1.0) * soft), 0, 255).astype(np.uint8)


def main(target: Path) -> None:
    astro = data.astronaut()
    with cbook.get_sample_data("grace_hopper.jpg") as f:
        hopper = np.array(Image.open(f).convert("RGB"))
    dark = deeper_skin(astro)
    faces = {"hopper": hopper, "astronaut": astro, "dark": dark}
    speech = asyncio.run(Synthesizer(use_edge=False).synthesize("Ah, we knew Bob's father.", language="en"))
    phonemes = speech.phonemes or ()

    def when(symbol: str) -> float:
        for p in phonemes:
            if p.phoneme.strip("ˈˌ") == symbol:
                return 0.5 * (p.start + p.end)
        return 0.0

    # Labels in ASCII: PIL's default font has no IPA (ɑ is "a:", ð is "dh").
    cols = [("rest", 0.0), ("/a:/", when("ɑː")), ("/i:/", when("iː")), ("/u:/", when("uː"))]
    cols += [("m/b", when("b")), ("f", when("f")), ("dh", when("ð"))]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        wav = folder / "line.wav"
        wav.write_bytes(speech.data)
        for side in (512, 1080):
            for name, img in faces.items():
                h, w = img.shape[:2]
                s = side / max(h, w)
                size = (round(w * s) // 2 * 2, round(h * s) // 2 * 2)
                photo = folder / f"{name}-{side}.png"
                Image.fromarray(cv2.resize(img, size, interpolation=cv2.INTER_CUBIC)).save(photo)
                request = RenderRequest(photo, [AudioTrack(wav, phonemes=phonemes)], max_side=side, seed=3)
                result = render(request, folder / f"{name}-{side}.mp4")
                face = max(analyze(str(photo)).faces, key=lambda f: f.box[2] * f.box[3])
                with av.open(str(result.path)) as c:
                    frames = [fr.to_ndarray(format="rgb24") for fr in c.decode(video=0)]
                row = Image.new("RGB", (TILE[0] * len(cols), TILE[1]))
                for k, (label, t) in enumerate(cols):
                    frame = frames[min(len(frames) - 1, int(t * 25))]
                    mesh = fit_mesh(frame, face.box)
                    cx, cy = (mesh if mesh is not None else face.landmarks)[list(lm.LIPS_OUTER), :2].mean(0)
                    zoom = 1080 / side
                    cw, ch = round(TILE[0] / zoom), round(TILE[1] / zoom)
                    x0, y0 = max(0, int(cx - cw / 2)), max(0, int(cy - ch / 2))
                    crop = frame[y0 : y0 + ch, x0 : x0 + cw]
                    tile = Image.fromarray(crop).resize(TILE, Image.LANCZOS)
                    scale = "1:1" if zoom == 1 else f"x{zoom:.1f}"
                    ImageDraw.Draw(tile).text((4, 2), f"{label} {side}px {scale}", fill=(255, 255, 0))
                    row.paste(tile, (TILE[0] * k, 0))
                rows.append(row)
    sheet = Image.new("RGB", (rows[0].width, TILE[1] * len(rows)))
    for k, row in enumerate(rows):
        sheet.paste(row, (0, TILE[1] * k))
    sheet.save(target)


if __name__ == "__main__":
    main(Path(sys.argv[1]))

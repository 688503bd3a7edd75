"""phototalk's render library: one photo and one speech recording in, a lip-synced talking MP4 out.

Pure: it imports neither `bot` nor `storage`. `render` runs the stages in `pipeline.py`
(intake → analysis → speech → motion → render → encode); `analyze` reports the faces a photo has
and whether each can speak. Every input the library cannot use raises `GeneratorError` with a
stable `ErrorCode`.
"""

from generator.analysis import analyze
from generator.pipeline import render
from generator.types import (
    FPS,
    AudioTrack,
    ErrorCode,
    FaceAnalysis,
    GeneratorError,
    ImageAnalysis,
    PhonemeSpan,
    RenderRequest,
    RenderResult,
)

__all__ = [
    "FPS",
    "AudioTrack",
    "ErrorCode",
    "FaceAnalysis",
    "GeneratorError",
    "ImageAnalysis",
    "PhonemeSpan",
    "RenderRequest",
    "RenderResult",
    "analyze",
    "render",
]

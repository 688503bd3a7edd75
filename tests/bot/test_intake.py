"""bot/intake.py's voice-note encoder: the one used by /say in scenes, the playground, tests and bench."""

from __future__ import annotations

import io

import av
import pytest

from bot.intake import NoAudio, voice_note
from tests.e2e.media import astronaut_portrait, round_video, speech_wav, wav_seconds


def test_speech_becomes_an_ogg_opus_48khz_mono_note_of_the_same_length() -> None:
    wav = speech_wav("Hello there.")
    ogg, seconds = voice_note(wav)
    assert seconds == pytest.approx(wav_seconds(wav), abs=0.05)
    with av.open(io.BytesIO(ogg)) as container:
        codec = container.streams.audio[0].codec_context
        shape = (container.format.name, codec.name, codec.sample_rate, codec.channels)
        assert shape == ("ogg", "opus", 48000, 1)
        decoded = sum(frame.samples for frame in container.decode(audio=0))
    assert decoded / 48000 == pytest.approx(seconds, abs=0.05)


def test_the_sound_of_a_video_becomes_the_note() -> None:
    _, seconds = voice_note(round_video("Hello there."))
    assert seconds > 0.5


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"not audio at all", id="garbage"),
        pytest.param(b"", id="empty"),
        pytest.param(astronaut_portrait(), id="a-photo"),
    ],
)
def test_input_with_no_audio_is_refused_with_a_clear_error(data: bytes) -> None:
    with pytest.raises(NoAudio):
        voice_note(data)

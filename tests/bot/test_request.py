"""The render request: one typed, versioned payload, read back or refused as a whole."""

from __future__ import annotations

import pytest

from bot.request import VERSION, PhotoRef, RenderJob, UnreadableRequest, render_job, track_from
from generator import PhonemeSpan


def a_job() -> RenderJob:
    return render_job(
        language="zh",
        photo=PhotoRef("photo-id", "photo-unique"),
        tracks=[
            track_from("voice", 7, file_id="voice-id", face=1),
            track_from("text", 8, text="你好", voice="zh-CN-XiaoxiaoNeural", phonemes=[[0.0, 0.2, "n"]]),
        ],
        reply_to_message_id=42,
        scene_id=3,
    )


def test_a_request_survives_its_trip_through_the_job_payload() -> None:
    job = a_job()
    payload = job.to_payload()
    assert payload["version"] == VERSION
    assert [track["user_id"] for track in payload["tracks"]] == [7, 8]  # /forget scrubs by these
    assert "status_message_id" not in payload and "kind" not in payload
    assert RenderJob.from_payload(payload) == job
    assert RenderJob.from_payload(payload).tracks[1].phoneme_spans() == (PhonemeSpan(0.0, 0.2, "n"),)


@pytest.mark.parametrize(
    "damage",
    [
        lambda p: p.pop("version"),  # written by the version before this one
        lambda p: p.update(version=VERSION + 1),
        lambda p: p.pop("photo"),
        lambda p: p.update(tracks=[]),
        lambda p: p["tracks"][0].pop("user_id"),
        lambda p: p["tracks"][0].update(source="smell"),
        lambda p: p["tracks"][1].update(text=None),
        lambda p: p["tracks"][0].update(file_id=None),
        lambda p: p.update(reply_to_message_id="42"),
    ],
)
def test_a_payload_this_version_cannot_read_is_refused_as_a_whole(damage: object) -> None:
    payload = a_job().to_payload()
    damage(payload)  # type: ignore[operator]
    with pytest.raises(UnreadableRequest):
        RenderJob.from_payload(payload)


def test_a_payload_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(UnreadableRequest):
        RenderJob.from_payload(["not", "a", "payload"])

"""The chat page's server sends what a Telegram app would send, and shows the bot's answers live."""

from __future__ import annotations

import io
import json
import socket
from collections.abc import AsyncIterator

import aiohttp
import av
import pytest
from PIL import Image

from playground.__main__ import port_is_free
from playground.botapi import FakeBotApi
from playground.server import GROUP_ID, Playground
from tests.e2e.media import speech_wav, wav_seconds

ALICE, BOB = 1001, 1002


@pytest.fixture
async def page() -> AsyncIterator[tuple[FakeBotApi, aiohttp.ClientSession]]:
    api = FakeBotApi()
    Playground(api)
    async with api, aiohttp.ClientSession(api.url) as client:
        yield api, client


async def send(client: aiohttp.ClientSession, **fields: object) -> tuple[int, dict]:
    form = aiohttp.FormData()
    file = fields.pop("file", None)
    for name, value in fields.items():
        form.add_field(name, str(value))
    if file is not None:
        data, filename, content_type = file  # type: ignore[misc]
        form.add_field("file", data, filename=filename, content_type=content_type)
    async with client.post("/api/send", data=form) as response:
        return response.status, await response.json()


async def bot_call(api: FakeBotApi, method: str, **params: object) -> dict:
    async with (
        aiohttp.ClientSession() as bot,
        bot.post(f"{api.base_url}{api.token}/{method}", json=params) as response,
    ):
        return await response.json()


def webm_opus(wav: bytes) -> bytes:
    """What Chromium's MediaRecorder makes of a microphone: WebM with Opus at 48 kHz."""
    out = io.BytesIO()
    with av.open(io.BytesIO(wav)) as source, av.open(out, "w", format="webm") as sink:
        stream = sink.add_stream("libopus", rate=48000)
        resampler = av.AudioResampler(format="s16", layout="mono", rate=48000)
        for frame in source.decode(audio=0):
            for resampled in resampler.resample(frame):
                sink.mux(stream.encode(resampled))
        sink.mux(stream.encode(None))
    return out.getvalue()


async def test_a_browser_recording_reaches_the_bot_as_an_ogg_opus_voice_note(page) -> None:
    api, client = page
    status, answer = await send(
        client,
        user_id=ALICE,
        chat_id=ALICE,
        kind="voice",
        file=(webm_opus(speech_wav()), "voice.webm", "audio/webm"),
    )
    assert status == 200, answer
    [update] = api.pending_updates
    voice = update["message"]["voice"]
    assert voice["mime_type"] == "audio/ogg" and voice["duration"] >= 2
    with av.open(io.BytesIO(api.file_bytes(voice["file_id"]))) as container:
        codec = container.streams.audio[0].codec_context
        assert (container.format.name, codec.name, codec.sample_rate, codec.channels) == (
            "ogg",
            "opus",
            48000,
            1,
        )


async def test_a_recording_without_sound_is_refused_before_it_reaches_the_bot(page) -> None:
    api, client = page
    status, answer = await send(
        client,
        user_id=ALICE,
        chat_id=ALICE,
        kind="voice",
        file=(b"not audio at all", "voice.webm", "audio/webm"),
    )
    assert status == 400 and "recording could not be read" in answer["error"]
    assert api.pending_updates == []


async def test_photos_arrive_as_telegram_sends_them_jpeg_at_most_1280_px(page) -> None:
    api, client = page
    png = io.BytesIO()
    Image.new("RGB", (2000, 1500), (90, 120, 200)).save(png, format="PNG")
    status, _ = await send(
        client, user_id=ALICE, chat_id=ALICE, kind="photo", file=(png.getvalue(), "big.png", "image/png")
    )
    assert status == 200
    largest = api.pending_updates[0]["message"]["photo"][-1]
    assert (largest["width"], largest["height"]) == (1280, 960)
    assert api.file_bytes(largest["file_id"])[:3] == b"\xff\xd8\xff"  # JPEG


async def test_long_texts_are_split_like_telegram_apps_and_long_captions_refused(page) -> None:
    api, client = page
    status, answer = await send(client, user_id=ALICE, chat_id=ALICE, kind="text", text="a" * 5000)
    assert status == 200 and len(answer["message_ids"]) == 2
    assert [len(u["message"]["text"]) for u in api.pending_updates] == [4096, 904]
    status, answer = await send(
        client,
        user_id=ALICE,
        chat_id=ALICE,
        kind="photo",
        text="c" * 1025,
        file=(b"\xff\xd8", "p.jpg", "image/jpeg"),
    )
    assert status == 400 and "1024" in answer["error"]
    assert len(api.pending_updates) == 2


async def test_in_the_group_privacy_mode_lets_only_commands_and_replies_to_the_bot_through(page) -> None:
    api, client = page
    await send(client, user_id=ALICE, chat_id=GROUP_ID, kind="text", text="hi everyone")
    await send(client, user_id=BOB, chat_id=GROUP_ID, kind="text", text="/scene")
    sent = await bot_call(api, "sendMessage", chat_id=GROUP_ID, text="a scene")
    await send(
        client,
        user_id=BOB,
        chat_id=GROUP_ID,
        kind="text",
        text="my line",
        reply_to=sent["result"]["message_id"],
    )
    assert [u["message"]["text"] for u in api.pending_updates] == ["/scene", "my line"]
    async with client.get("/api/state") as response:
        state = await response.json()
    delivered = {m["text"]: m["delivered"] for m in state["messages"] if m["chat_id"] == GROUP_ID}
    assert delivered == {"hi everyone": False, "/scene": True, "a scene": True, "my line": True}


async def test_the_bot_messages_and_edits_are_pushed_to_the_page_as_they_happen(page) -> None:
    api, client = page
    async with client.get("/api/events") as stream:
        sent = await bot_call(api, "sendMessage", chat_id=ALICE, text="Queued: you are next.")
        await bot_call(
            api, "editMessageText", chat_id=ALICE, message_id=sent["result"]["message_id"], text="50%"
        )
        events = []
        async for line in stream.content:
            if line.startswith(b"data: "):
                event = json.loads(line[6:])
                if event["type"] == "message":
                    events.append((event["message"]["text"], event["message"]["edited"]))
            if len(events) == 2:
                break
    assert events == [("Queued: you are next.", False), ("50%", True)]


async def test_videos_are_served_in_ranges_for_the_video_element(page) -> None:
    api, client = page
    file_id, _, _ = api.add_file(bytes(range(256)) * 4, "clip.mp4")
    async with client.get(f"/api/file/{file_id}", headers={"Range": "bytes=1000-"}) as response:
        assert response.status == 206
        assert response.headers["Content-Range"] == "bytes 1000-1023/1024"
        assert response.headers["Content-Type"] == "video/mp4"
        assert await response.read() == (bytes(range(256)) * 4)[1000:]


async def test_an_audio_file_goes_as_audio_with_its_duration(page) -> None:
    api, client = page
    status, _ = await send(
        client, user_id=ALICE, chat_id=ALICE, kind="file", file=(speech_wav(), "line.wav", "audio/wav")
    )
    assert status == 200
    audio = api.pending_updates[0]["message"]["audio"]
    assert (audio["file_name"], audio["mime_type"]) == ("line.wav", "audio/wav")
    assert audio["duration"] == round(wav_seconds(speech_wav()))


async def test_the_language_switch_changes_the_language_code_the_bot_sees(page) -> None:
    api, client = page
    await send(client, user_id=ALICE, chat_id=ALICE, kind="text", text="hello")
    async with client.post("/api/language", json={"user_id": ALICE, "language_code": "zh"}) as response:
        assert response.status == 200
    await send(client, user_id=ALICE, chat_id=ALICE, kind="text", text="你好")
    assert [u["message"]["from"]["language_code"] for u in api.pending_updates] == ["en", "zh"]


def test_a_taken_port_is_noticed_so_the_playground_can_pick_another() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert not port_is_free("127.0.0.1", port)
    assert port_is_free("127.0.0.1", port)

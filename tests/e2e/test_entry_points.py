"""`python -m bot run` as an operator starts it: polls the Bot API, answers, stops cleanly on SIGINT."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from bot.__main__ import TOKEN_REJECTED
from bot.texts import t
from playground.botapi import FakeBotApi

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


async def test_python_m_bot_run_answers_and_stops_on_sigint(fake: FakeBotApi, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "WEBHOOK_", "DATABASE_"))}
    env.update(
        PYTHONPATH=str(REPO),
        TELEGRAM_BOT_TOKEN=fake.token,
        TELEGRAM_API_BASE_URL=fake.url,
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}",
        DATA_DIR=str(tmp_path / "data"),
        RENDER_WORKERS="1",
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", cwd=tmp_path, env=env, stderr=asyncio.subprocess.PIPE
    )
    try:
        alice = fake.user(1001, "Alice", "en")
        fake.send_command(alice, None, "start")
        answer = await fake.wait_for("sendMessage", lambda c: c.ok, timeout=120)
        assert answer.params["text"] == t("help", "en")
        proc.send_signal(signal.SIGINT)
        _, stderr = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    log = stderr.decode()
    assert proc.returncode == 0, log
    assert fake.token not in log  # the token never reaches a log line
    assert "Traceback" not in log, log


@pytest.mark.parametrize("command", ["run", "worker"])
async def test_a_rejected_token_never_reaches_the_terminal(
    fake: FakeBotApi, tmp_path: Path, command: str
) -> None:
    wrong = "987654321:AAWrongTokenThatTelegramRejects_abcdefghij"  # the fake answers 401 to it
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "WEBHOOK_", "DATABASE_"))}
    env.update(
        PYTHONPATH=str(REPO),
        TELEGRAM_BOT_TOKEN=wrong,
        TELEGRAM_API_BASE_URL=fake.url,
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}",
        DATA_DIR=str(tmp_path / "data"),
        RENDER_WORKERS="1",
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        command,
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(proc.communicate(), 120)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    out = stdout.decode() + stderr.decode()
    assert proc.returncode not in (0, None), out
    assert wrong not in out and wrong.split(":", 1)[1] not in out, out
    assert "Traceback" not in out, out
    assert TOKEN_REJECTED in out, out


#: Put first on the demo's sys.path: any attempt to open a network connection is written to
#: $NETWORK_LOG and refused, so the test sees it even if the demo would survive the refusal.
NO_NETWORK = """
import os, socket

def _refuse(*args, **kwargs):
    with open(os.environ["NETWORK_LOG"], "a") as log:
        log.write(repr(args[:3]) + "\\n")
    raise OSError("network is off in this test")

_connect = socket.socket.connect

def _connect_local_only(self, address, *rest):
    if self.family == socket.AF_UNIX:
        return _connect(self, address, *rest)
    return _refuse(address)

socket.socket.connect = _connect_local_only
socket.socket.connect_ex = _connect_local_only
socket.getaddrinfo = _refuse
socket.create_connection = _refuse
"""


def test_make_demo_renders_a_talking_clip_with_no_token_and_no_network(tmp_path: Path) -> None:
    import shutil
    import subprocess

    import av

    makefile = (REPO / "Makefile").read_text()
    recipe = makefile.split("\ndemo:", 1)[1].split("\n")[1].strip()
    assert recipe.startswith("$(PY) "), recipe
    guard = tmp_path / "guard"
    guard.mkdir()
    (guard / "sitecustomize.py").write_text(NO_NETWORK)
    log = tmp_path / "network.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "WEBHOOK_"))}
    env.update(PYTHONPATH=os.pathsep.join([str(guard), str(REPO)]), NETWORK_LOG=str(log))
    command = [sys.executable, *recipe.split()[1:]]
    # Where the kernel allows it, also in a network namespace of its own (no interface is up).
    can_unshare = shutil.which("unshare") is not None
    if can_unshare and subprocess.run(["unshare", "-rn", "true"], capture_output=True).returncode == 0:
        command = ["unshare", "-rn", *command]
    proc = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert not log.exists(), f"the demo tried the network: {log.read_text()}"
    with av.open(str(tmp_path / "out" / "demo.mp4")) as clip:
        assert clip.streams.video and clip.streams.audio
        assert clip.duration is not None and clip.duration / 1_000_000 > 2

"""Webhook mode: updates arrive by HTTP POST with the secret header; requests without it are refused."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import aiohttp

from bot.app import build_application
from bot.texts import t
from bot.webhook import serve_webhook, webhook_secret
from playground.botapi import FakeBotApi
from tests.e2e.conftest import e2e_settings


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_webhook_checks_the_secret_and_answers_updates(
    fake: FakeBotApi,
    tmp_path: Path,
    sqlite_url: str,
    render_pool: ProcessPoolExecutor,
    analysis_pool: ProcessPoolExecutor,
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/telegram"
    settings = e2e_settings(
        fake, tmp_path, sqlite_url, webhook_url=url, webhook_listen="127.0.0.1", webhook_port=port
    )
    application = build_application(settings)
    application.bot_data["pool"] = render_pool
    application.bot_data["analysis_pool"] = analysis_pool
    stop = asyncio.Event()
    server = asyncio.create_task(serve_webhook(application, settings, stop))
    try:
        await fake.wait_for("setWebhook", lambda c: c.ok)
        assert fake.webhook.url == url
        secret = webhook_secret(settings)
        assert fake.webhook.secret_token == secret

        alice = fake.user(1001, "Alice", "en")
        update = {"message": {**fake.send_command(alice, None, "help")}}
        # Telegram's own delivery (with the secret) is answered...
        answer = await fake.wait_for("sendMessage", lambda c: c.ok)
        assert answer.params["text"] == t("help", "en")
        # ...while a forged request, without the secret or with a wrong one, is refused.
        assert await fake.post_update_to(url, update) == 403
        assert await fake.post_update_to(url, update, "not-the-secret") == 403
        async with aiohttp.ClientSession() as http:
            headers = {"X-Telegram-Bot-Api-Secret-Token": secret}
            async with http.post(url, data=b"not json", headers=headers) as response:
                assert response.status == 400
            async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                assert response.status == 200
        await asyncio.sleep(0.3)
        assert len(fake.calls_to("sendMessage")) == 1
        assert all(status == 200 for _, status in fake.webhook.deliveries)
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(server, 30)

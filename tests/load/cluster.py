"""phototalk as several machines on one: bot replicas and render workers as OS processes.

    async with (
        FakeBotApi() as fake,
        Edge(fake.url) as edge,
        Cluster(fake, edge, database_url, root, replicas=2, workers=2, settings={...}) as cluster,
    ):
        ...  # drive users through `fake` (tests/load/traffic.py); `cluster.kill("worker0")`;
        # `edge.stall("sendVideo", "worker", after_forwarding=True, chat=1001)`

- Each bot process is `python -m bot run` (a webhook replica, EMBEDDED_WORKER=false: it only
  answers and queues) or `python -m bot worker` (claims, renders, sends), started with its own
  environment, working folder and data folder, so nothing is shared but PostgreSQL and the Bot API.
- Replicas run in webhook mode. Polling cannot scale out: Telegram hands one token's updates to a
  single getUpdates caller (a second one gets 409 Conflict), so several replicas need a webhook
  and a load balancer in front of them — the deployment storage/README.md draws.
- `Edge` is the network between Telegram and phototalk. Toward Telegram it is that load
  balancer: the fake posts every update to `<edge>/telegram` (the replicas' WEBHOOK_URL) and
  the edge hands it to the replicas in turn, skipping one that does not answer. Toward the bot
  processes it is Telegram: process `name` talks to `<edge>/<name>/bot<token>/...`, which the edge
  forwards to the fake, recording who made each call, and injecting the faults a test asks for,
  scoped to one chat so concurrent traffic is untouched: a call that times out before Telegram
  saw it, or after Telegram did it (the ambiguous TimedOut); Telegram's 429 "retry after N"
  (`fake.fail_next` does the same, but for whichever process calls next); and one-shot hooks
  run on a call (e.g. SIGKILL the worker that makes it).
- `OwnPostgres` is a throwaway PostgreSQL cluster (initdb in a temp folder) that a test may stop
  and start without disturbing anyone else's server.

This is the only module of tests/load and bench/load.py that imports the fake Bot API.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import IO, Self
from urllib.parse import parse_qsl

import aiohttp
from aiohttp import web

from playground.botapi import FakeBotApi

__all__ = [
    "REPO",
    "BotProcess",
    "Cluster",
    "Edge",
    "EdgeCall",
    "FakeBotApi",
    "OwnPostgres",
    "free_port",
    "fresh_database",
]

REPO = Path(__file__).resolve().parents[2]
WEBHOOK_PATH = "/telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
#: What a stalled call waits before the edge gives up on it; far beyond the bot's read timeout
#: (python-telegram-bot's default is 5 s), so the bot always sees TimedOut first.
STALL_SECONDS = 30.0


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


# --- the edge: load balancer in front of the replicas, fault-injecting proxy behind them ------------


@dataclass
class EdgeCall:
    """One Bot API request a bot process made through the edge."""

    who: str  # the process name: replica0, worker1, ...
    method: str  # Bot API method, or "file" for a download
    params: dict[str, str]  # form fields (empty for multipart uploads)
    time: float  # time.monotonic() when it arrived
    status: int = 0  # HTTP status the process got; 0 while pending or when stalled
    fault: str = ""  # the kind of fault injected into it, if any

    def chat(self) -> int | None:
        """The chat the call is about, when it names one."""
        value = self.params.get("chat_id", "")
        return int(value) if value.lstrip("-").isdigit() else None


@dataclass
class Fault:
    """The next `times` calls of `method` by processes named `who…` (about `chat`, if set) go wrong.

    kind "before": never forwarded and never answered (Telegram did not see it; the bot times out).
    kind "after": forwarded, so Telegram did it, but the answer is lost (the bot times out).
    kind "error": answered with Telegram's error `code` (429 carries `retry_after`), not forwarded.
    """

    method: str
    who: str
    kind: str
    times: int
    chat: int | None = None
    code: int = 429
    retry_after: int = 1
    hits: list[EdgeCall] = field(default_factory=list)

    def matches(self, call: EdgeCall) -> bool:
        return (
            self.times > 0
            and call.method.lower() == self.method.lower()
            and call.who.startswith(self.who)
            and (self.chat is None or call.chat() == self.chat)
        )

    def answer(self) -> web.Response:
        """Telegram's error answer for kind "error"."""
        body: dict[str, object] = {"ok": False, "error_code": self.code}
        if self.code == 429:
            body["description"] = f"Too Many Requests: retry after {self.retry_after}"
            body["parameters"] = {"retry_after": self.retry_after}
        else:
            body["description"] = "Bad Request"
        return web.json_response(body, status=self.code)


@dataclass
class Hook:
    """A one-shot action run when a matching call arrives; the call waits for it, then goes on."""

    method: str
    who: str
    chats: frozenset[int] | None
    action: Callable[[EdgeCall], Awaitable[None] | None]
    fired: asyncio.Event = field(default_factory=asyncio.Event)

    def matches(self, call: EdgeCall) -> bool:
        return (
            not self.fired.is_set()
            and call.method.lower() == self.method.lower()
            and call.who.startswith(self.who)
            and (self.chats is None or call.chat() in self.chats)
        )


class Edge:
    """The load balancer for updates and the Bot API proxy for calls; see the module docstring."""

    def __init__(self, fake_url: str) -> None:
        self.fake_url = fake_url.rstrip("/")
        self.calls: list[EdgeCall] = []
        self.replicas: dict[str, int] = {}  # process name -> webhook port
        self._faults: list[Fault] = []
        self._hooks: list[Hook] = []
        self._turn = 0
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._port = 0

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post(WEBHOOK_PATH, self._balance)
        app.router.add_route("*", "/{who}/{rest:.+}", self._proxy)
        self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        self._port = free_port()
        await web.TCPSite(self._runner, "127.0.0.1", self._port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    @property
    def webhook_url(self) -> str:
        """The URL Telegram posts updates to: the balancer, not any one replica."""
        return self.url + WEBHOOK_PATH

    def api_base_url(self, who: str) -> str:
        """TELEGRAM_API_BASE_URL for process `who`: the edge, with the caller's name in the path."""
        return f"{self.url}/{who}"

    # -- faults and hooks

    def stall(
        self, method: str, who: str = "", *, after_forwarding: bool, times: int = 1, chat: int | None = None
    ) -> Fault:
        """The next `times` calls of `method` by `who…` get no answer: the bot's request times out.

        `after_forwarding=True` forwards the call first, so Telegram did it (sent the video, made
        the edit) and only the answer is lost — the ambiguous case. False: Telegram never saw it.
        """
        fault = Fault(method, who, "after" if after_forwarding else "before", times, chat)
        self._faults.append(fault)
        return fault

    def fail(
        self,
        method: str,
        who: str = "",
        *,
        times: int = 1,
        chat: int | None = None,
        code: int = 429,
        retry_after: int = 1,
    ) -> Fault:
        """The next `times` calls of `method` by `who…` get Telegram's error `code` (429: RetryAfter)."""
        fault = Fault(method, who, "error", times, chat, code, retry_after)
        self._faults.append(fault)
        return fault

    def on_call(
        self,
        method: str,
        who: str,
        action: Callable[[EdgeCall], Awaitable[None] | None],
        chats: Iterable[int] | None = None,
    ) -> Hook:
        """Runs `action(call)` once, on the first matching call, and awaits it before forwarding."""
        hook = Hook(method, who, None if chats is None else frozenset(chats), action)
        self._hooks.append(hook)
        return hook

    def calls_by(self, who: str = "", method: str | None = None, chat: int | None = None) -> list[EdgeCall]:
        """Calls made by processes named `who…` (of one method, about one chat, when given)."""
        return [
            c
            for c in self.calls
            if c.who.startswith(who)
            and (method is None or c.method.lower() == method.lower())
            and (chat is None or c.chat() == chat)
        ]

    # -- request handlers

    async def _balance(self, request: web.Request) -> web.Response:
        """Hands one update to the next replica that answers (round robin)."""
        assert self._session is not None
        body = await request.read()
        headers = {
            name: request.headers[name] for name in (SECRET_HEADER, "Content-Type") if name in request.headers
        }
        ports = list(self.replicas.values())
        for i in range(len(ports)):
            port = ports[(self._turn + i) % len(ports)]
            try:
                async with self._session.post(
                    f"http://127.0.0.1:{port}{WEBHOOK_PATH}", data=body, headers=headers
                ) as answer:
                    text = await answer.read()
                    self._turn += i + 1
                    return web.Response(status=answer.status, body=text)
            except aiohttp.ClientConnectionError:
                continue  # that replica is down or not up yet: the next one takes it
        return web.Response(status=502, text="no replica answered")

    async def _proxy(self, request: web.Request) -> web.Response:
        """Forwards a bot process's Bot API call (or file download) to the fake, faults applied."""
        assert self._session is not None
        who, rest = request.match_info["who"], request.match_info["rest"]
        parts = rest.split("/")
        method = parts[1] if parts[0].startswith("bot") and len(parts) > 1 else "file"
        body = await request.read()
        params = form_fields(request.headers.get("Content-Type", ""), body)
        call = EdgeCall(who, method, params, time.monotonic())
        self.calls.append(call)
        for hook in [h for h in self._hooks if h.matches(call)]:
            hook.fired.set()
            done = hook.action(call)
            if done is not None:
                await done
        fault = next((f for f in self._faults if f.matches(call)), None)
        if fault is not None:
            fault.times -= 1
            fault.hits.append(call)
            call.fault = fault.kind
            if fault.kind == "error":
                call.status = fault.code
                return fault.answer()
            if fault.kind == "before":
                await asyncio.sleep(STALL_SECONDS)
                return web.Response(status=504)
        headers = {"Content-Type": request.headers.get("Content-Type", "application/octet-stream")}
        async with self._session.request(
            request.method, f"{self.fake_url}/{rest}", params=request.query, data=body, headers=headers
        ) as answer:
            data = await answer.read()
            content_type = answer.headers.get("Content-Type", "application/octet-stream")
            status = answer.status
        if fault is not None:  # kind "after": Telegram did it; the answer never reaches the bot
            await asyncio.sleep(STALL_SECONDS)
            return web.Response(status=504)
        call.status = status
        return web.Response(status=status, body=data, headers={"Content-Type": content_type})


def form_fields(content_type: str, body: bytes) -> dict[str, str]:
    """The plain (non-file) fields of a url-encoded or multipart form body."""
    if content_type.startswith("application/x-www-form-urlencoded"):
        return dict(parse_qsl(body.decode("utf-8", "replace")))
    if not content_type.startswith("multipart/form-data"):
        return {}
    head = f"Content-Type: {content_type}\r\n\r\n".encode()
    message = BytesParser(policy=policy.HTTP).parsebytes(head + body)
    fields = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and part.get_filename() is None and isinstance(payload, bytes):
            fields[name] = payload.decode("utf-8", "replace")
    return fields


# --- bot processes ---------------------------------------------------------------------------------


@dataclass
class BotProcess:
    """One `python -m bot run|worker` process, in its own session so a kill takes its render pool too."""

    name: str
    role: str  # "run" (a webhook replica) or "worker"
    env: dict[str, str]
    folder: Path
    popen: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        return self.folder / "process.log"

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        out: IO[bytes]
        with self.log.open("ab") as out:
            # The working folder has no .env, so only `env` configures the process.
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "bot", self.role],
                cwd=self.folder,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL to the process and its render processes, as when a machine dies."""
        if self.popen is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait()

    async def stop(self, within: float = 30.0) -> int | None:
        """SIGTERM (the graceful stop an orchestrator sends); killed if it is not gone in `within` s."""
        if self.popen is None:
            return None
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                await asyncio.to_thread(self.popen.wait, within)
        code = self.popen.poll()
        self.kill()  # whatever is left of its group (a render process still shutting down)
        return code

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(text[-lines:])


class Cluster:
    """Bot replicas and render workers sharing one database, behind one `Edge`."""

    def __init__(
        self,
        fake: FakeBotApi,
        edge: Edge,
        database_url: str,
        root: Path,
        *,
        replicas: int = 2,
        workers: int = 2,
        settings: dict[str, str] | None = None,
        stop_within: float = 30.0,
    ) -> None:
        self.fake = fake
        self.edge = edge
        self.database_url = database_url
        self.root = root
        self.replica_count = replicas
        self.worker_count = workers
        self.settings = settings or {}
        self.processes: dict[str, BotProcess] = {}
        self.killed: set[str] = set()  # shot by a test on purpose (see kill)
        self.stop_within = stop_within  # how long a graceful stop may take at the end

    def env(self, name: str, role: str) -> dict[str, str]:
        """The environment of one process: shared settings, its own data folder and API path."""
        env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH",)}
        env.update(
            {
                "PYTHONPATH": str(REPO),
                "TELEGRAM_BOT_TOKEN": self.fake.token,
                "TELEGRAM_API_BASE_URL": self.edge.api_base_url(name),
                "DATABASE_URL": self.database_url,
                "DATA_DIR": str(self.root / name / "data"),
                "EMBEDDED_WORKER": "false",
                "OUTPUT_MAX_SIDE": "128",
                "RENDER_WORKERS": "1",
                "TTS_ONLINE": "false",  # no network here; ignored by builds without the setting
                "LOG_LEVEL": "INFO",
                **self.settings,
            }
        )
        if role == "run":
            port = free_port()
            env.update(
                {
                    "WEBHOOK_URL": self.edge.webhook_url,
                    "WEBHOOK_LISTEN": "127.0.0.1",
                    "WEBHOOK_PORT": str(port),
                }
            )
        return env

    async def start(self, within: float = 180.0) -> None:
        """Migrates the database once, starts every process and waits until each is serving."""
        from storage import Database

        db = Database(self.database_url)
        try:
            await db.migrate()
        finally:
            await db.dispose()
        names = [("run", f"replica{i}") for i in range(self.replica_count)]
        names += [("worker", f"worker{i}") for i in range(self.worker_count)]
        for role, name in names:
            self.launch(name, role)
        await self.wait_ready(list(self.processes.values()), within)

    def launch(self, name: str, role: str) -> BotProcess:
        """Starts one more process (not waiting for it to serve)."""
        process = BotProcess(name, role, self.env(name, role), self.root / name)
        self.processes[name] = process
        process.start()
        if role == "run":
            self.edge.replicas[name] = int(process.env["WEBHOOK_PORT"])
        return process

    async def add_worker(self, name: str, within: float = 120.0) -> BotProcess:
        """Starts another render worker and waits until it is up."""
        process = self.launch(name, "worker")
        await self.wait_ready([process], within)
        return process

    def ready(self, process: BotProcess) -> bool:
        """A replica is serving once its setWebhook succeeded; a worker once it asked getMe."""
        method = "setWebhook" if process.role == "run" else "getMe"
        return any(c.status == 200 for c in self.edge.calls_by(process.name, method) if c.who == process.name)

    async def wait_ready(self, processes: list[BotProcess], within: float) -> None:
        deadline = time.monotonic() + within
        while not all(self.ready(p) for p in processes):
            for process in processes:
                if not process.alive():
                    raise RuntimeError(f"{process.name} exited while starting:\n{process.log_tail()}")
            if time.monotonic() > deadline:
                late = [p.name for p in processes if not self.ready(p)]
                raise RuntimeError(f"{late} not serving after {within:.0f} s:\n" + self.logs(late))
            await asyncio.sleep(0.1)

    def kill(self, name: str) -> None:
        """SIGKILLs one process (and its render pool); a killed replica leaves the balancer."""
        self.edge.replicas.pop(name, None)
        self.processes[name].kill()
        self.killed.add(name)

    def logs(self, names: list[str] | None = None, lines: int = 30) -> str:
        """The last lines of each process's log, for assertion messages."""
        chosen = [self.processes[n] for n in names or list(self.processes)]
        return "\n".join(f"--- {p.name} ---\n{p.log_tail(lines)}" for p in chosen)

    def all_alive(self) -> list[str]:
        """Names of the processes that exited on their own (none, while the cluster is healthy).

        Processes a test shot with `kill` are expected to be gone and are not listed.
        """
        return [name for name, p in self.processes.items() if name not in self.killed and not p.alive()]

    async def stop(self, within: float = 30.0) -> None:
        """Stops every process (SIGTERM, then SIGKILL after `within` s)."""
        await asyncio.gather(*(p.stop(within) for p in self.processes.values()))
        self.edge.replicas.clear()

    async def __aenter__(self) -> Self:
        try:
            await self.start()
        except BaseException:
            await self.stop(self.stop_within)
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop(self.stop_within)


# --- a PostgreSQL of our own ---------------------------------------------------------------------


def _pg_bin() -> Path:
    """The folder of PostgreSQL's server binaries (initdb, pg_ctl)."""
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    if not candidates:
        raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    return candidates[-1].parent


class OwnPostgres:
    """A throwaway PostgreSQL cluster on a free port: trust auth, no fsync, deleted at the end.

    PostgreSQL refuses to run as root, so under root its commands run as the `postgres` user.
    """

    def __init__(self) -> None:
        self.bin = _pg_bin()
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="phototalk-pg-"))
        self.data = self.root / "data"
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        subprocess.run([*self.as_user, *args], check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        """initdb (first time) and start; returns once it accepts connections."""
        if not self.data.exists():
            self._run(
                str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust",
                "--no-sync", "-E", "UTF8",
            )  # fmt: skip
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options,
            "-l", str(self.root / "server.log"), "-w", "-t", "60", "start",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        """Stops the server; `fast` ends every session (what a restart does to the clients)."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.remove()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


@contextlib.asynccontextmanager
async def fresh_database(server_url: str) -> AsyncIterator[str]:
    """A new, empty database on the server of `server_url`, dropped afterwards; yields its URL."""
    import asyncpg
    from sqlalchemy.engine import make_url

    url = make_url(server_url)
    name = f"phototalk_load_{uuid.uuid4().hex[:10]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(
            host=url.host or "127.0.0.1",
            port=url.port or 5432,
            user=url.username or "postgres",
            password=url.password,
            database=url.database or "postgres",
        )
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    await admin(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

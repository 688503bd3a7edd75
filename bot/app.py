"""`build_application(settings)`: every handler, command, the error handler and the lifecycle hooks.

Resources (database, job queue, render pool, embedded worker) are made in `post_init`; the worker
is drained in `post_stop`, while the bot can still send; the rest is closed in `post_shutdown`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator
from typing import Any

from telegram import (
    BotCommand,
    BotCommandScopeAllGroupChats,
    BotCommandScopeChat,
    BotCommandScopeDefault,
    Update,
)
from telegram.error import TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    Defaults,
    MessageHandler,
    PreCheckoutQueryHandler,
    TypeHandler,
    filters,
)

from bot import admin, commands, conversation, payments, scenes, style
from bot.delivery import Delivery, sweep_orphaned_workdirs
from bot.runtime import RateLimit, Runtime, make_pool, make_synthesizer, quota_policy, utcnow
from bot.scene_sweeper import start_sweeper
from bot.settings import Settings
from bot.texts import LANGUAGES, language_of, t
from storage import Database, JobQueue, retention
from storage.worker import Worker

log = logging.getLogger(__name__)

#: The application type this bot builds (PTB's defaults: ExtBot, dict data, JobQueue unused).
App = Application[Any, Any, Any, Any, Any, Any]

USER_COMMANDS = ("start", "help", "voice", "style", "quota", "cancel", "privacy", "forget")
ADMIN_COMMANDS = ("stats", "grant", "ban", "unban")
#: Added to the menus when STARS_PACKS sells something (Telegram requires /paysupport then).
SELLING_COMMANDS = ("buy", "paysupport")
SELLING_ADMIN_COMMANDS = ("refund",)
#: Seconds between purges of expired media and old jobs.
PURGE_EVERY = 3600.0
#: Seconds one getUpdates long poll waits for an update.
POLL_TIMEOUT = 10
#: Seconds the embedded worker may take to finish its renders at shutdown.
DRAIN_SECONDS = 60.0


def build_application(settings: Settings, *, worker_only: bool = False) -> App:
    """The bot: handlers, commands, error handler and lifecycle hooks, wired in one place.

    `worker_only` builds the standalone render worker (`python -m bot worker`): the same
    resources and job handler, no handlers and no command menu.
    """
    assert settings.telegram_bot_token is not None, "a bot token is required"
    application = (
        ApplicationBuilder()
        .token(settings.telegram_bot_token.get_secret_value())
        .base_url(settings.bot_api_url)
        .base_file_url(settings.bot_file_url)
        # max_retries: a 429 "retry after N" makes the bot wait N seconds and try again.
        .rate_limiter(AIORateLimiter(max_retries=3))
        .concurrent_updates(True)  # state lives in the database, not in handler order
        # At shutdown PTB cancels the long poll and calls getUpdates once more to confirm the last
        # update; the cancelled poll's connection may not be back in the pool yet, and with PTB's
        # one connection that call timed out (PoolTimeout) and logged a traceback. Two connections.
        .get_updates_connection_pool_size(2)
        .defaults(Defaults(do_quote=True))  # every answer is a reply to the message it answers
        .post_init(post_init)
        .post_stop(post_stop)
        .post_shutdown(post_shutdown)
        .build()
    )
    application.bot_data["settings"] = settings
    application.bot_data["worker_only"] = worker_only
    if worker_only:
        return application

    private = filters.ChatType.PRIVATE
    add = application.add_handler
    # An edit is not a new request: an edited /grant must not grant again, an edited caption must
    # not queue a second video. This gate runs before every handler (group -1) and stops edits.
    add(TypeHandler(Update, ignore_edits), group=-1)
    # Group scenes (bot/scenes.py) answer in groups; everything below only in private chats.
    for handler in scenes.scene_handlers():
        add(handler)
    add(CommandHandler(["start", "help"], commands.start, filters=private))
    add(CommandHandler("voice", commands.voice, filters=private))
    add(CommandHandler("style", style.style, filters=private))
    add(CommandHandler("quota", commands.quota, filters=private))
    add(CommandHandler("cancel", commands.cancel, filters=private))
    add(CommandHandler("privacy", commands.privacy, filters=private))
    add(CommandHandler("forget", commands.forget, filters=private))
    add(CommandHandler("stats", admin.stats, filters=private))
    add(CommandHandler("grant", admin.grant, filters=private))
    add(CommandHandler(["ban", "unban"], admin.ban, filters=private))
    add(CommandHandler("buy", payments.buy, filters=private))
    add(CommandHandler("paysupport", payments.paysupport, filters=private))
    add(CommandHandler("refund", payments.refund, filters=private))
    add(CallbackQueryHandler(payments.pick_pack, pattern=r"^buy:"))
    add(PreCheckoutQueryHandler(payments.pre_checkout))
    add(MessageHandler(filters.SUCCESSFUL_PAYMENT, payments.on_successful_payment))
    add(MessageHandler(filters.StatusUpdate.REFUNDED_PAYMENT, payments.on_refunded_payment))
    add(CallbackQueryHandler(conversation.pick_face, pattern=r"^face:"))
    add(CallbackQueryHandler(commands.pick_voice, pattern=r"^voice:"))
    add(CallbackQueryHandler(style.pick_style, pattern=r"^style:"))
    add(CallbackQueryHandler(style.pick_motion, pattern=r"^motion:"))
    add(CallbackQueryHandler(commands.confirm_forget, pattern=r"^forget:"))
    add(MessageHandler(private & (filters.PHOTO | filters.Document.IMAGE), conversation.on_photo))
    speech = filters.VOICE | filters.AUDIO | filters.VIDEO | filters.VIDEO_NOTE
    speech |= filters.Document.AUDIO | filters.Document.VIDEO
    add(MessageHandler(private & speech, conversation.on_speech))
    add(MessageHandler(private & filters.TEXT & ~filters.COMMAND, conversation.on_text))
    add(MessageHandler(private & ~filters.COMMAND & ~filters.StatusUpdate.ALL, commands.unsupported))
    application.add_error_handler(on_error)
    return application


async def ignore_edits(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Stops edited messages and channel posts before any handler sees them."""
    if update.edited_message or update.edited_channel_post or update.edited_business_message:
        raise ApplicationHandlerStop


async def post_init(application: App) -> None:
    """Opens the database (migrated), the job queue and the render pool; starts the worker."""
    settings: Settings = application.bot_data["settings"]
    db = Database(settings.database_url)
    await db.migrate()
    rt = Runtime(
        settings=settings,
        db=db,
        queue=JobQueue(db, max_attempts=settings.job_max_attempts),
        policy=quota_policy(settings),
        # An embedding program (or a test session) may lend its own pool, and closes it itself.
        pool=application.bot_data.get("pool") or make_pool(settings.render_workers),
        tts=make_synthesizer(settings),
        analysis_limit=RateLimit(settings.analyses_per_minute),
    )
    if not application.bot_data.get("worker_only", False):
        rt.analysis_pool = application.bot_data.get("analysis_pool") or make_pool(settings.analysis_workers)
    application.bot_data["runtime"] = rt
    worker_only = application.bot_data.get("worker_only", False)
    if settings.embedded_worker or worker_only:
        swept = await asyncio.to_thread(
            sweep_orphaned_workdirs, settings.data_dir / "jobs", settings.job_lease_seconds
        )
        if swept:
            log.warning("removed %d job folder(s) left by a crashed worker", len(swept))
        delivery = Delivery(application.bot, rt, functools.partial(scenes.settle_after_failure, application))
        worker = Worker(
            rt.queue,
            delivery,
            concurrency=max(1, settings.render_workers),
            lease_seconds=settings.job_lease_seconds,
            on_give_up=delivery.on_give_up,
            on_rejected=delivery.on_rejected,
        )
        application.bot_data["worker"] = rt.worker = worker
        application.bot_data["worker_task"] = asyncio.create_task(worker.run(), name="render-worker")
    # Rows only: no process keeps user files beyond a job (paths of rows from older versions aside).
    rt.background.add(asyncio.create_task(purge_forever(rt), name="purge"))
    if not worker_only:
        start_sweeper(application)
        await set_commands(application)


async def post_stop(application: App) -> None:
    """Lets the embedded worker finish its renders while the bot can still send them."""
    await drain_worker(application)


async def post_shutdown(application: App) -> None:
    """Stops background tasks, shuts the render pool and closes the database."""
    await drain_worker(application)
    rt: Runtime | None = application.bot_data.get("runtime")
    if rt is None:
        return
    for task in rt.background:
        task.cancel()
    await asyncio.gather(*rt.background, return_exceptions=True)
    if rt.pool is not application.bot_data.get("pool"):  # a lent pool is closed by its lender
        rt.pool.shutdown(wait=True, cancel_futures=True)
    if rt.analysis_pool is not None and rt.analysis_pool is not application.bot_data.get("analysis_pool"):
        rt.analysis_pool.shutdown(wait=True, cancel_futures=True)
    await rt.db.dispose()


async def drain_worker(application: App) -> None:
    """Stops the embedded worker taking jobs and waits for the ones it runs (idempotent)."""
    worker: Worker | None = application.bot_data.pop("worker", None)
    task: asyncio.Task[Any] | None = application.bot_data.pop("worker_task", None)
    if worker is None or task is None:
        return
    worker.stop()
    try:
        await asyncio.wait_for(task, DRAIN_SECONDS)
    except TimeoutError:
        log.warning(
            "the render worker did not drain within %.0f s; its jobs will be reclaimed", DRAIN_SECONDS
        )
    except Exception:
        log.exception("the render worker ended with an error")


async def purge_forever(rt: Runtime) -> None:
    """Deletes expired media, old jobs and idle scenes (rows only: no user file outlives its job) hourly."""
    while True:
        try:
            async with rt.db.session() as s, s.begin():
                purged = await retention.purge(s, utcnow(), rt.settings.retention_days)
            log.info("purged %s", purged)
        except Exception:
            log.exception("purging old media failed; trying again later")
        await asyncio.sleep(PURGE_EVERY)


def command_menu(lang: str, *, for_admin: bool, selling: bool = False) -> list[BotCommand]:
    """The command menu Telegram shows, in one language."""
    names = USER_COMMANDS + (SELLING_COMMANDS if selling else ())
    names += (ADMIN_COMMANDS + (SELLING_ADMIN_COMMANDS if selling else ())) if for_admin else ()
    return [BotCommand(name, t(f"cmd_{name}", lang)) for name in names]


async def set_commands(application: App) -> None:
    """Registers the command menus per scope and language: everyone, and each admin's chat."""
    settings: Settings = application.bot_data["settings"]
    bot = application.bot
    selling = bool(settings.stars_packs)
    for lang in LANGUAGES:
        code = None if lang == "en" else lang  # English is the menu for every other language
        group_menu = [BotCommand(name, t(f"cmd_{name}", lang)) for name in scenes.SCENE_COMMANDS]
        await bot.set_my_commands(group_menu, scope=BotCommandScopeAllGroupChats(), language_code=code)
        await bot.set_my_commands(
            command_menu(lang, for_admin=False, selling=selling),
            scope=BotCommandScopeDefault(),
            language_code=code,
        )
        for admin_id in settings.admin_ids:
            try:
                await bot.set_my_commands(
                    command_menu(lang, for_admin=True, selling=selling),
                    scope=BotCommandScopeChat(admin_id),
                    language_code=code,
                )
            except TelegramError as exc:  # an admin who never opened the bot has no chat yet
                log.warning("could not set the admin commands for %s: %s", admin_id, exc)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Logs the failure with its traceback, then apologises in the user's language."""
    log.error("handling update %s failed", getattr(update, "update_id", None), exc_info=context.error)
    if not isinstance(update, Update) or update.effective_chat is None:
        return
    user = update.effective_user
    lang = language_of(user.language_code if user else None)
    with contextlib.suppress(TelegramError):
        await context.bot.send_message(update.effective_chat.id, t("error", lang))
    if update.callback_query is not None:
        with contextlib.suppress(TelegramError):
            await update.callback_query.answer()


@contextlib.asynccontextmanager
async def running(application: App, *, polling: bool = False) -> AsyncIterator[App]:
    """Runs the application's whole lifecycle, hooks included, around the caller's own serving.

    `run_polling` does this itself; the webhook server, the standalone worker and the tests use
    this instead, with the same order: initialize, post_init, start … stop, post_stop, shutdown,
    post_shutdown.
    """
    await application.initialize()
    try:
        if application.post_init:
            await application.post_init(application)
        if polling:
            assert application.updater is not None
            await application.updater.start_polling(
                poll_interval=0.0, timeout=POLL_TIMEOUT, allowed_updates=Update.ALL_TYPES
            )
        await application.start()
        yield application
    finally:
        if application.updater is not None and application.updater.running:
            await application.updater.stop()
        if application.running:
            await application.stop()
            if application.post_stop:
                await application.post_stop(application)
        await application.shutdown()
        if application.post_shutdown:
            await application.post_shutdown(application)

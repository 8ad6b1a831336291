"""Frontdesk's ASGI app factory and the `frontdesk` command line.

    frontdesk [--config FILE] serve       HTTP (+ in-process jobs by default)
    frontdesk [--config FILE] worker      run jobs from Redis (arq)
    frontdesk [--config FILE] migrate     apply database migrations
    frontdesk [--config FILE] users add EMAIL --name NAME --role admin|agent --password-stdin
    frontdesk [--config FILE] tokens create EMAIL [--name NAME] [--expires-days N]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any, Literal

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import select, text

from core import clock, outbox
from core.db import transaction
from core.errors import ConfigError, FrontdeskError, ListenError
from core.logs import configure_logging
from core.migrations import upgrade
from core.runtime import Runtime
from core.settings import Settings, load_settings

log = logging.getLogger("frontdesk")


WEBSOCKET_COMPRESSION = False
"""Whether sockets (the chat widget's, the live one) offer permessage-deflate. Off: their
frames are small JSON that compression hardly shrinks, and each compressed socket keeps
its own zlib state (about 40 KiB), most of the memory an idle chat widget costs."""


class Health(BaseModel):
    status: Literal["ok", "unavailable"]


def load_jobs() -> None:
    """Import every module that registers jobs (a worker needs them before it starts)."""
    import connectors.email.imap  # noqa: F401
    import connectors.email.inbound  # noqa: F401
    import connectors.slack.events  # noqa: F401
    import connectors.webchat.send  # noqa: F401
    import core.outbox  # noqa: F401
    import sla.jobs  # noqa: F401


def install(runtime: Runtime) -> None:
    """Wire the rooms for one runtime: sync rules and SLA tracking on its bus, outbox
    handlers, jobs. Tickets subscribe before sla, so clocks see tickets that exist."""
    from connectors.email import smtp_out
    from connectors.outbound import ReplyDelivery
    from connectors.slack import send as slack_send
    from inbox import service as inbox_service
    from inbox.attachments import AttachmentStore
    from inbox.channels import install_channels
    from notifications.service import NotificationRules
    from sla.service import SlaTracker
    from tickets import queues
    from tickets.entitlements import EntitlementRules
    from tickets.queries import conversations_of_tickets
    from tickets.routing_rules import RouteOnCreation
    from tickets.sync import TicketSync
    from web.live.feed import LiveFeed
    from webhooks.delivery import WebhookSender
    from webhooks.service import KIND as WEBHOOK_KIND
    from webhooks.service import WebhookRules

    load_jobs()
    install_channels(runtime)
    inbox_service.install(runtime.bus)
    TicketSync(runtime.settings.automation).install(runtime.bus)
    RouteOnCreation().install(runtime.bus)
    queues.install(runtime.bus)
    EntitlementRules().install(runtime.bus)
    SlaTracker().install(runtime.bus)
    LiveFeed().install(runtime.bus)
    NotificationRules().install(runtime.bus)
    WebhookRules().install(runtime.bus)
    outbox.handlers["reply"] = ReplyDelivery()
    smtp_out.install(runtime)
    outbox.handlers[WEBHOOK_KIND] = WebhookSender(runtime.settings.webhooks)
    runtime.provide("attachments", AttachmentStore(runtime.settings.attachments.dir))
    runtime.provide("conversations_of_tickets", conversations_of_tickets)
    runtime.provide("limits", runtime.settings.limits)
    import connectors.forms.models  # noqa: F401  (its table is known before the first query)
    from connectors.webchat import send as webchat_send
    slack_send.install(runtime)
    webchat_send.install(runtime)


async def prepare_database(runtime: Runtime) -> None:
    """Seed what the configuration and the defaults need (inboxes, default pipeline, the
    forms the database does not know yet), then load the settings kept in the database and
    keep them current (`core.settings_version`)."""
    from connectors.forms.service import seed_forms
    from connectors.slack import socket as slack_socket
    from core.live import make_hub
    from core.settings_version import VersionWatcher
    from inbox.channels import seed_inboxes, start_channels
    from tickets.service import ensure_default_pipeline
    from tickets.status_reasons import seed_default_reasons

    async with transaction(runtime.sessions) as session:
        await seed_inboxes(session, runtime.settings)
        await ensure_default_pipeline(session)
        await seed_default_reasons(session)
        await seed_forms(session, runtime.settings.forms)
    jobs = runtime.settings.jobs
    watcher = VersionWatcher(runtime.sessions, make_hub(jobs.redis_url,
                                                        f"{jobs.queue_name}:settings"),
                             poll_seconds=runtime.settings.database.settings_poll_seconds)
    runtime.closing.append(watcher.close)
    await start_channels(runtime, watcher)
    await slack_socket.start(runtime)
    await prepare_mail_channels(runtime)


async def prepare_mail_channels(runtime: Runtime) -> None:
    """Seed the IMAP mailboxes of the configuration file the database does not have yet."""
    from connectors.email.mailboxes import seed_mailboxes

    async with transaction(runtime.sessions) as session:
        await seed_mailboxes(session, runtime.settings.imap)


async def start_runtime(settings: Settings, **kwargs: Any) -> Runtime:
    """Start a runtime wired with every room, seed its database and, when it runs jobs,
    schedule again what a previous process had scheduled."""
    from sla.jobs import recover

    runtime = await Runtime.start(settings, install=install, **kwargs)
    await prepare_database(runtime)
    if kwargs.get("start_queue", True):
        await recover(runtime)
    return runtime


@asynccontextmanager
async def serving(settings: Settings, *,
                  smtp_listener: socket.socket | None = None) -> AsyncIterator[Runtime]:
    """A started runtime plus the SMTP receiver process (when enabled; on `smtp_listener`
    when it is bound already), stopped on exit."""
    from connectors.email.receiver import start_receiver, stop_receiver

    runtime = await start_runtime(settings)
    receiver = None
    try:
        if settings.smtp_in.enabled:
            receiver = await start_receiver(runtime, listener=smtp_listener)
        yield runtime
    finally:
        if receiver is not None:
            await stop_receiver(receiver)
        await runtime.close()


def create_app(settings: Settings | None = None, *, runtime: Runtime | None = None,
               smtp_listener: socket.socket | None = None) -> FastAPI:
    """The ASGI app. With `runtime` the caller owns it; otherwise the app starts its own
    (its SMTP receiver on `smtp_listener` when that is bound already)."""
    from connectors.slack import web as slack_events
    from web import docs
    from web import metrics as metrics_route
    from web.api import (
        admin,
        admin_chat,
        admin_forms,
        admin_inboxes,
        admin_mail,
        admin_slack,
        attachments,
        audit,
        case_entitlements,
        case_fields,
        case_queues,
        case_reasons,
        case_routing,
        catalog,
        conversations,
        customers,
        inboxes,
        invites,
        messages,
        notifications,
        people,
        session,
        sla,
        snippets,
        tickets,
        tokens,
        views,
        webhooks,
    )
    from web.api import case_resolution as case_resolution_api
    from web.errors import ERROR_RESPONSES, install_error_handlers
    from web.forms import router as forms_router
    from web.live import socket as live_socket
    from web.metrics import RequestTimer
    from web.middleware import RequestGuard, SecurityHeaders
    from web.pages import auth as auth_pages
    from web.pages import case_entitlements as case_entitlement_pages
    from web.pages import case_fields as case_field_pages
    from web.pages import case_queues as case_queue_pages
    from web.pages import case_resolution as case_resolution_pages
    from web.pages import conversation as conversation_pages
    from web.pages import inbox as inbox_pages
    from web.pages import notifications as notification_pages
    from web.pages import saved_views as saved_view_pages
    from web.pages.admin import cases as case_settings_pages
    from web.pages.admin import catalog as catalog_pages
    from web.pages.admin import chat as chat_pages
    from web.pages.admin import companies as company_pages
    from web.pages.admin import entitlements as entitlement_pages
    from web.pages.admin import forms as admin_form_pages
    from web.pages.admin import home as admin_pages
    from web.pages.admin import inboxes as admin_inbox_pages
    from web.pages.admin import mail as admin_mail_pages
    from web.pages.admin import people as people_pages
    from web.pages.admin import queues as admin_queue_pages
    from web.pages.admin import routing as admin_routing_pages
    from web.pages.admin import sla as sla_pages
    from web.pages.admin import slack as slack_pages
    from web.pages.admin import snippets as snippet_pages
    from web.pages.admin import status_reasons as status_reason_pages
    from web.pages.admin import teams as team_pages
    from web.pages.admin import webhooks as admin_webhook_pages
    from web.pages.common import LoginRequired, to_login
    from web.widget import routes as widget_routes
    from web.widget import socket as widget_socket

    configured = runtime.settings if runtime is not None else settings
    if configured is None:
        raise ValueError("create_app needs settings or a runtime")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if runtime is not None:
            app.state.runtime = runtime
            await runtime.live.start()
            yield
            return
        assert settings is not None
        async with serving(settings, smtp_listener=smtp_listener) as own:
            app.state.runtime = own
            await own.live.start()
            yield

    # Every operation documents the shared error answers; /docs is our own page.
    app = FastAPI(title="Frontdesk", version="0.1.0", lifespan=lifespan,
                  responses=ERROR_RESPONSES, docs_url=None, redoc_url=None,
                  swagger_ui_oauth2_redirect_url=None)
    if runtime is not None:
        app.state.runtime = runtime
    install_error_handlers(app)
    app.add_exception_handler(LoginRequired, to_login)
    # Added last runs first: headers go on every answer, including the guard's.
    app.add_middleware(RequestGuard, max_body_bytes=configured.http.max_body_bytes,
                       max_upload_bytes=configured.http.max_body_bytes
                       + configured.limits.max_total_attachment_bytes)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(RequestTimer)  # outermost: it times the refusals too
    for router in (session.router, people.router, tokens.router, inboxes.router,
                   conversations.router, tickets.router, sla.router, admin.router,
                   attachments.router, messages.router, views.router, forms_router, docs.router,
                   live_socket.router, auth_pages.router, inbox_pages.router,
                   conversation_pages.router, saved_view_pages.router, snippets.router,
                   notifications.router, notification_pages.router, metrics_route.router,
                   webhooks.router, audit.router, admin_pages.router,
                   snippet_pages.router, invites.router, people_pages.router,
                   team_pages.router, sla_pages.router, admin_forms.router,
                   admin_form_pages.router, admin_webhook_pages.router, admin_mail.router,
                   admin_mail_pages.router, slack_events.router, admin_slack.router,
                   slack_pages.router, widget_routes.router, widget_socket.router,
                   admin_chat.router, chat_pages.router, admin_inboxes.router,
                   admin_inbox_pages.router, customers.router, case_fields.router,
                   catalog.router, case_field_pages.router, company_pages.router,
                   catalog_pages.router,
                   case_queues.router, case_routing.router,
                   case_queue_pages.router, admin_queue_pages.router,
                   admin_routing_pages.router, case_resolution_api.router,
                   case_resolution_pages.router, case_settings_pages.router,
                   case_entitlements.router, case_reasons.router,
                   case_entitlement_pages.router, entitlement_pages.router,
                   status_reason_pages.router):
        app.include_router(router)
    app.mount("/static", docs.static_files(), name="static")

    @app.get("/healthz", tags=["health"], response_model=Health)
    async def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], response_model=Health, responses={
        503: {"model": Health, "description": "The database or the raw store does not answer"}})
    async def readyz() -> JSONResponse:
        """The database answers, and so does the raw store where it is one of its own."""
        runtime = app.state.runtime
        probes = {runtime.engine: "SELECT 1",
                  runtime.raw_engine: "SELECT 1 FROM raw_emails LIMIT 1"}
        try:
            for engine, probe in probes.items():
                async with engine.connect() as connection:
                    await connection.execute(text(probe))
        except Exception as exc:
            log.warning("readiness check failed: %s", exc)
            return JSONResponse({"status": "unavailable"}, status_code=503)
        return JSONResponse({"status": "ok"})

    return app


# ---------------------------------------------------------------- command line


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="frontdesk", description="Frontdesk shared inbox")
    parser.add_argument("--config", help="configuration file (default: $FRONTDESK_CONFIG or "
                                         "./config.toml)")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve HTTP (and run jobs in-process by default)")
    serve.add_argument("--no-migrate", action="store_true",
                       help="do not apply migrations on start (SQLite applies them by default)")
    commands.add_parser("worker", help="run jobs from Redis (needs [jobs] redis_url)")
    commands.add_parser("migrate", help="apply database migrations")
    users = commands.add_parser("users", help="manage users").add_subparsers(
        dest="users_command", required=True)
    add = users.add_parser("add", help="add a user; the password is read from standard input")
    add.add_argument("email")
    add.add_argument("--name", required=True)
    add.add_argument("--role", choices=["admin", "agent"], default="agent")
    add.add_argument("--password-stdin", action="store_true", required=True,
                     help="read the password from the first line of standard input")
    tokens = commands.add_parser("tokens", help="manage API tokens").add_subparsers(
        dest="tokens_command", required=True)
    create = tokens.add_parser("create", help="create a bearer token (printed once)")
    create.add_argument("email")
    create.add_argument("--name", default="cli")
    create.add_argument("--expires-days", type=int, default=None,
                        help="the token stops working after this many days (default: never)")
    return parser


def _listen(what: str, host: str, port: int) -> socket.socket:
    """A listening socket on host:port; ListenError naming them when it cannot be had."""
    from connectors.email.receiver import listening_socket

    try:
        return listening_socket(host, port)
    except OSError as exc:
        reason = (exc.strerror if isinstance(exc, socket.gaierror) or not exc.errno
                  else os.strerror(exc.errno)) or str(exc)
        reason = reason.lower()
        where = f"[{host}]:{port}" if ":" in host else f"{host or '*'}:{port}"
        raise ListenError(f"cannot listen for {what} on {where}: {reason}") from None


def _serve(settings: Settings, migrate: bool) -> None:
    import uvicorn

    from core.deployment import log_deployment_warnings

    log_deployment_warnings(settings)
    # Both ports are bound before anything starts, so one in use ends the start at once.
    smtp = settings.smtp_in
    smtp_listener = _listen("SMTP", smtp.host, smtp.port) if smtp.enabled else None
    try:
        http_listener = _listen("HTTP", settings.http.host, settings.http.port)
    except ListenError:
        if smtp_listener is not None:
            smtp_listener.close()
        raise
    if migrate:
        upgrade(settings.database.url)
    # proxy_headers off: uvicorn would otherwise take X-Forwarded-For from 127.0.0.1 as the
    # client; only `[http] trusted_proxies` decides that (web.forwarded). log_config None:
    # uvicorn's loggers write through the root handler, in `[logging] log_format`.
    config = uvicorn.Config(create_app(settings, smtp_listener=smtp_listener),
                            host=settings.http.host, port=settings.http.port,
                            log_level=settings.logging.level.lower(), log_config=None,
                            ws="websockets-sansio", proxy_headers=False,
                            ws_per_message_deflate=WEBSOCKET_COMPRESSION)
    uvicorn.Server(config).run(sockets=[http_listener])


def _worker(settings: Settings) -> None:
    from arq.worker import Worker

    from core.jobs import arq_worker_settings

    if not settings.jobs.redis_url:
        raise ConfigError("jobs.redis_url: the worker needs Redis; set [jobs] redis_url or "
                          "FRONTDESK_REDIS_URL")
    holder: dict[str, Runtime] = {}

    async def on_startup(ctx: dict[str, Any]) -> None:
        holder["runtime"] = ctx["runtime"] = await start_runtime(settings, start_queue=False)
        await holder["runtime"].queue.start(ctx)

    async def on_shutdown(ctx: dict[str, Any]) -> None:
        await holder["runtime"].close()

    load_jobs()
    options = arq_worker_settings(settings.jobs.redis_url, settings.jobs.queue_name,
                                  on_startup=on_startup, on_shutdown=on_shutdown)
    Worker(**options).run()


async def _add_user(settings: Settings, args: argparse.Namespace, password: str) -> str:
    from accounts.passwords import hash_new_password
    from accounts.service import create_user

    runtime = await start_runtime(settings, start_queue=False)
    try:
        password_hash = await hash_new_password(password)
        async with transaction(runtime.sessions) as session:
            user = await create_user(session, email=args.email, name=args.name, role=args.role,
                                     password_hash=password_hash)
        return f"added {user.role} {user.email} (id {user.id})"
    finally:
        await runtime.close()


async def _create_token(settings: Settings, args: argparse.Namespace) -> str:
    from accounts.models import User
    from accounts.service import create_api_token

    runtime = await start_runtime(settings, start_queue=False)
    try:
        async with transaction(runtime.sessions) as session:
            user = await session.scalar(select(User).where(User.email == args.email.lower()))
            if user is None:
                raise ConfigError(f"no user with email {args.email}")
            expires_at = None
            if args.expires_days is not None:
                if args.expires_days < 1:
                    raise ConfigError("--expires-days must be at least 1")
                expires_at = clock.now() + timedelta(days=args.expires_days)
            return (await create_api_token(session, user, args.name,
                                           expires_at=expires_at)).token
    finally:
        await runtime.close()


def _run(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    configure_logging(settings.logging)
    if args.command == "serve":
        sqlite = settings.database.url.startswith("sqlite")
        _serve(settings, migrate=sqlite and not args.no_migrate)
    elif args.command == "worker":
        _worker(settings)
    elif args.command == "migrate":
        upgrade(settings.database.url)
        print("database is up to date")
    elif args.command == "users":
        password = sys.stdin.readline().rstrip("\r\n")
        upgrade(settings.database.url) if settings.database.url.startswith("sqlite") else None
        print(asyncio.run(_add_user(settings, args, password)))
    elif args.command == "tokens":
        print(asyncio.run(_create_token(settings, args)))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `frontdesk` console script."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    args = _parser().parse_args(argv)
    try:
        return _run(args)
    except ListenError as exc:
        print(f"frontdesk: {exc}", file=sys.stderr)
        return 1
    except FrontdeskError as exc:
        print(f"frontdesk: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

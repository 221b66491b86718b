"""The web app (`digest serve`): editor pages, subscriber pages, the providers' webhooks.

A thin layer: every route calls digest.app and the domain modules, and turns their errors into
HTTP answers.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from digest.app import App
from digest.config import Settings

PAGES = Jinja2Templates(directory=str(Path(__file__).parent / "pages"))
# The pages' scripts and styles, and vendored libraries (each with its licence beside it).
STATIC = Path(__file__).parent / "static"
log = logging.getLogger("digest.web")


def create_app(settings: Settings, host: str | None = None, insecure_http: bool = False) -> FastAPI:
    """The ASGI app. `host` is where it will listen: off loopback (or behind a TLS proxy)
    editors must log in, and off loopback without TLS it refuses (ConfigError) unless
    `insecure_http`."""
    from digest.web import (
        articles,
        clicks,
        editor,
        edits,
        error_pages,
        lifecycle,
        mailgun_webhook,
        postmark_webhook,
        preference_page,
        public,
        reports,
        ses_webhook,
        subscribers,
        webhooks,
    )
    from digest.web.hosts import HostCheck, allowed_hosts
    from digest.web.limits import ADD_MAX_BYTES, ADD_PATH, FORM_MAX_BYTES, BodyLimit
    from digest.web.ratelimit import FailureBackoff
    from digest.web.security import Sessions, exposure

    bound = host or settings.web_host
    reach = exposure(settings, bound, insecure_http)
    if insecure_http and not reach.secure_cookies:
        log.warning(
            "INSECURE: serving on %s over plain http (--insecure-http): the editor's password "
            "and session cross the network in clear; for development only",
            bound,
        )
    app = FastAPI(title="digest", version="1", docs_url=None, redoc_url=None)
    app.state.digest = App(settings)
    app.state.login_required = reach.login_required
    app.state.login_backoff = FailureBackoff()
    secret = settings.secret_key.get_secret_value() or "digest-local-only-session-key"
    app.state.sessions = Sessions(secret, secure=reach.secure_cookies)
    error_pages.install(app)
    app.include_router(public.router)
    app.include_router(preference_page.router)
    app.include_router(clicks.router)
    clicks.hide_tokens_from_access_log()
    app.include_router(webhooks.router)
    app.include_router(ses_webhook.router)
    app.include_router(postmark_webhook.router)
    app.include_router(mailgun_webhook.router)
    app.include_router(editor.router)
    app.include_router(lifecycle.router)
    app.include_router(articles.router)
    app.include_router(reports.router)
    app.include_router(subscribers.router)
    app.include_router(edits.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(
        BodyLimit,
        default=FORM_MAX_BYTES,
        per_path={
            "/webhooks/sendgrid": settings.sendgrid_webhook_max_bytes,
            ses_webhook.PATH: settings.ses.webhook_max_bytes,
            postmark_webhook.PATH: settings.postmark.webhook_max_bytes,
            mailgun_webhook.PATH: settings.mailgun.webhook_max_bytes,
            ADD_PATH: ADD_MAX_BYTES,
            subscribers.IMPORT_PATH: subscribers.IMPORT_MAX_BYTES,
        },
    )
    hosts = allowed_hosts(settings, bound)
    if hosts is not None:
        app.add_middleware(HostCheck, allowed=hosts)  # added last: it runs first
    return app


def server_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's proxy options. X-Forwarded-For / -Proto are believed only behind a TLS proxy
    and only from web_trusted_proxies; otherwise never (uvicorn would believe them from
    127.0.0.1, where any local process could claim any client address and so escape the
    per-client limits)."""
    if settings.web_behind_tls_proxy:
        return {"proxy_headers": True, "forwarded_allow_ips": settings.web_trusted_proxies}
    return {"proxy_headers": False}

"""The web app (`digest serve`): editor pages, subscriber pages, SendGrid's webhook.

A thin layer: every route calls digest.app and the domain modules, and turns their errors into
HTTP answers.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.templating import Jinja2Templates

from digest.app import App
from digest.config import Settings

PAGES = Jinja2Templates(directory=str(Path(__file__).parent / "pages"))


def create_app(settings: Settings, host: str | None = None) -> FastAPI:
    """The ASGI app. `host` is where it will listen: off loopback, editors must log in."""
    from digest.web import editor, public, webhooks
    from digest.web.security import Sessions, is_loopback

    bound = host or settings.web_host
    app = FastAPI(title="digest", version="1", docs_url=None, redoc_url=None)
    app.state.digest = App(settings)
    app.state.login_required = not is_loopback(bound)
    secret = settings.secret_key.get_secret_value() or "digest-local-only-session-key"
    app.state.sessions = Sessions(secret, secure=not is_loopback(bound))
    app.include_router(public.router)
    app.include_router(webhooks.router)
    app.include_router(editor.router)
    return app

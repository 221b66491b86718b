"""Editor login, signed session cookies, CSRF tokens, and what serving on an address demands.

On loopback (the default) the editor pages are open to the machine's own user; bound anywhere
else, or behind a proxy, they need a login: the password (checked against a PBKDF2 hash from
settings) or the editor token. Every editor form carries a CSRF token bound to the session,
loopback or not, since a web page in the editor's browser can post to localhost too.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import secrets
from dataclasses import dataclass, field

from fastapi import HTTPException, Request
from itsdangerous import BadSignature, URLSafeTimedSerializer

from digest.config import Settings
from digest.errors import ConfigError

SESSION_COOKIE = "digest_session"
SESSION_SECONDS = 12 * 3600
_ITERATIONS = 600_000


def hash_password(password: str, iterations: int = _ITERATIONS) -> str:
    """ "pbkdf2_sha256$ITERATIONS$SALT$HASH", to put in editor_password_hash."""
    salt = secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    encode = base64.urlsafe_b64encode
    return f"pbkdf2_sha256${iterations}${encode(salt).decode()}${encode(digest).decode()}"


def check_password(password: str, stored: str) -> bool:
    try:
        scheme, iterations, salt, digest = stored.split("$")
        if scheme != "pbkdf2_sha256":
            return False
        computed = hashlib.pbkdf2_hmac(
            "sha256", password.encode(), base64.urlsafe_b64decode(salt), int(iterations)
        )
    except ValueError:
        return False
    return hmac.compare_digest(computed, base64.urlsafe_b64decode(digest))


def credentials_match(secret: str, token: str, password_hash: str) -> bool:
    """Whether a login secret is the editor token or the password behind the stored hash."""
    if token and hmac.compare_digest(secret.encode(), token.encode()):
        return True
    return bool(password_hash) and check_password(secret, password_hash)


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Exposure:
    """Who can reach the app, and so what it must ask of them.

    Behind a TLS proxy the app is public even when bound to loopback (the proxy forwards to
    127.0.0.1), so editors log in there too. Off loopback the session cookie is `Secure`: a
    browser sends it back only over https, so plain http is refused unless `insecure_http`
    (development only) drops the flag."""

    loopback: bool
    behind_tls_proxy: bool = False
    insecure_http: bool = False

    @property
    def login_required(self) -> bool:
        return not self.loopback or self.behind_tls_proxy

    @property
    def secure_cookies(self) -> bool:
        return self.behind_tls_proxy or (not self.loopback and not self.insecure_http)


def exposure(settings: Settings, bound: str, insecure_http: bool = False) -> Exposure:
    """How the app will be reached on `bound`; ConfigError (one line, saying what to set) when
    editors could not log in safely, or at all."""
    seen = Exposure(is_loopback(bound), settings.web_behind_tls_proxy, insecure_http)
    if not (seen.loopback or seen.behind_tls_proxy or seen.insecure_http):
        raise ConfigError(
            f"refusing to serve on {bound} over plain http: editors could never log in (the "
            "session cookie is Secure, and browsers send it back only over https); put a proxy "
            "that terminates TLS in front and set web_behind_tls_proxy = true "
            "(--behind-tls-proxy), or, for development only, pass --insecure-http"
        )
    if seen.login_required:
        if not (
            settings.editor_password_hash.get_secret_value()
            or settings.editor_token.get_secret_value()
        ):
            raise ConfigError(
                f"serving on {bound}{' behind a proxy' if seen.loopback else ''} needs an editor "
                "login: set editor_password_hash (digest hash-password) or editor_token"
            )
        if not settings.secret_key.get_secret_value():
            raise ConfigError(f"serving on {bound} needs secret_key (DIGEST_SECRET_KEY)")
    return seen


class Sessions:
    """Sessions in a signed cookie: {"editor": bool, "csrf": token, "flash": a Flash}."""

    def __init__(self, secret: str, secure: bool) -> None:
        self.serializer = URLSafeTimedSerializer(secret, salt="digest-editor-session")
        self.secure = secure

    def read(self, request: Request) -> dict[str, object]:
        cookie = request.cookies.get(SESSION_COOKIE)
        if not cookie:
            return {}
        try:
            data = self.serializer.loads(cookie, max_age=SESSION_SECONDS)
        except BadSignature:
            return {}
        return data if isinstance(data, dict) else {}

    def dump(self, data: dict[str, object]) -> str:
        return str(self.serializer.dumps(data))

    def cookie_options(self) -> dict[str, object]:
        return {
            "httponly": True,
            "samesite": "strict",
            "secure": self.secure,
            "max_age": SESSION_SECONDS,
        }


# A browser keeps a cookie of up to 4096 bytes: a flash leaves the session well under it.
_COOKIE_BUDGET = 3600
_FLASH_LINE = 300
_FLASH_LINES = 20


@dataclass(frozen=True)
class Flash:
    """A one-time message for the next page: what was done, and what went wrong."""

    notice: str = ""
    errors: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.notice or self.errors)

    @classmethod
    def of(cls, stored: object) -> Flash:
        """The flash as the session holds it; anything else (an old cookie) is none."""
        if not isinstance(stored, dict):
            return cls()
        notice, errors = stored.get("notice", ""), stored.get("errors", [])
        if not isinstance(notice, str) or not isinstance(errors, list):
            return cls()
        return cls(notice, [str(line) for line in errors])


def with_flash(
    session: dict[str, object], notice: str, errors: list[str], sessions: Sessions
) -> dict[str, object]:
    """The session carrying a flash, cut to fit a cookie: each line at most 300 characters,
    and as many problems as fit, then how many more there were."""

    def cut(line: str) -> str:
        return line if len(line) <= _FLASH_LINE else line[: _FLASH_LINE - 1] + "…"

    kept = [cut(line) for line in errors[:_FLASH_LINES]]
    while True:
        more = len(errors) - len(kept)
        shown = [*kept, f"… and {more} more problems"] if more else kept
        candidate = {**session, "flash": {"notice": cut(notice), "errors": shown}}
        if len(sessions.dump(candidate)) <= _COOKIE_BUDGET or not kept:
            return candidate
        kept.pop()


def new_csrf_token() -> str:
    return secrets.token_urlsafe(24)


def check_csrf(session: dict[str, object], submitted: str | None) -> None:
    expected = session.get("csrf")
    if (
        not isinstance(expected, str)
        or not submitted
        or not hmac.compare_digest(expected, submitted)
    ):
        raise HTTPException(status_code=403, detail="CSRF token missing or wrong")

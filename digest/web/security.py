"""Editor login, signed session cookies and CSRF tokens.

On loopback (the default) the editor pages are open to the machine's own user; bound anywhere
else they need a login: the password (checked against a PBKDF2 hash from settings) or the
editor token. Every editor form carries a CSRF token bound to the session, loopback or not,
since a web page in the editor's browser can post to localhost too.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import secrets

from fastapi import HTTPException, Request
from itsdangerous import BadSignature, URLSafeTimedSerializer

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


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Sessions:
    """Sessions in a signed cookie: {"editor": bool, "csrf": token}."""

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

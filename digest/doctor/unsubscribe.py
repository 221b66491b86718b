"""Does the one-click unsubscribe work? A mailbox provider POSTs `List-Unsubscribe=One-Click`
to the link in the List-Unsubscribe header (RFC 8058): the doctor makes that POST to
`base_url`/u/TOKEN with a probe token, signed with secret_key like every reader's but naming
no reader, which `digest serve` answers with PROBE_HEADER and changes nothing. The answer
proves the link reaches a digest that holds the same secret_key, so readers' links verify."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

import httpx

from digest.doctor.findings import Finding, error, ok, warning

PROBE_HEADER = "Digest-Unsubscribe-Probe"
PROBE_ANSWER = "ok: a probe names no reader; nothing was changed"
ONE_CLICK_BODY = {"List-Unsubscribe": "One-Click"}
TIMEOUT = 10.0


def is_local(host: str) -> bool:
    name = host.strip("[]").lower()
    if name == "localhost" or name.endswith((".localhost", ".local")):
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    return address.is_loopback or address.is_private or address.is_link_local


def check_scheme(base_url: str) -> Finding | None:
    """RFC 8058 wants an https link; plain http is fine only for a local test."""
    parts = urlsplit(base_url)
    if parts.scheme == "https":
        return None
    if is_local(parts.hostname or ""):
        return warning(
            "unsubscribe",
            f"base_url {base_url} is plain http on a local address: fine for a test, but "
            "mailbox providers only POST to https links",
            "set base_url to the public https address of digest serve before sending",
        )
    return error(
        "unsubscribe",
        f"base_url {base_url} is plain http: RFC 8058 one-click links must be https",
        "serve digest behind TLS (digest serve --behind-tls-proxy) and set base_url to https://…",
    )


def check_one_click(base_url: str, token: str, timeout: float = TIMEOUT) -> Finding:
    base = base_url.rstrip("/")
    url = f"{base}/u/{token}"
    shown = f"POST {base}/u/…"
    fix = f"run digest serve where {base} reaches it (behind your TLS proxy)"
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client:
            answer = client.post(url, data=ONE_CLICK_BODY)
    except httpx.TimeoutException:
        return error("unsubscribe", f"{shown}: no answer within {timeout:g} s", fix)
    except httpx.ConnectError as failure:
        return error("unsubscribe", f"{shown}: could not connect ({_reason(failure)})", fix)
    except httpx.HTTPError as failure:
        return error("unsubscribe", f"{shown}: {_reason(failure)}", fix)
    if answer.status_code == 200 and answer.headers.get(PROBE_HEADER) == "ok":
        return ok(
            "unsubscribe",
            f"{shown} (RFC 8058 one-click) reached digest serve, which holds this secret_key",
        )
    if answer.is_redirect:
        target = answer.headers.get("location", "")
        return error(
            "unsubscribe",
            f"{shown}: redirected ({answer.status_code}) to {target}: mailbox providers do not "
            "follow a one-click POST through redirects",
            "set base_url to the address that answers itself",
        )
    if answer.status_code == 404:
        return error(
            "unsubscribe",
            f"{shown}: 404: what answers there is not a digest serve holding this secret_key "
            "(readers' links would not verify either)",
            f"point {base} at digest serve, run with the same secret_key as digest send",
        )
    return error(
        "unsubscribe", f"{shown}: answered {answer.status_code}, not digest's probe answer", fix
    )


def _reason(failure: Exception) -> str:
    text = str(failure).strip()
    return text.splitlines()[0] if text else type(failure).__name__

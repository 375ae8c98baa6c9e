"""Who may look: the dashboard's token, cookie and host checks (an ASGI middleware).

With a token, every request must carry it: ``Authorization: Bearer <token>``, the
``shardrun_token`` cookie, or ``?token=<token>`` once, which answers with a redirect to the
same page without it and sets the cookie (HttpOnly, SameSite=Strict). Anything else gets
401. Without a token (only allowed on a loopback address) the ``Host`` header must name
the loopback too, so that a web page cannot reach the dashboard through DNS rebinding.
"""

from __future__ import annotations

import hmac
import secrets
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

COOKIE = "shardrun_token"
LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")


def new_token() -> str:
    """A fresh random token (32 URL-safe characters)."""
    return secrets.token_urlsafe(24)


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps the dashboard on this machine."""
    return host in LOOPBACK or host.startswith("127.")


class TokenGate:
    """Let a request through only with the token (or, without one, from a loopback Host)."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        response = self._check(scope)
        if response is None:
            await self.app(scope, receive, send)
        else:
            await response(scope, receive, send)

    def _check(self, scope: Scope) -> Response | None:
        headers = Headers(scope=scope)
        if self.token is None:
            host = headers.get("host", "").rsplit(":", 1)[0]
            if host in LOOPBACK or host.startswith("127."):
                return None
            return PlainTextResponse("forbidden host\n", status_code=403)
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"))
        given = [v for k, v in query if k == "token"]
        if given:
            if not self._matches(given[-1]):
                return _unauthorized()
            rest = urlencode([(k, v) for k, v in query if k != "token"])
            # One leading slash: "//host" would send the browser to another site.
            path = "/" + str(scope["path"]).lstrip("/")
            response = RedirectResponse(path + (f"?{rest}" if rest else ""), 303)
            response.set_cookie(COOKIE, self.token, httponly=True, samesite="strict", path="/")
            return response
        bearer = headers.get("authorization", "")
        if bearer.lower().startswith("bearer ") and self._matches(bearer[7:].strip()):
            return None
        if self._matches(_cookie(headers.get("cookie", ""))):
            return None
        return _unauthorized()

    def _matches(self, value: str | None) -> bool:
        if value is None or self.token is None:
            return False
        return hmac.compare_digest(value.encode(), self.token.encode())


def _cookie(header: str) -> str | None:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header)
    except Exception:  # a malformed Cookie header is no token
        return None
    morsel: Any = jar.get(COOKIE)
    return None if morsel is None else str(morsel.value)


def _unauthorized() -> Response:
    return PlainTextResponse(
        "401 unauthorized: send the token as 'Authorization: Bearer <token>' or open "
        "the URL with ?token=<token> once\n",
        status_code=401,
        headers={"WWW-Authenticate": "Bearer"},
    )

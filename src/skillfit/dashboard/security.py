"""Who may talk to the dashboard.

- Every request needs the server's token, on loopback too (as Jupyter does: any local process
  or user could otherwise launch runs as you): `skillfit ui` prints its address with
  `?token=...`; the first visit keeps the token in a cookie (HttpOnly, SameSite=Strict, named
  for the port, so two dashboards on one host do not overwrite each other's) and drops it from
  the address. Scripts send `Authorization: Bearer TOKEN`. Only `/healthz` answers without it.
- Bound to a loopback address (the default) it also answers only requests whose Host header
  names a loopback address (a web page elsewhere cannot reach it by DNS rebinding).
- Every form that changes something (launch, stop, resume) carries a per-server secret and is
  refused without it or from another origin (no cross-site request can start a run).
- Pages allow scripts and styles from the dashboard itself only; nothing is framed.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

from starlette.datastructures import URL
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

COOKIE = "skillfit_ui_token"
OPEN_PATHS = frozenset({"/healthz"})  # answered without the token: says only "ok"
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",  # no-referrer would make form posts say Origin: null
    "Cache-Control": "no-store",
}


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def new_token() -> str:
    return secrets.token_urlsafe(24)


@dataclass
class Access:
    """The dashboard's access rules for one server (see the module docstring). Without a
    `token`, one is made up."""

    host: str = "127.0.0.1"
    port: int = 7860
    token: str = ""
    csrf: str = field(default_factory=new_token)

    def __post_init__(self) -> None:
        self.token = (self.token or "").strip() or new_token()
        if len(self.token) < 8:
            raise ValueError("a dashboard token must be at least 8 characters")

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)

    @property
    def cookie(self) -> str:
        return f"{COOKIE}_{self.port}"

    def allowed_host(self, header: str) -> bool:
        """The Host header of a request to a loopback-bound server must name a loopback
        address (DNS rebinding guard)."""
        if not self.loopback:
            return True
        name = urlsplit(f"//{header}").hostname or ""
        return is_loopback(name)

    def token_ok(self, given: str | None) -> bool:
        return bool(given) and hmac.compare_digest(
            str(given).encode("utf-8", "replace"), self.token.encode("utf-8")
        )

    def csrf_ok(self, given: str | None) -> bool:
        return bool(given) and hmac.compare_digest(str(given), self.csrf)

    def url(self, path: str = "/") -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{path}?{urlencode({'token': self.token})}"


class AccessMiddleware:
    """Applies `Access` to every HTTP request and adds the security headers."""

    def __init__(self, app: ASGIApp, access: Access) -> None:
        self.app = app
        self.access = access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        response = self.check(request)
        if response is not None:
            await _with_headers(response)(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                for key, value in HEADERS.items():
                    if key.lower().encode() not in present:
                        headers.append((key.lower().encode(), value.encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def check(self, request: Request) -> Response | None:
        access = self.access
        if not access.allowed_host(request.headers.get("host", "")):
            return PlainTextResponse("unknown host", status_code=400)
        if request.url.path in OPEN_PATHS:
            return None
        given = request.query_params.get("token")
        if given is not None:
            if not access.token_ok(given):
                return _denied()
            # Keep the token in a cookie, not in the address bar and history.
            clean = URL(str(request.url)).remove_query_params("token")
            redirect = RedirectResponse(str(clean.path) + _query(clean), status_code=303)
            redirect.set_cookie(access.cookie, given, httponly=True, samesite="strict")
            return redirect
        bearer = request.headers.get("authorization", "")
        header = bearer[7:] if bearer.lower().startswith("bearer ") else None
        if not (access.token_ok(request.cookies.get(access.cookie)) or access.token_ok(header)):
            return _denied()
        if request.method not in ("GET", "HEAD"):
            origin = request.headers.get("origin")
            if origin and urlsplit(origin).netloc != request.headers.get("host", ""):
                return PlainTextResponse("cross-origin request refused", status_code=403)
        return None


def _query(url: URL) -> str:
    return f"?{url.query}" if url.query else ""


def _denied() -> Response:
    return PlainTextResponse(
        "This dashboard needs its token: open the address `skillfit ui` printed "
        "(it ends in ?token=...).",
        status_code=401,
    )


def _with_headers(response: Response) -> Response:
    for key, value in HEADERS.items():
        response.headers.setdefault(key, value)
    return response

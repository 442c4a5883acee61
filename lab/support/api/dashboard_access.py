"""PROVIDED: who may use RQ's dashboard at /dashboard, asked before it answers anything.

The dashboard reads every job of this Redis (arguments, results, tracebacks) and changes
them: it requeues a job, deletes one, empties a queue. rq-dashboard-fast alone lets anyone
who reaches the port do all of that, from any site. So, in this order:

1. Off unless DASHBOARD_PASSWORD is set: 404, as if there were no dashboard. There is no
   default password, so no dashboard that a password written in this workbook opens.
2. A request that changes something (any method but GET and HEAD) must come from the
   dashboard's own pages: its Origin header (or, without one, its Referer) must be this
   server's scheme://host, and a browser's Sec-Fetch-Site must not be cross-site. Otherwise
   403, before the password is even asked: another site cannot make a logged-in browser
   requeue or delete (a cross-site request forgery), whatever the request looks like
   (a form post with Content-Type text/plain sends no preflight, but an Origin).
3. HTTP Basic credentials, DASHBOARD_USER and DASHBOARD_PASSWORD, compared in constant time
   (secrets.compare_digest): otherwise 401 with WWW-Authenticate, which makes a browser
   ask for them. Basic sends the password in every request, readable by anyone on the
   path unless the connection is HTTPS: fine on 127.0.0.1, not on a public port.
"""

from __future__ import annotations

import binascii
import secrets
from base64 import b64decode
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import Scope

from lab.support.config import Settings, get_settings

#: Methods that only read: every other one changes something, or might.
READING_METHODS = ("GET", "HEAD")
#: What a 401 asks the browser for.
CHALLENGE = 'Basic realm="RQ dashboard", charset="UTF-8"'
#: The port a URL of each scheme means when it names none.
DEFAULT_PORTS = {"http": 80, "https": 443}


def access_refusal(scope: Scope) -> JSONResponse | None:
    """The answer to a request that may not use the dashboard (404, 403 or 401, as JSON);
    None when it may. Reads the settings now: a test or a restart changes them."""
    settings = get_settings()
    if settings.dashboard_password is None:
        return JSONResponse(
            {"detail": "Not Found: the dashboard is off. Set DASHBOARD_PASSWORD to turn it on."},
            status_code=404,
        )
    headers = Headers(scope=scope)
    if scope["method"] not in READING_METHODS and not from_own_pages(scope, headers):
        return JSONResponse(
            {
                "detail": f"Refused: a {scope['method']} request changes the queues, so it must"
                f" come from the dashboard's own pages ({own_origin(scope, headers)}), not"
                " from another site."
            },
            status_code=403,
        )
    if not authorized(headers.get("authorization", ""), settings):
        return JSONResponse(
            {"detail": "The dashboard asks for its user name and password (HTTP Basic)."},
            status_code=401,
            headers={"WWW-Authenticate": CHALLENGE},
        )
    return None


def authorized(header: str, settings: Settings) -> bool:
    """Whether an Authorization header gives DASHBOARD_USER and DASHBOARD_PASSWORD (Basic).
    Both are compared in constant time, each whatever the other gave: the time taken tells
    nothing about how much of either was right."""
    scheme, _, encoded = header.partition(" ")
    try:
        decoded = b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return False
    user, colon, password = decoded.partition(":")
    password_wanted = settings.dashboard_password
    if scheme.lower() != "basic" or not colon or password_wanted is None:
        return False
    right_user = secrets.compare_digest(user.encode(), settings.dashboard_user.encode())
    right_password = secrets.compare_digest(
        password.encode(), password_wanted.get_secret_value().encode()
    )
    return right_user and right_password


def from_own_pages(scope: Scope, headers: Headers) -> bool:
    """Whether the request says it comes from a page of this server: Origin (or, without
    one, Referer) is this server's scheme://host, and Sec-Fetch-Site is not cross-site.
    A request that says neither is refused too: a browser sends Origin with every request
    that changes something, so only a hand-made one omits both, and it can add one."""
    if headers.get("sec-fetch-site", "").lower() == "cross-site":
        return False
    claimed = headers.get("origin") or headers.get("referer")
    if not claimed:
        return False
    own = origin_of(own_origin(scope, headers))
    return own is not None and origin_of(claimed) == own


def own_origin(scope: Scope, headers: Headers) -> str:
    """This server's scheme://host as the request reached it (its Host header)."""
    host = headers.get("host")
    if not host and scope.get("server"):
        host = "{}:{}".format(*scope["server"])
    return f"{scope.get('scheme', 'http')}://{host or ''}"


def origin_of(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of a URL, the port filled in when it names none; None for
    what is not an http(s) URL with a host ("null", a path, a bad port)."""
    try:
        parts = urlsplit(url.strip())
        scheme, host, port = parts.scheme.lower(), parts.hostname, parts.port
    except ValueError:
        return None
    if scheme not in DEFAULT_PORTS or not host:
        return None
    return scheme, host, port or DEFAULT_PORTS[scheme]

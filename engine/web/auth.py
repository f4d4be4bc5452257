"""Who is asking: dashboard logins, API tokens, CSRF tokens and the session cookie.

- Users log in with a name and password checked against the werkzeug hash in
  `dashboard.users`; the signed session cookie then carries the name
  (HttpOnly, SameSite=Lax, Secure unless configured off, expiring after
  `dashboard.session_hours`, checked on the server by its signature's age).
- Scripts send ``Authorization: Bearer <token>``; config keeps only the
  token's SHA-256, so a leaked config file gives no working token.
- Every POST carries the session's CSRF token (a hidden form field),
  compared in constant time. Bearer requests carry no cookie, so no CSRF.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from datetime import timedelta
from functools import cache
from typing import Final

from flask import Flask, Response, g, jsonify, redirect, request, session, url_for
from werkzeug.security import check_password_hash, generate_password_hash
from werkzeug.wrappers import Response as AnyResponse

from engine.settings import DashboardSettings

log = logging.getLogger(__name__)
CSRF_FIELD: Final = "csrf_token"
SESSION_COOKIE: Final = "engine_session"


def configure_sessions(app: Flask, settings: DashboardSettings) -> None:
    """Set the app's session key and cookie flags from `settings`."""
    key = settings.secret_key
    if key is None:
        log.warning("dashboard.secret_key is not set: sessions end when this process does")
        key = secrets.token_urlsafe(48)
    app.config.update(
        SECRET_KEY=key,
        SESSION_COOKIE_NAME=SESSION_COOKIE,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.session_cookie_secure,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=settings.session_hours),
    )


def password_hash(password: str) -> str:
    """A werkzeug hash of `password` (scrypt) for `dashboard.users`."""
    return generate_password_hash(password, method="scrypt")


def token_digest(token: str) -> str:
    """The SHA-256 hex of an API token: what `dashboard.tokens` holds."""
    return hashlib.sha256(token.encode()).hexdigest()


@cache
def _decoy_hash() -> str:
    return password_hash(secrets.token_urlsafe(16))


def check_login(settings: DashboardSettings, name: str, password: str) -> bool:
    """True when `password` matches `name`'s hash; unknown names cost the same time."""
    stored = settings.users.get(name)
    matched = check_password_hash(stored or _decoy_hash(), password)
    return stored is not None and matched


def token_user(settings: DashboardSettings, header: str | None) -> str | None:
    """The name of the token in an ``Authorization: Bearer`` header, or None."""
    scheme, _, token = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    digest = token_digest(token.strip())
    found = None
    for name, expected in settings.tokens.items():  # no early exit: same time for every name
        if hmac.compare_digest(digest, expected):
            found = name
    return found


def current_user(settings: DashboardSettings) -> str | None:
    """Who is logged in (session) or authenticated (token) for this request; None if nobody."""
    if "engine_user" not in g:
        name = session.get("user")
        if not isinstance(name, str) or name not in settings.users:  # removed users are out
            name = token_user(settings, request.headers.get("Authorization"))
        g.engine_user = name
    user: str | None = g.engine_user
    return user


def log_in(name: str) -> None:
    """Start a fresh session for `name` (a new CSRF token, nothing kept from before)."""
    session.clear()
    session.permanent = True
    session["user"] = name
    session["csrf"] = secrets.token_urlsafe(32)
    g.engine_user = name


def log_out() -> None:
    session.clear()
    g.engine_user = None


def csrf_token() -> str:
    """This session's CSRF token (made on first use), for the forms of a page."""
    token = session.get("csrf")
    if not isinstance(token, str):
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


def csrf_ok() -> bool:
    """True when the request's form carries this session's CSRF token."""
    expected = session.get("csrf")
    given = request.form.get(CSRF_FIELD, "")
    return isinstance(expected, str) and hmac.compare_digest(expected.encode(), given.encode())


def wants_json() -> bool:
    """True for API calls: a ``.json`` path, a bearer token or JSON preferred over HTML."""
    accept = request.accept_mimetypes
    return (
        request.path.endswith(".json")
        or "Authorization" in request.headers
        or accept.quality("application/json") > accept.quality("text/html")
    )


def refuse() -> AnyResponse:
    """401 for API calls; for pages a redirect to the login page, coming back after."""
    if wants_json():
        answer: Response = jsonify(error="login required")
        answer.status_code = 401
        answer.headers["WWW-Authenticate"] = 'Bearer realm="dashboard"'
        return answer
    # The path only: a query string may carry personal data (a customer search).
    return redirect(url_for("dashboard.login", next=request.path))


def safe_next(target: str | None) -> str:
    """Where to go after login: a dashboard path of ours, never another site."""
    if target and target.startswith("/dashboard") and "//" not in target and "\\" not in target:
        return target
    return url_for("results.campaigns")

"""The dashboard: campaign results, customers and alerts for logged-in users, under /dashboard.

Every page needs a login (or an API token); a logged-out request for a page
is sent to the login page, an API call gets 401. Every POST must carry the
session's CSRF token (400 otherwise). Pages are never cached and may not be
framed. Tracking and webhook endpoints live in other blueprints and stay open
(they are signed instead). Campaign pages: engine/web/results.py, on a blueprint made by `protected`.
"""

from __future__ import annotations

from typing import Final

from flask import Blueprint, Response, abort, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as AnyResponse

from engine.db.dashboard import customer_file, find_customers, latest_alerts
from engine.settings import DashboardSettings
from engine.web import formats
from engine.web.auth import (
    check_login,
    csrf_ok,
    csrf_token,
    current_user,
    log_in,
    log_out,
    refuse,
    safe_next,
)
from engine.web.context import engine_context


def protected(name: str) -> Blueprint:
    """A blueprint under /dashboard whose every route needs a login and every POST a CSRF token."""
    made = Blueprint(name, __name__, url_prefix="/dashboard")
    made.before_request(_guard)
    made.after_request(_headers)
    return made


OPEN: Final = {"dashboard.login"}  # the one page anybody may see
PAGE_HEADERS: Final = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
}


def _settings() -> DashboardSettings:
    return engine_context().adapters.settings.dashboard


def _guard() -> AnyResponse | tuple[str, int] | None:
    """Refuse a POST without the CSRF token, then anybody not logged in (but on the login page)."""
    if request.method == "POST" and not csrf_ok():
        return render_template("dashboard/refused.html"), 400
    if request.endpoint not in OPEN and current_user(_settings()) is None:
        return refuse()
    return None


def _headers(answer: Response) -> Response:
    answer.headers.update(PAGE_HEADERS)
    answer.vary.add("Cookie")
    return answer


blueprint = protected("dashboard")
formats.register(blueprint)


@blueprint.app_context_processor
def _shared() -> dict[str, object]:
    """What every dashboard template may use: the user and the CSRF token."""
    if not request.path.startswith("/dashboard"):
        return {}
    return {"user": current_user(_settings()), "csrf_token": csrf_token}


@blueprint.route("/login", methods=["GET", "POST"])
def login() -> AnyResponse | tuple[str, int]:
    """GET: the form. POST: a good name and password start a session; a bad one gets 401."""
    target = safe_next(request.values.get("next"))
    if request.method == "GET":
        if current_user(_settings()) is not None:
            return redirect(target)
        return render_template("dashboard/login.html", next=target, failed=False)
    name = request.form.get("name", "").strip()
    if check_login(_settings(), name, request.form.get("password", "")):
        log_in(name)
        return redirect(target, 303)
    return render_template("dashboard/login.html", next=target, failed=True, name=name), 401


@blueprint.post("/logout")
def logout() -> AnyResponse:
    log_out()
    return redirect(url_for("dashboard.login"), 303)


@blueprint.get("/customers")
def customers() -> str:
    """Find a customer by id, external id, e-mail or phone (exact match)."""
    text = request.args.get("q", "").strip()
    found = find_customers(engine_context().adapters.engine, text) if text else []
    return render_template("dashboard/customers.html", q=text, found=found)


@blueprint.get("/customers/<int:customer_id>")
def customer(customer_id: int) -> str:
    """The customer file: profile, metrics, consents, contacts, sends and responses."""
    found = customer_file(engine_context().adapters.engine, customer_id)
    if found is None:
        abort(404)
    return render_template("dashboard/customer.html", file=found, customer_id=customer_id)


@blueprint.get("/alerts")
def alerts() -> str:
    """The latest alerts, newest first."""
    rows = latest_alerts(engine_context().adapters.engine)
    return render_template("dashboard/alerts.html", alerts=rows)

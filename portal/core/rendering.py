"""Full page or partial: one context, two templates, the choice made here once."""

from __future__ import annotations

import json

from flask import make_response, render_template, request


def wants_partial() -> bool:
    # Under hx-boost the HX-Request header is sent for whole-page navigation too.
    # A history restore (the Back button) also sends HX-Request, but needs the whole page.
    return (bool(request.headers.get("HX-Request")) and not request.headers.get("HX-Boosted")
            and not request.headers.get("HX-History-Restore-Request"))


def render(template: str, partial: str | None = None, /, status: int = 200, trigger: dict | None = None, **context):
    """The full page, or its partial for an htmx request; `trigger` tells other widgets via HX-Trigger."""
    template = partial if partial and wants_partial() else template
    response = make_response(render_template(template, **context), status)
    if trigger:
        response.headers["HX-Trigger"] = json.dumps(trigger, ensure_ascii=False)
    return response


def htmx_redirect(url: str):
    """Navigate after an htmx POST: a full redirect for htmx, 303 for a plain form."""
    if request.headers.get("HX-Request"):
        response = make_response("", 204)
        response.headers["HX-Redirect"] = url
        return response
    response = make_response("", 303)
    response.headers["Location"] = url
    return response

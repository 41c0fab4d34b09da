"""Operations: ``/healthz``, ``/metrics``, ``/openapi.json`` and the local ``/docs`` page (no auth)."""
from __future__ import annotations

from flask import Blueprint, Response, render_template, url_for
from sqlalchemy import text

from redeem_api.errors import ServiceUnavailable
from redeem_api.http import json_response
from redeem_api.metrics import CONTENT_TYPE
from redeem_api.openapi import spec_json, title
from redeem_api.state import db, state

bp = Blueprint("ops", __name__)

# /docs only: the app's HTML policy plus what the vendored Redoc needs to run, all from this server:
# its script and ours (files, never inline), the JSON it fetches, its search worker (started from a
# blob: URL) and the <style> elements it writes at run time (styled-components: 'unsafe-inline' for
# styles only). img-src keeps Redoc's footer logo on its CDN from loading (static/redoc/README.md).
DOCS_CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
            "connect-src 'self'; worker-src blob:; form-action 'none'; frame-ancestors 'none'; base-uri 'none'")


@bp.get("/healthz")
def healthz():
    session = db()
    try:
        with session.begin():
            session.execute(text("SELECT 1"))
    except Exception as e:
        raise ServiceUnavailable("the database is not reachable",
                                 retry_after=state().config.retry_after_unavailable) from e
    return json_response(200, {"status": "ok", "database": "ok"})


@bp.get("/metrics")
def metrics():
    return Response(state().metrics.render(), content_type=CONTENT_TYPE)


@bp.get("/openapi.json")
def openapi():
    return json_response(200, spec_json())


@bp.get("/docs")
def docs():
    """The API reference for people: Redoc (vendored under static/redoc) rendering /openapi.json."""
    page = render_template("docs.html", title=title(), spec_url=url_for("ops.openapi"))
    return Response(page, mimetype="text/html", headers={"Content-Security-Policy": DOCS_CSP})

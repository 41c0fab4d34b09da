"""Operations: ``/healthz``, ``/metrics``, ``/openapi.json`` and the local ``/docs`` page (no auth)."""
from __future__ import annotations

from flask import Blueprint, Response, render_template
from sqlalchemy import text

from redeem_api.errors import ServiceUnavailable
from redeem_api.http import json_response
from redeem_api.metrics import CONTENT_TYPE
from redeem_api.openapi import spec, spec_json
from redeem_api.state import db, state

bp = Blueprint("ops", __name__)


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
    return render_template("docs.html", spec=spec())

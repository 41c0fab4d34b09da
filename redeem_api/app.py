"""The application factory: ``create_app(config)``.

The engine, the pepper, the public key ring and the money services'
dependencies (tariffs, metering settings, vending backend) are built here, once per
process (gunicorn calls this in every worker after the fork), never at
import time. Each request gets its own session. The key store is opened as
:class:`vouchers.keystore.web_keys.WebKeys` with the web secret only: this process
cannot unseal a signing key.
"""
from __future__ import annotations

import logging
import os
import time
import traceback

from flask import Flask, Request, Response, g, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError, SQLAlchemyError
from sqlalchemy import Engine
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from vouchers.keystore.web_keys import WebKeys
from vouchers.books.errors import BalanceOutOfRange as LedgerBalanceOutOfRange
from redeem_api import metering_support, request_log
from redeem_api.config import ApiConfig
from redeem_api.errors import ApiError, BalanceOutOfRange, ServiceUnavailable
from redeem_api.http import SECURITY_HEADERS, current_request_id, error_response, json_response
from redeem_api.metering_support import MeteringSupport
from redeem_api.metrics import Metrics
from redeem_api.server_errors import HTTP_CODES
from redeem_api.state import EXTENSION, AppState, ClientCache, KeyRingCache, close_db
from vouchers.storage.db import make_engine, session_factory
from vouchers.storage.replica import ReportsDatabaseError, check_reports_schema, reports_engine
from vouchers.storage.schema_version import current_revision, head_revision
from vouchers.vending.keys import backend_for
from vouchers.services.deps import ServiceDeps, built_once
from vouchers.services.fraud_config import FraudConfig
from vouchers.services.throttle import build as build_throttle
from vouchers.config import ConfigError, load_settings

log = logging.getLogger(__name__)

_OUT_OF_RANGE_SQLSTATE = "22003"
_HTML_PREFIXES = ("/redeem", "/static", "/r#")  # "/r" itself: see _is_html_request
_CSP_HTML = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; "
             "frame-ancestors 'none'; base-uri 'none'")
# the staff console runs no script at all (charts are drawn on the server)
_CSP_CONSOLE = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
                "frame-ancestors 'none'; base-uri 'none'")


class _PageSessions(SecureCookieSessionInterface):
    """The signed session cookie (the web page's CSRF token) is opened only outside ``/api/``: API calls
    never use it, and reading it costs every request an HMAC serializer and a cookie parse."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if request.path.startswith("/api/"):
            return None  # Flask uses a NullSession (reads empty, writes refused) and saves nothing
        return super().open_session(app, request)


def _is_html_request() -> bool:
    return request.path.startswith(_HTML_PREFIXES) or request.path in ("/docs", "/r")


def create_app(config: ApiConfig | None = None) -> Flask:
    """Build the WSGI app. Without ``config``, read it (the configuration file, then the environment)."""
    if config is None:
        config = ApiConfig.from_settings(load_settings(os.environ))
    keys = WebKeys.open(config.settings.home, config.web_passphrase)  # an unsplit store: one clear error
    pepper = keys.pepper()
    # Pre-ping (storage.db.make_engine): after a database restart each worker's pooled connections are
    # replaced as they are checked out, so no request meets a dead one (tests: test_db_restart, test_reconnect).
    engine = make_engine(config.settings.database_url, pool_size=config.db_pool_size)
    have, want = current_revision(engine), head_revision()
    if have != want:
        engine.dispose()
        raise ConfigError(f"database schema is at {have}, expected {want}: run `voucherctl init`")
    try:
        reports = _reports_engine(config)
    except ConfigError:
        engine.dispose()
        raise
    throttle = build_throttle(config.settings, config.throttle, engine, prefix=config.redis_prefix,
                              pool_size=config.db_pool_size)

    app = Flask(__name__, static_folder="static", template_folder="templates")
    app.config.update(
        MAX_CONTENT_LENGTH=config.max_body_bytes,
        MAX_FORM_MEMORY_SIZE=config.max_body_bytes,
        SECRET_KEY=AppState.derive(pepper, "session-cookie"),
        SESSION_COOKIE_NAME="voucher_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=config.cookie_secure,
        PERMANENT_SESSION_LIFETIME=3600,
        TRAP_HTTP_EXCEPTIONS=False,
        # No CORS, so no OPTIONS: like any other method a route does not take, it is 405 with Allow (Flask's
        # automatic answer was an undocumented 200 with an empty text/html body). Read as routes are added.
        PROVIDE_AUTOMATIC_OPTIONS=False,
    )
    app.session_interface = _PageSessions()
    if config.trusted_proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=config.trusted_proxies, x_proto=config.trusted_proxies)
    metering = metering_support.install(app, metering_support.load(config.settings))  # once per process
    app.extensions[EXTENSION] = AppState(
        config=config, engine=engine, sessions=session_factory(engine), pepper=pepper,
        keyring=KeyRingCache(keys, config.keyring_refresh_seconds), throttle=throttle, keys=keys,
        metrics=Metrics.for_process(), fingerprint_secret=AppState.derive(pepper, "idempotency"),
        csrf_secret=AppState.derive(pepper, "csrf"),
        services=_service_deps(keys, metering, config.settings.fraud),
        clients=ClientCache(config.api_key_cache_seconds) if config.api_key_cache_seconds else None,
        reports_engine=reports,
    )

    from redeem_api.routes import accounts, headend, keys, lists, ops, payments, redemptions, sms, vouchers, web

    for module in (redemptions, payments, accounts, lists, vouchers, keys, headend, sms, web, ops):
        app.register_blueprint(module.bp)
    from redeem_api import console

    console.install(app, app.extensions[EXTENSION])
    _register_hooks(app)
    _register_error_handlers(app)
    return app


def _reports_engine(config: ApiConfig) -> Engine | None:
    """VOUCHER_REPORTS_DATABASE_URL's read-only engine (the console's reports and dashboard), built once."""
    url = config.settings.reports_database_url
    if url is None:
        return None
    try:
        engine = reports_engine(url, pool_size=config.db_pool_size)
    except ReportsDatabaseError as e:
        raise ConfigError(str(e)) from e
    try:
        check_reports_schema(engine)
    except ReportsDatabaseError as e:
        engine.dispose()
        raise ConfigError(str(e)) from e
    return engine


def _service_deps(keys: WebKeys, metering: MeteringSupport, fraud: FraudConfig) -> ServiceDeps:
    """What the money services get from this process. The vending keys (never signing keys) are
    unsealed through the web's key handle on a keypad meter's first token; accounts without a meter
    never touch them."""
    return ServiceDeps(catalog=metering.catalog, metering=metering.config,
                       vending=built_once(lambda: backend_for(keys.vending_keys())), fraud=fraud)


def _register_hooks(app: Flask) -> None:
    @app.before_request
    def _start_timer() -> None:
        g._started = time.perf_counter()
        g.request_id = request_log.request_id_from(request.headers.get(request_log.HEADER))

    @app.after_request
    def _headers(response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if request.path.startswith("/console"):
            response.headers.setdefault("Content-Security-Policy", _CSP_CONSOLE)
        elif response.mimetype == "text/html":
            response.headers.setdefault("Content-Security-Policy", _CSP_HTML)
        request_id = current_request_id()
        response.headers[request_log.HEADER] = request_id
        started = g.get("_started")
        rule = request.url_rule.rule if request.url_rule is not None else "unmatched"
        elapsed = time.perf_counter() - started if started is not None else None
        if elapsed is not None:
            app.extensions[EXTENSION].metrics.observe_request(rule, request.method, response.status_code, elapsed)
        request_log.log_request(request_id, request.method, rule, response.status_code, elapsed)
        return response

    app.teardown_appcontext(close_db)


def _render(error: ApiError) -> Response:
    if _is_html_request() and request.path != "/docs":
        from redeem_api.routes.web import render_error

        return render_error(error)
    return error_response(error)


def _register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(error: ApiError) -> Response:
        return _render(error)

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> Response:
        status = error.code or 500
        code = HTTP_CODES.get(status, f"http_{status}")
        api_error = ApiError(error.description or code.replace("_", " "), status=status, code=code)
        response = _render(api_error)
        if status == 405 and error.valid_methods:
            response.headers["Allow"] = ", ".join(sorted(error.valid_methods))
        return response

    @app.errorhandler(OperationalError)
    @app.errorhandler(DisconnectionError)
    def _database_down(error: Exception) -> Response:
        log.error("database unavailable: %s", type(getattr(error, "orig", error)).__name__)
        return _render(ServiceUnavailable(retry_after=app.extensions[EXTENSION].config.retry_after_unavailable))

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response:
        if isinstance(error, HTTPException):  # pragma: no cover - handled above
            return _http_error(error)
        if _is_redis_error(error) or isinstance(error, (DBAPIError, SQLAlchemyError)) and _is_connection_problem(error):
            log.error("backing store unavailable: %s", type(error).__name__)
            return _render(ServiceUnavailable(retry_after=app.extensions[EXTENSION].config.retry_after_unavailable))
        if _is_out_of_range(error):  # the transaction was rolled back: nothing was booked
            log.warning("balance out of range refused on %s %s: %s", request.method,
                        request.url_rule.rule if request.url_rule else "?", type(error).__name__)
            return _render(BalanceOutOfRange())
        # Never the message: it could quote a parameter. The type and route are enough to find it.
        log.error("unexpected %s on %s %s\n%s", type(error).__name__, request.method,
                  request.url_rule.rule if request.url_rule else "?",
                  "".join(traceback.format_tb(error.__traceback__)), exc_info=_debug())
        return _render(ApiError("an unexpected error occurred; it has been logged", status=500,
                                code="internal_error"))


def _debug() -> bool:
    return bool(os.environ.get("VOUCHER_DEBUG"))


def _is_redis_error(error: Exception) -> bool:
    try:
        import redis
    except ImportError:  # pragma: no cover
        return False
    return isinstance(error, redis.RedisError)


def _is_connection_problem(error: Exception) -> bool:
    return isinstance(error, DBAPIError) and bool(error.connection_invalidated)


def _is_out_of_range(error: Exception) -> bool:
    """A balance moved past 64 bits: the books' refusal (SQLite), or PostgreSQL's SQLSTATE 22003
    (numeric_value_out_of_range: a bigint out of range), also when raised at commit."""
    if isinstance(error, LedgerBalanceOutOfRange):
        return True
    if not isinstance(error, DBAPIError):
        return False
    return (getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None)) == _OUT_OF_RANGE_SQLSTATE


__all__ = ["create_app", "json_response"]

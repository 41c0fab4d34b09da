"""Failed-attempt throttling (database and Redis) and fraud alerts."""
from __future__ import annotations

import json
import os
import uuid

import pytest
from click.testing import CliRunner

from redeem_api.state import EXTENSION
from vouchers.storage.api_models import FraudAlert, Redemption
from tests.integration.redeem_api.world import ACCOUNT_ARREARS, ACCOUNT_CLEAN, Clock, auth, fresh_key, without_request_id
from tests.services import redis_or_skip
from vouchers.codes import generate_code

URL = "/api/v1/redemptions"


def attempt(client, world, code, account=ACCOUNT_ARREARS, who="terminal"):
    return client.post(URL, json={"code": code, "account_no": account}, headers=auth(world.keys[who], fresh_key()))


def make_app(world, clock, **env):
    return world.app(clock, **env)


def dispose(app):
    app.extensions[EXTENSION].engine.dispose()


def test_client_is_locked_out_after_the_configured_failures(world, now):
    clock = Clock(now)
    app = make_app(world, clock, VOUCHER_THROTTLE_CLIENT_FAILURES="5", VOUCHER_THROTTLE_ACCOUNT_FAILURES="1000",
                   VOUCHER_THROTTLE_WINDOW_SECONDS="600")
    client = app.test_client()
    accounts = [ACCOUNT_ARREARS, ACCOUNT_CLEAN]
    for i in range(5):
        response = attempt(client, world, generate_code(), accounts[i % 2])
        assert response.status_code == 422, i
    locked = attempt(client, world, generate_code())
    assert locked.status_code == 429
    assert locked.get_json()["error"]["code"] == "too_many_attempts"
    assert 1 <= int(locked.headers["Retry-After"]) <= 600
    # even a genuine code is refused while locked, and nothing is redeemed
    assert attempt(client, world, world.cards[0].code).status_code == 429
    assert world.count(Redemption) == 0
    # another terminal is not affected
    assert attempt(client, world, world.cards[0].code, who="terminal2").status_code == 201
    # the lockout survives a restart: a brand-new app (another worker) sees it
    dispose(app)
    app2 = make_app(world, clock, VOUCHER_THROTTLE_CLIENT_FAILURES="5", VOUCHER_THROTTLE_ACCOUNT_FAILURES="1000",
                    VOUCHER_THROTTLE_WINDOW_SECONDS="600")
    assert attempt(app2.test_client(), world, world.cards[1].code).status_code == 429
    clock.advance(601)
    assert attempt(app2.test_client(), world, world.cards[1].code).status_code == 201
    assert world.count(FraudAlert, FraudAlert.kind == "lockout") == 1
    dispose(app2)


def test_retry_after_counts_down_to_the_end_of_the_window_which_then_frees_the_client(world, now):
    # mutation survivors (issue 26): the Retry-After value and both edges of the window, to the second
    clock = Clock(now)
    app = make_app(world, clock, VOUCHER_THROTTLE_CLIENT_FAILURES="2", VOUCHER_THROTTLE_ACCOUNT_FAILURES="1000",
                   VOUCHER_THROTTLE_WINDOW_SECONDS="600")
    client = app.test_client()
    assert [attempt(client, world, generate_code()).status_code for _ in range(2)] == [422, 422]
    locked = attempt(client, world, world.cards[0].code)
    assert (locked.status_code, locked.headers["Retry-After"]) == (429, "600")
    clock.advance(599.5)
    locked = attempt(client, world, world.cards[0].code)
    assert (locked.status_code, locked.headers["Retry-After"]) == (429, "1")
    clock.advance(0.5)  # the window is over: free again, and the next failures count in a new window
    assert attempt(client, world, world.cards[0].code).status_code == 201
    assert [attempt(client, world, generate_code()).status_code for _ in range(2)] == [422, 422]
    locked = attempt(client, world, world.cards[1].code)
    assert (locked.status_code, locked.headers["Retry-After"]) == (429, "600")
    dispose(app)


def test_account_is_locked_across_terminals(world, now):
    clock = Clock(now)
    app = make_app(world, clock, VOUCHER_THROTTLE_CLIENT_FAILURES="1000", VOUCHER_THROTTLE_ACCOUNT_FAILURES="3")
    client = app.test_client()
    for who in ("terminal", "terminal2", "terminal"):
        assert attempt(client, world, generate_code(), ACCOUNT_ARREARS, who=who).status_code == 422
    for who in ("terminal", "terminal2"):
        assert attempt(client, world, world.cards[0].code, ACCOUNT_ARREARS, who=who).status_code == 429
    assert attempt(client, world, world.cards[0].code, ACCOUNT_CLEAN).status_code == 201
    dispose(app)


def test_limits_come_from_the_environment(world):
    config = world.config(VOUCHER_THROTTLE_CLIENT_FAILURES="7", VOUCHER_THROTTLE_WEB_IP_FAILURES="2",
                          VOUCHER_THROTTLE_WINDOW_SECONDS="60")
    limits = config.throttle
    assert (limits.client_failures, limits.web_ip_failures, limits.window_seconds) == (7, 2, 60)
    from vouchers.config import ConfigError

    with pytest.raises(ConfigError):
        world.config(VOUCHER_THROTTLE_CLIENT_FAILURES="zero")
    with pytest.raises(ConfigError):
        world.config(VOUCHER_THROTTLE_CLIENT_FAILURES="0")


@pytest.fixture
def redis_prefix():
    _, client = redis_or_skip(0)  # an error, not a skip, in CI
    prefix = f"test-{uuid.uuid4().hex}:"
    yield prefix
    for key in client.scan_iter(prefix + "*"):
        client.delete(key)
    client.close()


def test_redis_backend_locks_out_and_is_shared(world, now, redis_prefix):
    env = dict(VOUCHER_REDIS_URL="redis://127.0.0.1:6379/0", VOUCHER_REDIS_PREFIX=redis_prefix,
               VOUCHER_THROTTLE_CLIENT_FAILURES="3", VOUCHER_THROTTLE_ACCOUNT_FAILURES="1000")
    app = make_app(world, Clock(now), **env)
    client = app.test_client()
    for _ in range(3):
        assert attempt(client, world, generate_code()).status_code == 422
    response = attempt(client, world, world.cards[0].code)
    assert response.status_code == 429 and int(response.headers["Retry-After"]) > 0
    other_worker = make_app(world, Clock(now), **env)
    assert attempt(other_worker.test_client(), world, world.cards[0].code).status_code == 429
    import redis

    assert redis.Redis.from_url("redis://127.0.0.1:6379/0").get(
        f"{redis_prefix}client:{world.client_ids['terminal']}") == b"3"
    dispose(app)
    dispose(other_worker)


def test_redis_outage_is_503_not_500(world, now):
    app = make_app(world, Clock(now), VOUCHER_REDIS_URL="redis://127.0.0.1:1/0")
    response = attempt(app.test_client(), world, world.cards[0].code)
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "service_unavailable"
    assert int(response.headers["Retry-After"]) > 0
    assert world.count(Redemption) == 0
    dispose(app)


def test_fraud_alerts_for_void_inactive_and_canary(world, now):
    void_batch, void_cards = world.new_batch(2, activate_count=1)
    world.void(void_batch)
    canary = world.cards[world.active]  # an unsold card planted as a trap
    app = make_app(world, Clock(now), VOUCHER_CANARY_SERIALS=f"{canary.serial}, ")
    client = app.test_client()
    responses = [
        attempt(client, world, void_cards[0].code),  # void (was active)
        attempt(client, world, void_cards[1].code),  # void (never sold)
        attempt(client, world, world.cards[-1].code),  # inactive
        attempt(client, world, canary.code),  # canary
        attempt(client, world, generate_code()),  # unknown: no alert
    ]
    assert {r.status_code for r in responses} == {422}
    assert len({without_request_id(r.get_data()) for r in responses}) == 1
    with world.sessions.begin() as s:
        alerts = s.query(FraudAlert).order_by(FraudAlert.id).all()
        kinds = [(a.kind, a.serial, a.voucher_status, a.client_id) for a in alerts]
    terminal = world.client_ids["terminal"]
    assert kinds == [
        ("void_voucher", void_cards[0].serial, "void", terminal),
        ("void_voucher", void_cards[1].serial, "void", terminal),
        ("inactive_voucher", world.cards[-1].serial, "inactive", terminal),
        ("canary_serial", canary.serial, "inactive", terminal),
    ]
    dispose(app)
    # ... and the CLI lists them
    from voucherctl import context
    from voucherctl.fraud_cmd import fraud

    context.settings.cache_clear()
    context.engine.cache_clear()
    try:
        result = CliRunner().invoke(fraud, ["alerts", "--json"], env=world.env(), catch_exceptions=False)
        assert result.exit_code == 0, result.output
        listed = json.loads(result.output)["alerts"]
        assert [a["kind"] for a in listed] == ["canary_serial", "inactive_voucher", "void_voucher", "void_voucher"]
        assert all(a["account_no"] == ACCOUNT_ARREARS and a["channel"] == "terminal" for a in listed)
        only = json.loads(CliRunner().invoke(fraud, ["alerts", "--json", "--kind", "canary_serial"],
                                             env=world.env()).output)["alerts"]
        assert len(only) == 1
    finally:
        context.engine().dispose()
        context.settings.cache_clear()
        context.engine.cache_clear()


def test_canary_config_is_validated(world):
    from vouchers.config import ConfigError

    with pytest.raises(ConfigError):
        world.config(VOUCHER_CANARY_SERIALS="12345")
    assert world.config(VOUCHER_CANARY_SERIALS=world.cards[0].serial).canary_serials == {world.cards[0].serial}
    assert os.environ.get("VOUCHER_CANARY_SERIALS") is None


def test_account_lookups_are_throttled_per_client(world, now):
    """Issue 21, finding 6: unknown account numbers count as failures of the client, and a locked-out
    client cannot look accounts up (no enumeration of 户号); known accounts cost no failure (only the
    lookup counter, ``lookup:client:<id>``: redeem_api.holder_lookup)."""
    app = make_app(world, Clock(now), VOUCHER_THROTTLE_CLIENT_FAILURES="3", VOUCHER_THROTTLE_ACCOUNT_FAILURES="1000")
    client = app.test_client()

    def lookup(account, who="terminal"):
        return client.get(f"/api/v1/accounts/{account}", headers=auth(world.keys[who]))

    for _ in range(5):
        assert lookup(ACCOUNT_CLEAN).status_code == 200  # known accounts are given back
    assert [lookup(f"39{i:08d}").status_code for i in range(3)] == [404, 404, 404]
    locked = lookup(ACCOUNT_CLEAN)
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0
    assert lookup(ACCOUNT_CLEAN, who="terminal2").status_code == 200  # another till is not affected
    # a till locked out by failed redemptions cannot look up either
    for _ in range(3):
        assert attempt(client, world, generate_code(), who="terminal2").status_code == 422
    assert lookup(ACCOUNT_CLEAN, who="terminal2").status_code == 429
    dispose(app)


def _cli(world, *args):
    from unittest import mock

    from voucherctl import context
    from voucherctl.fraud_cmd import fraud

    context.settings.cache_clear()
    context.engine.cache_clear()
    try:
        with mock.patch.object(context, "now", lambda: world.now):
            return CliRunner().invoke(fraud, list(args), env=world.env(VOUCHER_THROTTLE_CLIENT_FAILURES="2",
                                                                        VOUCHER_ACTOR="ops-ann"))
    finally:
        context.engine().dispose()
        context.settings.cache_clear()
        context.engine.cache_clear()


def test_operators_list_and_lift_lockouts_and_the_unlock_is_audited(world, now):
    """Issue 21, finding 5: `fraud lockouts` lists who is locked out, `fraud unlock` lifts it (audit chain)."""
    from vouchers.storage.audit import verify_chain
    from vouchers.storage.models import AuditEvent

    app = make_app(world, Clock(now), VOUCHER_THROTTLE_CLIENT_FAILURES="2", VOUCHER_THROTTLE_ACCOUNT_FAILURES="1000")
    client = app.test_client()
    for _ in range(2):
        assert attempt(client, world, generate_code()).status_code == 422
    assert attempt(client, world, world.cards[0].code).status_code == 429
    listed = _cli(world, "lockouts", "--json")
    assert listed.exit_code == 0, listed.output
    subject = f"client:{world.client_ids['terminal']}"
    assert json.loads(listed.output)["lockouts"] == [
        {"subject": subject, "failures": 2, "limit": 2, "locked": True, "retry_after": 900}]
    assert "account:3100000001" in _cli(world, "lockouts", "--all").output  # counting, not locked
    refused = [_cli(world, "unlock", "--client", world.client_ids["terminal"]),  # no reason
               _cli(world, "unlock", "--client", "x", "--ip", "1.2.3.4", "--reason", "two subjects"),
               _cli(world, "unlock", "--reason", "no subject")]
    assert all(r.exit_code != 0 for r in refused)
    done = _cli(world, "unlock", "--client", world.client_ids["terminal"], "--reason", "till 3 mistyped; called in",
                "--json")
    assert done.exit_code == 0, done.output
    assert json.loads(done.output)["counters_cleared"] == 1
    assert attempt(client, world, world.cards[0].code).status_code == 201
    assert _cli(world, "lockouts").output.strip() == "no lockouts"
    with world.sessions.begin() as s:
        event = s.query(AuditEvent).filter_by(action="throttle.unlock").one()
        assert (event.actor, event.subject_type, event.subject_id, event.reason) == (
            "ops-ann", "client", world.client_ids["terminal"], "till 3 mistyped; called in")
        assert list(verify_chain(s)) == []
    dispose(app)


def test_every_refusal_of_a_well_formed_code_runs_the_same_statements(world, now):
    """Issue 21, finding 6 (timing oracle): an unknown code, a void card, an unsold card and a redeemed one
    are refused by the same SQL statements in the same order (an alert row is written by the statement
    every refusal runs), so the answer's timing does not tell them apart. Measured: bench/bench_refusal_timing.py."""
    from sqlalchemy import event

    void_batch, void_cards = world.new_batch(1, activate_count=1)
    world.void(void_batch)
    app = make_app(world, Clock(now))
    client = app.test_client()
    assert attempt(client, world, world.cards[0].code).status_code == 201
    engine = app.extensions[EXTENSION].engine
    codes = {"unknown": generate_code(), "void": void_cards[0].code, "inactive": world.cards[-1].code,
             "redeemed": world.cards[0].code}
    seen: dict[str, list[str]] = {}
    for kind, code in codes.items():
        statements: list[str] = []

        def listen(conn, cursor, statement, parameters, context, executemany, into=statements):
            into.append(" ".join(statement.split()))

        event.listen(engine, "before_cursor_execute", listen)
        try:
            response = attempt(client, world, code)
        finally:
            event.remove(engine, "before_cursor_execute", listen)
        assert response.status_code == 422 and response.get_json()["error"]["code"] == "invalid_voucher"
        seen[kind] = statements
    assert seen["void"] == seen["unknown"] and seen["inactive"] == seen["unknown"]
    assert seen["redeemed"] == seen["unknown"]
    # the void and the unsold card raised their alerts all the same (the genuine redemption before them may
    # raise stolen.near_void: the void batch is the next one, within the rule's distance)
    assert world.count(FraudAlert, FraudAlert.kind.in_(("void_voucher", "inactive_voucher"))) == 2
    dispose(app)


def test_active_canary_claimed_and_refused_stays_active_and_moves_no_money(world, now):
    """The claim runs inside the route's savepoint: its refusal gives the card back while the alert, the
    counted failure and the stored refusal commit (tests/integration/services/test_savepoint.py)."""
    from sqlalchemy import select

    from vouchers.books.verify import verify
    from vouchers.storage.models import Voucher

    canary = world.cards[0]  # active: the claim matches it, then the canary refuses it
    app = make_app(world, Clock(now), VOUCHER_CANARY_SERIALS=canary.serial)
    client = app.test_client()
    key = fresh_key()
    body = {"code": canary.code, "account_no": ACCOUNT_CLEAN}
    response = client.post(URL, json=body, headers=auth(world.keys["terminal"], key))
    assert response.status_code == 422 and response.get_json()["error"]["code"] == "invalid_voucher"
    again = client.post(URL, json=body, headers=auth(world.keys["terminal"], key))
    assert (again.status_code, again.headers.get("Idempotent-Replayed")) == (422, "true")
    assert world.balance(ACCOUNT_CLEAN) == (0, 0)
    assert world.count(Redemption) == 0
    assert world.count(FraudAlert, FraudAlert.kind == "canary_serial") == 1
    with world.sessions.begin() as s:
        assert s.execute(select(Voucher.status).where(Voucher.serial == canary.serial)).scalar_one() == "active"
        report = verify(s, today=None)
    assert report.ok, [p.as_dict() for p in report.problems]
    dispose(app)

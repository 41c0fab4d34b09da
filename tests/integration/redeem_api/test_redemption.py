"""POST /api/v1/redemptions: the hot path on SQLite and PostgreSQL."""
from __future__ import annotations

import datetime as dt
import json
import threading

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select, text

from vouchers.books.customers import create_customer
from vouchers.storage.api_models import FraudAlert, IdempotencyRecord, OutboxMessage, Redemption, ThrottleCounter
from vouchers.storage.ledger_models import LedgerPosting, LedgerTransaction
from vouchers.storage.models import AuditEvent, Voucher
from tests.integration.redeem_api.world import ACCOUNT_ARREARS, ACCOUNT_CLEAN, EXPIRES, auth, fresh_key, without_request_id
from vouchers.codes import generate_code, group_code
from vouchers.token import encode_token, read_unverified

URL = "/api/v1/redemptions"
ACCOUNT_USD = "3100000099"


def redeem(client, world, code, account=ACCOUNT_ARREARS, key=None, who="terminal"):
    return client.post(URL, json={"code": code, "account_no": account},
                       headers=auth(world.keys[who], key or fresh_key()))


def voucher_status(world, serial):
    with world.sessions.begin() as s:
        return s.execute(select(Voucher.status).where(Voucher.serial == serial)).scalar_one()


def test_typed_code_with_separators_pays_arrears_first_then_balance(client, world):
    card = world.cards[0]
    typed = group_code(card.code).replace(" ", "-", 2)  # "1234-5678-9012 3456 7890"
    response = redeem(client, world, typed)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["serial"] == card.serial
    assert body["amount"] == "100.00" and body["currency"] == "CNY" and body["account_no"] == ACCOUNT_ARREARS
    assert body["applied_to_arrears"] == "30.00"
    assert body["credited_to_balance"] == "70.00"
    assert body["balance"] == "70.00"
    assert body["redemption_id"].startswith("rdm_")
    assert world.balance(ACCOUNT_ARREARS) == (7000, 0)
    assert voucher_status(world, card.serial) == "redeemed"
    assert world.count(Redemption, Redemption.serial == card.serial) == 1
    assert world.count(OutboxMessage, OutboxMessage.account_no == ACCOUNT_ARREARS) == 1
    assert world.count(AuditEvent, AuditEvent.action == "voucher.redeem", AuditEvent.subject_id == card.serial) == 1
    with world.sessions.begin() as s:
        payload = json.loads(s.execute(select(OutboxMessage.payload)).scalar_one())
    assert payload["balance"] == "70.00" and payload["serial"] == card.serial


def test_second_card_goes_to_balance_only(client, world):
    assert redeem(client, world, world.cards[0].code).status_code == 201
    body = redeem(client, world, world.cards[1].code).get_json()
    assert body["applied_to_arrears"] == "0.00" and body["credited_to_balance"] == "100.00"
    assert body["balance"] == "170.00"
    assert world.balance(ACCOUNT_ARREARS) == (17000, 0)


def test_scanned_token_is_verified_and_its_code_redeemed(client, world):
    card = world.cards[2]
    response = redeem(client, world, card.token, account=ACCOUNT_CLEAN)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["serial"] == card.serial
    assert world.balance(ACCOUNT_CLEAN) == (10000, 0)


def test_a_terminal_may_send_the_card_qr_url_as_scanned(client, world):
    """New cards' QR codes hold https://<host>/r#<token>: a till sends what it scanned, the token is the fragment."""
    from vouchers.branding import NEUTRAL

    card = world.cards[2]
    scanned = NEUTRAL.qr_text(card.token).replace("https://pay.utility.example", "HTTPS://PAY.UTILITY.EXAMPLE")
    response = redeem(client, world, scanned, account=ACCOUNT_CLEAN)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["serial"] == card.serial


def test_token_signed_by_another_key_is_refused_and_alerted(client, world):
    card = world.cards[3]
    key_id, claims = read_unverified(card.token)
    forged = encode_token(claims, key_id, Ed25519PrivateKey.generate())
    response = redeem(client, world, forged)
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "invalid_token"
    assert voucher_status(world, card.serial) == "active"
    assert world.balance(ACCOUNT_ARREARS) == (0, 3000)
    assert world.count(FraudAlert, FraudAlert.kind == "forged_token") == 1


def test_garbled_token_is_refused(client, world):
    response = redeem(client, world, "EV1:" + "A" * 80)
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "invalid_token"


def test_no_oracle_every_unusable_code_gets_the_same_answer(client, world, clock):
    used = world.cards[0]
    assert redeem(client, world, used.code).status_code == 201
    inactive = world.cards[-1]  # never activated
    void_batch, void_cards = world.new_batch(2, activate_count=2)
    world.void(void_batch)
    while True:
        unknown = generate_code()
        if unknown not in {c.code for c in world.cards}:
            break
    answers = [redeem(client, world, code) for code in (unknown, inactive.code, used.code, void_cards[0].code)]
    # 09:00 UTC (17:00 in Beijing) on the day after the cards' last valid day
    clock.now = dt.datetime.combine(EXPIRES + dt.timedelta(days=1), dt.time(9), tzinfo=dt.timezone.utc)
    answers.append(redeem(client, world, world.cards[1].code))
    assert {a.status_code for a in answers} == {422}
    bodies = {without_request_id(a.get_data()) for a in answers}  # the id is random per request
    assert len(bodies) == 1, bodies
    assert json.loads(bodies.pop())["error"]["code"] == "invalid_voucher"
    assert voucher_status(world, world.cards[1].serial) == "active"
    assert world.balance(ACCOUNT_ARREARS) == (7000, 0)


def test_no_oracle_an_active_card_of_another_currency_answers_like_an_unknown_code(client, world):
    """A live CNY card tried on a USD account must not reveal that it is live: same body, same cost."""
    with world.sessions.begin() as s:
        create_customer(s, ACCOUNT_USD, "USD customer", currency="USD", now=world.now)
    card = world.cards[0]
    while (unknown := generate_code()) in {c.code for c in world.cards}:
        pass
    baseline = redeem(client, world, unknown, account=ACCOUNT_USD)
    with world.sessions.begin() as s:
        failures_before = s.execute(select(func.sum(ThrottleCounter.failures))).scalar_one()
    answers = [redeem(client, world, card.code, account=ACCOUNT_USD),
               redeem(client, world, card.token, account=ACCOUNT_USD)]
    for answer in answers:
        assert answer.status_code == baseline.status_code == 422
        assert without_request_id(answer.get_data()) == without_request_id(baseline.get_data())
    assert baseline.get_json()["error"]["code"] == "invalid_voucher"
    with world.sessions.begin() as s:
        failures_after = s.execute(select(func.sum(ThrottleCounter.failures))).scalar_one()
    assert failures_after - failures_before == 2 * len(answers)  # client and account, like any invalid code
    assert voucher_status(world, card.serial) == "active"  # not left claimed
    assert world.count(Redemption) == 0
    assert redeem(client, world, card.code).status_code == 201  # still redeemable onto a CNY account


def test_typo_is_refused_before_lookup_and_costs_no_attempt(client, world):
    code = world.cards[0].code
    typo = code[:5] + str((int(code[5]) + 1) % 10) + code[6:]
    response = redeem(client, world, typo)
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "invalid_code_format"
    assert world.count(ThrottleCounter) == 0
    assert world.count(IdempotencyRecord) == 0


def test_unknown_account_changes_nothing(client, world):
    card = world.cards[0]
    response = redeem(client, world, card.code, account="9999999999")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "unknown_account"
    assert voucher_status(world, card.serial) == "active"
    assert world.count(Redemption) == 0


def test_concurrent_attempts_on_one_code_have_one_winner(app, world):
    card = world.cards[4]
    results: list[int] = []
    barrier = threading.Barrier(10)

    def attempt(i: int) -> None:
        c = app.test_client()
        barrier.wait()
        account = ACCOUNT_ARREARS if i % 2 else ACCOUNT_CLEAN
        r = c.post(URL, json={"code": card.code, "account_no": account},
                   headers=auth(world.keys["terminal"], f"race-{i}"))
        results.append(r.status_code)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [201] + [422] * 9
    assert world.count(Redemption) == 1
    assert world.count(LedgerTransaction, LedgerTransaction.kind == "redemption") == 1
    total = sum(world.balance(a)[0] for a in (ACCOUNT_ARREARS, ACCOUNT_CLEAN))
    arrears_paid = 3000 - world.balance(ACCOUNT_ARREARS)[1]
    assert total + arrears_paid == 10000


def test_no_secret_is_written_anywhere(client, world):
    card = world.cards[0]
    assert redeem(client, world, group_code(card.code)).status_code == 201
    assert redeem(client, world, world.cards[1].token).status_code == 201
    assert redeem(client, world, world.cards[-1].code).status_code == 422  # inactive: alert + counters
    secrets = [card.code, world.cards[1].code, world.cards[-1].code, world.cards[1].token[4:40]]
    dump = []
    with world.engine.connect() as conn:
        for table in ("redemptions", "outbox_messages", "audit_events", "idempotency_records", "fraud_alerts",
                      "throttle_counters", "ledger_transactions"):
            for row in conn.execute(text(f"SELECT * FROM {table}")):
                dump.append(" ".join(str(v) for v in row))
    blob = "\n".join(dump)
    for secret in secrets:
        assert secret not in blob


def test_one_posting_set_per_redemption(client, world):
    assert redeem(client, world, world.cards[0].code).status_code == 201
    with world.sessions.begin() as s:
        tx = s.execute(select(LedgerTransaction).where(LedgerTransaction.kind == "redemption")).scalar_one()
        amounts = s.execute(select(LedgerPosting.amount).where(LedgerPosting.transaction_id == tx.id)).scalars().all()
    assert sum(amounts) == 0 and max(amounts) == 10000


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_losing_the_race_between_lookup_and_update_is_invalid_voucher(app, world, db_url):
    """Another transaction redeems the card after our lookup: the conditional UPDATE must match no row.

    PostgreSQL only: SQLite has one writer, so the race cannot happen there.
    """
    from sqlalchemy import create_engine, event, update

    from redeem_api.state import EXTENSION
    card = world.cards[6]
    engine = app.extensions[EXTENSION].engine
    other = create_engine(db_url)
    fired = []

    def sneak_in(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("UPDATE VOUCHERS") and not fired:
            fired.append(True)
            with other.begin() as c:
                c.execute(update(Voucher).where(Voucher.serial == card.serial).values(status="redeemed"))

    event.listen(engine, "before_cursor_execute", sneak_in)
    try:
        response = redeem(app.test_client(), world, card.code)
    finally:
        event.remove(engine, "before_cursor_execute", sneak_in)
        other.dispose()
    assert fired
    assert response.status_code == 422 and response.get_json()["error"]["code"] == "invalid_voucher"
    assert world.count(Redemption) == 0
    assert world.count(LedgerTransaction, LedgerTransaction.kind == "redemption") == 0
    assert world.balance(ACCOUNT_ARREARS) == (0, 3000)

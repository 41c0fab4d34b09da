"""Money a rule held: booked to liability:held_funds, released to the account (the money-in flow, once) or
returned to its source (the card's liability, the channel); idempotent, audited; the books verify throughout.
The analyst's commands (holds, release, cases, case show/close, report) run in-process."""
from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pytest
from sqlalchemy import select, update

from vouchers.books import chart
from vouchers.books.verify import verify
from vouchers.storage.api_models import FraudAlert, FraudHold, Redemption
from vouchers.storage.ledger_models import LedgerAccount, Payment
from vouchers.storage.models import AuditEvent, Voucher
from tests.inprocess_cli import in_process_cli
from tests.integration.redeem_api.world import ACCOUNT_ARREARS, ACCOUNT_CLEAN, PASSPHRASE, WEB_PASSPHRASE
from tests.integration.services.conftest import energy_sold
from tests.integration.services.fraud_support import only, pay, redeem_card
from vouchers.services.errors import FraudReviewError
from vouchers.services.fraud_holds import release

HOUR = dt.timedelta(hours=1)


def _held_funds(world) -> int:  # type: ignore[no-untyped-def]
    with world.sessions.begin() as s:
        return -(s.execute(select(LedgerAccount.balance).where(LedgerAccount.code == chart.HELD_FUNDS))
                 .scalar_one_or_none() or 0)


def _verified(world) -> None:  # type: ignore[no-untyped-def]
    with world.sessions.begin() as s:
        report = verify(s)
    assert report.ok, [p.message for p in report.problems]


def _release(world, deps, hold_id: str, to: str, now: dt.datetime):  # type: ignore[no-untyped-def]
    with world.sessions.begin() as s:
        return release(s, hold_id, to=to, reason="checked with the customer", actor="analyst", now=now, deps=deps)


def _status(world, serial: str) -> str:  # type: ignore[no-untyped-def]
    with world.sessions.begin() as s:
        return s.execute(select(Voucher.status).where(Voucher.serial == serial)).scalar_one()


def _holding(deps):  # type: ignore[no-untyped-def]
    return only(deps, account_cards=0, account_amount=0, hold=("velocity.account_cards", "velocity.account_amount"))


def test_a_held_card_released_to_the_account_runs_the_money_in_flow_once(world, deps, now):
    card = world.cards[0]
    held = redeem_card(world, _holding(deps), card, now)
    assert held.held and _status(world, card.serial) == "redeemed"  # claimed: nobody else can redeem it
    assert world.balance(ACCOUNT_CLEAN) == (0, 0) and _held_funds(world) == 10_000
    assert world.count(Redemption) == 0 and energy_sold(world) == 0  # no token for money on hold
    _verified(world)
    done = _release(world, only(deps), held.redemption_id, "account", now + HOUR)
    assert (done.status, done.replayed) == ("released", False) and done.detail["sts"]["token"]
    assert _held_funds(world) == 0 and energy_sold(world) == 10_000  # the keypad meter's token, as a redemption
    assert world.count(Redemption, Redemption.serial == card.serial) == 1
    _verified(world)
    again = _release(world, only(deps), held.redemption_id, "account", now + 2 * HOUR)
    assert again.replayed and energy_sold(world) == 10_000
    with pytest.raises(FraudReviewError):
        _release(world, only(deps), held.redemption_id, "source", now + 2 * HOUR)
    assert world.count(AuditEvent, AuditEvent.subject_id == held.redemption_id) == 2  # held, released


def test_a_held_card_returned_is_active_again_on_its_liability(world, deps, now):
    card = world.cards[0]
    held = redeem_card(world, _holding(deps), card, now)
    done = _release(world, only(deps), held.redemption_id, "source", now + HOUR)
    assert done.status == "returned" and _status(world, card.serial) == "active"
    assert _held_funds(world) == 0 and world.balance(ACCOUNT_CLEAN) == (0, 0)
    _verified(world)  # voucher_liability matches the active cards again
    with world.sessions.begin() as s:  # a hold marked open without its money on the books: verify says so
        s.execute(update(FraudHold).where(FraudHold.hold_id == held.redemption_id).values(status="held"))
        assert [p.check for p in verify(s).problems] == ["held_funds"]
        s.execute(update(FraudHold).where(FraudHold.hold_id == held.redemption_id).values(status="returned"))
    assert _release(world, only(deps), held.redemption_id, "source", now + HOUR).replayed
    with pytest.raises(FraudReviewError):
        _release(world, only(deps), held.redemption_id, "account", now + HOUR)


def test_a_held_payment_is_released_to_the_account_or_returned_to_the_channel(world, deps, now):
    holding = only(deps, account_amount=4_000, hold=("velocity.account_amount",))
    first = pay(world, holding, 5_000, "HP-1", now, ACCOUNT_ARREARS)
    assert first.held is not None and world.balance(ACCOUNT_ARREARS) == (0, 3_000)  # arrears untouched
    replay = pay(world, holding, 5_000, "HP-1", now, ACCOUNT_ARREARS)  # the channel retries: still held, once
    assert replay.held is not None and replay.held.hold_id == first.held.hold_id and not replay.held.created
    _verified(world)  # clearing:alipay holds the payment, held_funds its money
    _release(world, only(deps), first.held.hold_id, "account", now + HOUR)
    assert world.balance(ACCOUNT_ARREARS) == (2_000, 0)  # arrears first, as any payment
    with world.sessions.begin() as s:
        assert s.execute(select(Payment.applied_to_arrears).where(Payment.external_ref == "HP-1")).scalar_one() \
            == 3_000
    second = pay(world, holding, 5_000, "HP-2", now + HOUR, ACCOUNT_ARREARS)
    assert second.held is not None and _held_funds(world) == 5_000
    _verified(world)
    _release(world, only(deps), second.held.hold_id, "source", now + 2 * HOUR)
    with world.sessions.begin() as s:
        assert s.execute(select(Payment.status).where(Payment.external_ref == "HP-2")).scalar_one() == "reversed"
        assert s.execute(select(FraudHold.status).where(FraudHold.hold_id == second.held.hold_id)).scalar_one() \
            == "returned"
    assert _held_funds(world) == 0 and world.balance(ACCOUNT_ARREARS) == (2_000, 0)
    _verified(world)


def test_a_released_held_payment_refunded_afterwards_raises_an_alert_naming_who_released_it(world, deps, now):
    """Released to the account by an analyst, then refunded by the channel: the refund is booked (the channel
    has paid it back), and the scan raises channel.refund_after_release. A held payment returned to its channel
    (a refund too, but nobody vouched for it) and a refunded payment never held raise nothing."""
    from vouchers.books.corrections import reverse_payment
    from vouchers.services.fraud_scan import scan
    from tests.integration.services.fraud_support import QUIET, alerts

    holding = only(deps, account_amount=4_000, hold=("velocity.account_amount",))
    released = pay(world, holding, 5_000, "RR-1", now, ACCOUNT_ARREARS)
    _release(world, only(deps), released.held.hold_id, "account", now + HOUR)
    returned = pay(world, holding, 5_000, "RR-2", now + HOUR, ACCOUNT_ARREARS)
    _release(world, only(deps), returned.held.hold_id, "source", now + 2 * HOUR)
    plain = pay(world, only(deps), 1_000, "RR-3", now + HOUR, ACCOUNT_CLEAN)
    with world.sessions.begin() as s:
        ids = dict(s.execute(select(Payment.external_ref, Payment.id)
                             .where(Payment.external_ref.in_(("RR-1", "RR-3")))).all())
        reverse_payment(s, ids["RR-3"], now=now + 3 * HOUR, actor="clerk", reason="refund")

    def scanned():  # type: ignore[no-untyped-def]
        with world.sessions.begin() as s:
            return scan(s, since=now, until=now + dt.timedelta(days=1), cfg=QUIET, tz=now.tzinfo,
                        now=now + dt.timedelta(days=1))

    assert "channel.refund_after_release" not in scanned().hits  # RR-2 returned, RR-3 never held
    before = alerts(world)  # RR-3 was a keypad meter's payment: channel.refund_after_use
    with world.sessions.begin() as s:
        reverse_payment(s, ids["RR-1"], now=now + 4 * HOUR, actor="clerk", reason="customer asked")
    found = scanned()
    assert found.hits["channel.refund_after_release"] == 1 and plain.held is None
    assert alerts(world)[len(before):] == [("channel.refund_after_release", ACCOUNT_ARREARS, "alert")]
    with world.sessions.begin() as s:
        details = json.loads(s.execute(select(FraudAlert.details)
                                       .where(FraudAlert.kind == "channel.refund_after_release")).scalar_one())
    assert details["hold_id"] == released.held.hold_id and details["released_by"]
    _verified(world)


@pytest.fixture
def cli(world, now, monkeypatch, capsys):
    monkeypatch.setenv("VOUCHER_KEY_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("VOUCHER_WEB_PASSPHRASE", WEB_PASSPHRASE)
    monkeypatch.setenv("VOUCHER_ACTOR", "analyst")
    monkeypatch.delenv("VOUCHER_TARIFF_DIR", raising=False)
    yield from in_process_cli(world.db_url, world.home, monkeypatch, capsys, now=now + HOUR)


def test_the_analysts_commands_hold_release_cases_and_report(world, deps, now, cli, tmp_path):
    held = redeem_card(world, _holding(deps), world.cards[0], now)
    pay(world, only(deps, account_amount=1), 5_000, "CL-1", now, ACCOUNT_ARREARS)  # an alert; the money moves
    code, out, err = cli("fraud", "holds", "--status", "held", "--json")
    assert code == 0, err
    [row] = json.loads(out)["holds"]
    assert row["hold_id"] == held.redemption_id and row["rules"] == ["velocity.account_cards",
                                                                     "velocity.account_amount"]
    code, out, err = cli("fraud", "cases", "--open", "--json")
    cases = {(c["subject_type"], c["subject_id"]): c for c in json.loads(out)["cases"]}
    assert cases[("account", ACCOUNT_CLEAN)]["held"] == "100.00" and cases[("account", ACCOUNT_CLEAN)]["alerts"] == 2
    case_id = cases[("account", ACCOUNT_ARREARS)]["id"]
    code, out, err = cli("fraud", "case", "show", str(case_id), "--lang", "zh", "--json")
    [alert] = json.loads(out)["alert_list"]
    assert alert["rule"] == "velocity.account_amount" and alert["description"] == "同一户号一天内入账金额超过上限"
    code, out, err = cli("fraud", "release", held.redemption_id, "--to", "account", "--reason", "known customer",
                         "--json")
    assert code == 0, err
    assert json.loads(out)["status"] == "released"
    code, out, err = cli("fraud", "release", held.redemption_id, "--to", "source", "--reason", "x")
    assert code != 0 and "released already" in err and out == ""
    code, out, err = cli("fraud", "case", "close", str(case_id), "--verdict", "legit", "--note", "salary day",
                         "--json")
    assert code == 0 and json.loads(out)["status"] == "closed" and json.loads(out)["closed_by"] == "analyst"
    code, out, err = cli("fraud", "cases", "--open", "--json")
    assert case_id not in {c["id"] for c in json.loads(out)["cases"]}
    code, out, err = cli("fraud", "report", "--since", now.date().isoformat(), "--format", "csv")
    lines = out.splitlines()
    assert lines[0] == "rule,channel,distributor,month,alerts,holds,held_amount,still_held"
    assert "velocity.account_cards,voucher,D001,2026-11,1,1,100.00,0.00" in lines
    code, out, err = cli("fraud", "report", "--since", now.date().isoformat(), "--format", "json")
    assert {r["rule"] for r in json.loads(out)["rows"]} == {"velocity.account_cards", "velocity.account_amount"}
    pdf = tmp_path / "fraud.pdf"
    code, out, err = cli("fraud", "report", "--since", now.date().isoformat(), "--format", "pdf", "--out", str(pdf),
                         "--lang", "en")
    assert code == 0, err
    assert pdf.read_bytes().startswith(b"%PDF-") and out.splitlines()[0] == f"wrote {pdf}"
    assert out.splitlines()[1].startswith("data as of ")  # read from the reports database (here the primary)
    code, out, err = cli("fraud", "report", "--since", now.date().isoformat(), "--format", "pdf")
    assert code != 0 and "--out" in err

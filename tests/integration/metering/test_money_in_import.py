"""``voucherctl payments import``: after the file is booked, the accounts it paid with something pending get
their late fee (through their own payment day) and their reconnect order, with no batch run."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from sqlalchemy import select

from vouchers.books.customers import create_customer
from vouchers.metering import cost_control as cc
from vouchers.metering import late_fees, money_in
from vouchers.storage.metering_models import CostControlState, LateFeeCharge
from tests.integration.metering.conftest import World, at
from tests.inprocess_cli import in_process_cli

NOW = at("2026-11-26", 10)


@pytest.fixture
def cli(db_url, tmp_path, monkeypatch, capsys):
    """``cli(*argv) -> (exit code, stdout, stderr)`` at 2026-11-26 10:00 (Beijing)."""
    yield from in_process_cli(db_url, tmp_path / "home", monkeypatch, capsys, now=NOW)


@pytest.fixture
def accounts(world: World) -> None:
    """P: postpaid, 152.99 due 2026-11-07 unpaid. Q: prepaid, cut off on the 21st. C: postpaid, nothing owed.
    U: a customer without a tariff."""
    world.customer("P", opening=("2026-10-01", "0"))
    world.read("P", "2026-10-20", "300")
    world.bill("2026-10", "2026-10-31", accounts=["P"])
    world.customer("Q", mode="prepaid", opening=("2026-11-01", "0"))
    world.pay("Q", "10.00", "2026-11-02")
    world.read("Q", "2026-11-19", "100")  # 49.83 against 10.00
    for when in (at("2026-11-20", 9), at("2026-11-21", 9)):
        cc.run(world.sessions, now=when, catalog=world.catalog, config=world.config)
    world.customer("C", opening=("2026-10-01", "0"))
    with world.sessions.begin() as s:
        create_customer(s, "U", "no tariff", now=at("2026-10-01"))
        assert s.get(CostControlState, "Q").supply_state == "disconnect_ordered"


def _file(tmp_path: Path) -> Path:
    path = tmp_path / "bank_debit_20261126.csv"
    path.write_text("external_ref,account_no,amount,currency,paid_at\n"
                    "B-1,C,10.00,CNY,2026-11-25T09:00:00+08:00\n"
                    "B-2,P,100.00,CNY,2026-11-19T10:00:00+08:00\n"
                    "B-3,P,100.00,CNY,2026-11-20T15:00:00+08:00\n"
                    "B-4,Q,100.00,CNY,2026-11-26T09:00:00+08:00\n"
                    "B-5,U,5.00,CNY,2026-11-26T09:00:00+08:00\n", encoding="utf-8")
    return path


def _charges(world: World) -> list[tuple[str, str, int]]:
    with world.sessions.begin() as s:
        return s.execute(select(LateFeeCharge.account_no, LateFeeCharge.trigger, LateFeeCharge.fee_fen)
                         .order_by(LateFeeCharge.id)).all()


def test_import_charges_late_fees_and_orders_reconnections(world: World, accounts, cli, tmp_path) -> None:
    code, out, err = cli("payments", "import", "--channel", "bank_debit", str(_file(tmp_path)), "--json")
    assert code == 0, err
    document = json.loads(out)
    assert document["booked"] == 5
    assert document["metering"] == {"accounts": 2, "late_fee_accounts": 1, "late_fees": "1.89",
                                    "reconnect_orders": 1}
    # P paid 100.00 on the 19th and the rest on the 20th, both counted from their own days (not the import's):
    # 12 days (11-08 .. 11-19) x 0.15299 + 1 day x 0.05299 = 1.88887 -> 1.89, through P's last payment day
    assert _charges(world) == [("P", "payment", 189)]
    assert (world.summary("P").balance, world.summary("P").arrears) == (20000 - 15299 - 189, 0)
    with world.sessions.begin() as s:
        # the disconnect was never acknowledged: the reconnect follows it, in id order
        assert [o.kind for o in cc.list_orders(s, account_no="Q")] == ["disconnect", "reconnect"]
        assert s.get(CostControlState, "Q").supply_state == "reconnect_ordered"
        # month end changes nothing: the bill was paid on the 20th, the penalty through that day is charged
        assert late_fees.settle_account(s, "P", upto=dt.date(2026, 11, 30), now=at("2026-11-30", 23),
                                        catalog=world.catalog, config=world.config).fee_fen == 0

    again = cli("payments", "import", "--channel", "bank_debit", str(_file(tmp_path)), "--json")
    assert again[0] == 0, again[2]
    assert json.loads(again[1])["metering"]["accounts"] == 0  # all duplicates: nothing booked, nothing triggered
    assert len(_charges(world)) == 1


def test_pending_in_import_reads_only_the_accounts_with_something_pending(world: World, accounts, tmp_path) -> None:
    from vouchers.books import formats

    with world.sessions.begin() as s:
        result = formats.import_payments(s, "bank_debit", _file(tmp_path), now=NOW, actor="test")
        touched = money_in.pending_in_import(s, result.transaction_ids, today=dt.date(2026, 11, 26),
                                             tz=world.config.tz)
        s.rollback()
    assert touched == [money_in.Touched("P", dt.date(2026, 11, 20), True),
                       money_in.Touched("Q", dt.date(2026, 11, 26), False)]


def test_payments_post_charges_the_late_fee_before_allocating_and_reconnects(world: World, accounts, cli) -> None:
    code, out, err = cli("payments", "post", "--channel", "bank_counter", "--account-no", "P", "--amount", "200.00",
                         "--ref", "C-1", "--json")
    assert code == 0, err
    # 19 days (11-08 .. 11-26) x 0.15299 = 2.90681 -> 2.91, charged first: the payment pays the bill, then it
    assert (json.loads(out)["applied_to_arrears"], json.loads(out)["balance"]) == ("155.90", "44.10")
    assert _charges(world) == [("P", "payment", 291)]
    code, out, err = cli("payments", "post", "--channel", "bank_counter", "--account-no", "Q", "--amount", "50.00",
                         "--ref", "C-2", "--json")
    assert code == 0, err
    with world.sessions.begin() as s:
        assert [o.kind for o in cc.list_orders(s, account_no="Q")] == ["disconnect", "reconnect"]

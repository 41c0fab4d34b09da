"""Issue 8: accounts read by an STS keypad meter are credited by vended tokens, never billed from readings."""
from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy import func, select

from vouchers.books.verify import verify
from vouchers.storage.ledger_models import LedgerPosting
from vouchers.storage.metering_models import MeteringBill
from tests.integration.metering.conftest import World


def test_keypad_meter_accounts_are_not_billed_from_readings(world: World) -> None:
    # several accounts in one batch, the keypad ones between the others (the batch is a key range)
    for no in ("K1", "K2", "K3", "K4"):
        world.customer(no, mode="prepaid", opening=("2026-10-01", "0"))
        world.pay(no, "100.00", "2026-10-02")
    world.sts_meter("K2", "600727000000000009")
    world.sts_meter("K4", "600727000000000017", active=False)  # replaced by a read meter: billed again
    world.read_many([(no, f"M{no}", "2026-10-31", "150", None, None, False) for no in ("K1", "K2", "K3", "K4")])
    before = world.summary("K2").balance

    result = world.bill("2026-10", "2026-10-31")

    assert result.billed == 3 and result.keypad_meter == 1 and result.exceptions == []
    assert result.as_dict()["keypad_meter"] == 1
    assert {b.account_no for b in _bills(world)} == {"K1", "K3", "K4"}
    assert world.summary("K2").balance == before == 10000  # the tokens already paid for this energy
    assert world.summary("K1").balance < 10000
    with world.sessions.begin() as s:
        postings_for_k2 = s.execute(select(func.count()).select_from(LedgerPosting).where(
            LedgerPosting.account_id.in_(_ledger_ids(s, "K2")), LedgerPosting.amount > 0)).scalar_one()
        assert postings_for_k2 == 0  # only the payment's credit (a credit), no charge
        assert verify(s, today=dt.date(2030, 1, 1)).ok

    again = world.bill("2026-10", "2026-10-31")  # a rerun bills nothing, the keypad account still skipped
    assert again.billed == 0 and again.keypad_meter == 1
    assert len(_bills(world)) == 3


def test_keypad_meter_skipped_in_every_batch_and_with_workers(world: World) -> None:
    world.config = dataclasses.replace(world.config, batch_size=2, billing_workers=2)
    accounts = [f"S{i}" for i in range(6)]
    for no in accounts:
        world.customer(no, mode="prepaid", opening=("2026-10-01", "0"))
    for i, no in enumerate(accounts[::2]):
        world.sts_meter(no, f"60072700000000{i:04d}")
    world.read_many([(no, f"M{no}", "2026-10-31", "10", None, None, False) for no in accounts])
    result = world.bill("2026-10", "2026-10-31", accounts=None)
    assert (result.billed, result.keypad_meter) == (3, 3)
    assert {b.account_no for b in _bills(world)} == set(accounts[1::2])
    listed = world.bill("2026-10", "2026-10-31", accounts=accounts)  # explicit account lists too
    assert (listed.billed, listed.keypad_meter) == (0, 3)


def _bills(world: World) -> list[MeteringBill]:
    with world.sessions.begin() as s:
        return list(s.execute(select(MeteringBill)).scalars())


def _ledger_ids(session, account_no: str) -> list[int]:  # type: ignore[no-untyped-def]
    from vouchers.storage.ledger_models import CustomerAccount

    customer = session.execute(select(CustomerAccount).where(CustomerAccount.account_no == account_no)).scalar_one()
    return [customer.arrears_account_id, customer.prepaid_account_id]


def test_after_the_keypad_meter_is_taken_out_only_later_readings_are_charged(world: World) -> None:
    """A keypad meter served until 15 October (a reading of 100 kWh on the 10th was bought with tokens), then
    the account went back to being read: the October bill and the estimate before it charge only the 50 kWh
    read after that day, from the day the keypad meter stopped."""
    from vouchers.metering import prepaid
    from tests.integration.metering.conftest import at
    from vouchers.vending.meters import deactivate_meter

    for no in ("KD", "RD"):  # KD: keypad meter until the 15th; RD: the same readings, never a keypad meter
        world.customer(no, mode="prepaid", opening=("2026-10-01", "0"))
        world.pay(no, "100.00", "2026-10-02")
    world.sts_meter("KD", "600727000000000009")
    world.read_many([(no, f"M{no}", "2026-10-10", "100", None, None, False) for no in ("KD", "RD")])
    with world.sessions.begin() as s:
        deactivate_meter(s, "600727000000000009", reason="replaced by a read meter", now=at("2026-10-15", 0))
    world.read_many([(no, f"M{no}", "2026-10-31", "150", None, None, False) for no in ("KD", "RD")])

    with world.sessions.begin() as s:
        keypad, read = (prepaid.standing(s, no, now=at("2026-10-31", 13), catalog=world.catalog,
                                         config=world.config) for no in ("KD", "RD"))
    assert keypad is not None and read is not None
    assert (keypad.unbilled_ckwh, keypad.estimate_fen) == (5000, 2492)  # 50 kWh x 0.4983, rounded half up
    assert (read.unbilled_ckwh, read.estimate_fen) == (15000, 7475)

    result = world.bill("2026-10", "2026-10-31")
    assert (result.billed, result.keypad_meter, result.exceptions) == (2, 0, [])
    bills = {b.account_no: b for b in _bills(world)}
    assert (bills["KD"].kwh_ckwh, bills["KD"].opening_date, bills["KD"].total_fen) == (5000, dt.date(2026, 10, 15),
                                                                                       2492)
    assert (bills["RD"].kwh_ckwh, bills["RD"].total_fen) == (15000, 7475)

"""A redemption refused inside :func:`vouchers.storage.commit_hooks.savepoint` moves no money, on both databases.

The route (``redeem_api.routes.redemptions``) runs statements on the session's connection before the
savepoint (API key, Idempotency-Key, throttle: :mod:`vouchers.storage.hot_sql`, which keeps that
connection for the transaction), then the redemption inside it, then commits the transaction whatever
the redemption did (the refusal's count, alert and stored answer). SQLAlchemy emits a SAVEPOINT only
when the nested transaction first asks for its connection: statements sent on the connection kept from
before (the claim; on PostgreSQL the books too) ran BEFORE the SAVEPOINT and survived the rollback to
it - the card redeemed, the customer credited, although the redemption was refused.
These tests run that sequence and look at everything afterwards.
"""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.integration.redeem_api.world import ACCOUNT_CLEAN, WEB_PASSPHRASE
from tests.integration.services.conftest import energy_sold, outbox
from vouchers.books.verify import verify
from vouchers.services import fraud
from vouchers.services.clients import authenticate
from vouchers.services.errors import VoucherRefused
from vouchers.services.redeem import RedeemRequest, VoucherKeys, redeem
from vouchers.storage import audit, hot_sql
from vouchers.storage.api_models import FraudAlert, Redemption
from vouchers.storage.commit_hooks import savepoint
from vouchers.storage.models import AuditEvent, Voucher
from vouchers.storage.sts_models import StsMeter, StsVend
from vouchers.vending.errors import VendingError


def _keys(world, canaries: frozenset[str] = frozenset()) -> VoucherKeys:  # type: ignore[no-untyped-def]
    return VoucherKeys(world.store.pepper(WEB_PASSPHRASE), world.store.keyring(), canaries)


def _refused_in_savepoint(world, deps, now, code: str, keys: VoucherKeys, error: type[Exception]) -> None:
    """As the route does: hot-path statements first, the redemption in a savepoint, a write after it, COMMIT."""
    with world.sessions.begin() as s:
        assert authenticate(s, world.keys["terminal"]) is not None  # hot_sql: keeps the connection
        assert hot_sql.scalar_one_or_none(s, select(func.count()).select_from(Voucher.__table__), {}) > 0
        with pytest.raises(error), savepoint(s):
            redeem(s, RedeemRequest(code, ACCOUNT_CLEAN, "terminal", "terminal:test"), keys=keys, deps=deps,
                   now=now, today=now.date())
        fraud.record_alert(s, now=now, kind=fraud.LOCKOUT, channel="terminal", account_no=ACCOUNT_CLEAN)


def _nothing_moved(world, serial: str) -> None:  # type: ignore[no-untyped-def]
    assert world.balance(ACCOUNT_CLEAN) == (0, 0)
    assert energy_sold(world) == 0
    assert outbox(world, "sms.voucher_redeemed") == []
    with world.sessions.begin() as s:
        assert s.execute(select(Voucher.status).where(Voucher.serial == serial)).scalar_one() == "active"
        assert s.execute(select(func.count()).select_from(Redemption)).scalar_one() == 0
        assert s.execute(select(func.count()).select_from(StsVend)).scalar_one() == 0
        assert s.execute(select(func.count()).select_from(AuditEvent)
                         .where(AuditEvent.action == "voucher.redeem")).scalar_one() == 0
        # what the transaction did after the savepoint committed
        assert s.execute(select(func.count()).select_from(FraudAlert)).scalar_one() == 1
        report = verify(s, today=None)
    assert report.ok, [p.as_dict() for p in report.problems]


def _redeems_afterwards(world, deps, now, code: str) -> None:  # type: ignore[no-untyped-def]
    """The card was given back whole: it redeems, and the books still verify."""
    with world.sessions.begin() as s:
        done = redeem(s, RedeemRequest(code, ACCOUNT_CLEAN, "terminal", "terminal:test"), keys=_keys(world),
                      deps=deps, now=now, today=now.date())
    assert done.money.booking.credited_to_balance == 10_000
    with world.sessions.begin() as s:
        report = verify(s, today=None)
    assert report.ok, [p.as_dict() for p in report.problems]


def test_refused_vend_inside_the_savepoint_moves_no_money(world, deps, now):
    """Claim, books, energy sale, then the STS vend refuses (sts_key_expired)."""
    card = world.cards[3]
    with world.sessions.begin() as s:
        s.execute(StsMeter.__table__.update().values(ken=10))  # the meter's key expired long ago
    _refused_in_savepoint(world, deps, now, card.code, _keys(world), VendingError)
    _nothing_moved(world, card.serial)
    with world.sessions.begin() as s:
        s.execute(StsMeter.__table__.update().values(ken=255))
    _redeems_afterwards(world, deps, now, card.code)


def test_claimed_canary_refused_inside_the_savepoint_stays_active(world, deps, now):
    """The claim only: an active card planted as a trap is claimed, then refused."""
    card = world.cards[0]
    _refused_in_savepoint(world, deps, now, card.code, _keys(world, frozenset({card.serial})), VoucherRefused)
    _nothing_moved(world, card.serial)
    _redeems_afterwards(world, deps, now, card.code)


def test_refusal_after_all_of_the_redemption_moves_no_money(world, deps, now, monkeypatch):
    """Everything done (claim, books, vend, rows and audit queued for the commit), then refused."""
    card = world.cards[1]
    record = audit.record

    def record_then_refuse(session, **kwargs):  # type: ignore[no-untyped-def]
        record(session, **kwargs)
        if kwargs["action"] == "voucher.redeem":
            raise VendingError("refused at the very end", code="sts_key_expired")

    monkeypatch.setattr(audit, "record", record_then_refuse)
    _refused_in_savepoint(world, deps, now, card.code, _keys(world), VendingError)
    monkeypatch.setattr(audit, "record", record)
    _nothing_moved(world, card.serial)
    _redeems_afterwards(world, deps, now, card.code)

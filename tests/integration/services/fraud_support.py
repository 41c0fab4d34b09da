"""Helpers of the fraud tests: a configuration with every rule asleep but the one under test, and readers."""
from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy import select

from vouchers.storage.api_models import ApiClient, FraudAlert
from tests.integration.redeem_api.world import ACCOUNT_CLEAN, WEB_PASSPHRASE
from vouchers.services import money_in
from vouchers.services.deps import ServiceDeps
from vouchers.services.fraud_config import FraudConfig
from vouchers.services.redeem import RedeemRequest, VoucherKeys, redeem

QUIET = FraudConfig(account_cards=10**6, account_amount=10**15, terminal_per_hour=10**6, open_hour=0, close_hour=24,
                    quick_cards=10**6, bulk_cards=10**6, void_distance=0, structuring_count=10**6,
                    reversal_min=10**6)


def only(deps: ServiceDeps, *, hold: tuple[str, ...] = (), **thresholds: object) -> ServiceDeps:
    """``deps`` whose fraud rules are all asleep but those ``thresholds`` wake; ``hold``: rules that hold."""
    return dataclasses.replace(deps, fraud=dataclasses.replace(QUIET, actions={r: "hold" for r in hold},
                                                               **thresholds))


def client_pk(world, name: str = "terminal") -> int:  # type: ignore[no-untyped-def]
    with world.sessions.begin() as s:
        return s.execute(select(ApiClient.id).where(ApiClient.client_id == world.client_ids[name])).scalar_one()


def redeem_card(world, deps, card, at: dt.datetime, account_no: str = ACCOUNT_CLEAN, *,  # type: ignore[no-untyped-def]
                terminal: str | None = None):
    pk = client_pk(world, terminal) if terminal else None
    request = RedeemRequest(card.code, account_no, "terminal", "terminal:test", pk,
                            world.client_ids[terminal] if terminal else None)
    keys = VoucherKeys(world.store.pepper(WEB_PASSPHRASE), world.store.keyring(), frozenset())
    with world.sessions.begin() as s:
        return redeem(s, request, keys=keys, deps=deps, now=at, today=at.date())


def pay(world, deps, amount: int, ref: str, at: dt.datetime, account_no: str = ACCOUNT_CLEAN,  # type: ignore[no-untyped-def]
        channel: str = "alipay"):
    with world.sessions.begin() as s:
        return money_in.pay(s, money_in.ChannelPayment(channel, account_no, amount, ref, at), now=at, deps=deps)


def alerts(world, rule: str | None = None) -> list[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    """(rule, subject, action) of the alerts, oldest first."""
    query = select(FraudAlert.kind, FraudAlert.subject_id, FraudAlert.action).order_by(FraudAlert.id)
    if rule is not None:
        query = query.where(FraudAlert.kind == rule)
    with world.sessions.begin() as s:
        return [tuple(r) for r in s.execute(query).all()]  # type: ignore[misc]

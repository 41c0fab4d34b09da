"""A card's last valid day at the HTTP API: the claim's ``expires >= today``, with today in Beijing time.

``voucher_books.claim_for_redemption`` has its own tests of this edge; these go through the statement the API
runs (``redeem_api.redemption._CLAIM``) and the request's "today" (``redeem_api.http.today``). The clock is
given in UTC, as the production clock (``redeem_api.config.utc_now``) gives it: 00:00-08:00 in Beijing is the
previous UTC day, so a UTC calendar would refuse nothing late and everything early by eight hours.
"""
from __future__ import annotations

import datetime as dt

import pytest

from tests.conftest import SHANGHAI
from tests.integration.redeem_api.test_redemption import redeem, voucher_status
from tests.integration.redeem_api.world import ACCOUNT_CLEAN, EXPIRES

UTC = dt.timezone.utc
LAST_DAY = EXPIRES  # every card of the world's batch is valid through this Beijing calendar day


def beijing(day: dt.date, hour: int, minute: int) -> dt.datetime:
    """That Beijing wall-clock instant, as the production clock reads it (UTC)."""
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=SHANGHAI).astimezone(UTC)


NEXT_DAY = LAST_DAY + dt.timedelta(days=1)


def test_the_instants_below_straddle_the_utc_date_line():
    # guards the table's meaning: these are the instants where the UTC date and the Beijing date differ
    assert beijing(LAST_DAY, 7, 0).date() == LAST_DAY - dt.timedelta(days=1)
    assert beijing(NEXT_DAY, 0, 30).date() == LAST_DAY
    assert beijing(NEXT_DAY, 0, 1) == dt.datetime.combine(LAST_DAY, dt.time(16, 1), tzinfo=UTC)


@pytest.mark.parametrize("instant, accepted", [
    pytest.param(beijing(LAST_DAY, 7, 0), True, id="last-day-07:00-bj=day-before-utc"),
    pytest.param(beijing(LAST_DAY, 23, 59), True, id="last-day-23:59-bj"),
    pytest.param(beijing(NEXT_DAY, 0, 1), False, id="day-after-00:01-bj=last-day-utc"),
    pytest.param(beijing(NEXT_DAY, 0, 30), False, id="day-after-00:30-bj=last-day-utc"),
    pytest.param(beijing(NEXT_DAY, 7, 59), False, id="day-after-07:59-bj=last-day-utc"),
    pytest.param(beijing(NEXT_DAY, 8, 0), False, id="day-after-08:00-bj"),
])
def test_a_card_is_redeemable_through_its_last_beijing_day(client, world, clock, instant, accepted):
    card = world.cards[0]
    clock.now = instant
    response = redeem(client, world, card.code, account=ACCOUNT_CLEAN)
    if accepted:
        assert response.status_code == 201, response.get_json()
        assert response.get_json()["credited_to_balance"] == "100.00"
        assert voucher_status(world, card.serial) == "redeemed"
        assert world.balance(ACCOUNT_CLEAN) == (10000, 0)
    else:
        assert response.status_code == 422, response.get_json()
        assert response.get_json()["error"]["code"] == "invalid_voucher"
        assert voucher_status(world, card.serial) == "active"
        assert world.balance(ACCOUNT_CLEAN) == (0, 0)


def test_the_same_hour_accepts_on_the_last_day_and_refuses_the_day_after(client, world, clock):
    # one card at 23:59 of its last day, the next card of the batch two minutes later (00:01 the day after)
    first, second = world.cards[0], world.cards[1]
    clock.now = beijing(LAST_DAY, 23, 59)
    assert redeem(client, world, first.code, account=ACCOUNT_CLEAN).status_code == 201
    clock.advance(120)
    refused = redeem(client, world, second.code, account=ACCOUNT_CLEAN)
    assert refused.status_code == 422 and refused.get_json()["error"]["code"] == "invalid_voucher"
    assert (voucher_status(world, first.serial), voucher_status(world, second.serial)) == ("redeemed", "active")
    assert world.balance(ACCOUNT_CLEAN) == (10000, 0)

"""Properties over random readings, for every version of every shipped tariff."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from vouchers.tariffs import TariffVersion, kwh_for_amount, late_fee, load_catalog, quote
from tests.unit.tariffs import reference as ref

D = Decimal
CATALOG = load_catalog()
VERSIONS = [v for t in CATALOG for v in t.versions]
TOU_VERSIONS = [v for v in VERSIONS if v.time_of_use is not None]
CENTI = D("0.01")


def hundredths(max_units: int) -> st.SearchStrategy[Decimal]:
    """Non-negative decimals with 0.01 resolution, biased towards whole numbers."""
    whole = st.integers(0, max_units // 100).map(D)
    fine = st.integers(0, max_units).map(lambda n: D(n).scaleb(-2))
    return st.one_of(whole, fine)


@st.composite
def position(draw: st.DrawFn, versions: list[TariffVersion] = VERSIONS
             ) -> tuple[TariffVersion, Decimal, int | None]:
    version = draw(st.sampled_from(versions))
    used = draw(hundredths(600_000))
    months = draw(st.one_of(st.none(), st.integers(1, version.period_months)))
    return version, used, months


AMOUNTS = st.integers(0, 500_000).map(lambda n: D(n).scaleb(-2))  # 0.00 .. 5000.00


@settings(max_examples=300, deadline=None)
@given(position(), AMOUNTS)
def test_money_to_kwh_to_money(pos: tuple[TariffVersion, Decimal, int | None], amount: Decimal) -> None:
    version, used, months = pos
    x = kwh_for_amount(version, amount, used_before=used, months_of_supply=months)
    assert x >= 0 and x == x.quantize(CENTI)
    bought = quote(version, x, used_before=used, months_of_supply=months)
    assert bought.subtotal <= amount and bought.total <= amount
    # within one tier price: what is left over buys less than 0.01 kWh at the dearest price
    assert amount - bought.subtotal < max(t.price for t in version.tiers) * CENTI
    # and x is the most: one more 0.01 kWh is unaffordable
    assert quote(version, x + CENTI, used_before=used, months_of_supply=months).subtotal > amount


@settings(max_examples=200, deadline=None)
@given(position(TOU_VERSIONS), AMOUNTS)
def test_money_to_kwh_at_peak_price_is_affordable_in_any_split(
        pos: tuple[TariffVersion, Decimal, int | None], amount: Decimal) -> None:
    version, used, months = pos
    x = kwh_for_amount(version, amount, used_before=used, months_of_supply=months, time_of_use=True)
    all_peak = quote(version, x, used_before=used, months_of_supply=months, peak=x, valley=0)
    assert all_peak.subtotal <= amount
    assert quote(version, x + CENTI, used_before=used, months_of_supply=months,
                 peak=x + CENTI, valley=0).subtotal > amount
    # peak is the dearest split, so any other split of x is affordable too
    half = (x / 2).quantize(CENTI)
    assert quote(version, x, used_before=used, months_of_supply=months,
                 peak=half, valley=x - half).subtotal <= amount


@settings(max_examples=300, deadline=None)
@given(position(), hundredths(800_000), hundredths(800_000))
def test_bill_never_decreases_when_consumption_grows(
        pos: tuple[TariffVersion, Decimal, int | None], kwh: Decimal, extra: Decimal) -> None:
    version, used, months = pos
    small = quote(version, kwh, used_before=used, months_of_supply=months)
    large = quote(version, kwh + extra, used_before=used, months_of_supply=months)
    assert large.subtotal >= small.subtotal and large.total >= small.total
    if extra > 0:
        assert large.subtotal > small.subtotal


@settings(max_examples=200, deadline=None)
@given(position(TOU_VERSIONS), hundredths(300_000), hundredths(300_000), hundredths(300_000))
def test_time_of_use_bill_never_decreases(pos: tuple[TariffVersion, Decimal, int | None],
                                          peak: Decimal, valley: Decimal, extra: Decimal) -> None:
    version, used, months = pos
    before = quote(version, peak + valley, used_before=used, months_of_supply=months, peak=peak, valley=valley)
    after = quote(version, peak + valley + extra, used_before=used, months_of_supply=months,
                  peak=peak, valley=valley + extra)  # even extra kWh at the cheapest (valley) price
    assert after.total >= before.total


@settings(max_examples=300, deadline=None)
@given(position(), hundredths(800_000))
def test_tier_kwh_sum_to_consumption(pos: tuple[TariffVersion, Decimal, int | None], kwh: Decimal) -> None:
    version, used, months = pos
    q = quote(version, kwh, used_before=used, months_of_supply=months)
    energy = q.energy_lines
    assert sum((line.kwh for line in energy), D(0)) == kwh
    assert all(line.kwh > 0 and line.amount == line.kwh * line.price for line in energy)
    numbers = [int(line.tier) for line in energy]
    if kwh == 0:
        assert numbers == []
    else:  # consecutive tiers, lowest first
        assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))
    assert q.subtotal == sum((line.amount for line in q.lines), D(0))
    assert q.total.as_tuple().exponent == -2 and abs(q.total - q.subtotal) <= D("0.005")


@settings(max_examples=300, deadline=None)
@given(position(), hundredths(400_000), hundredths(400_000))
def test_splitting_a_reading_across_bills_costs_the_same(
        pos: tuple[TariffVersion, Decimal, int | None], first: Decimal, second: Decimal) -> None:
    """Annual tiers billed monthly: two bills cost exactly what one bill for both would."""
    version, used, months = pos
    a = quote(version, first, used_before=used, months_of_supply=months)
    b = quote(version, second, used_before=used + first, months_of_supply=months)
    both = quote(version, first + second, used_before=used, months_of_supply=months)
    assert a.subtotal + b.subtotal == both.subtotal


@settings(max_examples=300, deadline=None)
@given(position(), hundredths(800_000))
def test_matches_the_incremental_method(pos: tuple[TariffVersion, Decimal, int | None], kwh: Decimal) -> None:
    version, used, months = pos
    published = ref.published(version.tariff_id, version.effective_from)
    q = quote(version, kwh, used_before=used, months_of_supply=months)
    assert q.subtotal == ref.energy_incremental(published, kwh, used, months)
    assert q.total == ref.half_up_fen(q.subtotal)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["residential", "other"]), st.booleans(), AMOUNTS, st.integers(0, 2000),
       st.integers(0, 50), st.integers(0, 50_000).map(lambda n: D(n).scaleb(-2)))
def test_late_fee_grows_with_days_and_principal(customer_class: str, prior: bool, principal: Decimal,
                                                days: int, more_days: int, more_money: Decimal) -> None:
    policy = CATALOG.require_late_fees().version_for(date(2024, 1, 1))

    def fee(p: Decimal, d: int) -> Decimal:
        return late_fee(policy, principal=p, days=d, customer_class=customer_class, prior_year=prior).fee

    base = fee(principal, days)
    assert fee(principal, days + more_days) >= base
    assert fee(principal + more_money, days) >= base
    if days > 0 and principal > 0:
        assert base >= D("1.00")

"""Data files: the shipped ones match the published figures; bad ones are refused clearly."""
from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

import vouchers.tariffs.errors as errors
from vouchers.tariffs import load_catalog, quote
from vouchers.tariffs.errors import (
    DuplicateDefinition,
    InvalidField,
    InvalidTiers,
    MalformedDataFile,
    MissingField,
    NoVersionInForce,
    OverlappingVersions,
    TariffDataError,
    TariffError,
    UnknownField,
    UnknownTariff,
)
from tests.unit.tariffs import reference as ref

D = Decimal

VALID = """\
schema = "tariff/1"
id = "test-tiers"
name = "Test tiers"

[[versions]]
effective_from = 2020-01-01
period = "annual"
year_start_month = 1

[[versions.tiers]]
up_to = 1200
price = 0.50

[[versions.tiers]]
up_to = 2400
price = "0.55"

[[versions.tiers]]
price = 0.80
"""

LATE = """\
schema = "late-fee/1"

[[versions]]
effective_from = 2000-01-01
minimum = "1.00"

[versions.classes.residential]
current_year = 0.001
prior_year = 0.001
"""


def write(directory: Path, text: str, name: str = "test-tiers.toml") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text(text, encoding="utf-8")
    return directory


def refused(tmp_path: Path, text: str, error: type[TariffError], *fragments: str) -> str:
    write(tmp_path, text)
    with pytest.raises(error) as caught:
        load_catalog(tmp_path)
    message = str(caught.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message
    return message


# --- the shipped data ---------------------------------------------------------------


def test_shipped_catalog_has_the_contract_tariffs() -> None:
    catalog = load_catalog()
    assert {"jx-residential", "fj-residential"} <= set(catalog.ids())
    assert set(catalog.ids()) == set(ref.PUBLISHED)
    assert catalog.require_late_fees().current.minimum == D("1.00")


@pytest.mark.parametrize("tariff_id", sorted(ref.PUBLISHED))
def test_shipped_versions_match_the_published_figures(tariff_id: str) -> None:
    tariff = load_catalog().get(tariff_id)
    assert [v.effective_from for v in tariff.versions] == [start for start, _ in ref.PUBLISHED[tariff_id]]
    for version in tariff.versions:
        published = ref.published(tariff_id, version.effective_from)
        assert tuple(int(t.up_to) for t in version.tiers if t.up_to is not None) == published.bounds
        assert tuple(t.price for t in version.tiers) == published.prices
        assert version.period_months == published.period_months
        if published.peak_add is None:
            assert version.time_of_use is None
        else:
            assert version.time_of_use is not None
            assert version.time_of_use.peak_adjustment == published.peak_add
            assert version.time_of_use.valley_adjustment == -published.valley_cut
        if published.allowance_kwh is None:
            assert version.allowance is None
        else:
            assert version.allowance is not None
            assert version.allowance.kwh_per_month == published.allowance_kwh
            assert version.allowance.mode == published.allowance_mode


def test_shipped_late_fee_rules_match_the_regulation() -> None:
    policy = load_catalog().require_late_fees().version_for(date(2024, 6, 1))
    for name, (current, prior) in ref.DAILY_RATES.items():
        rates = policy.rates_for(name)
        assert (rates.current_year, rates.prior_year) == (current, prior)
    assert policy.minimum == ref.MINIMUM and policy.grace_days == 0


def test_fujian_version_is_chosen_by_reading_date() -> None:
    fj = load_catalog().get("fj-residential")
    assert fj.version_for(date(2016, 10, 31)).tiers[0].up_to == 200
    assert fj.version_for(date(2016, 11, 1)).tiers[0].up_to == 230
    assert fj.version_for(date(2012, 7, 1)).tiers[0].up_to == 200
    with pytest.raises(NoVersionInForce, match="2012-06-30"):
        fj.version_for(date(2012, 6, 30))


def test_unknown_tariff_names_the_known_ones() -> None:
    with pytest.raises(UnknownTariff, match="jx-residential") as caught:
        load_catalog().get("jx-residental")
    assert caught.value.code == "unknown_tariff"
    assert isinstance(caught.value, LookupError)


def test_error_codes_are_stable_and_distinct() -> None:
    classes = [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, TariffError)]
    codes = [c.code for c in classes]
    assert len(codes) == len(set(codes)) >= 15
    assert all(c.code and c.code == c.code.lower() and " " not in c.code for c in classes)
    assert errors.OverlappingVersions.code == "tariff_versions_overlap"
    assert errors.InvalidQuantity.code == "invalid_quantity"


# --- a custom data directory ---------------------------------------------------------


def test_a_valid_custom_directory_loads(tmp_path: Path) -> None:
    write(tmp_path, VALID)
    catalog = load_catalog(str(tmp_path))
    assert catalog.ids() == ("test-tiers",)
    version = catalog.get("test-tiers").version_for(date(2030, 1, 1))
    assert [t.price for t in version.tiers] == [D("0.50"), D("0.55"), D("0.80")]  # number or text, exact
    assert catalog.late_fees is None
    with pytest.raises(errors.NoLateFeeSchedule):
        catalog.require_late_fees()


def test_a_price_change_applies_from_its_reading_date(tmp_path: Path) -> None:
    text = VALID + """
[[versions]]
effective_from = 2021-01-01
period = "annual"

[[versions.tiers]]
up_to = 1200
price = 0.52

[[versions.tiers]]
price = 0.90
"""
    write(tmp_path, text)
    tariff = load_catalog(tmp_path).get("test-tiers")
    old, new = tariff.version_for(date(2020, 12, 31)), tariff.version_for(date(2021, 1, 1))
    # 1300 kWh from 1100 already billed: no proration, the whole reading takes the day's version
    assert quote(old, 300, used_before=1100).total == D("160.00")  # 100 x 0.50 + 200 x 0.55
    assert quote(new, 300, used_before=1100).total == D("232.00")  # 100 x 0.52 + 200 x 0.90


def test_versions_may_leave_a_gap_but_not_overlap(tmp_path: Path) -> None:
    text = VALID.replace("year_start_month = 1", "year_start_month = 1\neffective_to = 2020-06-30") + """
[[versions]]
effective_from = 2020-08-01

[[versions.tiers]]
price = 0.60
"""
    write(tmp_path, text)
    tariff = load_catalog(tmp_path).get("test-tiers")
    assert tariff.version_for(date(2020, 6, 30)).tiers[0].price == D("0.50")
    assert tariff.version_for(date(2020, 8, 1)).is_flat
    with pytest.raises(NoVersionInForce, match="2020-07-15"):
        tariff.version_for(date(2020, 7, 15))


def test_same_start_date_overlaps(tmp_path: Path) -> None:
    text = VALID + '\n[[versions]]\neffective_from = 2020-01-01\n\n[[versions.tiers]]\nprice = 0.60\n'
    refused(tmp_path, text, OverlappingVersions, "test-tiers.toml", "2020-01-01")


def test_effective_to_reaching_into_the_next_version_overlaps(tmp_path: Path) -> None:
    text = VALID.replace("year_start_month = 1", "year_start_month = 1\neffective_to = 2021-01-01") + (
        '\n[[versions]]\neffective_from = 2021-01-01\n\n[[versions.tiers]]\nprice = 0.60\n')
    message = refused(tmp_path, text, OverlappingVersions, "overlaps")
    assert "2021-01-01" in message


def test_adjacent_versions_do_not_overlap(tmp_path: Path) -> None:
    text = VALID.replace("year_start_month = 1", "year_start_month = 1\neffective_to = 2020-12-31") + (
        '\n[[versions]]\neffective_from = 2021-01-01\n\n[[versions.tiers]]\nprice = 0.60\n')
    write(tmp_path, text)
    assert len(load_catalog(tmp_path).get("test-tiers").versions) == 2


@pytest.mark.parametrize(("old", "new", "where"), [
    ('name = "Test tiers"', 'name = "Test tiers"\ncolour = "red"', "colour"),
    ('period = "annual"', 'period = "annual"\nefective_to = 2021-01-01', "efective_to"),
    ("up_to = 1200", "up_to = 1200\nuptoo = 5", "versions[0].tiers[0]"),
])
def test_unknown_fields_are_refused(tmp_path: Path, old: str, new: str, where: str) -> None:
    refused(tmp_path, VALID.replace(old, new, 1), UnknownField, "test-tiers.toml", where, "unknown field")


def test_missing_price(tmp_path: Path) -> None:
    refused(tmp_path, VALID.replace("price = 0.80", ""), MissingField, "versions[0].tiers[2].price")


@pytest.mark.parametrize(("bounds", "fragment"), [
    ((2400, 1200), "strictly increase"),
    ((1200, 1200), "strictly increase"),
    ((1201, 2400), "divisible by 12"),
])
def test_bad_tier_bounds(tmp_path: Path, bounds: tuple[int, int], fragment: str) -> None:
    text = VALID.replace("up_to = 1200", f"up_to = {bounds[0]}").replace("up_to = 2400", f"up_to = {bounds[1]}")
    refused(tmp_path, text, InvalidTiers, "test-tiers.toml", fragment)


def test_last_tier_must_be_unbounded(tmp_path: Path) -> None:
    refused(tmp_path, VALID.replace("price = 0.80", "up_to = 3600\nprice = 0.80"), InvalidTiers, "last tier")


def test_middle_tier_needs_a_bound(tmp_path: Path) -> None:
    refused(tmp_path, VALID.replace("up_to = 2400\n", ""), InvalidTiers, "tiers[1]", "needs up_to")


@pytest.mark.parametrize("price", ["-0.55", "0", '"-0.10"', '"abc"', "true", "0.1234567"])
def test_bad_prices(tmp_path: Path, price: str) -> None:
    refused(tmp_path, VALID.replace('price = "0.55"', f"price = {price}"), InvalidField, "tiers[1].price")


def test_time_of_use_signs_and_resulting_prices_are_checked(tmp_path: Path) -> None:
    tou = "\n[versions.time_of_use]\npeak_adjustment = 0.03\nvalley_adjustment = {}\n"
    insert = VALID.replace("[[versions.tiers]]", "{tou}[[versions.tiers]]", 1)
    refused(tmp_path, insert.format(tou=tou.format("0.12")), InvalidField, "valley_adjustment", "negative")
    refused(tmp_path, insert.format(tou=tou.format("-0.60")), InvalidField, "valley price negative")
    write(tmp_path, insert.format(tou=tou.format("-0.12")))
    assert load_catalog(tmp_path).get("test-tiers").current.time_of_use is not None


def test_allowance_mode_is_checked(tmp_path: Path) -> None:
    allowance = '\n[versions.allowance]\nkwh_per_month = 10\nmode = "{}"\n'
    insert = VALID.replace("[[versions.tiers]]", "{a}[[versions.tiers]]", 1)
    refused(tmp_path, insert.format(a=allowance.format("free")), InvalidField, "allowance.mode")


def test_dates_must_be_toml_dates(tmp_path: Path) -> None:
    refused(tmp_path, VALID.replace("2020-01-01", '"2020-01-01"'), InvalidField, "effective_from", "TOML date")
    refused(tmp_path, VALID.replace("2020-01-01", "2020-01-01T00:00:00"), InvalidField, "date-time")


def test_effective_to_before_effective_from(tmp_path: Path) -> None:
    text = VALID.replace("year_start_month = 1", "year_start_month = 1\neffective_to = 2019-12-31")
    refused(tmp_path, text, InvalidField, "effective_to", "before")


def test_bad_period_and_start_month(tmp_path: Path) -> None:
    refused(tmp_path, VALID.replace('"annual"', '"weekly"'), InvalidField, "period")
    refused(tmp_path, VALID.replace("year_start_month = 1", "year_start_month = 13"), InvalidField,
            "year_start_month", "between 1 and 12")


def test_malformed_toml_names_the_file_and_line(tmp_path: Path) -> None:
    message = refused(tmp_path, VALID.replace("price = 0.80", "price = = 0.80"), MalformedDataFile,
                      "test-tiers.toml", "not valid TOML")
    assert "line" in message


def test_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "test-tiers.toml").write_bytes(VALID.replace("Test tiers", "电价").encode("gbk"))
    with pytest.raises(MalformedDataFile, match="UTF-8"):
        load_catalog(tmp_path)


def test_unknown_schema(tmp_path: Path) -> None:
    refused(tmp_path, VALID.replace("tariff/1", "tariff/9"), MalformedDataFile, "unknown or missing schema")


def test_id_must_match_the_file_name(tmp_path: Path) -> None:
    refused(tmp_path, VALID.replace('id = "test-tiers"', 'id = "other"'), InvalidField, "file name")


def test_empty_or_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(TariffDataError, match="no tariff files"):
        load_catalog(tmp_path)
    with pytest.raises(TariffDataError, match="not found"):
        load_catalog(tmp_path / "nowhere")


def test_late_fee_file_is_loaded_and_checked(tmp_path: Path) -> None:
    write(tmp_path, VALID)
    write(tmp_path, LATE, "late.toml")
    schedule = load_catalog(tmp_path).require_late_fees()
    assert schedule.version_for(date(2020, 1, 1)).rates_for("residential").current_year == D("0.001")

    write(tmp_path, LATE.replace("current_year = 0.001", "current_year = 1.5"), "late.toml")
    with pytest.raises(InvalidField, match="per mille"):
        load_catalog(tmp_path)
    write(tmp_path, LATE.replace('minimum = "1.00"', 'minimum = "-1.00"'), "late.toml")
    with pytest.raises(InvalidField, match="minimum"):
        load_catalog(tmp_path)
    write(tmp_path, LATE.replace("prior_year = 0.001", "prior_year = 0.001\nlater_year = 0.004"), "late.toml")
    with pytest.raises(UnknownField, match="later_year"):
        load_catalog(tmp_path)
    write(tmp_path, LATE + LATE.replace('schema = "late-fee/1"\n', ""), "late.toml")  # two versions, same day
    with pytest.raises(OverlappingVersions):
        load_catalog(tmp_path)


def test_two_late_fee_files_are_refused(tmp_path: Path) -> None:
    write(tmp_path, VALID)
    write(tmp_path, LATE, "late-a.toml")
    write(tmp_path, LATE, "late-b.toml")
    with pytest.raises(DuplicateDefinition, match="late-b.toml"):
        load_catalog(tmp_path)

"""Input values are checked when built; the card-data digest is canonical."""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib

import pytest

from print_templates import (
    BatchCover,
    CardRecord,
    InvalidCardData,
    PrintBranding,
    card_data_sha256,
)

from .conftest import make_batch


@pytest.fixture(scope="module")
def card() -> CardRecord:
    return make_batch(1).cards[0]


def test_valid_card_is_frozen(card) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        card.serial = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    "change",
    [
        {"serial": "0100004200000018"},  # wrong check digit
        {"serial": "010000420000001"},  # too short
        {"code": "1234 5678 9012 3456 7890"},  # separators
        {"code": "WRONG-CHECK-DIGIT"},  # replaced below: one digit changed
        {"token": "ev1:abc"},  # not in the QR alphanumeric alphabet
        {"token": "XYZ:ABC"},
        {"face_value": 100.0},
        {"face_value": 0},
        {"face_value": True},
        {"currency": "XXX"},
        {"expires": dt.datetime(2027, 1, 1)},
    ],
)
def test_bad_card_fields(card, change) -> None:
    if change.get("code") == "WRONG-CHECK-DIGIT":  # Damm catches every single-digit change
        change = {"code": card.code[:-1] + str((int(card.code[-1]) + 1) % 10)}
    with pytest.raises(InvalidCardData) as info:
        dataclasses.replace(card, **change)
    assert info.value.code == "invalid_card_data"
    # never echo the secret code or the token
    assert card.code not in str(info.value) and card.token[4:30] not in str(info.value)


def test_cover_needs_aware_print_time() -> None:
    cover = make_batch(1).cover
    with pytest.raises(InvalidCardData, match="timezone-aware"):
        dataclasses.replace(cover, printed_at=dt.datetime(2026, 1, 1, 12, 0))


@pytest.mark.parametrize(
    "change",
    [{"count": 0}, {"card_data_sha256": "ABC"}, {"first_serial": "123"}, {"operator": " "}, {"face_value": -1}],
)
def test_bad_cover_fields(change) -> None:
    cover = make_batch(1).cover
    with pytest.raises(InvalidCardData):
        dataclasses.replace(cover, **change)


def test_branding_defaults_and_checks() -> None:
    b = PrintBranding()
    # no made-up real utility: the neutral default says it is not configured
    assert "未配置" in b.utility_name and "国网" not in b.utility_name
    assert b.web_address.startswith("https://") and b.sms_number
    assert b.qr_prefix == "https://pay.utility.example/r#"
    assert PrintBranding(qr_url=None).qr_prefix == ""
    with pytest.raises(InvalidCardData):
        PrintBranding(utility_name="two\nlines")
    with pytest.raises(InvalidCardData):
        PrintBranding(primary_colour="blue")
    with pytest.raises(InvalidCardData):
        PrintBranding(qr_url="https://x.example/r#already")


def test_card_data_digest_is_the_lf_csv() -> None:
    cards = make_batch(2, face_value=10_050).cards
    expected = "serial,code,token,face_value,currency,expires\n" + "".join(
        f"{c.serial},{c.code},{c.token},100.50,CNY,2027-12-31\n" for c in cards
    )
    assert card_data_sha256(cards) == hashlib.sha256(expected.encode()).hexdigest()
    assert card_data_sha256(reversed(cards)) != card_data_sha256(cards)  # order matters


def test_cover_is_hashable_for_caching() -> None:
    cover: BatchCover = make_batch(1).cover
    assert hash(cover) == hash(dataclasses.replace(cover))

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vouchers import damm
from vouchers.codes import CODE_LENGTH, code_hash, generate_code, group_code, normalize_code
from vouchers.errors import InvalidCode, InvalidSerial
from vouchers.serials import Serial, batch_id_for, parse_batch_id

VECTORS = Path(__file__).parents[2] / "vectors" / "vouchers"


def test_damm_vectors():
    for row in json.loads((VECTORS / "damm.json").read_text())["vectors"]:
        assert damm.check_digit(row["digits"]) == row["check"]
        assert damm.is_valid(row["digits"] + row["check"])


def test_damm_wikipedia_example_independent():
    assert damm.check_digit("572") == "4"
    assert damm.is_valid("5724") and not damm.is_valid("5723")


def test_generated_codes_are_20_digits_and_valid():
    codes = {generate_code() for _ in range(2000)}
    assert len(codes) == 2000
    for code in codes:
        assert len(code) == CODE_LENGTH and code.isdigit() and damm.is_valid(code)


def test_code_uses_full_digit_range():
    first_digits = {generate_code()[0] for _ in range(500)}
    assert first_digits == set("0123456789")


@given(st.integers(min_value=0, max_value=10**19 - 1), st.integers(min_value=0, max_value=19),
       st.integers(min_value=1, max_value=9))
def test_every_single_digit_typo_is_caught(body, position, delta):
    code = f"{body:019d}" + damm.check_digit(f"{body:019d}")
    typo = code[:position] + str((int(code[position]) + delta) % 10) + code[position + 1:]
    with pytest.raises(InvalidCode):
        normalize_code(typo)


@given(st.integers(min_value=0, max_value=10**19 - 1), st.integers(min_value=0, max_value=18))
def test_every_adjacent_swap_is_caught(body, position):
    code = f"{body:019d}" + damm.check_digit(f"{body:019d}")
    if code[position] == code[position + 1]:
        return
    swapped = code[:position] + code[position + 1] + code[position] + code[position + 2:]
    with pytest.raises(InvalidCode):
        normalize_code(swapped)


def test_normalize_accepts_spaces_and_dashes():
    code = generate_code()
    assert normalize_code(group_code(code)) == code
    assert normalize_code("-".join(group_code(code).split())) == code
    assert normalize_code(f"  {code}\t") == code


@pytest.mark.parametrize("bad", ["", "1234", "1" * 21, "abcd" * 5, "１２３４５６７８９０１２３４５６７８９０", None, 12345])
def test_normalize_rejects_garbage_without_echoing_it(bad):
    with pytest.raises(InvalidCode) as info:
        normalize_code(bad)
    if isinstance(bad, str) and len(bad) > 4:
        assert bad not in str(info.value)


def test_code_hash_is_keyed_and_normalising():
    code = generate_code()
    pepper_a, pepper_b = secrets.token_bytes(32), secrets.token_bytes(32)
    assert code_hash(pepper_a, group_code(code)) == code_hash(pepper_a, code)
    assert code_hash(pepper_a, code) != code_hash(pepper_b, code)
    assert len(code_hash(pepper_a, code)) == 32


def test_serial_vectors_and_round_trip():
    for row in json.loads((VECTORS / "serials.json").read_text())["vectors"]:
        serial = Serial(row["issuer"], row["batch_number"], row["sequence"])
        assert str(serial) == row["serial"]
        assert Serial.parse(row["serial"]) == serial


def test_serial_check_digit_catches_typos():
    text = str(Serial(1, 42, 17))
    typo = text[:-2] + str((int(text[-2]) + 1) % 10) + text[-1]
    with pytest.raises(InvalidSerial):
        Serial.parse(typo)


@pytest.mark.parametrize("args", [(100, 1, 1), (1, 0, 1), (1, 1, 0), (1, 1_000_000, 1), (1, 1, 10**7)])
def test_serial_ranges(args):
    with pytest.raises(InvalidSerial):
        Serial(*args)


def test_batch_id_round_trip():
    assert batch_id_for(1, 42) == "B01-000042"
    assert parse_batch_id("B01-000042") == (1, 42)
    with pytest.raises(InvalidSerial):
        parse_batch_id("X01-42")


# -- mutation survivors (issue 26, docs/testing.md): what the tests above did not pin down --------------------

@pytest.mark.parametrize("bad", ["12a4", "١٢٣", "１２３", "", " 12"])
def test_damm_check_digit_refuses_anything_but_ascii_digits(bad):
    # either condition alone must refuse: letters are ASCII, Arabic-Indic and full-width digits are digits
    with pytest.raises(ValueError) as info:
        damm.check_digit(bad)
    assert str(info.value) == "Damm check digit needs ASCII digits"


@pytest.mark.parametrize("typed, message", [
    (None, "code must be text"),
    ("abcd" * 5, "code must contain only the digits 0-9 (spaces and dashes allowed)"),
    ("１２３４５６７８９０１２３４５６７８９０", "code must contain only the digits 0-9 (spaces and dashes allowed)"),
    ("1234", "code must have 20 digits"),
    ("1" * 20, "code check digit does not match: please re-type the code"),
])
def test_normalize_code_says_which_rule_the_typed_code_broke(typed, message):
    # the 422 message a terminal shows: letters are not a check-digit typo
    with pytest.raises(InvalidCode) as info:
        normalize_code(typed)
    assert str(info.value) == message


@pytest.mark.parametrize("start", range(10))
def test_damm_interim_of_int_continues_from_any_interim(start):
    from vouchers.codes import damm_interim_of_int

    value = 12345678901234567890
    expected = start
    for ch in f"{value:020d}":
        expected = damm._TABLE[expected][int(ch)]
    assert damm_interim_of_int(value, start) == expected


def test_generate_codes_rejects_a_draw_of_exactly_ten_to_the_nineteenth(monkeypatch):
    # rejection sampling keeps bodies below 10**19 only: the bound itself would be a 20-digit body
    from array import array

    from vouchers import codes

    def token_bytes(n: int) -> bytes:
        draws = [10**19, 5] + [0] * (n // 8 - 2)
        return array("Q", draws).tobytes()

    monkeypatch.setattr(codes.secrets, "token_bytes", token_bytes)
    body = "0" * 18 + "5"
    assert codes.generate_codes(1) == [body + damm.check_digit(body)]

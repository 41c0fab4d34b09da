"""``voucherctl sts token`` / ``sts decode`` in process: exit codes, JSON on stdout, one-line errors."""
from __future__ import annotations

import json
from typing import Any

import pytest

from voucherctl.main import main

from .vectors import compliance, load

WALK = load("ctsa01_step1_walkthrough.json")
IN = WALK["inputs"]
DECODER_KEY = WALK["intermediates"]["decoder_key"]

BASE_ARGS = {
    "--vending-key": IN["vending_key"], "--sgc": str(IN["sgc"]), "--ti": "01", "--krn": str(IN["krn"]),
    "--key-type": str(IN["key_type"]), "--base-date": str(IN["base_date"]), "--pan": IN["pan"],
    "--issued": "2004-03-01T13:00:00", "--subclass": "0", "--rnd": "5", "--amount": "0.1",
}


def token_argv(**changes: str | None) -> list[str]:
    args = dict(BASE_ARGS)
    for name, value in changes.items():
        option = "--" + name.replace("_", "-")
        if value is None:
            args.pop(option, None)
        else:
            args[option] = value
    argv = ["sts", "token", "--json"]
    for option, value in args.items():
        argv += [option, value]
    return argv


def run_ok(argv: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 0, err
    assert err == ""
    assert out.count("\n") == 1  # exactly one JSON document
    return json.loads(out)


def run_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    code = main(argv)
    out, err = capsys.readouterr()
    assert code != 0
    assert out == ""
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert err.startswith("voucherctl: error: ")
    return err


def test_token_reproduces_the_published_vector(capsys: pytest.CaptureFixture[str]) -> None:
    doc = run_ok(token_argv(), capsys)
    assert doc["token"] == WALK["token"]
    assert doc["tid"] == WALK["intermediates"]["tid"]
    assert doc["decoder_key"] == DECODER_KEY
    assert doc["amount"] == "0.1" and isinstance(doc["amount"], str)


def test_token_with_explicit_class_and_zone(capsys: pytest.CaptureFixture[str]) -> None:
    argv = token_argv(issued="2004-03-01T21:00:59+08:00") + ["--token-class", "0"]
    assert run_ok(argv, capsys)["token"] == WALK["token"]


def test_token_reports_the_rounded_up_amount(capsys: pytest.CaptureFixture[str]) -> None:
    vector = next(v for v in compliance()["tid_tokens"] if v["id"] == "CTSA10 step 4")
    doc = run_ok(token_argv(amount="2000.0", issued=vector["issued"]), capsys)
    assert doc["token"] == vector["token"]
    assert doc["amount"] == "2000.4"


@pytest.mark.parametrize("vector_id", ["CTSA01 step 9", "CTSA01 step 13", "CTSA01 step 6"])
def test_token_other_base_dates_and_meters(vector_id: str, capsys: pytest.CaptureFixture[str]) -> None:
    v = next(v for v in compliance()["tid_tokens"] if v["id"] == vector_id)
    doc = run_ok(token_argv(krn=str(v.get("krn", 1)), base_date=str(v.get("base_date", 1993)),
                            pan=v.get("pan", IN["pan"]), issued=v["issued"], subclass=str(v["subclass"])), capsys)
    assert doc["token"] == v["token"]


def test_engineering_tokens(capsys: pytest.CaptureFixture[str]) -> None:
    vectors = {v["id"]: v for v in compliance()["tid_tokens"]}
    cases = [
        ("CTSA03 step 1", ["--token-class", "2"], {"subclass": "0", "power_limit": "1000"}),
        ("CTSA04 step 1", ["--token-class", "2"], {"subclass": "1"}),
        ("CTSA14 step 3", ["--token-class", "2"], {"subclass": "1", "register": "4"}),
        ("CTSA06 step 1", ["--token-class", "2"], {"subclass": "5"}),
        ("CTSA07 step 1", ["--token-class", "2"], {"subclass": "6", "power_limit": "10"}),
    ]
    for vector_id, extra, changes in cases:
        v = vectors[vector_id]
        doc = run_ok(token_argv(amount=None, issued=v["issued"], **changes) + extra, capsys)
        assert doc["token"] == v["token"], vector_id
        assert doc["token_class"] == 2


def test_decode(capsys: pytest.CaptureFixture[str]) -> None:
    doc = run_ok(["sts", "decode", WALK["token"], "--decoder-key", DECODER_KEY, "--json"], capsys)
    assert doc["token_class"] == 0 and doc["subclass"] == 0 and doc["rnd"] == 5
    assert doc["tid"] == WALK["intermediates"]["tid"]
    assert doc["amount"] == "0.1"
    assert doc["crc_ok"] is True


def test_decode_grouped_token(capsys: pytest.CaptureFixture[str]) -> None:
    doc = run_ok(["sts", "decode", "5938 6323 4721 3742 6967", "--decoder-key", DECODER_KEY.upper(), "--json"],
                 capsys)
    assert doc["crc_ok"] is True


def test_decode_with_the_wrong_key(capsys: pytest.CaptureFixture[str]) -> None:
    doc = run_ok(["sts", "decode", WALK["token"], "--decoder-key", "00" * 16, "--json"], capsys)
    assert doc == {"token_class": 0, "subclass": None, "rnd": None, "tid": None, "amount": None, "crc_ok": False}


def test_decode_engineering_and_key_change(capsys: pytest.CaptureFixture[str]) -> None:
    vectors = {v["id"]: v for v in compliance()["tid_tokens"]}
    doc = run_ok(["sts", "decode", vectors["CTSA12 step 4"]["token"], "--decoder-key", DECODER_KEY, "--json"], capsys)
    assert (doc["token_class"], doc["subclass"], doc["power_limit"], doc["amount"]) == (2, 0, "20004", None)
    kc = compliance()["key_changes"][0]["tokens"][1]
    doc = run_ok(["sts", "decode", kc, "--decoder-key", DECODER_KEY, "--json"], capsys)
    assert doc["kind"] == "set_2nd_section_decoder_key" and doc["key_change"]["ti"] == 2


def test_human_output(capsys: pytest.CaptureFixture[str]) -> None:
    argv = [a for a in token_argv() if a != "--json"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "5938 6323 4721 3742 6967"


@pytest.mark.parametrize("changes, message", [
    ({"vending_key": "zz" * 20}, "not valid hex"),
    ({"vending_key": "ab" * 19}, "20 bytes"),
    ({"pan": "600727000000000008"}, "Luhn"),
    ({"pan": "60072700000000009"}, "18"),
    ({"amount": "1820162.5"}, "largest"),
    ({"amount": "-1"}, "negative"),
    ({"amount": "ten"}, "decimal"),
    ({"amount": None}, "--amount is required"),
    ({"base_date": "2000"}, "1993, 2014 or 2035"),
    ({"issued": "yesterday"}, "ISO 8601"),
    ({"issued": "1992-12-31T23:59:00Z"}, "before the 1993 base date"),
    ({"issued": "2025-01-01T00:00:00Z"}, "rolled over"),
    ({"sgc": "1234567"}, "--sgc"),
    ({"ti": "100"}, "--ti"),
    ({"krn": "0"}, "--krn"),
    ({"key_type": "4"}, "--key-type"),
    ({"rnd": "16"}, "--rnd"),
    ({"subclass": "4"}, "currency"),
    ({"ken": "88"}, "expired"),
])
def test_bad_token_input_is_one_line(changes: dict[str, str | None], message: str,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert message in run_error(token_argv(**changes), capsys)


@pytest.mark.parametrize("extra, changes, message", [
    (["--token-class", "1"], {}, "--token-class"),
    (["--token-class", "2"], {"subclass": "0"}, "--amount applies to class 0"),
    (["--token-class", "2"], {"subclass": "0", "amount": None}, "--power-limit"),
    (["--token-class", "2"], {"subclass": "3", "amount": None}, "key changes"),
    (["--power-limit", "5"], {}, "class 2 tokens only"),
])
def test_bad_class_options(extra: list[str], changes: dict[str, str | None], message: str,
                           capsys: pytest.CaptureFixture[str]) -> None:
    assert message in run_error(token_argv(**changes) + extra, capsys)


@pytest.mark.parametrize("argv, message", [
    (["sts", "decode", "1234", "--decoder-key", "00" * 16, "--json"], "20 digits"),
    (["sts", "decode", "73786976294838206464", "--decoder-key", "00" * 16, "--json"], "66 bits"),
    (["sts", "decode", "59386323472137426967", "--decoder-key", "00" * 15, "--json"], "16 bytes"),
    (["sts", "decode", "59386323472137426967", "--decoder-key", "xyz", "--json"], "hex"),
    (["sts", "decode", "59386323472137426967", "--json"], "--decoder-key"),
])
def test_bad_decode_input_is_one_line(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert message in run_error(argv, capsys)


def test_decode_refuses_class_1(capsys: pytest.CaptureFixture[str]) -> None:
    from vouchers.sts.transposition import to_digits, transpose_class

    token = to_digits(transpose_class(0x0123456789ABCDEF, 1))
    assert "class 1" in run_error(["sts", "decode", token, "--decoder-key", DECODER_KEY, "--json"], capsys)


def test_naive_issue_time_is_utc_whatever_the_local_zone(capsys: pytest.CaptureFixture[str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    monkeypatch.setenv("TZ", "Asia/Shanghai")
    time.tzset()
    try:
        assert run_ok(token_argv(issued="2004-03-01 13:00"), capsys)["token"] == WALK["token"]
    finally:
        monkeypatch.undo()
        time.tzset()

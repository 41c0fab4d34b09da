"""``voucherctl sts meters|vending-key|vend|reprint|engineering`` end to end (in process, both databases)."""
from __future__ import annotations

import datetime as dt
import json
import zoneinfo
from dataclasses import dataclass
from pathlib import Path

import pytest

from sts.decoder import decode_token
from sts.dkga04 import MeterKeyParams, derive_decoder_key
from sts.pan import MeterPan
from sts.tid import BaseDate
from voucherctl import billing_cmd, context
from voucherctl import main as voucherctl_main

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
KEY_HEX = "abababababababab949494949494949401234567"
PAN = "600727000000000009"
DECODER_KEY = derive_decoder_key(bytes.fromhex(KEY_HEX), MeterKeyParams(
    pan=MeterPan(PAN), sgc=123457, ti=1, krn=1, key_type=2, base_date=BaseDate.Y2014, ken=255))


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self):  # type: ignore[no-untyped-def]
        return json.loads(self.out)


class Cli:
    def __init__(self, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
        self.capsys = capsys
        self.clock = dt.datetime(2026, 11, 26, 10, tzinfo=SHANGHAI)
        monkeypatch.setattr(context, "now", lambda: self.clock)

    def __call__(self, *args: str) -> Result:
        self.capsys.readouterr()
        code = voucherctl_main.main(list(args))
        captured = self.capsys.readouterr()
        return Result(code, captured.out, captured.err)


@pytest.fixture
def cli(db_url, tmp_path: Path, monkeypatch, capsys):  # type: ignore[no-untyped-def]
    voucherctl_main.cli.add_command(billing_cmd.billing)
    monkeypatch.setenv("VOUCHER_DATABASE_URL", db_url)
    monkeypatch.setenv("VOUCHER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("VOUCHER_KEY_PASSPHRASE", "sts cli passphrase")
    monkeypatch.setenv("VOUCHER_ACTOR", "clerk")
    monkeypatch.delenv("VOUCHER_TARIFF_DIR", raising=False)
    context.settings.cache_clear()
    context.engine.cache_clear()
    yield Cli(capsys, monkeypatch)
    context.engine().dispose()
    context.settings.cache_clear()
    context.engine.cache_clear()


def _setup(cli: Cli) -> None:
    assert cli("accounts", "create", "--account-no", "P1", "--name", "Han Meimei").code == 0
    r = cli("billing", "assign", "P1", "--tariff", "fj-residential", "--mode", "prepaid", "--area", "湖里区",
            "--meter", "MP1")
    assert r.code == 0, r.err
    r = cli("sts", "vending-key", "import", "--hex", KEY_HEX, "--sgc", "123457", "--krn", "1", "--json")
    assert r.code == 0, r.err
    assert KEY_HEX not in r.out
    r = cli("sts", "meters", "add", "--pan", PAN, "--account", "P1", "--sgc", "123457", "--ti", "1", "--krn", "1",
            "--json")
    assert r.code == 0, r.err


def test_meters_vend_reprint_engineering(cli: Cli, tmp_path: Path) -> None:
    _setup(cli)
    sealed = list((tmp_path / "home" / "keys" / "vending").iterdir())
    assert len(sealed) == 1 and KEY_HEX not in sealed[0].read_text()
    listed = cli("sts", "meters", "list", "--json").json()["meters"]
    assert [(m["pan"], m["account_no"], m["sgc"], m["last_tid"]) for m in listed] == [(PAN, "P1", "123457", None)]
    assert cli("sts", "vending-key", "list", "--json").json()["keys"] == [{"sgc": 123457, "krn": 1, "key_type": 2}]

    r = cli("sts", "vend", "--account", "P1", "--amount", "100.00", "--ref", "C1", "--json")
    assert r.code == 0, r.err
    vend = r.json()
    decoded = decode_token(vend["token"], DECODER_KEY).verified()
    assert decoded.units == vend["units"] and vend["kwh"] == f"{vend['units'] / 10:.1f}"
    assert decoded.tid == vend["tid"]
    again = cli("sts", "vend", "--account", "P1", "--amount", "100.00", "--ref", "C1", "--json").json()
    assert again["token"] == vend["token"] and again["replayed"] is True  # same payment: same token

    r = cli("sts", "reprint", "--meter", PAN, "--json")
    assert r.code == 0 and r.json()["token"] == vend["token"] and r.json()["reprints"] == 1

    tids = [vend["tid"]]
    for kind, extra, name in (("clear-credit", (), "clear_credit"), ("clear-tamper", (), "clear_tamper_condition"),
                              ("max-power", ("--watts", "5000"), "set_maximum_power_limit")):
        r = cli("sts", "engineering", "--meter", PAN, "--kind", kind, *extra, "--json")
        assert r.code == 0, r.err
        assert decode_token(r.json()["token"], DECODER_KEY).verified().kind == name
        tids.append(r.json()["tid"])
    assert tids == sorted(set(tids))  # one minute, four tokens, four increasing TIDs

    human = cli("sts", "vend", "--account", "P1", "--amount", "20.00")
    assert human.code == 0 and len(human.out.splitlines()[0].replace(" ", "")) == 20


def test_refusals_are_one_line_errors(cli: Cli) -> None:
    _setup(cli)
    for args, words in (
        (("sts", "meters", "add", "--pan", "600727000000000008", "--account", "P1", "--sgc", "1", "--ti", "1",
          "--krn", "1"), "Luhn"),
        (("sts", "reprint", "--meter", "600727000000000017"), "no STS meter"),
        (("sts", "reprint", "--meter", PAN), "no token"),
        (("sts", "vend", "--account", "P1", "--amount", "3000000.00"), "largest STS amount"),
        (("sts", "engineering", "--meter", PAN, "--kind", "max-power"), "--watts"),
        (("sts", "vending-key", "import", "--hex", "abcd", "--sgc", "1", "--krn", "1"), "20 bytes"),
    ):
        r = cli(*args)
        assert r.code == 1, (args, r.out)
        assert words in r.err and r.err.count("\n") == 1, r.err
    # the refused 3,000,000.00 sale booked nothing
    assert cli("sts", "meters", "list", "--json").json()["meters"][0]["last_tid"] is None

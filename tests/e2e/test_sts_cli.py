"""``voucherctl sts meters|vending-key|vend|reprint|engineering`` end to end (in process, both databases)."""
from __future__ import annotations

import datetime as dt
import io
import json
import os
import shutil
import stat
import re
import subprocess
import zoneinfo
from dataclasses import dataclass
from pathlib import Path

import pytest

from vouchers.keystore.store import KeyStore
from vouchers.keystore.vending_keys import VendingKeyId, load_vending_key
from vouchers.sts.decoder import decode_token
from vouchers.sts.dkga04 import MeterKeyParams, derive_decoder_key
from vouchers.sts.pan import MeterPan
from vouchers.sts.tid import BaseDate
from tests.conftest import cheap_sealing
from voucherctl import context
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
    monkeypatch.setenv("VOUCHER_DATABASE_URL", db_url)
    monkeypatch.setenv("VOUCHER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("VOUCHER_KEY_PASSPHRASE", "sts cli passphrase")
    monkeypatch.setenv("VOUCHER_WEB_PASSPHRASE", "sts cli web secret")  # vending keys are sealed under it
    with cheap_sealing():  # vending keys go into an initialised key store only
        KeyStore(tmp_path / "home").initialise("sts cli passphrase", "sts cli web secret")
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


NEW_KEY_HEX = "0123456789abcdef0123456789abcdef01234567"


def _sealed_key(tmp_path: Path, sgc: int, krn: int) -> bytes:
    store = KeyStore(tmp_path / "home")
    return load_vending_key(store, VendingKeyId(sgc, krn, 2), "sts cli web secret")


def test_vending_key_import_reads_the_key_from_a_file_or_stdin(cli: Cli, tmp_path: Path, monkeypatch) -> None:
    key_file = tmp_path / "vending.hex"
    key_file.write_text(KEY_HEX + "\n")
    r = cli("sts", "vending-key", "import", "--hex-file", str(key_file), "--sgc", "123457", "--krn", "1", "--json")
    assert r.code == 0 and r.err == "", r.err
    assert r.json() == {"sgc": 123457, "krn": 1, "key_type": 2, "generated": False}
    assert _sealed_key(tmp_path, 123457, 1) == bytes.fromhex(KEY_HEX)

    monkeypatch.setattr("sys.stdin", io.StringIO(NEW_KEY_HEX + "\n"))
    r = cli("sts", "vending-key", "import", "--hex-file", "-", "--sgc", "123457", "--krn", "2")
    assert r.code == 0 and r.err == "", r.err
    assert NEW_KEY_HEX not in r.out and _sealed_key(tmp_path, 123457, 2) == bytes.fromhex(NEW_KEY_HEX)


def test_vending_key_on_the_command_line_still_works_with_a_warning(cli: Cli, tmp_path: Path) -> None:
    r = cli("sts", "vending-key", "import", "--hex", KEY_HEX, "--sgc", "123457", "--krn", "1", "--json")
    assert r.code == 0 and r.json()["sgc"] == 123457
    assert r.err.count("\n") == 1 and "warning" in r.err and "--hex-file" in r.err and KEY_HEX not in r.err
    assert _sealed_key(tmp_path, 123457, 1) == bytes.fromhex(KEY_HEX)


def test_vending_key_import_refusals(cli: Cli, tmp_path: Path) -> None:
    bad, big = tmp_path / "bad.hex", tmp_path / "big.hex"
    bad.write_text("not hex at all\n")
    big.write_text(KEY_HEX + " " * 2000)
    for args, words in (
        (("--hex-file", str(bad)), "not valid hex"),
        (("--hex-file", str(big)), "not a vending key file"),
        (("--hex-file", str(bad), "--hex", KEY_HEX), "exactly one of"),
        (("--hex-file", str(bad), "--generate"), "exactly one of"),
        ((), "exactly one of"),
    ):
        r = cli("sts", "vending-key", "import", *args, "--sgc", "123457", "--krn", "1")
        assert r.code == 1 and words in r.err and r.err.count("\n") == 1, (args, r.err)
        assert KEY_HEX not in r.err
    missing = cli("sts", "vending-key", "import", "--hex-file", str(tmp_path / "absent"), "--sgc", "1", "--krn", "1")
    assert missing.code == 2 and missing.err.count("\n") == 1
    assert not (tmp_path / "home" / "keys" / "vending").exists() or \
        not any((tmp_path / "home" / "keys" / "vending").iterdir())


def test_vending_key_import_needs_the_stores_passphrase_and_an_initialised_store(cli: Cli, tmp_path: Path,
                                                                                monkeypatch) -> None:
    monkeypatch.setenv("VOUCHER_WEB_PASSPHRASE", "another long passphrase")
    wrong = cli("sts", "vending-key", "import", "--generate", "--sgc", "123457", "--krn", "1")
    assert wrong.code == 1 and "wrong VOUCHER_WEB_PASSPHRASE" in wrong.err and wrong.err.count("\n") == 1, wrong.err
    monkeypatch.setenv("VOUCHER_HOME", str(tmp_path / "elsewhere"))
    context.settings.cache_clear()
    nowhere = cli("sts", "vending-key", "import", "--generate", "--sgc", "123457", "--krn", "1")
    assert nowhere.code == 1 and "voucherctl init" in nowhere.err and nowhere.err.count("\n") == 1, nowhere.err
    assert not (tmp_path / "home" / "keys" / "vending").exists() and not (tmp_path / "elsewhere").exists()


def _pdf_shows(path: Path, *words: str) -> None:
    """Fonts embedded (pdffonts), text extractable (pdftotext), the page renders (pdftoppm)."""
    fonts = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True).stdout
    rows = [line.split() for line in fonts.splitlines()[2:] if line.strip()]
    assert rows and all(row[-5] == "yes" for row in rows), fonts  # name type encoding emb sub uni object ID
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout
    for word in words:
        assert word in text, (word, text)
    out = path.with_suffix("")
    subprocess.run(["pdftoppm", "-r", "60", "-png", str(path), str(out)], check=True, capture_output=True)
    pages = list(path.parent.glob(out.name + "*.png"))
    assert len(pages) == 1 and pages[0].stat().st_size > 1000


def _balance(cli: Cli) -> str:
    r = cli("accounts", "show", "P1", "--json")
    assert r.code == 0, r.err
    return r.json()["balance"]


@pytest.mark.skipif(shutil.which("pdftoppm") is None or shutil.which("pdffonts") is None
                    or shutil.which("pdftotext") is None, reason="poppler-utils not installed")
def test_vend_and_reprint_receipts_and_the_books(cli: Cli, tmp_path: Path) -> None:
    _setup(cli)
    zh = tmp_path / "vend.pdf"
    r = cli("sts", "vend", "--account", "P1", "--amount", "100.00", "--ref", "R1", "--receipt", str(zh), "--json")
    assert r.code == 0, r.err
    vend = r.json()
    assert vend["receipt"] == str(zh) and vend["ledger_transaction_id"]
    grouped = " ".join(vend["token"][i:i + 4] for i in range(0, 20, 4))
    _pdf_shows(zh, grouped, PAN, "P1", "100.00", f"{vend['kwh']} kWh", str(vend["tid"]), "fj-residential",
               "电费购电凭证", "表号", "福建(厦门)居民生活用电", "(UTC+8)")  # issue 22: the description in Chinese
    # the energy left the prepaid balance for the meter: the books still balance
    assert _balance(cli) == "0.00"
    verified = cli("ledger", "verify", "--json")
    assert verified.code == 0 and verified.json()["ok"] is True, verified.out

    en = tmp_path / "reprint.pdf"
    r = cli("sts", "reprint", "--meter", PAN, "--receipt", str(en), "--lang", "en", "--json")
    assert r.code == 0, r.err
    assert r.json()["token"] == vend["token"] and r.json()["reprints"] == 1
    _pdf_shows(en, grouped, "REPRINT 1", "Meter No.", "Token time", "Fujian/Xiamen")

    bad = cli("sts", "reprint", "--meter", PAN, "--receipt", str(tmp_path / "missing-dir" / "x.pdf"))
    assert bad.code == 1 and "sts reprint --receipt" in bad.err and bad.err.count("\n") == 1


def test_receipts_hold_a_token_so_they_are_0600_and_never_written_through_a_symlink(cli: Cli,
                                                                                    tmp_path: Path) -> None:
    _setup(cli)
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    planted = tmp_path / "vend.pdf"
    planted.symlink_to(victim)
    old = os.umask(0o022)  # the usual umask: a plain write would leave the receipt readable by all
    try:
        r = cli("sts", "vend", "--account", "P1", "--amount", "100.00", "--ref", "R1", "--receipt", str(planted),
                "--json")
        assert r.code == 0, r.err
        reprint = tmp_path / "reprint.pdf"
        assert cli("sts", "reprint", "--meter", PAN, "--receipt", str(reprint), "--json").code == 0
    finally:
        os.umask(old)
    assert victim.read_bytes() == b"precious"
    for receipt in (planted, reprint):
        assert not receipt.is_symlink() and receipt.read_bytes().startswith(b"%PDF")
        assert stat.S_IMODE(receipt.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.glob(".*")] == []  # no temporary file left behind


def test_meter_rekey_then_vend_under_the_new_key(cli: Cli) -> None:
    _setup(cli)
    first = cli("sts", "vend", "--account", "P1", "--amount", "10.00", "--json").json()
    assert cli("sts", "vending-key", "import", "--hex", NEW_KEY_HEX, "--sgc", "123457", "--krn", "2").code == 0
    r = cli("sts", "meter", "rekey", PAN, "--krn", "2", "--ti", "2", "--json")
    assert r.code == 0, r.err
    change = r.json()
    assert NEW_KEY_HEX not in r.out and KEY_HEX not in r.out
    assert change["old"]["krn"] == 1 and change["new"]["krn"] == 2 and change["new"]["ti"] == 2
    new_decoder = derive_decoder_key(bytes.fromhex(NEW_KEY_HEX), MeterKeyParams(
        pan=MeterPan(PAN), sgc=123457, ti=2, krn=2, key_type=2, base_date=BaseDate.Y2014, ken=255))
    sections = [decode_token(t, DECODER_KEY).verified().key_change for t in change["tokens"]]
    f = [s.fields() for s in sections]
    assert ((f[0]["nkho"] << 96) | (f[2]["nkmo2"] << 64) | (f[3]["nkmo1"] << 32) | f[1]["nklo"]).to_bytes(
        16, "big") == new_decoder
    listed = cli("sts", "meters", "list", "--json").json()["meters"][0]
    assert (listed["krn"], listed["ti"], listed["last_tid"]) == (2, 2, first["tid"])

    after = cli("sts", "vend", "--account", "P1", "--amount", "10.00", "--json").json()
    assert decode_token(after["token"], new_decoder).verified().tid == after["tid"] == first["tid"] + 1
    assert not decode_token(after["token"], DECODER_KEY).crc_ok

    again = cli("sts", "reprint", "--meter", PAN, "--key-change", "--json")
    assert again.code == 0 and again.json()["tokens"] == change["tokens"]
    human = cli("sts", "meters", "rekey", PAN, "--ken", "200")
    assert human.code == 0 and "1. " in human.out and "(changed)" in human.out

    for args, words in (
        (("sts", "meter", "rekey", PAN, "--ken", "200"), "already has these key parameters"),
        (("sts", "meter", "rekey", "600727000000000017", "--krn", "1"), "no STS meter"),
        (("sts", "meter", "rekey", PAN, "--ken", "5"), "expired"),
        (("sts", "meter", "rekey", PAN, "--krn", "7"),  # 7 is asked for, the meter is on 2
         "no vending key for key revision 7 of SGC 123457, the new key of this key change (revision 2 -> 7)"),
        (("sts", "meter", "rekey", PAN, "--krn", "10"), "--krn"),
    ):
        r = cli(*args)
        assert r.code == 1, (args, r.out)
        assert words in r.err and r.err.count("\n") == 1, (args, r.err)
    listed = cli("sts", "meters", "list", "--json").json()["meters"][0]
    assert (listed["krn"], listed["ken"]) == (2, 200)  # the refusals changed nothing


@pytest.mark.skipif(shutil.which("pdftoppm") is None or shutil.which("pdffonts") is None
                    or shutil.which("pdftotext") is None, reason="poppler-utils not installed")
def test_rekey_and_its_reprint_write_a_key_change_receipt(cli: Cli, tmp_path: Path) -> None:
    _setup(cli)
    assert cli("sts", "vending-key", "import", "--hex", NEW_KEY_HEX, "--sgc", "123457", "--krn", "2").code == 0
    zh = tmp_path / "rekey.pdf"
    r = cli("sts", "meter", "rekey", PAN, "--krn", "2", "--receipt", str(zh), "--json")
    assert r.code == 0, r.err
    change = r.json()
    assert change["receipt"] == str(zh) and len(change["tokens_grouped"]) == 4
    _pdf_shows(zh, *change["tokens_grouped"], PAN, "P1", "123457", "KRN", "1 -> 2", "2014",
               "电表密钥更换凭证", "更换时间", "2026-11-26 10:00")
    text = subprocess.run(["pdftotext", str(zh), "-"], capture_output=True, text=True, check=True).stdout
    order = [text.index(t) for t in change["tokens_grouped"]]
    assert order == sorted(order)  # the 1st section token first

    en = tmp_path / "rekey-reprint.pdf"
    r = cli("sts", "reprint", "--meter", PAN, "--key-change", "--receipt", str(en), "--lang", "en", "--json")
    assert r.code == 0, r.err
    assert r.json()["tokens"] == change["tokens"] and r.json()["receipt"] == str(en)
    _pdf_shows(en, *change["tokens_grouped"], "Meter key change receipt", "REPRINT 1", "Base date")

    bad = cli("sts", "reprint", "--meter", PAN, "--key-change", "--receipt", str(tmp_path / "no-dir" / "x.pdf"))
    assert bad.code == 1 and "--key-change --receipt" in bad.err and bad.err.count("\n") == 1


def test_meter_deactivate_and_reactivate(cli: Cli) -> None:
    _setup(cli)
    vend = cli("sts", "vend", "--account", "P1", "--amount", "10.00", "--ref", "D0", "--json").json()
    r = cli("sts", "meter", "deactivate", PAN, "--reason", "replaced by a non-keypad meter", "--json")
    assert r.code == 0, r.err
    assert (r.json()["pan"], r.json()["active"], r.json()["last_tid"]) == (PAN, False, vend["tid"])
    balance = _balance(cli)
    for args, words in (
        (("sts", "vend", "--account", "P1", "--amount", "20.00"), "out of service"),
        (("sts", "vend", "--account", "P1", "--amount", "20.00", "--meter", PAN), "out of service"),
        (("sts", "engineering", "--meter", PAN, "--kind", "clear-tamper"), "out of service"),
        (("sts", "meters", "deactivate", PAN, "--reason", "again"), "already inactive"),
        (("sts", "meters", "deactivate", "600727000000000017", "--reason", "gone"), "no STS meter"),
        (("sts", "meters", "reactivate", "600727000000000017", "--reason", "x"), "no STS meter"),
    ):
        r = cli(*args)
        assert r.code == 1, (args, r.out)
        assert words in r.err and r.err.count("\n") == 1, (args, r.err)
    r = cli("sts", "meters", "deactivate", PAN, "--reason", " ")  # refused as a bad option value
    assert r.code == 2 and r.err == "voucherctl: error: Invalid value for '--reason': must not be blank\n"
    assert _balance(cli) == balance  # the refused sales booked nothing
    assert "(inactive)" in cli("sts", "meters", "list").out
    assert cli("sts", "reprint", "--meter", PAN, "--json").json()["token"] == vend["token"]  # history kept

    r = cli("sts", "meters", "reactivate", PAN, "--reason", "keypad meter refitted", "--json")
    assert r.code == 0 and r.json()["active"] is True, r.err
    after = cli("sts", "vend", "--account", "P1", "--amount", "10.00", "--json")
    assert after.code == 0 and after.json()["tid"] == vend["tid"] + 1
    again = cli("sts", "meters", "reactivate", PAN, "--reason", "x")
    assert again.code == 1 and "already active" in again.err


def test_a_reprint_never_shows_a_token_time_after_the_sale_time(cli: Cli, tmp_path: Path) -> None:
    """Issue 22: 令牌时间 23:48 on a receipt whose 售电时间 was 23:47 (reproduced: two sales in one minute)."""
    _setup(cli)
    cli.clock = dt.datetime(2026, 11, 26, 23, 47, 10, tzinfo=SHANGHAI)
    sold = []
    for ref in ("R1", "R2"):  # two sales in one minute: TIDs strictly increase, the second is 23:48's
        r = cli("sts", "vend", "--account", "P1", "--amount", "10.00", "--ref", ref, "--json")
        assert r.code == 0, r.err
        sold.append(r.json())
    assert sold[1]["tid"] == sold[0]["tid"] + 1
    # JSON in business time (15:47 UTC is 23:47 in Beijing); the second vend is dated at its TID's minute
    assert [v["vended_at"] for v in sold] == ["2026-11-26T23:47:10+08:00", "2026-11-26T23:48:00+08:00"]
    cli.clock = dt.datetime(2026, 11, 27, 0, 0, 5, tzinfo=SHANGHAI)  # reprinted after midnight
    receipt = tmp_path / "reprint.pdf"
    assert cli("sts", "reprint", "--meter", PAN, "--receipt", str(receipt), "--json").code == 0
    text = subprocess.run(["pdftotext", "-layout", str(receipt), "-"], capture_output=True, text=True,
                          check=True).stdout
    times = dict(re.findall(r"(令牌时间|售电时间)\s+(\d{4}-\d\d-\d\d \d\d:\d\d) \(UTC\+8\)", text))
    assert set(times) == {"令牌时间", "售电时间"}, text
    assert times["令牌时间"] <= times["售电时间"], times

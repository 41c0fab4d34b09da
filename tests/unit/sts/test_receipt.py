"""The token receipt (print_templates.sts_receipt): 80 mm, both languages, fonts embedded, refusals."""
from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
import zoneinfo
from dataclasses import replace
from pathlib import Path

import pytest

from print_templates.errors import InvalidCardData, MissingGlyph
from print_templates.sts_receipt import (
    KeyChangeReceipt,
    StsReceipt,
    grouped_token,
    render_key_change_receipt,
    render_sts_receipt,
)

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
RECEIPT = StsReceipt(
    token="59386323472137426967", meter="600727000000000009", account_no="3300000001", kind="credit",
    tid=6_918_960, tid_time=dt.datetime(2026, 11, 26, 2, 0, tzinfo=dt.timezone.utc), vend_id=12,
    vended_at=dt.datetime(2026, 11, 26, 10, 0, 30, tzinfo=SHANGHAI), amount="100.00", currency="CNY",
    kwh="185.9", tariff_kwh="185.87", tariff="fj-residential 福建居民生活用电", utility_name="国网厦门供电公司",
    hotline="95598", timezone=SHANGHAI)

poppler = pytest.mark.skipif(any(shutil.which(t) is None for t in ("pdftotext", "pdffonts", "pdftoppm")),
                             reason="poppler-utils not installed")


@poppler
@pytest.mark.parametrize("lang, words", [
    ("zh", ["电费购电凭证", "表号", "户号", "金额", "电量", "令牌时间", "电价", "2026-11-26 10:00 (UTC+8)"]),
    ("en", ["Electricity token receipt", "Meter No.", "Account", "Amount", "Energy", "Token time", "Tariff"]),
])
def test_receipt_shows_the_token_in_groups_with_embedded_fonts(tmp_path: Path, lang: str, words: list[str]) -> None:
    path = tmp_path / f"{lang}.pdf"
    path.write_bytes(render_sts_receipt(RECEIPT, lang=lang))
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout
    for word in ["5938 6323 4721 3742 6967", "600727000000000009", "3300000001", "100.00 CNY", "185.9 kWh",
                 "6918960", "fj-residential", *words]:
        assert word in text, (word, text)
    assert "59386323472137426967" not in text  # always grouped
    fonts = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True).stdout
    rows = [line.split() for line in fonts.splitlines()[2:] if line.strip()]
    assert rows and all(row[-5] == "yes" for row in rows), fonts  # no unembedded Helvetica either
    subprocess.run(["pdftoppm", "-r", "60", "-png", str(path), str(tmp_path / lang)], check=True)
    png = next(tmp_path.glob(f"{lang}*.png"))
    assert png.stat().st_size > 1000


@poppler
def test_a_long_tariff_name_goes_on_over_continuation_rows(tmp_path: Path) -> None:
    long_names = ["jx-residential Jiangxi residential, one household one meter (annual tiers)",
                  "jx-large-family 江西省居民合表用户及五口以上大家庭（按户申请）电价执行阶梯电价政策说明"]
    for n, tariff in enumerate(long_names):
        path = tmp_path / f"long{n}.pdf"
        path.write_bytes(render_sts_receipt(replace(RECEIPT, tariff=tariff), lang="en"))
        text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout
        flat = re.sub(r"\s+", "", text)
        assert re.sub(r"\s+", "", tariff) in flat, text  # every character printed, in order
        height = float(re.search(rb"/MediaBox \[ 0 0 [0-9.]+ ([0-9.]+) \]", path.read_bytes()).group(1))
        assert height > float(re.search(rb"/MediaBox \[ 0 0 [0-9.]+ ([0-9.]+) \]",
                                         render_sts_receipt(RECEIPT, lang="en")).group(1))


def test_output_is_deterministic_and_80_mm_wide() -> None:
    data = render_sts_receipt(RECEIPT)
    assert data == render_sts_receipt(RECEIPT)
    assert b"/MediaBox [ 0 0 226.7717" in data  # 80 mm in points, from the receipt-80mm layout


def test_reprint_and_engineering_rows() -> None:
    reprint = render_sts_receipt(replace(RECEIPT, reprints=2), lang="en")
    assert reprint != render_sts_receipt(RECEIPT, lang="en")
    render_sts_receipt(replace(RECEIPT, kind="max_power", amount=None, kwh=None, tariff_kwh=None, watts=5000))


def test_refusals() -> None:
    assert grouped_token("5938 6323 4721 3742 6967") == "5938 6323 4721 3742 6967"
    for bad in ("5938632347213742696", "5938632347213742696x"):
        with pytest.raises(InvalidCardData):
            render_sts_receipt(replace(RECEIPT, token=bad))
    with pytest.raises(InvalidCardData):
        render_sts_receipt(RECEIPT, lang="fr")
    with pytest.raises(InvalidCardData):
        render_sts_receipt(replace(RECEIPT, vended_at=dt.datetime(2026, 11, 26, 10)))
    with pytest.raises(MissingGlyph):
        render_sts_receipt(replace(RECEIPT, tariff="𠀀 tariff"))  # CJK extension B: not in the fonts


KEY_CHANGE = KeyChangeReceipt(
    tokens=("11112222333344445555", "66667777888899990000", "12341234123412341234", "98769876987698769876"),
    meter="600727000000000009", account_no="3300000001",
    old={"sgc": 123457, "ti": 1, "krn": 1, "key_type": 2, "ken": 255, "base_date": 1993},
    new={"sgc": 123461, "ti": 2, "krn": 2, "key_type": 2, "ken": 255, "base_date": 2014},
    rollover=True, change_id=7, changed_at=dt.datetime(2026, 11, 26, 2, 5, tzinfo=dt.timezone.utc),
    utility_name="国网厦门供电公司", hotline="95598", timezone=SHANGHAI)


def _text(tmp_path: Path, data: bytes, name: str) -> str:
    path = tmp_path / f"{name}.pdf"
    path.write_bytes(data)
    subprocess.run(["pdftoppm", "-r", "60", "-png", str(path), str(tmp_path / name)], check=True)
    assert next(tmp_path.glob(f"{name}*.png")).stat().st_size > 1000
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True,
                          check=True).stdout


@poppler
@pytest.mark.parametrize("lang, words", [
    ("zh", ["电表密钥更换凭证", "请按顺序输入", "表号", "户号", "基准日期", "更换时间", "2026-11-26 10:05 (UTC+8)"]),
    ("en", ["Meter key change receipt", "in this order", "Meter No.", "Base date", "Changed at", "TID restart"]),
])
def test_key_change_receipt_lists_the_four_tokens_in_entry_order(tmp_path: Path, lang: str,
                                                                 words: list[str]) -> None:
    text = _text(tmp_path, render_key_change_receipt(KEY_CHANGE, lang=lang), lang)
    found = [re.search(rf"{n}\.\s+{grouped_token(t)}", text) for n, t in enumerate(KEY_CHANGE.tokens, start=1)]
    assert all(found), text
    positions = [m.start() for m in found if m]
    assert positions == sorted(positions)  # printed in the order they are typed
    for word in ["600727000000000009", "3300000001", "123457 -> 123461", "1 -> 2", "1993 -> 2014", *words]:
        assert word in text, (word, text)
    assert "KEN" in text and "255 ->" not in text  # unchanged values are printed once
    assert not any(t in text for t in KEY_CHANGE.tokens)  # always grouped


def test_key_change_receipt_is_deterministic_marks_reprints_and_refuses_bad_input() -> None:
    data = render_key_change_receipt(KEY_CHANGE)
    assert data == render_key_change_receipt(KEY_CHANGE)
    assert b"/MediaBox [ 0 0 226.7717" in data
    assert render_key_change_receipt(replace(KEY_CHANGE, reprints=1)) != data
    with pytest.raises(InvalidCardData):
        render_key_change_receipt(replace(KEY_CHANGE, tokens=KEY_CHANGE.tokens[:2]))  # the 64-bit set: not here
    with pytest.raises(InvalidCardData):
        render_key_change_receipt(replace(KEY_CHANGE, tokens=(*KEY_CHANGE.tokens[:3], "123")))
    with pytest.raises(InvalidCardData):
        render_key_change_receipt(replace(KEY_CHANGE, new={"sgc": 1}))
    with pytest.raises(InvalidCardData):
        render_key_change_receipt(KEY_CHANGE, lang="fr")
    with pytest.raises(InvalidCardData):
        render_key_change_receipt(replace(KEY_CHANGE, changed_at=dt.datetime(2026, 11, 26, 10)))


def test_the_branding_logo_heads_the_receipt():
    import dataclasses
    import re

    png = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478"
                        "9c6360f8cfc0f01f0005000201e5270ee30000000049454e44ae426082")
    plain = render_sts_receipt(RECEIPT)
    branded = render_sts_receipt(dataclasses.replace(RECEIPT, logo=png))
    assert b"/Subtype /Image" in branded and b"/Subtype /Image" not in plain

    def height(pdf: bytes) -> float:
        return float(re.search(rb"/MediaBox \[ 0 0 [0-9.]+ ([0-9.]+) \]", pdf).group(1))

    assert height(branded) > height(plain)  # the page grows by the logo's line

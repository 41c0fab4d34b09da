"""Cards in the configured brand: names, colours by role, the logo, CMYK for the print shop."""
from __future__ import annotations

import dataclasses
import re
import subprocess
import zlib

import pytest

from print_templates import PrintBranding, render_batch
from vouchers.branding import NEUTRAL

from .conftest import _need, make_batch

PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478"
                    "9c6360f8cfc0f01f0005000201e5270ee30000000049454e44ae426082")
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="40" height="20"><rect width="40" height="20" fill="#123456"/></svg>'
ACME = dataclasses.replace(NEUTRAL, name_zh="测试供电", name_en="Acme Power", primary_colour="#336699",
                           redeem_url="https://pay.acme.example/redeem", qr_url="https://pay.acme.example/r",
                           is_default=False)


def _content(pdf: bytes) -> str:
    """Every Flate stream of the file, inflated (page contents and forms)."""
    out = []
    for match in re.finditer(rb"stream\r?\n", pdf):
        try:
            out.append(zlib.decompressobj().decompress(pdf[match.end():]).decode("latin-1"))
        except zlib.error:
            pass
    return "\n".join(out)


@pytest.fixture(scope="module")
def batch():
    return make_batch(3)


def _render(batch, tmp_path, layout, branding, name="cards.pdf"):
    out = tmp_path / name
    render_batch(batch.cards, batch.cover, layout, out, workers=1, branding=branding)
    return out


def test_a4_cards_print_the_brand_in_cmyk_with_symbols_on_the_k_plate(batch, tmp_path):
    out = _render(batch, tmp_path, "a4-cards", PrintBranding.from_branding(ACME))
    text = subprocess.run([_need("pdftotext"), str(out), "-"], capture_output=True, text=True).stdout
    assert "Acme Power" in text and "示例" not in text and "pay.utility.example" not in text
    content = _content(out.read_bytes())
    assert not re.search(r"\b(rg|RG)\b", content)  # no RGB colour anywhere: the print shop gets CMYK
    assert "0 0 0 1 k" in content  # QR and barcode: pure K
    # the primary colour #336699 by role, as CMYK (0.6667, 0.3333, 0, 0.4)
    assert re.search(r"\.6667 \.3333 0 \.4 [kK]", content), "primary colour not found as CMYK"


def test_receipt_layout_stays_rgb(batch, tmp_path):
    out = _render(batch, tmp_path, "receipt-80mm", PrintBranding.from_branding(ACME))
    assert re.search(r"\brg\b", _content(out.read_bytes()))


@pytest.mark.parametrize(("logo", "marker"), [(PNG, b"/Subtype /Image"), (SVG, None)], ids=["png", "svg"])
def test_the_logo_is_drawn_on_a4_cards(batch, tmp_path, logo, marker):
    plain = _render(batch, tmp_path, "a4-cards", PrintBranding.from_branding(ACME), "plain.pdf").read_bytes()
    branded = _render(batch, tmp_path, "a4-cards",
                      PrintBranding.from_branding(dataclasses.replace(ACME, logo=logo)), "logo.pdf").read_bytes()
    if marker is not None:
        assert marker in branded and marker not in plain
    else:  # a vector drawing, its fill #123456 written as CMYK like everything else on a4-cards
        content = _content(branded)
        assert re.search(r"\.7907 \.3953 0 \.6627 k", content)
        # renderPDF opens a drawing with its RGB black defaults; no other RGB colour is used
        assert not re.search(r"(?<!0 0 0 )\b(rg|RG)\b", content)

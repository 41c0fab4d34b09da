"""Render every layout, rasterise at 300 dpi and scan it back with zbarimg:
each QR must be a token of the batch that verifies, each Code 128 a serial,
and every card of the batch must be found exactly once."""
from __future__ import annotations

import shutil

import pytest

from print_templates import PrintBranding, list_layouts, load_layout, render_batch
from vouchers.token import token_from_scan, verify_token

from .conftest import ARTIFACTS, TODAY, decode, pdf_fonts, rasterise, scan

SHIPPED = ["a4-cards", "a4-sheet", "receipt-80mm"]


def test_the_three_layouts_ship() -> None:
    assert set(SHIPPED) <= set(list_layouts())


@pytest.mark.parametrize("layout_name", SHIPPED)
def test_every_symbol_scans_back(layout_name, batch24, tmp_path) -> None:
    layout = load_layout(layout_name)
    out = tmp_path / f"{layout_name}.pdf"
    # a real utility's QR URL: a phone opens the redeem page, the token is the URL's fragment
    branding = PrintBranding(qr_url="https://pay.utility.example/r")
    files = render_batch(batch24.cards, batch24.cover, layout, out, workers=2, branding=branding)
    assert [f.path for f in files] == [out]
    card_pages = -(-len(batch24.cards) // layout.cards_per_page)
    # duplex layouts: the cover, its blank back, then each sheet of fronts followed by its backs
    assert files[0].pages == (2 + 2 * card_pages if layout.duplex else 1 + card_pages)

    # page 1 is the cover: no symbols on it
    cover_png = rasterise(out, tmp_path / "cover", first=1, last=1)
    assert decode(cover_png, "qrcode") == [] and decode(cover_png, "code128") == []

    pages = rasterise(out, tmp_path / "pages", first=3 if layout.duplex else 2)
    if layout.duplex:  # the backs carry no symbol at all: neither the token nor a barcode
        backs, pages = pages[1::2], pages[::2]
        assert len(backs) == card_pages
        assert all(page == {"qrcode": [], "code128": []} for page in scan(backs))
    assert len(pages) == card_pages
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(pages[0], ARTIFACTS / f"{layout_name}.png")

    scanned = scan(pages)
    urls = [t for page in scanned for t in page["qrcode"]]
    assert all(u.lower().startswith("https://pay.utility.example/r#ev1:") for u in urls), urls[:1]
    qr_texts = [token_from_scan(u) for u in urls]  # what an offline verifier does
    assert sorted(qr_texts) == sorted(batch24.tokens)  # each card exactly once
    for text in qr_texts:
        claims = verify_token(text, batch24.keyring, TODAY)
        assert claims.batch_id == batch24.cover.batch_id
        assert claims.face_value == batch24.cover.face_value

    barcodes = [t for page in scanned for t in page["code128"]]
    assert sorted(barcodes) == sorted(batch24.serials)

    # a card's QR and barcode are on the same page, in print order
    by_serial = {c.serial: c.token for c in batch24.cards}
    per_page = layout.cards_per_page
    for index, page in enumerate(scanned):
        expected = [c.serial for c in batch24.cards[index * per_page : (index + 1) * per_page]]
        assert sorted(page["code128"]) == expected
        assert sorted(token_from_scan(u) for u in page["qrcode"]) == sorted(by_serial[s] for s in expected)


@pytest.mark.parametrize("layout_name", SHIPPED)
def test_every_font_is_embedded(layout_name, batch24, tmp_path) -> None:
    out = tmp_path / "fonts.pdf"
    render_batch(batch24.cards[:3], _cover_for(batch24, 3), layout_name, out, workers=1)
    rows = pdf_fonts(out)
    assert rows, "the PDF uses no font at all?"
    for row in rows:
        assert row["emb"] == "yes", row["raw"]
        assert "VoucherSansSC" in row["name"], row["raw"]  # no standard-14 or CID font
    names = {row["name"].split("+", 1)[-1] for row in rows}
    assert names == {"VoucherSansSC-Regular", "VoucherSansSC-Bold"}


def _cover_for(batch, n):
    from dataclasses import replace

    from print_templates import card_data_sha256

    cards = batch.cards[:n]
    return replace(
        batch.cover, count=n, last_serial=cards[-1].serial, card_data_sha256=card_data_sha256(cards)
    )

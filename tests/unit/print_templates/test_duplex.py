"""Card backs (duplex, long-edge flip) and the bleed of a4-cards, read back from the rendered PDF.

Alignment: with a long-edge flip, the back of the card printed at row r, column c of a sheet must be
at row r, column (columns - 1 - c) of the next page, so it lands behind its front. The positions are
read with ``pdftotext -bbox`` (where each card's serial is printed), not taken from the renderer.
Backs carry the terms (zh + en, from the branding), how to redeem and the serial, never the code.
The bleed is read from the rasterised page: the edge bands' colour runs 3 mm past the trim, the crop
marks start outside it.
"""
from __future__ import annotations

from dataclasses import replace

import pytest
from PIL import Image

from print_templates import InvalidLayout, PrintBranding, TextOverflow, load_layout, render_batch
from print_templates.layout import MM, parse_layout
from vouchers.codes import group_code

from .conftest import make_batch, rasterise
from .test_layouts import shipped_raw
from .test_textfit import words_by_page

BRANDING = PrintBranding(
    hotline="0592-7654321",
    terms_zh="本卡仅限充值电费，不兑换现金。请在有效期内使用。",
    terms_en="Electricity only; no cash refund. Valid until the date on the front.",
)


def _slot(words_xy: tuple[float, float], origins_mm, layout) -> int | None:
    """Which slot (fill order) of the sheet holds the point (points from the page's top-left)."""
    cx, cy = words_xy
    w, h = layout.card.width_mm * MM, layout.card.height_mm * MM
    for i, (x, y) in enumerate(origins_mm):
        if x * MM <= cx <= x * MM + w and y * MM <= cy <= y * MM + h:
            return i
    return None


def _serial_slots(page_words, serials: set[str], origins_mm, layout) -> dict[str, int]:
    found = {}
    for x0, y0, x1, y1, text in page_words:
        if text in serials:
            slot = _slot(((x0 + x1) / 2, (y0 + y1) / 2), origins_mm, layout)
            if slot is not None:  # None: the page footer's serial range
                assert text not in found, f"serial {text} on two cards of the page"
                found[text] = slot
    return found


@pytest.mark.parametrize("layout_name", ["a4-cards", "a4-sheet"])
def test_each_back_lands_behind_its_front_and_carries_no_code(layout_name, tmp_path) -> None:
    layout = load_layout(layout_name)
    assert layout.duplex
    per_page, columns = layout.cards_per_page, layout.grid.columns
    batch = make_batch(per_page + 3)  # a full sheet and a partial one
    out = tmp_path / "duplex.pdf"
    [rendered] = render_batch(batch.cards, batch.cover, layout, out, workers=1, branding=BRANDING)
    assert rendered.pages == 2 + 2 * 2
    pages = words_by_page(out)
    assert len(pages) == rendered.pages
    # the cover's back is blank but for its note, so the fronts print on odd (recto) pages
    assert not any(w[4] in batch.serials for w in pages[1])

    # where the page sits in the grid: anywhere on the page, from the words' own positions
    grid = layout.card_origins_mm()
    for sheet in range(2):
        on_sheet = batch.cards[sheet * per_page:(sheet + 1) * per_page]
        serials = {c.serial for c in on_sheet}
        front, back = pages[2 + 2 * sheet], pages[3 + 2 * sheet]
        front_slots = _serial_slots(front, serials, grid, layout)
        back_slots = _serial_slots(back, serials, grid, layout)
        assert set(front_slots) == set(back_slots) == serials  # each card's serial on both sides
        for serial, slot in front_slots.items():
            row, col = divmod(slot, columns)
            assert divmod(back_slots[serial], columns) == (row, columns - 1 - col), serial
            assert slot == [c.serial for c in on_sheet].index(serial)  # fronts in fill order
        # each back serial sits in the back's serial field of the card box mirrored about the page's
        # vertical centre line (where the front's card box lands after a long-edge flip), same row
        page_w = layout.page.width_mm * MM
        field = next(f for f in layout.back_fields if f.name == "serial")
        for x0, y0, x1, y1, text in back:
            if text in serials and _slot(((x0 + x1) / 2, (y0 + y1) / 2), grid, layout) is not None:
                card_x, card_y = grid[front_slots[text]]
                left = page_w - card_x * MM - layout.card.width_mm * MM + field.box.x * MM
                top = card_y * MM + field.box.y * MM
                assert left - 0.5 <= x0 and x1 <= left + field.box.width * MM + 0.5, text
                assert top - 0.5 <= y0 and y1 <= top + field.box.height * MM + 0.5, text

        back_text = " ".join(w[4] for w in back)
        front_text = " ".join(w[4] for w in front)
        for card in on_sheet:
            grouped = group_code(card.code)
            assert grouped in front_text  # the check below can see a code
            assert grouped not in back_text and card.code not in back_text.replace(" ", "")
            assert not any(part in back_text.split() for part in grouped.split()[1:3])
        assert "EV1" not in back_text.upper()
        # the terms (zh + en from the branding), how to redeem, the configured hotline
        assert "不兑换现金" in back_text.replace(" ", "") and "refund." in back_text
        assert "0592-7654321" in back_text and "CZ" in back_text and "Hotline" in back_text


def test_a_back_refuses_the_code_a_qr_and_a_missing_serial() -> None:
    raw = shipped_raw("a4-cards")
    with_code = {**raw, "back_field": [*raw["back_field"], {"name": "leak", "type": "text", "text": "{code}",
                                                             "box": [4.0, 40.0, 30.0, 3.0], "size": 5.0}]}
    with pytest.raises(InvalidLayout, match="unknown placeholder {code}"):
        parse_layout(with_code, source="leak.toml")
    with_qr = {**raw, "back_field": [*raw["back_field"], {"name": "leak", "type": "qr", "source": "token",
                                                           "box": [50.0, 20.0, 30.0, 30.0]}]}
    with pytest.raises(InvalidLayout, match="must be one of text, paragraph, rect, line, logo"):
        parse_layout(with_qr, source="leak.toml")
    no_serial = {**raw, "back_field": [f for f in raw["back_field"] if f["name"] != "serial"]}
    with pytest.raises(InvalidLayout, match="serial"):
        parse_layout(no_serial, source="anon.toml")


def test_bleed_needs_gutters_and_crop_marks_outside_it() -> None:
    raw = shipped_raw("a4-cards")
    narrow = {**raw, "grid": {**raw["grid"], "gap_y_mm": 4.0}}
    with pytest.raises(InvalidLayout, match="gap_y_mm of at least 6"):
        parse_layout(narrow, source="narrow.toml")
    marks_in_bleed = {**raw, "marks": {**raw["marks"], "offset_mm": 2.0}}
    with pytest.raises(InvalidLayout, match="outside the bleed"):
        parse_layout(marks_in_bleed, source="marks.toml")
    no_bleed = {**raw, "card": {**raw["card"], "bleed_mm": 0.0}}
    with pytest.raises(InvalidLayout, match="bleed_mm above 0"):
        parse_layout(no_bleed, source="flat.toml")


def test_terms_too_long_for_the_back_fail_before_any_file(tmp_path) -> None:
    batch = make_batch(1)
    wordy = replace(PrintBranding(), terms_zh="本卡仅限充值电费，不兑换现金。" * 39)  # 585 characters
    with pytest.raises(TextOverflow, match="terms_zh"):
        render_batch(batch.cards, batch.cover, "a4-cards", tmp_path / "x.pdf", workers=1, branding=wordy)
    assert list(tmp_path.iterdir()) == []


def _rgb(image: Image.Image, x_mm: float, y_mm: float, dpi: int) -> tuple[int, int, int]:
    return image.getpixel((round(x_mm / 25.4 * dpi), round(y_mm / 25.4 * dpi)))[:3]


def _white(pixel) -> bool:
    return min(pixel) > 245


def test_a4_cards_background_runs_3mm_past_the_trim_and_the_marks_start_beyond(tmp_path) -> None:
    layout = load_layout("a4-cards")
    bleed = layout.card.bleed_mm
    assert bleed == 3.0
    batch = make_batch(layout.cards_per_page)
    out = tmp_path / "bleed.pdf"
    render_batch(batch.cards, batch.cover, layout, out, workers=1)
    dpi = 300
    for page_number in (3, 4):  # a sheet of fronts and its backs
        [png] = rasterise(out, tmp_path / f"p{page_number}", first=page_number, last=page_number, dpi=dpi)
        image = Image.open(png).convert("RGB")
        origins = layout.back_origins_mm() if page_number == 4 else layout.card_origins_mm()
        w, h = layout.card.width_mm, layout.card.height_mm
        for x, y in origins:
            mid = x + w / 2
            for inside in (0.5, bleed - 0.5):  # the bands' colour, past the trim, on all sides they touch
                assert not _white(_rgb(image, mid, y - inside, dpi)), (x, y, "top", inside)
                assert not _white(_rgb(image, mid, y + h + inside, dpi)), (x, y, "bottom", inside)
                assert not _white(_rgb(image, x - inside, y + 0.8, dpi)), (x, y, "left", inside)
                assert not _white(_rgb(image, x + w + inside, y + h - 1.0, dpi)), (x, y, "right", inside)
            # and not beyond the bleed (0.5 mm past it, where only paper is)
            top_row = y == min(o[1] for o in origins)
            if top_row:
                assert _white(_rgb(image, mid, y - bleed - 0.5, dpi)), (x, y)
        # the crop marks: on each cut line, starting outside the bleed
        gx, gy = layout.grid_origin_mm()
        mark_x = gx  # the left cut of the first column
        column = [_rgb(image, mark_x + dx, gy - d, dpi) for d in (bleed + 0.5,) for dx in (-0.1, 0.0, 0.1)]
        assert all(_white(p) for p in column), "paper between the bleed and the crop mark"
        on_mark = [_rgb(image, mark_x + dx / dpi * 25.4, gy - layout.marks.offset_mm - 2.0, dpi)
                   for dx in range(-2, 3)]
        assert any(max(p) < 120 for p in on_mark), "the crop mark is drawn outside the bleed"


def test_the_configured_terms_reach_the_back() -> None:
    """The issuer prints with PrintBranding.from_branding(configured or recorded branding)."""
    from vouchers.branding import NEUTRAL

    configured = replace(NEUTRAL, terms_zh="本卡仅限电费。", terms_en="Electricity only.", hotline="0592-7654321")
    printed = PrintBranding.from_branding(configured)
    assert (printed.terms_zh, printed.terms_en, printed.hotline) == ("本卡仅限电费。", "Electricity only.",
                                                                      "0592-7654321")
    # the neutral default is a full set: validity, no cash refund, the code's secrecy, the account check
    for words in ("有效期", "不退款", "卡密", "户号"):
        assert words in NEUTRAL.terms_zh, words
    for words in ("expiry date", "no cash refund", "code", "account number"):
        assert words in NEUTRAL.terms_en, words

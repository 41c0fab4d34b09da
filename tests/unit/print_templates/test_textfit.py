"""Text never leaves its box: measured fitting, checked on the rendered PDF
itself (word boxes from ``pdftotext -bbox``) at the widest values."""
from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
from html import unescape

import pytest

from print_templates import (
    FontSet,
    MissingGlyph,
    PrintBranding,
    TextOverflow,
    load_layout,
    render_batch,
)
from print_templates.layout import MM, PanelField, ParagraphField, TextField
from print_templates.typeset import fit_text, register

from .conftest import make_batch

WORD = re.compile(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">(.*?)</word>')
PAGE = re.compile(r"<page ")


def words_by_page(pdf) -> list[list[tuple[float, float, float, float, str]]]:
    tool = shutil.which("pdftotext")
    if tool is None:
        pytest.fail("pdftotext (poppler-utils) is required")
    xml = subprocess.run([tool, "-bbox", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    pages = PAGE.split(xml)[1:]
    return [
        [(float(a), float(b), float(c), float(d), unescape(t)) for a, b, c, d, t in WORD.findall(page)]
        for page in pages
    ]


def first_card_page(layout, *, back: bool = False) -> int:
    """Index of the first page of fronts (or of backs) in a rendered file."""
    return (3 if back else 2) if layout.duplex else 1


def field_boxes_pt(layout, *, back: bool = False) -> list[tuple[float, float, float, float, str]]:
    """Boxes that may hold text, in points from the card's top-left."""
    boxes = []
    for f in layout.back_fields if back else layout.fields:
        if isinstance(f, (TextField, ParagraphField)):
            boxes.append((f.box.x * MM, f.box.y * MM, f.box.right * MM, f.box.bottom * MM, f.name))
        elif isinstance(f, PanelField) and f.label:
            top = f.box.y * MM - 0.4 * MM - f.label_size * 1.3
            boxes.append((f.box.x * MM, top, f.box.right * MM, f.box.y * MM, f.name + " label"))
    return boxes


def assert_words_inside_fields(layout, pdf, tolerance: float = 0.3, *, back: bool = False) -> int:
    """Every word on the first card page (or page of backs) lies wholly inside one text box of
    the card slot it is on; returns how many words were checked."""
    words = words_by_page(pdf)[first_card_page(layout, back=back)]
    boxes = field_boxes_pt(layout, back=back)
    slots = [(x * MM, y * MM) for x, y in (layout.back_origins_mm() if back else layout.card_origins_mm())]
    card_w, card_h = layout.card.width_mm * MM, layout.card.height_mm * MM
    checked = 0
    for x0, y0, x1, y1, text in words:
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        slot = next(((sx, sy) for sx, sy in slots if sx <= cx <= sx + card_w and sy <= cy <= sy + card_h), None)
        if slot is None:
            continue  # the page footer
        sx, sy = slot
        inside = [
            name
            for bx0, by0, bx1, by1, name in boxes
            if sx + bx0 - tolerance <= x0 and x1 <= sx + bx1 + tolerance
            and sy + by0 - tolerance <= y0 and y1 <= sy + by1 + tolerance
        ]
        assert inside, f"{layout.name}: word {text!r} at ({x0:.1f},{y0:.1f})-({x1:.1f},{y1:.1f}) pt is outside every text box"
        checked += 1
    return checked


@pytest.mark.parametrize("layout_name", ["a4-cards", "a4-sheet", "receipt-80mm"])
@pytest.mark.parametrize("face_value", [500_000, 9_999_999])  # ¥5,000.00 and ¥99,999.99
def test_longest_values_stay_in_their_boxes(layout_name, face_value, tmp_path) -> None:
    # issuer 99, batch 999999, sequences up to 9999999: the longest serials
    batch = make_batch(3, face_value=face_value, issuer=99, batch_number=999_999, first_sequence=9_999_997)
    layout = load_layout(layout_name)
    out = tmp_path / "long.pdf"
    render_batch(batch.cards, batch.cover, layout, out, workers=1)
    checked = assert_words_inside_fields(layout, out)
    assert checked >= 20 * min(3, layout.cards_per_page) // 2
    if layout.duplex:  # the backs' terms, redeem lines and serials too
        assert assert_words_inside_fields(layout, out, back=True) >= 20 * min(3, layout.cards_per_page) // 2
    # and the values really are there
    text = " ".join(w[4] for w in words_by_page(out)[first_card_page(layout)])
    assert batch.cards[0].serial in text
    assert ("¥5,000.00" if face_value == 500_000 else "¥99,999.99") in text


def test_overflowing_word_is_detected(tmp_path) -> None:
    """The checker above can fail: move a field's box without its text."""
    batch = make_batch(1)
    layout = load_layout("a4-cards")
    out = tmp_path / "x.pdf"
    render_batch(batch.cards, batch.cover, layout, out, workers=1)
    shrunk = dataclasses.replace(
        layout,
        fields=tuple(
            dataclasses.replace(f, box=dataclasses.replace(f.box, width=f.box.width / 3))
            if isinstance(f, TextField) and f.name == "face_value" else f
            for f in layout.fields
        ),
    )
    with pytest.raises(AssertionError, match="outside every text box"):
        assert_words_inside_fields(shrunk, out)


def test_fit_text_shrinks_then_refuses() -> None:
    font = register(FontSet().bold)
    full = fit_text("¥5,000.00", font, size=20, min_size=8, max_width=1000, max_height=100, what="t")
    assert full.size == 20
    narrow = fit_text("¥5,000.00", font, size=20, min_size=8, max_width=full.width / 2, max_height=100, what="t")
    assert 8 <= narrow.size <= 10 and narrow.width <= full.width / 2
    low = fit_text("¥5,000.00", font, size=20, min_size=8, max_width=1000, max_height=10, what="t")
    assert low.size == 10.0  # the em box (ascent + descent = 1 em) is the height
    with pytest.raises(TextOverflow) as info:
        fit_text("¥5,000.00", font, size=20, min_size=8, max_width=full.width / 4, max_height=100, what="face")
    assert info.value.code == "text_overflow" and "face" in str(info.value)


def test_long_utility_name_shrinks(tmp_path) -> None:
    batch = make_batch(2)
    name = "国网江西省电力有限公司赣州供电分公司"  # 54 mm at the layout's 8.5 pt, the box is 46 mm
    out = tmp_path / "b.pdf"
    render_batch(batch.cards, batch.cover, "a4-cards", out, workers=1, branding=PrintBranding(utility_name=name))
    assert assert_words_inside_fields(load_layout("a4-cards"), out) > 0
    [word] = [w for w in words_by_page(out)[first_card_page(load_layout("a4-cards"))] if w[4] == name][:1]
    assert 6.0 <= word[3] - word[1] < 8.5  # shrunk, not below the minimum


def test_too_long_text_fails_before_any_file(tmp_path) -> None:
    batch = make_batch(2)
    branding = PrintBranding(web_address="https://pay.example-power.cn/" + "very-long-path/" * 6 + "redeem")
    with pytest.raises(TextOverflow) as info:
        render_batch(batch.cards, batch.cover, "a4-cards", tmp_path / "b.pdf", workers=1, branding=branding)
    assert "redeem_web" in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_missing_glyph_fails_loudly(tmp_path) -> None:
    batch = make_batch(1)
    branding = PrintBranding(utility_name="𠀀 Power")  # CJK extension B: not in the fonts
    with pytest.raises(MissingGlyph) as info:
        render_batch(batch.cards, batch.cover, "a4-cards", tmp_path / "b.pdf", workers=1, branding=branding)
    assert info.value.code == "missing_glyph" and "utility_name" in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_bold_falls_back_to_regular_for_rare_characters(tmp_path) -> None:
    from reportlab.pdfbase import pdfmetrics

    regular, bold = register(FontSet().regular), register(FontSet().bold)
    in_regular_only = next(
        chr(c)
        for c in range(0x4E00, 0x9FFF)
        if c in pdfmetrics.getFont(regular).face.charToGlyph and c not in pdfmetrics.getFont(bold).face.charToGlyph
    )
    batch = make_batch(1, operator=f"王{in_regular_only}")
    branding = PrintBranding(utility_name=f"{in_regular_only}州供电公司")
    out = tmp_path / "b.pdf"
    render_batch(batch.cards, batch.cover, "a4-cards", out, workers=1, branding=branding)
    words = " ".join(w[4] for page in words_by_page(out) for w in page)
    assert f"{in_regular_only}州供电公司" in words and f"王{in_regular_only}" in words


def test_fonts_cover_the_charset_file() -> None:
    from importlib import resources

    from reportlab.pdfbase import pdfmetrics

    text = (resources.files("print_templates") / "fonts" / "charset.txt").read_text(encoding="utf-8")
    chars = {ch for line in text.splitlines() if not line.startswith("#") for ch in line if not ch.isspace()}
    for path in (FontSet().regular, FontSet().bold):
        cmap = pdfmetrics.getFont(register(path)).face.charToGlyph
        assert not [ch for ch in chars if ord(ch) not in cmap], path.name

"""Layouts are data, validated on load with messages that say what is wrong."""
from __future__ import annotations

from vouchers.token import token_from_scan

import tomllib

import pytest

from print_templates import (
    InvalidLayout,
    PrintError,
    UnknownLayout,
    list_layouts,
    load_layout,
    load_layout_file,
    render_batch,
)
from print_templates.layout import (
    MM,
    PanelField,
    QrField,
    TextField,
    layouts_dir,
    parse_layout,
)

from .conftest import make_batch, rasterise, scan


def shipped_raw(name: str) -> dict:
    return tomllib.loads((layouts_dir() / f"{name}.toml").read_text(encoding="utf-8"))


def test_list_layouts_is_sorted_names() -> None:
    names = list_layouts()
    assert names == sorted(names)
    assert {"a4-cards", "a4-sheet", "receipt-80mm"} <= set(names)


def test_a4_cards_geometry() -> None:
    layout = load_layout("a4-cards")
    assert (layout.card.width_mm, layout.card.height_mm) == (85.6, 54.0)
    assert (layout.page.width_mm, layout.page.height_mm) == (210.0, 297.0)
    assert layout.cards_per_page == 8  # 2 x 4: gutters of twice the bleed leave no room for a fifth row
    assert layout.marks.crop_marks and layout.duplex
    assert layout.card.bleed_mm == 3.0 and layout.grid.gap_x_mm >= 6.0 and layout.grid.gap_y_mm >= 6.0
    assert layout.marks.offset_mm > layout.card.bleed_mm  # crop marks start outside the bleed
    origins = layout.card_origins_mm()
    assert len(origins) == 8
    # centred on the page
    x0, y0 = origins[0]
    x_last, y_last = origins[-1]
    assert x0 == pytest.approx(210.0 - (x_last + 85.6))
    assert y0 == pytest.approx(297.0 - (y_last + 54.0))


def test_a4_sheet_is_denser_with_cut_lines() -> None:
    sheet, cards = load_layout("a4-sheet"), load_layout("a4-cards")
    assert sheet.cards_per_page > cards.cards_per_page
    assert sheet.marks.cut_lines


def test_receipt_is_80mm_one_per_page() -> None:
    receipt = load_layout("receipt-80mm")
    assert receipt.page.width_mm == 80.0
    assert receipt.cards_per_page == 1


@pytest.mark.parametrize("name", ["nope", "../a4-cards", "A4-CARDS", "", "a4-cards.toml"])
def test_unknown_layout(name) -> None:
    with pytest.raises(UnknownLayout) as info:
        load_layout(name)
    assert info.value.code == "unknown_layout"
    assert "a4-cards" in str(info.value)  # lists what is available
    assert isinstance(info.value, PrintError)


def _broken(mutate) -> InvalidLayout:
    raw = shipped_raw("a4-cards")
    mutate(raw)
    with pytest.raises(InvalidLayout) as info:
        parse_layout(raw, source="test.toml")
    assert info.value.code == "invalid_layout"
    return info.value


def _field(raw: dict, name: str) -> dict:
    return next(f for f in raw["field"] if f["name"] == name)


def test_box_outside_card_is_refused() -> None:
    err = _broken(lambda r: _field(r, "serial").update(box=[4.0, 22.4, 80.0, 4.2]))
    assert "field[" in str(err) and "right edge" in str(err)


def test_box_in_safe_margin_is_refused() -> None:
    err = _broken(lambda r: _field(r, "utility_name").update(box=[1.0, 3.4, 46.0, 4.8]))
    assert "margin" in str(err)


def test_grid_too_big_for_page() -> None:
    err = _broken(lambda r: r["grid"].update(rows=6))
    assert "6 rows" in str(err)


def test_no_room_for_crop_marks() -> None:
    def mutate(r):
        r["page"].update(margin_top_mm=0.0, margin_bottom_mm=0.0)
        r["grid"].update(gap_y_mm=0.0)
        r["card"].update(height_mm=59.0)

    err = _broken(mutate)
    assert "crop marks" in str(err) or "needs" in str(err)


def test_unknown_key_is_a_typo() -> None:
    err = _broken(lambda r: _field(r, "serial").update(fontsize=9))
    assert "fontsize" in str(err)


def test_unknown_placeholder() -> None:
    err = _broken(lambda r: _field(r, "serial").update(text="{serial_number}"))
    assert "{serial_number}" in str(err)


def test_format_spec_refused() -> None:
    err = _broken(lambda r: _field(r, "serial").update(text="{serial!r}"))
    assert "format spec" in str(err)


def test_min_size_above_size() -> None:
    err = _broken(lambda r: _field(r, "serial").update(size=6.0, min_size=8.0))
    assert "min_size" in str(err)


def test_bad_colour() -> None:
    err = _broken(lambda r: _field(r, "face_value").update(color="red"))
    assert "colour" in str(err)


def test_page_size_name() -> None:
    err = _broken(lambda r: r["page"].update(size="B7"))
    assert "A4" in str(err)


def test_required_qr_and_barcode() -> None:
    err = _broken(lambda r: r.update(field=[f for f in r["field"] if f["type"] != "qr"]))
    assert "qr field" in str(err)
    err = _broken(lambda r: r.update(field=[f for f in r["field"] if f["type"] != "barcode"]))
    assert "barcode" in str(err)


def test_code_must_be_inside_a_panel() -> None:
    err = _broken(lambda r: _field(r, "code").update(box=[4.0, 45.0, 35.0, 4.8]))
    assert "panel" in str(err)


def test_duplicate_field_names() -> None:
    err = _broken(lambda r: _field(r, "title").update(name="serial"))
    assert "duplicate" in str(err)


def test_bad_toml_file(tmp_path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("name = 'x\n", encoding="utf-8")
    with pytest.raises(InvalidLayout) as info:
        load_layout_file(path)
    assert "not valid TOML" in str(info.value)


def test_missing_layout_file(tmp_path) -> None:
    with pytest.raises(UnknownLayout):
        load_layout_file(tmp_path / "missing.toml")


def test_every_shipped_field_sits_inside_the_card() -> None:
    for name in list_layouts():
        layout = load_layout(name)
        for f in layout.fields:
            assert 0 <= f.box.x and f.box.x + f.box.width <= layout.card.width_mm + 1e-9
            assert 0 <= f.box.y and f.box.y + f.box.height <= layout.card.height_mm + 1e-9
        assert layout.fields_of(QrField) and layout.fields_of(PanelField) and layout.fields_of(TextField)


def test_qr_module_size_is_checked_when_the_token_is_known(tmp_path) -> None:
    raw = shipped_raw("a4-cards")
    _field(raw, "qr").update(box=[58.0, 23.0, 12.0, 12.0])  # far too small a square
    layout = parse_layout(raw, source="tiny-qr.toml")
    batch = make_batch(2)
    with pytest.raises(InvalidLayout) as info:
        render_batch(batch.cards, batch.cover, layout, tmp_path / "x.pdf", workers=1)
    assert "mm modules" in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_a_new_layout_is_just_a_file(tmp_path) -> None:
    """A print house's own layout (A5 landscape, 2 x 2 larger cards) renders
    with no new code: write TOML, load it, print, scan."""
    raw = shipped_raw("a4-cards")
    raw.update(name="a5-custom", description="test")
    raw["page"] = {
        "size": "A5", "orientation": "landscape",
        "margin_top_mm": 8.0, "margin_right_mm": 8.0, "margin_bottom_mm": 8.0, "margin_left_mm": 8.0,
    }
    raw["grid"].update(columns=2, rows=2, gap_x_mm=6.0, gap_y_mm=6.0)
    raw["cover"].update(margin_mm=10.0, body_size=8.0)
    toml_text = _to_toml(raw)
    path = tmp_path / "a5-custom.toml"
    path.write_text(toml_text, encoding="utf-8")
    layout = load_layout_file(path)
    assert layout.page.width_mm == 210.0 and layout.page.height_mm == 148.0
    batch = make_batch(5)
    out = tmp_path / "out" / "custom.pdf"
    out.parent.mkdir()
    [rendered] = render_batch(batch.cards, batch.cover, layout, out, workers=1)
    assert rendered.pages == 2 + 2 * 2  # the cover and its back, then fronts and backs of 2 sheets
    found = scan(rasterise(out, tmp_path / "png", first=3))[::2]  # the fronts
    assert sorted(t for p in found for t in p["code128"]) == sorted(batch.serials)
    assert sorted(token_from_scan(t) for p in found for t in p["qrcode"]) == sorted(batch.tokens)


def _to_toml(raw: dict) -> str:
    """A tiny TOML writer for the layout shape (tables, arrays of tables)."""

    def value(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        raise TypeError(v)

    def is_table(v) -> bool:
        return isinstance(v, dict) or (isinstance(v, list) and bool(v) and isinstance(v[0], dict))

    lines = [f"{k} = {value(v)}" for k, v in raw.items() if not is_table(v)]
    for k, v in raw.items():
        if isinstance(v, dict):
            lines.append(f"[{k}]")
            lines += [f"{kk} = {value(vv)}" for kk, vv in v.items()]
    for k, v in raw.items():
        if isinstance(v, list) and v and isinstance(v[0], dict):
            for item in v:
                lines.append(f"[[{k}]]")
                lines += [f"{kk} = {value(vv)}" for kk, vv in item.items()]
    return "\n".join(lines) + "\n"


def test_mm_constant() -> None:
    assert 25.4 * MM == pytest.approx(72.0)

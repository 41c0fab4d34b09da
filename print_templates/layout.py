"""Layouts are data: one TOML file per layout in ``print_templates/layouts/``.

A layout says how big the page and the card are, how cards sit on the page
(grid, margins, gaps, crop marks or cut lines, bleed), what the cover page and the
footer look like, and where each field of a card goes: on its front
(``[[field]]``) and, for cards printed on both sides, on its back
(``[[back_field]]``: terms of use, how to redeem, the serial; never the code). Field positions are
boxes in millimetres measured from the card's top-left corner (y grows
downwards, as a designer measures a proof). Text templates use ``{name}``
placeholders from :data:`STATIC_PLACEHOLDERS` (the same on every card of a
batch) and :data:`CARD_PLACEHOLDERS` (different on every card).

Everything is checked on load; a broken layout raises :class:`InvalidLayout`
naming the file, the field and the rule. Adding a layout is adding a file:
the renderer has no per-layout code.
"""
from __future__ import annotations

import math
import re
import string
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from print_templates.errors import InvalidLayout, UnknownLayout

MM = 72.0 / 25.4  # points per millimetre

PAGE_SIZES_MM: dict[str, tuple[float, float]] = {
    "A4": (210.0, 297.0),
    "A5": (148.0, 210.0),
    "A3": (297.0, 420.0),
    "LETTER": (215.9, 279.4),
}

STATIC_PLACEHOLDERS = frozenset(
    {
        "utility_name", "web_address", "sms_number", "hotline", "terms", "terms_zh", "terms_en",
        "face_value", "face_value_amount", "currency", "expires", "batch_id",
    }
)
CARD_PLACEHOLDERS = frozenset({"serial", "serial_grouped", "code"})
FONT_ROLES = ("regular", "bold")
ALIGNMENTS = ("left", "center", "right")
BARCODE_SOURCES = ("serial",)
QR_SOURCES = ("token",)
FIELD_TYPES = ("text", "paragraph", "barcode", "qr", "panel", "rect", "line", "logo")
# a card's back carries no secret: no code, no QR (the token), no scratch panel
BACK_FIELD_TYPES = ("text", "paragraph", "rect", "line", "logo")
BACK_CARD_PLACEHOLDERS = frozenset({"serial", "serial_grouped"})
LOGO_ALIGNMENTS = ("left", "center", "right")
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
_SCHEMA_VERSION = 1

# An RGB triple, or a brand role ("primary", "accent") the renderer takes from the branding
Color = tuple[float, float, float] | str
COLOUR_ROLES = ("primary", "accent")


@dataclass(frozen=True, slots=True)
class Box:
    """A rectangle in mm, from the card's top-left corner, y downwards."""

    x: float
    y: float
    width: float
    height: float

    @property
    def right(self) -> float:
        return self.x + self.width

    @property
    def bottom(self) -> float:
        return self.y + self.height


@dataclass(frozen=True, slots=True)
class TextField:
    name: str
    box: Box
    text: str  # template
    font: str  # "regular" | "bold"
    size: float  # preferred size, pt
    min_size: float  # never smaller, pt
    align: str
    color: Color
    placeholders: frozenset[str]

    @property
    def per_card(self) -> bool:
        return bool(self.placeholders & CARD_PLACEHOLDERS)


@dataclass(frozen=True, slots=True)
class ParagraphField:
    """Static text wrapped onto as many lines as the box holds (terms of use): the largest size at or
    below ``size`` at which every line fits, never below ``min_size``. Breaks at spaces, or between any
    two characters of Chinese text."""

    name: str
    box: Box
    text: str  # template, static placeholders only
    font: str
    size: float
    min_size: float
    align: str
    color: Color
    line_height: float  # line pitch as a multiple of the size
    placeholders: frozenset[str]


@dataclass(frozen=True, slots=True)
class BarcodeField:
    name: str
    box: Box
    source: str  # "serial"
    quiet_modules: int  # light modules left and right, inside the box
    min_module_mm: float


@dataclass(frozen=True, slots=True)
class QrField:
    name: str
    box: Box  # the QR is a square of side min(width, height), centred
    source: str  # "token"
    quiet_modules: int  # light modules all round, inside the box
    min_module_mm: float


@dataclass(frozen=True, slots=True)
class PanelField:
    """The marked scratch-off (or "keep secret") area: a dashed frame and a
    label above it. The inside stays white so the QR code scans."""

    name: str
    box: Box
    label: str  # static template drawn above the panel's top edge; "" for none
    label_size: float
    label_min_size: float
    color: Color
    corner_radius_mm: float
    line_width_pt: float
    dashed: bool
    placeholders: frozenset[str]


@dataclass(frozen=True, slots=True)
class RectField:
    name: str
    box: Box
    color: Color
    bleed: bool = False  # the edges lying on the card's edge run on into the bleed ([card] bleed_mm)


@dataclass(frozen=True, slots=True)
class LineField:
    name: str
    box: Box  # the line runs from (x, y) to (x + width, y + height)
    color: Color
    line_width_pt: float
    dashed: bool


@dataclass(frozen=True, slots=True)
class LogoField:
    """The utility's logo (PNG or SVG from the branding), scaled to fit the box, aspect kept; nothing is
    drawn when no logo is configured."""

    name: str
    box: Box
    align: str


Field = TextField | ParagraphField | BarcodeField | QrField | PanelField | RectField | LineField | LogoField


@dataclass(frozen=True, slots=True)
class PageSpec:
    width_mm: float
    height_mm: float
    margin_top_mm: float
    margin_right_mm: float
    margin_bottom_mm: float
    margin_left_mm: float
    color_model: str = "rgb"  # "cmyk": every colour is written as CMYK, black as pure K (print shops)


@dataclass(frozen=True, slots=True)
class CardSpec:
    width_mm: float
    height_mm: float
    safe_margin_mm: float  # text, codes and panels keep this far from the cut
    outline: bool  # a thin rounded outline (for layouts cut without marks)
    corner_radius_mm: float
    outline_color: Color
    bleed_mm: float = 0.0  # background printed this far past the trim, cut off by the guillotine


@dataclass(frozen=True, slots=True)
class GridSpec:
    columns: int
    rows: int
    gap_x_mm: float
    gap_y_mm: float

    @property
    def cards_per_page(self) -> int:
        return self.columns * self.rows


@dataclass(frozen=True, slots=True)
class MarksSpec:
    crop_marks: bool  # short marks in the margins on every cut line
    cut_lines: bool  # dashed lines through the page on every cut line
    length_mm: float
    offset_mm: float  # gap between the card edge and the crop mark
    line_width_pt: float
    color: Color


@dataclass(frozen=True, slots=True)
class CoverSpec:
    margin_mm: float
    title_size: float
    body_size: float
    min_size: float


@dataclass(frozen=True, slots=True)
class FooterSpec:
    enabled: bool
    size: float
    min_size: float
    offset_mm: float  # baseline distance above the page's bottom edge


@dataclass(frozen=True, slots=True)
class Layout:
    name: str
    description: str
    page: PageSpec
    card: CardSpec
    grid: GridSpec
    marks: MarksSpec
    cover: CoverSpec
    footer: FooterSpec
    fields: tuple[Field, ...]
    source: str  # file it came from, for messages
    back_fields: tuple[Field, ...] = ()  # the card's back; () for one-sided cards

    @property
    def duplex(self) -> bool:
        """Cards printed on both sides: each sheet of fronts is followed by the sheet of their backs."""
        return bool(self.back_fields)

    @property
    def cards_per_page(self) -> int:
        return self.grid.cards_per_page

    def grid_origin_mm(self) -> tuple[float, float]:
        """Top-left corner of the grid, from the page's top-left corner: the
        grid is centred in the area inside the margins."""
        g, p, c = self.grid, self.page, self.card
        grid_w = g.columns * c.width_mm + (g.columns - 1) * g.gap_x_mm
        grid_h = g.rows * c.height_mm + (g.rows - 1) * g.gap_y_mm
        inner_w = p.width_mm - p.margin_left_mm - p.margin_right_mm
        inner_h = p.height_mm - p.margin_top_mm - p.margin_bottom_mm
        return p.margin_left_mm + (inner_w - grid_w) / 2, p.margin_top_mm + (inner_h - grid_h) / 2

    def card_origins_mm(self) -> list[tuple[float, float]]:
        """Top-left corners of the card slots in fill order (rows top to
        bottom, left to right), from the page's top-left corner."""
        x0, y0 = self.grid_origin_mm()
        g, c = self.grid, self.card
        return [
            (x0 + col * (c.width_mm + g.gap_x_mm), y0 + row * (c.height_mm + g.gap_y_mm))
            for row in range(g.rows)
            for col in range(g.columns)
        ]

    def back_origins_mm(self) -> list[tuple[float, float]]:
        """Where the back of the card in each front slot goes on the back page, in the same fill order:
        the front's position mirrored about the page's vertical centre line (long-edge flip), so each
        back lands behind its front - in a centred grid, row r column c goes to row r column
        (columns - 1 - c)."""
        width = self.page.width_mm
        return [(width - x - self.card.width_mm, y) for x, y in self.card_origins_mm()]

    def fields_of(self, kind: type) -> list[Any]:
        return [f for f in self.fields if isinstance(f, kind)]

    def back_fields_of(self, kind: type) -> list[Any]:
        return [f for f in self.back_fields if isinstance(f, kind)]


# --------------------------------------------------------------------------
# Loading


def layouts_dir() -> Path:
    return Path(str(resources.files("print_templates") / "layouts"))


def list_layouts() -> list[str]:
    """Names of the layouts shipped with the package, sorted."""
    return sorted(p.stem for p in layouts_dir().glob("*.toml") if _NAME.match(p.stem))


def load_layout(name: str) -> Layout:
    """Load and validate a shipped layout by name (e.g. ``"a4-cards"``)."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise UnknownLayout(f"unknown layout {name!r}: available: {', '.join(list_layouts())}")
    path = layouts_dir() / f"{name}.toml"
    if not path.is_file():
        raise UnknownLayout(f"unknown layout {name!r}: available: {', '.join(list_layouts())}")
    layout = load_layout_file(path)
    if layout.name != name:
        raise InvalidLayout(f"{path}: name = {layout.name!r} but the file is called {name}.toml")
    return layout


def load_layout_file(path: str | Path) -> Layout:
    """Load and validate a layout from any TOML file (a print house's own)."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise UnknownLayout(f"layout file not found: {path}") from e
    except (OSError, UnicodeDecodeError) as e:
        raise InvalidLayout(f"{path}: cannot read: {e}") from e
    except tomllib.TOMLDecodeError as e:
        raise InvalidLayout(f"{path}: not valid TOML: {e}") from e
    return parse_layout(raw, source=str(path))


def parse_layout(raw: dict[str, Any], *, source: str = "<layout>") -> Layout:
    """Validate a layout document (the parsed TOML) into a :class:`Layout`."""
    r = _Reader(raw, source)
    version = r.integer("schema", lo=1, hi=_SCHEMA_VERSION)
    if version != _SCHEMA_VERSION:  # pragma: no cover - guarded by the range above
        raise r.error("schema", f"unsupported schema version {version}")
    name = r.text("name")
    if not _NAME.match(name):
        raise r.error("name", "use lowercase letters, digits and dashes (e.g. a4-cards)")
    description = r.text("description")
    page = _read_page(r.table("page"))
    card = _read_card(r.table("card"))
    grid = _read_grid(r.table("grid"))
    marks = _read_marks(r.table("marks"))
    cover = _read_cover(r.table("cover"))
    footer = _read_footer(r.table("footer"))
    fields = tuple(_read_field(f, card) for f in r.tables("field"))
    back = tuple(_read_field(f, card, back=True) for f in r.tables("back_field", optional=True))
    r.done()
    for kind, group in (("", fields), ("back ", back)):
        names = [f.name for f in group]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise InvalidLayout(f"{source}: duplicate {kind}field names: {', '.join(duplicates)}")
    layout = Layout(name, description, page, card, grid, marks, cover, footer, fields, source, back)
    _check_page_geometry(layout)
    _check_required_fields(layout)
    _check_back(layout)
    return layout


class _Reader:
    """Reads one TOML table, tracking its path for error messages and
    refusing keys it does not know (a typo must not pass silently)."""

    def __init__(self, data: Any, source: str, where: str = "") -> None:
        if not isinstance(data, dict):
            raise InvalidLayout(f"{source}: {where or 'document'} must be a table")
        self.data = data
        self.source = source
        self.where = where
        self.seen: set[str] = set()

    def error(self, key: str, message: str) -> InvalidLayout:
        at = f"{self.where}.{key}" if self.where else key
        return InvalidLayout(f"{self.source}: {at}: {message}")

    def _get(self, key: str, default: Any) -> Any:
        self.seen.add(key)
        if key in self.data:
            return self.data[key]
        if default is _REQUIRED:
            raise self.error(key, "missing")
        return default

    def number(self, key: str, default: Any = None, *, lo: float | None = None, hi: float | None = None) -> float:
        value = self._get(key, _REQUIRED if default is None else default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise self.error(key, f"must be a number, got {value!r}")
        if lo is not None and value < lo:
            raise self.error(key, f"must be at least {lo}, got {value}")
        if hi is not None and value > hi:
            raise self.error(key, f"must be at most {hi}, got {value}")
        return float(value)

    def integer(self, key: str, default: Any = None, *, lo: int, hi: int) -> int:
        value = self._get(key, _REQUIRED if default is None else default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(key, f"must be a whole number, got {value!r}")
        if not lo <= value <= hi:
            raise self.error(key, f"must be between {lo} and {hi}, got {value}")
        return value

    def boolean(self, key: str, default: Any = None) -> bool:
        value = self._get(key, _REQUIRED if default is None else default)
        if not isinstance(value, bool):
            raise self.error(key, f"must be true or false, got {value!r}")
        return value

    def text(self, key: str, default: Any = None) -> str:
        value = self._get(key, _REQUIRED if default is None else default)
        if not isinstance(value, str) or not value.strip():
            raise self.error(key, f"must be non-empty text, got {value!r}")
        if "\n" in value or "\r" in value:
            raise self.error(key, "must be a single line")
        return value

    def choice(self, key: str, options: tuple[str, ...], default: Any = None) -> str:
        value = self.text(key, default)
        if value not in options:
            raise self.error(key, f"must be one of {', '.join(options)}, got {value!r}")
        return value

    def color(self, key: str, default: str) -> Color:
        value = self.text(key, default)
        if value in COLOUR_ROLES:
            return value
        if not _COLOR.match(value):
            raise self.error(key, f"must be a colour like #1a3d7c or one of {', '.join(COLOUR_ROLES)}, got {value!r}")
        return tuple(int(value[i : i + 2], 16) / 255.0 for i in (1, 3, 5))  # type: ignore[return-value]

    def box(self, key: str) -> Box:
        value = self._get(key, _REQUIRED)
        if (
            not isinstance(value, list)
            or len(value) != 4
            or any(isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) for v in value)
        ):
            raise self.error(key, f"must be [x, y, width, height] in mm, got {value!r}")
        return Box(*(float(v) for v in value))

    def table(self, key: str) -> _Reader:
        return _Reader(self._get(key, _REQUIRED), self.source, f"{self.where}.{key}" if self.where else key)

    def tables(self, key: str, *, optional: bool = False) -> list[_Reader]:
        value = self._get(key, [] if optional else _REQUIRED)
        if optional and value == []:
            return []
        if not isinstance(value, list) or not value:
            raise self.error(key, "must be a non-empty array of tables ([[field]])")
        return [_Reader(item, self.source, f"{key}[{i}]") for i, item in enumerate(value)]

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.seen)
        if unknown:
            raise InvalidLayout(f"{self.source}: {self.where or 'top level'}: unknown keys: {', '.join(unknown)}")


_REQUIRED = object()


def _read_page(r: _Reader) -> PageSpec:
    size_name = r._get("size", "")
    if size_name:
        if not isinstance(size_name, str) or size_name.upper() not in PAGE_SIZES_MM:
            raise r.error("size", f"must be one of {', '.join(PAGE_SIZES_MM)} (or give width_mm and height_mm)")
        if "width_mm" in r.data or "height_mm" in r.data:
            raise r.error("size", "give either size or width_mm/height_mm, not both")
        width, height = PAGE_SIZES_MM[size_name.upper()]
    else:
        width = r.number("width_mm", lo=20, hi=2000)
        height = r.number("height_mm", lo=20, hi=5000)
    orientation = r.choice("orientation", ("portrait", "landscape"), "portrait")
    if orientation == "landscape":
        width, height = max(width, height), min(width, height)
    page = PageSpec(
        width,
        height,
        r.number("margin_top_mm", lo=0, hi=height / 2),
        r.number("margin_right_mm", lo=0, hi=width / 2),
        r.number("margin_bottom_mm", lo=0, hi=height / 2),
        r.number("margin_left_mm", lo=0, hi=width / 2),
        r.choice("color_model", ("rgb", "cmyk"), "rgb"),
    )
    r.done()
    return page


def _read_card(r: _Reader) -> CardSpec:
    width = r.number("width_mm", lo=20, hi=1000)
    height = r.number("height_mm", lo=20, hi=2000)
    card = CardSpec(
        width,
        height,
        r.number("safe_margin_mm", lo=0, hi=min(width, height) / 4),
        r.boolean("outline", False),
        r.number("corner_radius_mm", 0.0, lo=0, hi=min(width, height) / 4),
        r.color("outline_color", "#b0b0b0"),
        r.number("bleed_mm", 0.0, lo=0, hi=10),
    )
    r.done()
    return card


def _read_grid(r: _Reader) -> GridSpec:
    grid = GridSpec(
        r.integer("columns", lo=1, hi=50),
        r.integer("rows", lo=1, hi=50),
        r.number("gap_x_mm", 0.0, lo=0, hi=100),
        r.number("gap_y_mm", 0.0, lo=0, hi=100),
    )
    r.done()
    return grid


def _read_marks(r: _Reader) -> MarksSpec:
    marks = MarksSpec(
        r.boolean("crop_marks"),
        r.boolean("cut_lines"),
        r.number("length_mm", 5.0, lo=1, hi=30),
        r.number("offset_mm", 2.0, lo=0, hi=20),
        r.number("line_width_pt", 0.25, lo=0.05, hi=2),
        r.color("color", "#000000"),
    )
    r.done()
    return marks


def _read_cover(r: _Reader) -> CoverSpec:
    min_size = r.number("min_size", lo=3, hi=72)
    cover = CoverSpec(
        r.number("margin_mm", lo=0, hi=100),
        r.number("title_size", lo=min_size, hi=72),
        r.number("body_size", lo=min_size, hi=72),
        min_size,
    )
    r.done()
    return cover


def _read_footer(r: _Reader) -> FooterSpec:
    min_size = r.number("min_size", 4.0, lo=3, hi=36)
    footer = FooterSpec(
        r.boolean("enabled"),
        r.number("size", 6.0, lo=min_size, hi=36),
        min_size,
        r.number("offset_mm", 5.0, lo=0, hi=100),
    )
    r.done()
    return footer


def _placeholders(r: _Reader, key: str, template: str, allowed: frozenset[str]) -> frozenset[str]:
    names: set[str] = set()
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as e:
        raise r.error(key, f"bad template {template!r}: {e} (write {{{{ and }}}} for literal braces)") from e
    for _literal, field_name, spec, conversion in parsed:
        if field_name is None:
            continue
        if field_name not in allowed:
            raise r.error(
                key, f"unknown placeholder {{{field_name}}}: use one of {', '.join(sorted(allowed))}"
            )
        if spec or conversion:
            raise r.error(key, f"placeholder {{{field_name}}} takes no format spec or conversion")
        names.add(field_name)
    return frozenset(names)


def _check_box(r: _Reader, box: Box, card: CardSpec, *, inset: float) -> None:
    if box.width <= 0 or box.height <= 0:
        raise r.error("box", f"width and height must be positive, got {box.width} x {box.height} mm")
    if box.x < inset - 1e-9 or box.y < inset - 1e-9:
        raise r.error("box", f"starts at ({box.x}, {box.y}) mm, inside the {inset} mm margin of the card edge")
    if box.right > card.width_mm - inset + 1e-9:
        raise r.error(
            "box",
            f"right edge {box.right:g} mm is past {card.width_mm - inset:g} mm "
            f"(card width {card.width_mm:g} less {inset:g} mm)",
        )
    if box.bottom > card.height_mm - inset + 1e-9:
        raise r.error(
            "box",
            f"bottom edge {box.bottom:g} mm is past {card.height_mm - inset:g} mm "
            f"(card height {card.height_mm:g} less {inset:g} mm)",
        )


def _read_field(r: _Reader, card: CardSpec, *, back: bool = False) -> Field:
    name = r.text("name")
    if not _NAME.match(name.replace("_", "-")):
        raise r.error("name", f"bad field name {name!r}")
    kind = r.choice("type", BACK_FIELD_TYPES if back else FIELD_TYPES)
    safe = card.safe_margin_mm
    field: Field
    if kind in ("text", "paragraph"):
        text = r.text("text")
        size = r.number("size", lo=3, hi=200 if kind == "text" else 72)
        min_size = r.number("min_size", size, lo=3, hi=size)
        box = r.box("box")
        _check_box(r, box, card, inset=safe)
        font, align, color = r.choice("font", FONT_ROLES, "regular"), r.choice("align", ALIGNMENTS, "left"), \
            r.color("color", "#000000")
        if kind == "text":
            allowed = STATIC_PLACEHOLDERS | (BACK_CARD_PLACEHOLDERS if back else CARD_PLACEHOLDERS)
            field = TextField(name, box, text, font, size, min_size, align, color,
                              _placeholders(r, "text", text, allowed))
        else:  # a paragraph is the same on every card
            field = ParagraphField(name, box, text, font, size, min_size, align, color,
                                   r.number("line_height", 1.3, lo=1.0, hi=3.0),
                                   _placeholders(r, "text", text, STATIC_PLACEHOLDERS))
    elif kind == "barcode":
        box = r.box("box")
        _check_box(r, box, card, inset=safe)
        field = BarcodeField(
            name, box, r.choice("source", BARCODE_SOURCES, "serial"),
            r.integer("quiet_modules", 10, lo=10, hi=40),
            r.number("min_module_mm", 0.25, lo=0.13, hi=2),
        )
    elif kind == "qr":
        box = r.box("box")
        _check_box(r, box, card, inset=safe)
        field = QrField(
            name, box, r.choice("source", QR_SOURCES, "token"),
            r.integer("quiet_modules", 4, lo=4, hi=20),
            r.number("min_module_mm", 0.33, lo=0.2, hi=5),
        )
    elif kind == "panel":
        box = r.box("box")
        _check_box(r, box, card, inset=safe)
        label = r.text("label") if r._get("label", "") != "" else ""
        label_size = r.number("label_size", 5.0, lo=3, hi=72)
        field = PanelField(
            name, box, label, label_size, r.number("label_min_size", label_size, lo=3, hi=label_size),
            r.color("color", "#808080"), r.number("corner_radius_mm", 1.5, lo=0, hi=20),
            r.number("line_width_pt", 0.6, lo=0.1, hi=4), r.boolean("dashed", True),
            _placeholders(r, "label", label, STATIC_PLACEHOLDERS),
        )
        label_height = label_size / MM * 1.3 + 0.4
        if label and box.y - label_height < card.safe_margin_mm - 0.5:
            raise r.error("box", f"leaves no room above the panel for its {label_size:g} pt label")
    elif kind == "logo":
        box = r.box("box")
        _check_box(r, box, card, inset=safe)
        field = LogoField(name, box, r.choice("align", LOGO_ALIGNMENTS, "left"))
    elif kind == "rect":
        box = r.box("box")
        _check_box(r, box, card, inset=0.0)
        bleed = r.boolean("bleed", False)
        if bleed and card.bleed_mm <= 0:
            raise r.error("bleed", "needs [card] bleed_mm above 0")
        if bleed and not (box.x <= 1e-9 or box.y <= 1e-9 or box.right >= card.width_mm - 1e-9
                          or box.bottom >= card.height_mm - 1e-9):
            raise r.error("bleed", "only a rect touching the card's edge can run into the bleed")
        field = RectField(name, box, r.color("color", "#000000"), bleed)
    else:  # line
        box = r.box("box")
        if box.width < 0 or box.height < 0 or (box.width == 0 and box.height == 0):
            raise r.error("box", "a line needs a non-negative, non-zero extent [x, y, dx, dy]")
        _check_box(r, Box(box.x, box.y, max(box.width, 1e-6), max(box.height, 1e-6)), card, inset=0.0)
        field = LineField(
            name, box, r.color("color", "#000000"), r.number("line_width_pt", 0.5, lo=0.05, hi=10),
            r.boolean("dashed", False),
        )
    r.done()
    return field


def _check_page_geometry(layout: Layout) -> None:
    p, c, g, m = layout.page, layout.card, layout.grid, layout.marks
    where = f"{layout.source}: layout {layout.name!r}"
    grid_w = g.columns * c.width_mm + (g.columns - 1) * g.gap_x_mm
    grid_h = g.rows * c.height_mm + (g.rows - 1) * g.gap_y_mm
    inner_w = p.width_mm - p.margin_left_mm - p.margin_right_mm
    inner_h = p.height_mm - p.margin_top_mm - p.margin_bottom_mm
    if grid_w > inner_w + 1e-6:
        raise InvalidLayout(
            f"{where}: {g.columns} columns of {c.width_mm:g} mm with {g.gap_x_mm:g} mm gaps need "
            f"{grid_w:.1f} mm but the page has {inner_w:.1f} mm between its margins"
        )
    if grid_h > inner_h + 1e-6:
        raise InvalidLayout(
            f"{where}: {g.rows} rows of {c.height_mm:g} mm with {g.gap_y_mm:g} mm gaps need "
            f"{grid_h:.1f} mm but the page has {inner_h:.1f} mm between its margins"
        )
    if c.bleed_mm > 0:
        gaps = [(g.gap_x_mm, "gap_x_mm")] if g.columns > 1 else []
        gaps += [(g.gap_y_mm, "gap_y_mm")] if g.rows > 1 else []
        for gap, key in gaps:
            if gap < 2 * c.bleed_mm - 1e-6:
                raise InvalidLayout(
                    f"{where}: a {c.bleed_mm:g} mm bleed needs [grid] {key} of at least {2 * c.bleed_mm:g} mm "
                    f"(each card's bleed must stay off its neighbour), got {gap:g}"
                )
        if m.crop_marks and m.offset_mm < c.bleed_mm - 1e-6:
            raise InvalidLayout(
                f"{where}: crop marks must start outside the bleed: [marks] offset_mm {m.offset_mm:g} is less "
                f"than the {c.bleed_mm:g} mm bleed"
            )
        if m.cut_lines:
            raise InvalidLayout(f"{where}: cut lines would run through the bleed: use crop marks with a bleed")
    if m.crop_marks:
        x0, y0 = layout.grid_origin_mm()
        room = min(x0, y0, p.width_mm - x0 - grid_w, p.height_mm - y0 - grid_h)
        if room < m.offset_mm + m.length_mm - 1e-6:
            raise InvalidLayout(
                f"{where}: crop marks need {m.offset_mm + m.length_mm:g} mm outside the grid, "
                f"the page leaves {room:.1f} mm"
            )
    if layout.footer.enabled:
        x0, y0 = layout.grid_origin_mm()
        below = p.height_mm - y0 - grid_h
        needed = layout.footer.offset_mm + layout.footer.size / MM
        if below < needed - 1e-6:
            raise InvalidLayout(
                f"{where}: the footer needs {needed:.1f} mm below the grid, the page leaves {below:.1f} mm"
            )
    cover_w = p.width_mm - 2 * layout.cover.margin_mm
    cover_h = p.height_mm - 2 * layout.cover.margin_mm
    if cover_w < 40 or cover_h < 60:
        raise InvalidLayout(f"{where}: the cover margins leave only {cover_w:.0f} x {cover_h:.0f} mm for the cover page")


def _check_required_fields(layout: Layout) -> None:
    """A card must show what docs/contract.md §6.2 promises: QR = token, Code 128 =
    serial, the code in clear, the serial in clear, inside a panel."""
    where = f"{layout.source}: layout {layout.name!r}"
    texts = layout.fields_of(TextField)
    if not layout.fields_of(QrField):
        raise InvalidLayout(f"{where}: needs a qr field (the EV1 token)")
    if not layout.fields_of(BarcodeField):
        raise InvalidLayout(f"{where}: needs a barcode field (the serial as Code 128)")
    for required in ("code", "face_value", "expires"):
        if not any(required in t.placeholders for t in texts):
            raise InvalidLayout(f"{where}: no text field shows {{{required}}}")
    if not any({"serial", "serial_grouped"} & t.placeholders for t in texts):
        raise InvalidLayout(f"{where}: no text field shows the serial in clear")
    panels = layout.fields_of(PanelField)
    secret = [f.box for f in layout.fields_of(QrField)] + [t.box for t in texts if "code" in t.placeholders]
    for box in secret:
        if not any(_inside(box, p.box) for p in panels):
            raise InvalidLayout(f"{where}: the code and the QR code must lie inside a panel field")


def _check_back(layout: Layout) -> None:
    """A back shows the serial (to match it with its front) and nothing secret: no ``{code}`` can be
    named (refused when the field is read), no QR, barcode or panel (not back field types)."""
    if not layout.back_fields:
        return
    where = f"{layout.source}: layout {layout.name!r}"
    texts = layout.back_fields_of(TextField)
    if not any(BACK_CARD_PLACEHOLDERS & t.placeholders for t in texts):
        raise InvalidLayout(f"{where}: no back_field text shows the serial (each back must name its card)")


def _inside(inner: Box, outer: Box) -> bool:
    eps = 1e-6
    return (
        inner.x >= outer.x - eps and inner.y >= outer.y - eps
        and inner.right <= outer.right + eps and inner.bottom <= outer.bottom + eps
    )

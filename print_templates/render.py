"""Render a batch of cards into PDF files.

Flow of :func:`render_batch`:

1. Check the output directory (a probe file) and build a :class:`_Plan` from
   the layout, cover, branding and fonts: every static text is resolved,
   checked for glyphs and fitted to its box, per-card texts are fitted for
   their widest possible value. A layout that cannot print fails here, before
   any card is read.
2. Stream the cards once. The main process checks each against the cover
   (face value, currency, expiry, increasing serials, count) and feeds the
   SHA-256 of the card data; it never holds more than a bounded window.
3. Cards are rendered in parallel: with several output files, each worker
   process renders whole files; with one file, workers build the QR and
   barcode paths of small groups of cards and the main process lays them out.
4. Every file is written with mode 0600 to a hidden temporary name in the
   output directory. Only when all files are written and the count, last
   serial and SHA-256 match the cover are they renamed to their final names.
   On any failure every file of the call is removed.

Per file the static parts of a card (labels, face value, panel frame) are one
PDF form drawn by reference; a card adds its serial, code, barcode and QR.

A layout with ``[[back_field]]`` prints both sides in one file, for duplex
printing with a long-edge flip: the cover page, its blank back, then each sheet
of fronts followed by the sheet of their backs (terms, how to redeem, the
serial; never the code), every back mirrored left-right so it lands behind its
front (:meth:`Layout.back_origins_mm`). Backgrounds marked ``bleed`` run
``bleed_mm`` past the trim.
"""
from __future__ import annotations

import collections
import concurrent.futures
import hashlib
import io
import logging
import math
import multiprocessing
import multiprocessing.context
import os
import secrets
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

from reportlab import rl_config
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfgen.canvas import Canvas

from print_templates.errors import (
    BatchMismatch,
    InvalidCardData,
    InvalidLayout,
    PrintError,
    RenderFailed,
    TextOverflow,
    UnwritablePath,
)
from print_templates.layout import (
    MM,
    BarcodeField,
    Box,
    Color,
    Layout,
    LineField,
    LogoField,
    PanelField,
    ParagraphField,
    QrField,
    RectField,
    TextField,
    load_layout,
)
from print_templates.model import (
    BatchCover,
    CardDataHasher,
    CardRecord,
    PrintBranding,
    RenderedFile,
)
from print_templates.symbols import (
    code128_modules,
    code128_path,
    qr_path,
    qr_size_for_length,
)
from print_templates.typeset import FittedText, FontSet, em_box, fit_text, pick_font, register
from vouchers.codes import group_code
from vouchers.errors import VoucherError
from vouchers.display import local_text
from vouchers.money import format_amount, format_display
from vouchers.token import qr_fragment, read_unverified

log = logging.getLogger(__name__)

OPS_GROUP = 128  # cards per task when workers only build QR/barcode paths
LARGE_SINGLE_FILE = 20_000  # warn above this many cards in one file
_DIGITS = "0123456789"
_DASH = " – "


# --------------------------------------------------------------------------
# The plan: everything about a batch that is the same on every card


@dataclass(frozen=True, slots=True)
class _Text:
    """A text placed in a box (card or page coordinates, points, y up)."""

    template: str
    font: str
    size: float
    align: str
    color: tuple[float, float, float]
    left: float
    right: float
    baseline: float
    width: float  # of the fitted text (static texts)

    def x_for(self, width: float) -> float:
        if self.align == "left":
            return self.left
        if self.align == "right":
            return self.right - width
        return (self.left + self.right - width) / 2


def _place(fitted: FittedText, box_pt: tuple[float, float, float, float], align: str, color, template: str) -> _Text:
    x, y, w, h = box_pt
    text_h = (fitted.ascent - fitted.descent) * fitted.size
    baseline = y + (h - text_h) / 2 - fitted.descent * fitted.size
    return _Text(template, fitted.font, fitted.size, align, color, x, x + w, baseline, fitted.width)


def _escape_braces(value: str) -> str:
    return value.replace("{", "{{").replace("}", "}}")


class _Plan:
    """Static texts resolved and fitted, per-card fields prepared."""

    def __init__(self, layout: Layout, cover: BatchCover, branding: PrintBranding, fonts: FontSet) -> None:
        self.layout = layout
        self.cover = cover
        self.branding = branding
        self.fonts = fonts
        self.regular = register(fonts.regular)
        self.bold = register(fonts.bold)
        self.card_w = layout.card.width_mm * MM
        self.card_h = layout.card.height_mm * MM
        self.page_w = layout.page.width_mm * MM
        self.page_h = layout.page.height_mm * MM
        self.values = {
            "utility_name": branding.utility_name,
            "web_address": branding.web_address,
            "sms_number": branding.sms_number,
            "hotline": branding.hotline,
            "terms": branding.terms,
            "terms_zh": branding.terms_zh,
            "terms_en": branding.terms_en,
            "face_value": format_display(cover.face_value, cover.currency),
            "face_value_amount": format_amount(cover.face_value),
            "currency": cover.currency,
            "expires": cover.expires.isoformat(),
            "batch_id": cover.batch_id,
        }
        self.cmyk = layout.page.color_model == "cmyk"
        self.black = "0 0 0 1 k" if self.cmyk else "0 g"  # symbols: pure K on press, never 4-colour black
        self.static_texts: list[_Text] = []
        self.card_texts: list[tuple[_Text, str]] = []  # (placement, template with static values filled in)
        for f in layout.fields_of(TextField):
            self._plan_text(f, self.static_texts, self.card_texts)
        for f in layout.fields_of(ParagraphField):
            self.static_texts.extend(self._plan_paragraph(f))
        self.back_texts: list[_Text] = []
        self.back_card_texts: list[tuple[_Text, str]] = []
        for f in layout.back_fields_of(TextField):
            self._plan_text(f, self.back_texts, self.back_card_texts)
        for f in layout.back_fields_of(ParagraphField):
            self.back_texts.extend(self._plan_paragraph(f))
        self.panel_labels: list[_Text] = []
        for p in layout.fields_of(PanelField):
            self._plan_panel_label(p)
        self.qr_fields: list[QrField] = layout.fields_of(QrField)
        self.barcode_fields: list[BarcodeField] = layout.fields_of(BarcodeField)
        self._qr_transforms: dict[int, list[str]] = {}
        self._bar_transforms: dict[int, list[str]] = {}
        self.origins = [
            (x * MM, self.page_h - (y + layout.card.height_mm) * MM) for x, y in layout.card_origins_mm()
        ]
        self.back_origins = [
            (x * MM, self.page_h - (y + layout.card.height_mm) * MM) for x, y in layout.back_origins_mm()
        ]
        self.bleed = layout.card.bleed_mm * MM

    # -- colours
    def rgb(self, color: Color) -> tuple[float, float, float]:
        """A layout colour as RGB: brand roles ("primary", "accent") come from the branding."""
        return self.branding.rgb(color) if isinstance(color, str) else color

    def fill(self, c: Canvas, color: Color) -> None:
        rgb = self.rgb(color)
        if self.cmyk:
            c.setFillColorCMYK(*_cmyk(rgb))
        else:
            c.setFillColorRGB(*rgb)

    def stroke(self, c: Canvas, color: Color) -> None:
        rgb = self.rgb(color)
        if self.cmyk:
            c.setStrokeColorCMYK(*_cmyk(rgb))
        else:
            c.setStrokeColorRGB(*rgb)

    # -- geometry helpers
    def card_box(self, box: Box) -> tuple[float, float, float, float]:
        """A layout box (mm, from the top-left, y down) in card points (y up)."""
        return box.x * MM, self.card_h - box.bottom * MM, box.width * MM, box.height * MM

    def _what(self, field_name: str) -> str:
        return f"layout {self.layout.name!r} field {field_name!r}"

    # -- texts
    def _plan_text(self, f: TextField, static: list[_Text], per_card: list[tuple[_Text, str]]) -> None:
        what = self._what(f.name)
        box = self.card_box(f.box)
        if not f.per_card:
            text = f.text.format_map(self.values)
            font = pick_font(self.fonts, f.font, text, what=what)
            fitted = fit_text(text, font, size=f.size, min_size=f.min_size, max_width=box[2], max_height=box[3], what=what)
            static.append(_place(fitted, box, f.align, self.rgb(f.color), text))
            return
        # Per-card text: fit the widest possible value once, so no card can
        # overflow (serials and codes have fixed lengths, checked per card).
        probe = f.text.format_map({**self.values, **_sample_card_values("0")}) + _DIGITS
        probe_font = pick_font(self.fonts, f.font, probe, what=what)
        widest = max(_DIGITS, key=lambda d: pdfmetrics.stringWidth(d, probe_font, 10))
        worst = f.text.format_map({**self.values, **_sample_card_values(widest)})
        fitted = fit_text(worst, probe_font, size=f.size, min_size=f.min_size, max_width=box[2], max_height=box[3], what=what)
        static_filled = f.text.format_map(
            {**{k: _escape_braces(v) for k, v in self.values.items()}, **{k: "{" + k + "}" for k in _sample_card_values("0")}}
        )
        per_card.append((_place(fitted, box, f.align, self.rgb(f.color), static_filled), static_filled))

    def _plan_paragraph(self, f: ParagraphField) -> list[_Text]:
        """The paragraph's lines at the largest size (0.1 pt steps) at which they all fit the box."""
        what = self._what(f.name)
        x, y, w, h = self.card_box(f.box)
        text = " ".join(f.text.format_map(self.values).split())
        font = pick_font(self.fonts, f.font, text, what=what)
        ascent, descent = em_box(font)
        size = math.floor(f.size * 10 + 1e-9) / 10.0
        while size >= f.min_size - 1e-9:
            lines = wrap_text(text, font, size, w)
            pitch = size * f.line_height
            if (len(lines) - 1) * pitch + (ascent - descent) * size <= h + 1e-6 and all(
                pdfmetrics.stringWidth(line, font, size) <= w + 1e-6 for line in lines
            ):
                top = y + h - ascent * size
                colour = self.rgb(f.color)
                return [
                    _Text(line, font, size, f.align, colour, x, x + w, top - i * pitch,
                          pdfmetrics.stringWidth(line, font, size))
                    for i, line in enumerate(lines)
                ]
            size = round(size - 0.1, 1)
        raise TextOverflow(
            f"{what}: {len(text)} characters do not fit {w / MM:.1f} x {h / MM:.1f} mm even at the minimum "
            f"{f.min_size:g} pt: shorten the text or give the paragraph a larger box"
        )
    def _plan_panel_label(self, p: PanelField) -> None:
        if not p.label:
            return
        what = self._what(p.name) + " label"
        text = p.label.format_map(self.values)
        font = pick_font(self.fonts, "bold", text, what=what)
        x, y, w, h = self.card_box(p.box)
        label_h = p.label_size * 1.3
        box = (x, y + h + 0.4 * MM, w, label_h)
        fitted = fit_text(text, font, size=p.label_size, min_size=p.label_min_size, max_width=w, max_height=label_h, what=what)
        if box[1] + label_h > self.card_h - self.layout.card.safe_margin_mm * MM + 0.5 * MM:
            raise TextOverflow(f"{what}: no room above the panel for its label")
        self.panel_labels.append(_place(fitted, box, "center", self.rgb(p.color), text))

    # -- symbols
    def check_symbol_sizes(self, card: CardRecord) -> None:
        """Fail early (InvalidLayout) if this card's QR or barcode would have
        modules smaller than the layout allows."""
        self.qr_transforms(qr_size_for_length(len(qr_text(card.token, self.branding.qr_prefix)), self.branding.qr_prefix))
        self.barcode_transforms(code128_modules(card.serial))

    def qr_transforms(self, modules: int) -> list[str]:
        cached = self._qr_transforms.get(modules)
        if cached is not None:
            return cached
        out = []
        for f in self.qr_fields:
            x, y, w, h = self.card_box(f.box)
            side = min(w, h)
            module = side / (modules + 2 * f.quiet_modules)
            if module < f.min_module_mm * MM - 1e-9:
                raise InvalidLayout(
                    f"{self._what(f.name)}: a {modules}x{modules} QR code in a {side / MM:.1f} mm square gives "
                    f"{module / MM:.3f} mm modules, below the layout's minimum {f.min_module_mm:g} mm"
                )
            left = x + (w - side) / 2 + f.quiet_modules * module
            top = y + (h + side) / 2 - f.quiet_modules * module
            out.append(f"q {module:.4f} 0 0 {-module:.4f} {left:.3f} {top:.3f} cm {self.black} ")
        self._qr_transforms[modules] = out
        return out

    def barcode_transforms(self, modules: int) -> list[str]:
        cached = self._bar_transforms.get(modules)
        if cached is not None:
            return cached
        out = []
        for f in self.barcode_fields:
            x, y, w, h = self.card_box(f.box)
            module = w / (modules + 2 * f.quiet_modules)
            if module < f.min_module_mm * MM - 1e-9:
                raise InvalidLayout(
                    f"{self._what(f.name)}: a Code 128 of {modules} modules in {w / MM:.1f} mm gives "
                    f"{module / MM:.3f} mm bars, below the layout's minimum {f.min_module_mm:g} mm"
                )
            left = x + f.quiet_modules * module
            out.append(f"q {module:.4f} 0 0 {h:.3f} {left:.3f} {y:.3f} cm {self.black} ")
        self._bar_transforms[modules] = out
        return out


def wrap_text(text: str, font: str, size: float, width: float) -> list[str]:
    """``text`` broken into lines no wider than ``width`` points: at the last space that fits, or
    between any two characters where there is none (Chinese has no spaces)."""
    if pdfmetrics.stringWidth(text, font, size) <= width:
        return [text]
    lines, current = [], ""
    for ch in text:
        trial = current + ch
        if current and pdfmetrics.stringWidth(trial, font, size) > width:
            cut = current.rfind(" ")
            if cut > 0:
                lines.append(current[:cut])
                current = current[cut + 1 :] + ch
            else:
                lines.append(current)
                current = ch
        else:
            current = trial
    if current:
        lines.append(current)
    return lines


def _cmyk(rgb: tuple[float, float, float]) -> tuple[float, float, float, float]:
    """Naive RGB -> CMYK with full grey-component replacement: greys and black print on the K plate
    alone (no four-colour registration on small text), colours use at most three inks."""
    k = 1 - max(rgb)
    if k >= 1 - 1e-9:
        return 0.0, 0.0, 0.0, 1.0
    c, m, y = ((1 - v - k) / (1 - k) for v in rgb)
    return round(c, 4), round(m, 4), round(y, 4), round(k, 4)


def _sample_card_values(digit: str) -> dict[str, str]:
    serial = digit * 16
    return {"serial": serial, "serial_grouped": group_code(serial), "code": group_code(digit * 20)}


def _card_values(card: CardRecord) -> dict[str, str]:
    return {"serial": card.serial, "serial_grouped": group_code(card.serial), "code": group_code(card.code)}


_PLAN_CACHE: dict[tuple, _Plan] = {}


def _plan_for(layout: Layout, cover: BatchCover, branding: PrintBranding, fonts: FontSet) -> _Plan:
    key = (layout, cover, branding, fonts)
    plan = _PLAN_CACHE.get(key)
    if plan is None:
        if len(_PLAN_CACHE) >= 4:
            _PLAN_CACHE.clear()
        plan = _PLAN_CACHE[key] = _Plan(layout, cover, branding, fonts)
    return plan


# --------------------------------------------------------------------------
# Per-card symbol paths (the CPU-heavy part, done in worker processes)

CardOps = tuple[int, str, int, str]  # qr modules, qr path, barcode modules, barcode path


def _check_token(card: CardRecord, cover: BatchCover) -> None:
    """The QR must carry this very card: same serial, code, value and expiry,
    signed with the batch's key. (The signature itself is the signer's job;
    this catches mix-ups between cards, batches and keys.)"""
    try:
        key_id, claims = read_unverified(card.token)
    except VoucherError as e:
        raise InvalidCardData(f"card {card.serial}: token cannot be decoded ({e.code})") from e
    mismatched = [
        name
        for name, ok in (
            ("serial", claims.serial == card.serial),
            ("code", claims.code == card.code),
            ("face_value", claims.face_value == card.face_value),
            ("currency", claims.currency == card.currency),
            ("expires", claims.expires == card.expires),
            ("batch_id", claims.batch_id == cover.batch_id),
            ("key_id", key_id == cover.key_id),
        )
        if not ok
    ]
    if mismatched:
        raise InvalidCardData(f"card {card.serial}: token does not match the card ({', '.join(mismatched)})")


def _card_ops(card: CardRecord, cover: BatchCover, qr_prefix: str = "") -> CardOps:
    _check_token(card, cover)
    qr_n, qr = qr_path(qr_text(card.token, qr_prefix), qr_prefix)
    bar_n, bar = code128_path(card.serial)
    return qr_n, qr, bar_n, bar


def qr_text(token: str, qr_prefix: str) -> str:
    """The QR's alphanumeric part: the bare token, or after a URL prefix the token as a fragment."""
    return qr_fragment(token) if qr_prefix else token


def _ops_for_group(cards: list[CardRecord], cover: BatchCover, qr_prefix: str = "") -> list[CardOps]:
    return [_card_ops(card, cover, qr_prefix) for card in cards]


# --------------------------------------------------------------------------
# One PDF file


@dataclass(frozen=True, slots=True)
class _FileResult:
    temp_path: str
    sha256: str
    card_count: int
    first_serial: str
    last_serial: str
    pages: int


class _PdfFile:
    """Lays out one output file: cover page, then card pages."""

    def __init__(self, plan: _Plan, *, file_index: int, file_total: int, expected_cards: int) -> None:
        self.plan = plan
        self.layout = plan.layout
        self.file_index = file_index
        self.file_total = file_total
        self.per_page = self.layout.cards_per_page
        self.duplex = self.layout.duplex
        sheets = math.ceil(expected_cards / self.per_page)
        self.total_pages = 2 + 2 * sheets if self.duplex else 1 + sheets
        self.buffer = io.BytesIO()
        self.canvas = c = Canvas(
            self.buffer, pagesize=(plan.page_w, plan.page_h), pageCompression=1, invariant=1,
            initialFontName=plan.regular,  # else reportlab adds a non-embedded Helvetica
        )
        cover = plan.cover
        c.setTitle(f"Batch {cover.batch_id} file {file_index}/{file_total}")
        c.setSubject("Electricity recharge cards - CONFIDENTIAL: contains secret codes")
        c.setCreator("print_templates")
        self.count = 0
        self.slot = 0
        self.page_first = ""
        self.first_serial = ""
        self.last_serial = ""
        self.page_number = 1
        self.page_serials: list[str] = []  # the cards on the sheet being laid out, in slot order
        _CoverPage(plan, self).draw()
        self._define_card_form()
        self._define_marks_form()
        if self.duplex:
            self._define_back_form()
            self._cover_back()

    # -- forms drawn once per file
    def _define_card_form(self) -> None:
        self._define_side("card", self.layout.fields, self.plan.static_texts + self.plan.panel_labels)

    def _define_back_form(self) -> None:
        self._define_side("card_back", self.layout.back_fields, self.plan.back_texts)

    def _define_side(self, form: str, fields: tuple, texts: list[_Text]) -> None:
        c, plan, layout = self.canvas, self.plan, self.layout
        b = plan.bleed  # the form's box takes in the bleed, or it would clip it
        c.beginForm(form, -b, -b, plan.card_w + b, plan.card_h + b)
        for f in fields:
            if isinstance(f, RectField):
                x, y, w, h = plan.card_box(f.box)
                if f.bleed:  # every edge on the card's edge runs on past the trim
                    left, bottom = (x - b if x <= 1e-6 else x), (y - b if y <= 1e-6 else y)
                    right = x + w + b if x + w >= plan.card_w - 1e-6 else x + w
                    top = y + h + b if y + h >= plan.card_h - 1e-6 else y + h
                    x, y, w, h = left, bottom, right - left, top - bottom
                plan.fill(c, f.color)
                c.rect(x, y, w, h, stroke=0, fill=1)
            elif isinstance(f, LineField):
                x1, y1 = f.box.x * MM, plan.card_h - f.box.y * MM
                x2, y2 = x1 + f.box.width * MM, y1 - f.box.height * MM
                plan.stroke(c, f.color)
                c.setLineWidth(f.line_width_pt)
                c.setDash([2, 1.5] if f.dashed else [])
                c.line(x1, y1, x2, y2)
            elif isinstance(f, PanelField):
                x, y, w, h = plan.card_box(f.box)
                plan.stroke(c, f.color)
                c.setLineWidth(f.line_width_pt)
                c.setDash([2.5, 1.5] if f.dashed else [])
                c.roundRect(x, y, w, h, f.corner_radius_mm * MM, stroke=1, fill=0)
        c.setDash([])
        if plan.branding.logo is not None:
            for f in fields:
                if isinstance(f, LogoField):
                    _draw_logo(c, plan, f)
        for t in texts:
            _draw_text(c, t, t.template, t.width, plan.cmyk)
        if layout.card.outline:
            plan.stroke(c, layout.card.outline_color)
            c.setLineWidth(0.3)
            c.roundRect(0.15, 0.15, plan.card_w - 0.3, plan.card_h - 0.3, layout.card.corner_radius_mm * MM, stroke=1, fill=0)
        c.endForm()

    def _define_marks_form(self) -> None:
        c, plan, layout = self.canvas, self.plan, self.layout
        marks, grid, card = layout.marks, layout.grid, layout.card
        c.beginForm("marks", 0, 0, plan.page_w, plan.page_h)
        if marks.crop_marks or marks.cut_lines:
            gx, gy = layout.grid_origin_mm()
            grid_w = grid.columns * card.width_mm + (grid.columns - 1) * grid.gap_x_mm
            grid_h = grid.rows * card.height_mm + (grid.rows - 1) * grid.gap_y_mm
            pitch_x, pitch_y = card.width_mm + grid.gap_x_mm, card.height_mm + grid.gap_y_mm
            xs = sorted({round(gx + col * pitch_x + e, 4) for col in range(grid.columns) for e in (0, card.width_mm)})
            ys = sorted({round(gy + row * pitch_y + e, 4) for row in range(grid.rows) for e in (0, card.height_mm)})
            plan.stroke(c, marks.color)
            c.setLineWidth(marks.line_width_pt)
            lines: list[tuple[float, float, float, float]] = []
            top, bottom = plan.page_h - gy * MM, plan.page_h - (gy + grid_h) * MM
            left, right = gx * MM, (gx + grid_w) * MM
            if marks.cut_lines:
                c.setDash([3, 2])
                for x in xs:
                    lines.append((x * MM, 0, x * MM, plan.page_h))
                for y in ys:
                    lines.append((0, plan.page_h - y * MM, plan.page_w, plan.page_h - y * MM))
                c.lines(lines)
                c.setDash([])
                lines = []
            if marks.crop_marks:
                off, length = marks.offset_mm * MM, marks.length_mm * MM
                for x in xs:
                    lines.append((x * MM, top + off, x * MM, top + off + length))
                    lines.append((x * MM, bottom - off, x * MM, bottom - off - length))
                for y in ys:
                    py = plan.page_h - y * MM
                    lines.append((left - off, py, left - off - length, py))
                    lines.append((right + off, py, right + off + length, py))
                c.lines(lines)
        c.endForm()

    # -- cards
    def add_card(self, card: CardRecord, ops: CardOps) -> None:
        if self.slot == self.per_page:
            self._end_page()
        if self.slot == 0:
            self.page_first = card.serial
        self.page_serials.append(card.serial)
        c, plan = self.canvas, self.plan
        ox, oy = plan.origins[self.slot]
        c.saveState()
        c.translate(ox, oy)
        c.doForm("card")
        values = None
        for placed, template in plan.card_texts:
            if values is None:
                values = _card_values(card)
            text = template.format_map(values)
            width = 0.0 if placed.align == "left" else pdfmetrics.stringWidth(text, placed.font, placed.size)
            _draw_text(c, placed, text, width, plan.cmyk)
        qr_n, qr, bar_n, bar = ops
        for transform in plan.qr_transforms(qr_n):
            c.addLiteral(transform + qr + " f Q")
        for transform in plan.barcode_transforms(bar_n):
            c.addLiteral(transform + bar + " f Q")
        c.restoreState()
        if not self.first_serial:
            self.first_serial = card.serial
        self.last_serial = card.serial
        self.slot += 1
        self.count += 1

    def _end_page(self) -> None:
        c = self.canvas
        self.page_number += 1
        c.doForm("marks")
        self._footer("")
        c.showPage()
        if self.duplex:
            self._back_page()
        self.slot = 0
        self.page_serials = []

    def _back_page(self) -> None:
        """The backs of the sheet just ended, each behind its front (mirrored for a long-edge flip)."""
        c, plan = self.canvas, self.plan
        self.page_number += 1
        c.saveState()
        c.transform(-1, 0, 0, 1, plan.page_w, 0)  # the marks mirrored: they fall on the fronts' marks
        c.doForm("marks")
        c.restoreState()
        for slot, serial in enumerate(self.page_serials):
            ox, oy = plan.back_origins[slot]
            c.saveState()
            c.translate(ox, oy)
            c.doForm("card_back")
            values = {"serial": serial, "serial_grouped": group_code(serial)}
            for placed, template in plan.back_card_texts:
                text = template.format_map(values)
                width = 0.0 if placed.align == "left" else pdfmetrics.stringWidth(text, placed.font, placed.size)
                _draw_text(c, placed, text, width, plan.cmyk)
            c.restoreState()
        self._footer("背面 Backs · ")
        c.showPage()

    def _cover_back(self) -> None:
        """The cover's back stays empty but for a note, so card fronts fall on odd pages (recto)."""
        c, plan = self.canvas, self.plan
        self.page_number += 1
        text = "本页空白（封面背面）· Intentionally blank (back of the cover) · 双面打印，长边翻转 Duplex, flip on long edge"
        fitted = fit_text(text, plan.regular, size=8, min_size=4, max_width=plan.page_w - 20 * MM,
                          max_height=10, what=f"layout {self.layout.name!r} cover back")
        c.setFont(plan.regular, fitted.size)
        plan.fill(c, (0.4, 0.4, 0.4))
        c.drawCentredString(plan.page_w / 2, plan.page_h / 2, text)
        c.showPage()

    def _footer(self, side: str) -> None:
        c, plan, layout = self.canvas, self.plan, self.layout
        if layout.footer.enabled:
            text = (
                f"{plan.cover.batch_id} · 文件 File {self.file_index}/{self.file_total} · "
                f"第 {self.page_number}/{self.total_pages} 页 Page · {side}"
                f"{self.page_first}{_DASH}{self.last_serial}"
            )
            fitted = fit_text(
                text, plan.regular, size=layout.footer.size, min_size=layout.footer.min_size,
                max_width=plan.page_w - (layout.page.margin_left_mm + layout.page.margin_right_mm) * MM,
                max_height=layout.footer.size * 1.2, what=f"layout {layout.name!r} footer",
            )
            c.setFont(plan.regular, fitted.size)
            plan.fill(c, (0.25, 0.25, 0.25))
            c.drawCentredString(plan.page_w / 2, layout.footer.offset_mm * MM, text)

    def finish(self) -> tuple[bytes, int]:
        if self.slot:
            self._end_page()
        _CoverPage(self.plan, self).define_file_summary()
        previous = rl_config.useA85
        rl_config.useA85 = 0  # plain Flate streams: smaller files
        try:
            data = self.canvas.getpdfdata()
        finally:
            rl_config.useA85 = previous
        return data, self.page_number


def _draw_logo(c: Canvas, plan: _Plan, f: LogoField) -> None:
    """The logo inside its box, as large as fits with its aspect kept (once per file, in the card form)."""
    from print_templates.letterhead import logo_drawing

    x, y, w, h = plan.card_box(f.box)
    _, logo_w, logo_h = logo_drawing(plan.branding.logo, h)
    scale = min(1.0, w / logo_w) if logo_w else 1.0
    height = h * scale
    drawable, width, height = logo_drawing(plan.branding.logo, height)
    left = x if f.align == "left" else x + w - width if f.align == "right" else x + (w - width) / 2
    bottom = y + (h - height) / 2
    from reportlab.graphics.shapes import Drawing

    if isinstance(drawable, Drawing):
        from reportlab.graphics import renderPDF

        if plan.cmyk:
            _to_cmyk(drawable)
        renderPDF.draw(drawable, c, left, bottom)
    else:  # a PNG stays an RGB image: an SVG logo is the CMYK-clean choice (docs/printing.md)
        c.drawImage(drawable, left, bottom, width=width, height=height, mask="auto")


def _to_cmyk(node: object) -> None:
    """Rewrite an SVG drawing's RGB fills and strokes as CMYK, like every other colour on the card."""
    from reportlab.lib.colors import CMYKColor, Color as RlColor

    for attr in ("fillColor", "strokeColor"):
        colour = getattr(node, attr, None)
        if isinstance(colour, RlColor) and not isinstance(colour, CMYKColor):
            setattr(node, attr, CMYKColor(*_cmyk((colour.red, colour.green, colour.blue)), alpha=colour.alpha))
    for child in getattr(node, "contents", None) or ():
        _to_cmyk(child)


def _draw_text(c: Canvas, placed: _Text, text: str, width: float, cmyk: bool = False) -> None:
    c.setFont(placed.font, placed.size)
    if cmyk:
        c.setFillColorCMYK(*_cmyk(placed.color))
    else:
        c.setFillColorRGB(*placed.color)
    c.drawString(placed.x_for(width), placed.baseline, text)


# --------------------------------------------------------------------------
# The cover page


class _CoverPage:
    """Batch cover: what the batch is, which part this file holds, and who
    printed it when. The "this file" rows are a form drawn at the end of the
    file (PDF allows the forward reference), once its cards are known."""

    def __init__(self, plan: _Plan, pdf: _PdfFile) -> None:
        self.plan = plan
        self.pdf = pdf
        spec = plan.layout.cover
        self.spec = spec
        self.margin = spec.margin_mm * MM
        self.width = plan.page_w - 2 * self.margin
        self.stacked = self.width < 110 * MM
        self.label_w = self.width if self.stacked else self.width * 0.36
        self.value_x = self.margin if self.stacked else self.margin + self.label_w
        self.value_w = self.width if self.stacked else self.width - self.label_w
        self.body = spec.body_size
        self.line_h = self.body * 1.45

    def _what(self, part: str) -> str:
        return f"layout {self.plan.layout.name!r} cover page {part}"

    def _fit_line(self, text: str, role: str, size: float, width: float, part: str) -> FittedText:
        font = pick_font(self.plan.fonts, role, text, what=self._what(part))
        return fit_text(
            text, font, size=size, min_size=self.spec.min_size, max_width=width, max_height=size * 1.5,
            what=self._what(part),
        )

    def _wrap(self, text: str, font: str, size: float, width: float) -> list[str]:
        return wrap_text(text, font, size, width)

    def _rows(self) -> list[tuple[str, str]]:
        cover, layout = self.plan.cover, self.plan.layout
        printed = local_text(cover.printed_at, cover.printed_at.tzinfo)  # business time, as issuer gave it
        return [
            ("批次号 Batch ID", cover.batch_id),
            ("面值 Face value", f"{format_display(cover.face_value, cover.currency)} ({cover.currency})"),
            ("数量 Count", f"{cover.count:,} 张 cards"),
            ("序列号范围 Serial range", f"{cover.first_serial}{_DASH}{cover.last_serial}"),
            ("有效期至 Valid until", cover.expires.isoformat()),
            ("签名密钥 Signing key ID", cover.key_id),
            ("卡数据 SHA-256 Card data", " ".join(cover.card_data_sha256[i : i + 8] for i in range(0, 64, 8))),
            ("打印时间 Printed at", printed),
            ("操作员 Operator", cover.operator),
            ("版式 Layout", f"{layout.name}, {layout.cards_per_page} 张/页 per page"),
        ]

    def _summary_rows(self, final: bool) -> list[tuple[str, str]]:
        pdf = self.pdf
        if final:
            count, first, last, pages = pdf.count, pdf.first_serial, pdf.last_serial, pdf.page_number
        else:  # widest values of the same length, to reserve room
            count = 10 ** len(str(self.plan.cover.count)) - 1
            first = last = "8" * len(self.plan.cover.first_serial)
            pages = 10 ** len(str(pdf.total_pages)) - 1
        return [
            ("文件 File", f"{pdf.file_index} / {pdf.file_total}"),
            ("本文件卡数 Cards in file", f"{count:,}"),
            ("本文件序列号 Serials in file", f"{first}{_DASH}{last}"),
            ("本文件页数 Pages in file", f"{pages:,}"),
        ]

    def _row_lines(self, label: str, value: str, part: str) -> tuple[FittedText, str, list[str], float]:
        lab = self._fit_line(label, "regular", self.body * 0.9, self.label_w - 2 * MM, part + " label")
        font = pick_font(self.plan.fonts, "bold", value, what=self._what(part))
        lines = self._wrap(value, font, self.body, self.value_w)
        height = self.line_h * len(lines) + (self.line_h if self.stacked else 0)
        return lab, font, lines, height

    def _draw_row(self, c: Canvas, y: float, label: str, value: str, part: str) -> float:
        lab, value_font, lines, height = self._row_lines(label, value, part)
        c.setFont(lab.font, lab.size)
        self.plan.fill(c, (0.35, 0.35, 0.35))
        c.drawString(self.margin, y - self.body, label)
        vy = y - self.body - (self.line_h if self.stacked else 0)
        c.setFont(value_font, self.body)
        self.plan.fill(c, (0, 0, 0))
        for line in lines:
            c.drawString(self.value_x, vy, line)
            vy -= self.line_h
        return y - height

    def draw(self) -> None:
        c, plan, spec = self.pdf.canvas, self.plan, self.spec
        top = plan.page_h - self.margin
        y = top
        title = self._fit_line("电费充值卡 批次封面", "bold", spec.title_size, self.width, "title")
        c.setFont(title.font, title.size)
        self.plan.fill(c, (0, 0, 0))
        y -= title.size
        c.drawString(self.margin, y, "电费充值卡 批次封面")
        sub_text = "Electricity Recharge Cards - Batch Cover Sheet"
        sub = self._fit_line(sub_text, "regular", self.body * 1.1, self.width, "subtitle")
        y -= sub.size * 1.5
        c.setFont(sub.font, sub.size)
        c.drawString(self.margin, y, sub_text)
        utility = plan.cover.utility_name or plan.branding.utility_name
        util = self._fit_line(utility, "bold", self.body * 1.1, self.width, "utility name")
        y -= util.size * 1.6
        c.setFont(util.font, util.size)
        c.drawString(self.margin, y, utility)
        y -= self.body * 0.9
        self.plan.stroke(c, (0, 0, 0))
        c.setLineWidth(0.8)
        c.line(self.margin, y, self.margin + self.width, y)
        y -= self.body * 0.6
        for label, value in self._rows():
            y = self._draw_row(c, y, label, value, label)
        y -= self.body * 0.5
        c.setLineWidth(0.3)
        c.line(self.margin, y, self.margin + self.width, y)
        y -= self.body * 0.3
        self.summary_top = y
        reserved = sum(self._row_lines(lab, val, lab)[3] for lab, val in self._summary_rows(final=False))
        c.doForm("file_summary")
        y -= reserved + self.body
        warning = "机密：本文件含充值密码，请按现金严格保管。CONFIDENTIAL: contains secret recharge codes - handle as cash."
        font = pick_font(plan.fonts, "bold", warning, what=self._what("warning"))
        size = max(spec.min_size, self.body * 0.95)
        lines = self._wrap(warning, font, size, self.width - 4 * MM)
        box_h = len(lines) * size * 1.4 + 3 * MM
        if y - box_h < self.margin - 1e-6:
            raise TextOverflow(
                f"layout {plan.layout.name!r}: the cover page needs {(top - y + box_h) / MM:.0f} mm of height, "
                f"the page has {(top - self.margin) / MM:.0f} mm inside its cover margins"
            )
        self.plan.stroke(c, (0.75, 0.1, 0.1))
        c.setLineWidth(1)
        c.rect(self.margin, y - box_h, self.width, box_h, stroke=1, fill=0)
        self.plan.fill(c, (0.75, 0.1, 0.1))
        c.setFont(font, size)
        ty = y - 1.5 * MM - size
        for line in lines:
            c.drawString(self.margin + 2 * MM, ty, line)
            ty -= size * 1.4
        c.showPage()
        # keep the reserved geometry for the summary form defined at the end
        self.pdf._summary_top = self.summary_top

    def define_file_summary(self) -> None:
        c = self.pdf.canvas
        c.beginForm("file_summary", 0, 0, self.plan.page_w, self.plan.page_h)
        y = self.pdf._summary_top
        for label, value in self._summary_rows(final=True):
            y = self._draw_row(c, y, label, value, label)
        c.endForm()


# --------------------------------------------------------------------------
# Output files: temporary names, mode 0600, commit or clean up


def _write_private(path: Path, data: bytes) -> None:
    """Create ``path`` (must not exist) with mode 0600 and write ``data``."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600)
    except OSError as e:
        raise UnwritablePath(f"cannot create {path}: {e.strerror or e}") from e
    try:
        os.fchmod(fd, 0o600)  # whatever the umask
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    except OSError as e:
        os.close(fd)
        _unlink(path)
        raise UnwritablePath(f"cannot write {path}: {e.strerror or e}") from e
    except BaseException:
        os.close(fd)
        _unlink(path)
        raise
    os.close(fd)


def _unlink(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError:  # pragma: no cover - nothing better to do while failing
        log.warning("could not remove %s", path)


class _Outputs:
    """Temporary files of one render_batch call, renamed only on success."""

    def __init__(self, out_path: Path) -> None:
        self.out_path = out_path
        self.directory = out_path.parent
        self.temps: list[Path] = []
        self.finals: list[Path] = []

    def check_writable(self) -> None:
        d = self.directory
        if self.out_path.name in ("", ".", ".."):
            raise UnwritablePath(f"not a file name: {self.out_path}")
        if not d.is_dir():
            raise UnwritablePath(f"output directory does not exist: {d}")
        if self.out_path.is_dir():
            raise UnwritablePath(f"output path is a directory: {self.out_path}")
        probe = self.new_temp()
        _write_private(probe, b"")
        _unlink(probe)
        self.temps.remove(probe)

    def new_temp(self) -> Path:
        path = self.directory / f".{self.out_path.name}.{secrets.token_hex(6)}.part"
        self.temps.append(path)
        return path

    def final_name(self, index: int, total: int) -> Path:
        if total == 1:
            return self.out_path
        return self.out_path.with_name(f"{self.out_path.stem}-{index:04d}{self.out_path.suffix}")

    def commit(self, results: list[_FileResult]) -> list[RenderedFile]:
        rendered = []
        for i, r in enumerate(results, start=1):
            final = self.final_name(i, len(results))
            try:
                os.replace(r.temp_path, final)
            except OSError as e:
                raise UnwritablePath(f"cannot rename to {final}: {e.strerror or e}") from e
            self.finals.append(final)
            rendered.append(RenderedFile(final, r.sha256, r.card_count, r.first_serial, r.last_serial, r.pages))
        try:
            fd = os.open(self.directory, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError:  # pragma: no cover - some filesystems refuse directory fsync
            pass
        return rendered

    def abort(self) -> None:
        for path in self.temps + self.finals:
            _unlink(path)


# --------------------------------------------------------------------------
# Checks the main process makes on the stream of cards


class _BatchChecker:
    def __init__(self, cover: BatchCover, plan: _Plan) -> None:
        self.cover = cover
        self.plan = plan
        self.hasher = CardDataHasher()
        self.count = 0
        self.previous = ""
        self.token_lengths: set[int] = set()

    def check(self, card: object) -> CardRecord:
        cover = self.cover
        if not isinstance(card, CardRecord):
            raise InvalidCardData(f"card #{self.count + 1}: expected a CardRecord, got {type(card).__name__}")
        if card.face_value != cover.face_value or card.currency != cover.currency or card.expires != cover.expires:
            raise InvalidCardData(f"card {card.serial}: face value, currency or expiry differ from the batch cover")
        if self.count == 0 and card.serial != cover.first_serial:
            raise BatchMismatch(f"first card is {card.serial}, the cover says the batch starts at {cover.first_serial}")
        if card.serial <= self.previous:
            raise InvalidCardData(f"card {card.serial}: serials must be strictly increasing (after {self.previous})")
        self.count += 1
        if self.count > cover.count:
            raise BatchMismatch(f"more cards than the cover's count of {cover.count:,}")
        length = len(card.token) + 2 * (card.token.count("%") + card.token.count(" "))  # as the QR holds it
        if length not in self.token_lengths:  # a few times per batch
            self.plan.check_symbol_sizes(card)
            self.token_lengths.add(length)
        self.previous = card.serial
        self.hasher.update(card)
        return card

    def finish(self) -> None:
        cover = self.cover
        if self.count != cover.count:
            raise BatchMismatch(f"got {self.count:,} cards, the cover says {cover.count:,}")
        if self.previous != cover.last_serial:
            raise BatchMismatch(f"last card is {self.previous}, the cover says the batch ends at {cover.last_serial}")
        if self.hasher.hexdigest() != cover.card_data_sha256:
            raise BatchMismatch("the SHA-256 of the card data differs from the cover's card_data_sha256")


# --------------------------------------------------------------------------
# Workers


def _render_file_job(
    layout: Layout, cover: BatchCover, branding: PrintBranding, fonts: FontSet,
    cards: list[CardRecord], file_index: int, file_total: int, temp_path: str,
) -> _FileResult:
    """Render one whole file in a worker process."""
    plan = _plan_for(layout, cover, branding, fonts)
    pdf = _PdfFile(plan, file_index=file_index, file_total=file_total, expected_cards=len(cards))
    for card in cards:
        pdf.add_card(card, _card_ops(card, cover, branding.qr_prefix))
    return _save(pdf, Path(temp_path))


def _save(pdf: _PdfFile, temp_path: Path) -> _FileResult:
    data, pages = pdf.finish()
    _write_private(temp_path, data)
    return _FileResult(str(temp_path), hashlib.sha256(data).hexdigest(), pdf.count, pdf.first_serial, pdf.last_serial, pages)


def _mp_context() -> multiprocessing.context.BaseContext:
    """Fork when it is safe (no other thread that could hold a lock across
    the fork), as it starts workers fastest; otherwise forkserver or spawn."""
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


class _Inline:
    """A stand-in executor running tasks in this process (workers=1)."""

    def submit(self, fn: Callable, *args: object) -> concurrent.futures.Future:
        future: concurrent.futures.Future = concurrent.futures.Future()
        try:
            future.set_result(fn(*args))
        except BaseException as e:  # delivered through future.result()
            future.set_exception(e)
        return future

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        pass


# --------------------------------------------------------------------------
# The public entry point


def render_batch(
    cards: Iterable[CardRecord],
    cover: BatchCover,
    layout: Layout | str,
    out_path: str | os.PathLike[str],
    *,
    max_cards_per_file: int | None = None,
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
    branding: PrintBranding | None = None,
    fonts: FontSet | None = None,
) -> list[RenderedFile]:
    """Render ``cards`` (in serial order) behind a cover page into PDF files.

    ``out_path`` names the file (``batch.pdf``); when the batch needs more than
    one file (``max_cards_per_file`` smaller than ``cover.count``) the files
    are ``batch-0001.pdf``, ``batch-0002.pdf`` ... each with its own cover
    page. ``workers`` defaults to ``os.cpu_count()``; ``progress`` is called in
    this process with the number of cards rendered so far.

    The cards must agree with the cover: count, first and last serial, face
    value, currency, expiry, the SHA-256 of :func:`card_data_sha256`, and
    each card's token must carry the card's serial and code under the cover's
    key id. Files are created with mode 0600 and appear only when everything
    succeeded; on any error no file of this call is left behind and a
    :class:`PrintError` is raised.
    """
    if isinstance(layout, str):
        layout = load_layout(layout)
    if not isinstance(layout, Layout):
        raise TypeError("layout must be a Layout or a layout name")
    if not isinstance(cover, BatchCover):
        raise TypeError("cover must be a BatchCover")
    if max_cards_per_file is not None and not _positive_int(max_cards_per_file):
        raise ValueError("max_cards_per_file must be a positive int or None")
    if workers is not None and not _positive_int(workers):
        raise ValueError("workers must be a positive int or None")
    branding = branding or PrintBranding()
    fonts = fonts or FontSet()
    workers = workers or os.cpu_count() or 1
    outputs = _Outputs(Path(out_path).absolute())
    outputs.check_writable()
    plan = _plan_for(layout, cover, branding, fonts)
    file_total = 1 if max_cards_per_file is None else max(1, math.ceil(cover.count / max_cards_per_file))
    checker = _BatchChecker(cover, plan)
    if max_cards_per_file is None and cover.count > LARGE_SINGLE_FILE:
        log.warning(
            "batch %s: %d cards in one PDF; memory grows by about 10 KB per card until the file is "
            "written, pass max_cards_per_file to split it", cover.batch_id, cover.count,
        )
    executor: concurrent.futures.Executor | _Inline
    if workers == 1:
        executor = _Inline()
    else:
        executor = concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=_mp_context())
    try:
        if file_total == 1:
            results = _render_single(cards, plan, checker, executor, outputs, workers, progress)
        else:
            assert max_cards_per_file is not None
            results = _render_files(cards, plan, checker, executor, outputs, workers, progress, max_cards_per_file, file_total)
        checker.finish()
        executor.shutdown(wait=True)
        rendered = outputs.commit(results)
    except BaseException as e:
        executor.shutdown(wait=True, cancel_futures=True)
        outputs.abort()
        if isinstance(e, PrintError):
            raise
        if isinstance(e, BrokenProcessPool):
            raise RenderFailed(f"a worker process died while rendering batch {cover.batch_id}") from e
        if isinstance(e, Exception):
            raise RenderFailed(f"rendering batch {cover.batch_id} failed: {type(e).__name__}: {e}") from e
        raise  # KeyboardInterrupt, SystemExit: cleaned up, passed on
    log.info(
        "rendered batch %s: %d cards into %d file(s) with layout %s",
        cover.batch_id, checker.count, len(rendered), layout.name,
    )
    return rendered


def _render_single(
    cards: Iterable[CardRecord], plan: _Plan, checker: _BatchChecker, executor, outputs: _Outputs,
    workers: int, progress: Callable[[int], None] | None,
) -> list[_FileResult]:
    """One file: workers build the symbol paths of groups of cards, this
    process lays them out in order."""
    pdf = _PdfFile(plan, file_index=1, file_total=1, expected_cards=plan.cover.count)
    window: collections.deque = collections.deque()
    done = 0

    def drain(limit: int) -> None:
        nonlocal done
        while len(window) > limit:
            group, future = window.popleft()
            for card, ops in zip(group, future.result(), strict=True):
                pdf.add_card(card, ops)
            done += len(group)
            if progress is not None:
                progress(done)

    for group in _groups((checker.check(card) for card in cards), OPS_GROUP):
        window.append((group, executor.submit(_ops_for_group, group, plan.cover, plan.branding.qr_prefix)))
        drain(2 * workers)
    drain(0)
    if done == 0:
        raise BatchMismatch(f"no cards to print, the cover says {plan.cover.count:,}")
    return [_save(pdf, outputs.new_temp())]


def _render_files(
    cards: Iterable[CardRecord], plan: _Plan, checker: _BatchChecker, executor, outputs: _Outputs,
    workers: int, progress: Callable[[int], None] | None, per_file: int, file_total: int,
) -> list[_FileResult]:
    """Several files: each worker renders whole files; at most workers + 1
    files' cards are in flight."""
    results: list[_FileResult] = []
    window: collections.deque = collections.deque()
    done = 0

    def drain(limit: int) -> None:
        nonlocal done
        while len(window) > limit:
            result = window.popleft().result()
            results.append(result)
            done += result.card_count
            if progress is not None:
                progress(done)

    p = plan
    for index, chunk in enumerate(_groups((checker.check(card) for card in cards), per_file), start=1):
        if index > file_total:  # pragma: no cover - the checker stops at cover.count first
            raise BatchMismatch("more files than the cover's count allows")
        temp = outputs.new_temp()
        window.append(
            executor.submit(_render_file_job, p.layout, p.cover, p.branding, p.fonts, chunk, index, file_total, str(temp))
        )
        drain(workers)
    drain(0)
    if not results:
        raise BatchMismatch(f"no cards to print, the cover says {plan.cover.count:,}")
    return results


def _positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _groups(items: Iterator[CardRecord] | Iterable[CardRecord], size: int) -> Iterator[list[CardRecord]]:
    group: list[CardRecord] = []
    for item in items:
        group.append(item)
        if len(group) == size:
            yield group
            group = []
    if group:
        yield group


__all__ = ["render_batch", "OPS_GROUP"]

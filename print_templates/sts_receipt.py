"""A till receipt for an STS keypad-meter token (80 mm roll), in Chinese or English.

The page follows the ``receipt-80mm`` layout (its page width and margins);
the height grows with the rows. Fonts are the layout fonts of
:class:`~print_templates.typeset.FontSet` (the bundled CJK subset by default),
embedded as subsets; every text is checked for glyphs first
(:class:`~print_templates.errors.MissingGlyph` instead of empty boxes) and
fitted to the width (:class:`~print_templates.errors.TextOverflow` if even the
smallest size does not fit). Output is deterministic (reportlab's invariant
mode).

The token is printed in five groups of four digits. It is not a bearer
secret like a voucher PIN (it works once, on one meter), so no scratch panel.
This module takes plain values (:class:`StsReceipt`); it imports only the
voucher core among the project's packages.
"""
from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass, field

from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfgen.canvas import Canvas

from print_templates.errors import InvalidCardData
from print_templates.layout import load_layout
from print_templates.typeset import FontSet, fit_text, pick_font
from vouchers.display import local_text

LABELS = {
    "zh": {
        "title": "电费购电凭证", "reprint": "重印", "token": "购电码 (请在电表键盘输入)", "meter": "表号",
        "account": "户号", "amount": "金额", "kwh": "电量", "tariff_kwh": "按电价折算", "tid_time": "令牌时间",
        "tid": "令牌号 TID", "tariff": "电价", "kind": "类型", "receipt_no": "凭证号", "vended_at": "售电时间",
        "watts": "功率限值", "keep": "请保存此凭条", "hotline": "客服热线",
        "credit": "购电", "clear_credit": "清零", "clear_tamper": "清除窃电告警", "max_power": "设置最大功率",
        "key_change": "密钥更换",
        "kc_title": "电表密钥更换凭证", "kc_enter": "请按顺序输入以下 4 个码, 再输入新的购电码",
        "kc_before": "更换前", "kc_after": "更换后", "kc_rollover": "TID 重新计数", "kc_no": "凭证号",
        "kc_at": "更换时间", "yes": "是", "no": "否",
        "kc_key": "密钥参数", "base_date": "基准日期",
    },
    "en": {
        "title": "Electricity token receipt", "reprint": "REPRINT", "token": "Token (enter on the meter keypad)",
        "meter": "Meter No.", "account": "Account", "amount": "Amount", "kwh": "Energy",
        "tariff_kwh": "At the tariff", "tid_time": "Token time", "tid": "TID", "tariff": "Tariff", "kind": "Type",
        "receipt_no": "Receipt No.", "vended_at": "Sold at", "watts": "Power limit", "keep": "Keep this receipt",
        "hotline": "Hotline", "credit": "credit", "clear_credit": "clear credit", "clear_tamper": "clear tamper",
        "max_power": "maximum power limit", "key_change": "key change",
        "kc_title": "Meter key change receipt", "kc_enter": "Enter these 4 tokens in this order, then any new credit",
        "kc_before": "old", "kc_after": "new", "kc_rollover": "TID restart", "kc_no": "Receipt No.",
        "kc_at": "Changed at", "yes": "yes", "no": "no",
        "kc_key": "Key", "base_date": "Base date",
    },
}


@dataclass(frozen=True)
class StsReceipt:
    """What one token receipt shows (all plain values; times are aware datetimes)."""

    token: str = field(repr=False)  # 20 digits
    meter: str  # the 18-digit PAN
    account_no: str
    kind: str  # credit | clear_credit | clear_tamper | max_power
    tid: int
    tid_time: dt.datetime  # the moment the TID stands for
    vend_id: int
    vended_at: dt.datetime
    amount: str | None = None  # "100.00"
    currency: str | None = None
    kwh: str | None = None  # credited by the meter (0.1 kWh, rounded up)
    tariff_kwh: str | None = None  # what the tariff gave for the money
    tariff: str | None = None  # id and description in English
    watts: int | None = None
    reprints: int = 0
    utility_name: str = ""
    hotline: str = ""
    timezone: dt.tzinfo = dt.timezone.utc  # for the printed times
    tariff_zh: str | None = None  # id and description in Chinese (the zh receipt; ``tariff`` when None)
    logo: bytes | None = field(default=None, repr=False)  # the branding's PNG or SVG, above the name


KEY_PARAMS = (("sgc", "SGC"), ("ti", "TI"), ("krn", "KRN"), ("key_type", "KT"), ("ken", "KEN"),
              ("base_date", None))  # None: the label is in LABELS


@dataclass(frozen=True)
class KeyChangeReceipt:
    """What a key change receipt shows: the four tokens in the order they are entered, old and new key."""

    tokens: tuple[str, ...] = field(repr=False)  # 1st..4th section, 20 digits each
    meter: str
    account_no: str
    old: dict[str, int]  # sgc, ti, krn, key_type, ken, base_date
    new: dict[str, int]
    rollover: bool
    change_id: int
    changed_at: dt.datetime
    reprints: int = 0
    utility_name: str = ""
    hotline: str = ""
    timezone: dt.tzinfo = dt.timezone.utc
    logo: bytes | None = field(default=None, repr=False)


def grouped_token(token: str) -> str:
    digits = "".join(ch for ch in str(token) if not ch.isspace())
    if len(digits) != 20 or not digits.isdigit():
        raise InvalidCardData("an STS token is 20 digits")
    return " ".join(digits[i:i + 4] for i in range(0, 20, 4))


def _time(moment: dt.datetime, tz: dt.tzinfo) -> str:
    if moment.tzinfo is None:
        raise InvalidCardData("receipt times must be aware datetimes")
    return local_text(moment, tz)  # 2026-11-26 10:00 (UTC+8): an offset, not an ambiguous "CST"


def _rows(r: StsReceipt, L: dict[str, str], lang: str) -> list[tuple[str, str]]:
    rows = [(L["meter"], r.meter), (L["account"], r.account_no), (L["kind"], L.get(r.kind, r.kind))]
    if r.amount is not None:
        rows.append((L["amount"], f"{r.amount} {r.currency or ''}".strip()))
    if r.kwh is not None:
        rows.append((L["kwh"], f"{r.kwh} kWh"))
    if r.tariff_kwh is not None:
        rows.append((L["tariff_kwh"], f"{r.tariff_kwh} kWh"))
    if r.watts is not None:
        rows.append((L["watts"], f"{r.watts} W"))
    tariff = (r.tariff_zh or r.tariff) if lang == "zh" else r.tariff
    if tariff:
        rows.append((L["tariff"], tariff))
    rows += [(L["tid_time"], _time(r.tid_time, r.timezone)), (L["tid"], str(r.tid)),
             (L["receipt_no"], str(r.vend_id)), (L["vended_at"], _time(r.vended_at, r.timezone))]
    return rows


Line = tuple[str, str, str, float, float, str]  # (kind, text, role, size, min size, align)
RULE: Line = ("rule", "", "", 0, 0, "")


def _labels(lang: str) -> dict[str, str]:
    if lang not in LABELS:
        raise InvalidCardData(f"unknown receipt language {lang!r}: use one of {', '.join(LABELS)}")
    return LABELS[lang]


LOGO_HEIGHT = 8 * mm


def _head(L: dict[str, str], utility_name: str, title: str, reprints: int, logo: bytes | None = None) -> list[Line]:
    lines: list[Line] = [("logo", "", "", LOGO_HEIGHT, 0, "center")] if logo is not None else []
    if utility_name:
        lines.append(("text", utility_name, "bold", 11.0, 7.0, "center"))
    title = L[title] + (f"  {L['reprint']} {reprints}" if reprints else "")
    return [*lines, ("text", title, "bold", 9.0, 6.0, "center"), RULE]


def _tail(L: dict[str, str], rows: list[tuple[str, str]], hotline: str) -> list[Line]:
    lines: list[Line] = [("row", f"{label}\t{value}", "regular", 7.5, 5.0, "") for label, value in rows]
    footer = L["keep"] + (f" · {L['hotline']} {hotline}" if hotline else "")
    return [*lines, RULE, ("text", footer, "regular", 6.5, 4.5, "center")]


def render_sts_receipt(receipt: StsReceipt, *, lang: str = "zh", fonts: FontSet | None = None) -> bytes:
    """The receipt as PDF bytes (one page, 80 mm wide)."""
    L = _labels(lang)
    token = grouped_token(receipt.token)
    lines = [*_head(L, receipt.utility_name, "title", receipt.reprints, receipt.logo),
             ("text", L["token"], "regular", 7.0, 5.5, "center"), ("text", token, "bold", 16.0, 9.0, "center"),
             RULE, *_tail(L, _rows(receipt, L, lang), receipt.hotline)]
    return _draw(lines, L["title"], fonts or FontSet(), receipt.logo)


def _key_change_rows(r: KeyChangeReceipt, L: dict[str, str]) -> list[tuple[str, str]]:
    rows = [(L["meter"], r.meter), (L["account"], r.account_no),
            (L["kc_key"], f"{L['kc_before']} -> {L['kc_after']}")]
    for name, label in KEY_PARAMS:
        old, new = r.old[name], r.new[name]
        shown = (lambda v: f"{v:06d}") if name == "sgc" else str
        rows.append((label or L[name], f"{shown(old)} -> {shown(new)}" if old != new else shown(old)))
    rows += [(L["kc_rollover"], L["yes"] if r.rollover else L["no"]), (L["kc_no"], str(r.change_id)),
             (L["kc_at"], _time(r.changed_at, r.timezone))]
    return rows


def render_key_change_receipt(receipt: KeyChangeReceipt, *, lang: str = "zh", fonts: FontSet | None = None) -> bytes:
    """The key change receipt as PDF bytes: the tokens numbered in entry order, then the old and new key."""
    L = _labels(lang)
    if len(receipt.tokens) != 4:
        raise InvalidCardData("a key change receipt shows the four key change tokens")
    for name, _ in KEY_PARAMS:
        if name not in receipt.old or name not in receipt.new:
            raise InvalidCardData(f"the key change receipt needs the old and new {name}")
    tokens: list[Line] = [("text", f"{n}.  {grouped_token(t)}", "bold", 13.0, 8.0, "center")
                          for n, t in enumerate(receipt.tokens, start=1)]
    lines = [*_head(L, receipt.utility_name, "kc_title", receipt.reprints, receipt.logo),
             ("text", L["kc_enter"], "regular", 7.0, 4.5, "center"), *tokens, RULE,
             *_tail(L, _key_change_rows(receipt, L), receipt.hotline)]
    return _draw(lines, L["kc_title"], fonts, receipt.logo)


LABEL_SHARE = 0.38  # of the usable width: a row's label column; the value is right-aligned in the rest


def _wrap(text: str, font: str, size: float, width: float) -> list[str]:
    """``text`` in pieces that each fit ``width`` at ``size``: broken at spaces, or anywhere in a word
    (CJK text has no spaces) that is itself too wide."""
    fits = lambda piece: pdfmetrics.stringWidth(piece, font, size) <= width  # noqa: E731
    pieces: list[str] = []
    current = ""
    for word in text.split(" "):
        candidate = f"{current} {word}" if current else word
        if fits(candidate):
            current = candidate
            continue
        if current:
            pieces.append(current)
        current = ""
        for char in word:
            if current and not fits(current + char):
                pieces.append(current)
                current = ""
            current += char
    return [*pieces, current] if current else pieces or [""]


def _wrap_rows(lines: list[Line], fonts: FontSet, usable: float) -> list[Line]:
    """Rows whose value is wider than its column at the nominal size go on over continuation rows."""
    out: list[Line] = []
    for line in lines:
        kind, text, role, size, min_size, align = line
        if kind != "row":
            out.append(line)
            continue
        label, value = text.split("\t", 1)
        font = pick_font(fonts, role, value, what=f"receipt {label}")
        pieces = _wrap(value, font, size, usable * (1 - LABEL_SHARE))
        out += [(kind, f"{label if n == 0 else ''}\t{piece}", role, size, min_size, align)
                for n, piece in enumerate(pieces)]
    return out


def _draw(lines: list[Line], title: str, fonts: FontSet | None, logo: bytes | None = None) -> bytes:
    """Lay ``lines`` out on one 80 mm page as tall as they need."""
    fonts = fonts or FontSet()
    page = load_layout("receipt-80mm").page
    width = page.width_mm * mm
    left, right = page.margin_left_mm * mm, width - page.margin_right_mm * mm
    usable = right - left
    lines = _wrap_rows(lines, fonts, usable)
    gap = 1.2 * mm
    height = page.margin_top_mm * mm + page.margin_bottom_mm * mm + sum(
        (2.5 * mm if kind == "rule" else size + gap if kind == "logo" else size * 1.25 + gap)
        for kind, _, _, size, _, _ in lines)
    out = io.BytesIO()
    c = Canvas(out, pagesize=(width, height), invariant=1, pageCompression=1,  # no unembedded Helvetica
               initialFontName=pick_font(fonts, "regular", title, what="receipt"))
    c.setTitle(title)
    c.setAuthor("")
    c.setCreator("print_templates.sts_receipt")
    y = height - page.margin_top_mm * mm
    for kind, text, role, size, min_size, align in lines:
        if kind == "rule":
            y -= 1.25 * mm
            c.setDash(2, 2)
            c.setLineWidth(0.6)
            c.line(left, y, right, y)
            c.setDash()
            y -= 1.25 * mm
            continue
        if kind == "logo" and logo is not None:
            from print_templates.letterhead import draw_logo, logo_drawing

            y -= size
            _, logo_w, _ = logo_drawing(logo, size)
            draw_logo(c, logo, left + (usable - logo_w) / 2, y, size)
            y -= gap
            continue
        y -= size * 1.25
        if kind == "row":  # label left, value right
            label, value = text.split("\t", 1)
            label_w = usable * LABEL_SHARE
            for part, x, w, a in ((label, left, label_w, "left"), (value, left + label_w, usable - label_w, "right")):
                if not part:  # a continuation row has no label
                    continue
                font = pick_font(fonts, role, part, what=f"receipt {label}")
                fitted = fit_text(part, font, size=size, min_size=min_size, max_width=w, max_height=size * 1.3,
                                  what=f"receipt {label}")
                c.setFont(fitted.font, fitted.size)
                if a == "left":
                    c.drawString(x, y, part)
                else:
                    c.drawRightString(x + w, y, part)
        else:
            font = pick_font(fonts, role, text, what="receipt")
            fitted = fit_text(text, font, size=size, min_size=min_size, max_width=usable, max_height=size * 1.3,
                              what="receipt")
            c.setFont(fitted.font, fitted.size)
            c.drawCentredString(left + usable / 2, y, text)
        y -= gap
    c.showPage()
    c.save()
    return out.getvalue()

"""Embedded fonts, glyph coverage and fitting text into boxes.

Only TrueType fonts registered with reportlab's ``TTFont`` are used: reportlab
embeds a subset of each into the PDF, so the output renders the same on a
machine without any CJK font. reportlab's standard 14 fonts and its CID fonts
(e.g. STSong-Light) are never used, since neither is embedded.

The bundled fonts are subsets of Noto Sans CJK SC (see ``fonts/OFL.txt``,
``fonts/charset.txt`` and docs/printing.md).
"""
from __future__ import annotations

import hashlib
import math
import threading
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFError, TTFont

from print_templates.errors import FontError, MissingGlyph, TextOverflow

_lock = threading.Lock()
_registered: dict[Path, str] = {}


def bundled_font_path(style: str) -> Path:
    return Path(str(resources.files("print_templates") / "fonts" / f"VoucherSansSC-{style}.ttf"))


@dataclass(frozen=True, slots=True)
class FontSet:
    """Which TrueType file draws each font role of a layout.

    ``regular`` must cover everything; ``bold`` text that has characters the
    bold font lacks falls back to ``regular`` (the bundled Bold covers only
    the labels, Regular covers also the 3,755 GB2312 level-1 hanzi). A utility
    whose names need more characters passes a FontSet of fuller TrueType fonts.
    """

    regular: Path = field(default_factory=lambda: bundled_font_path("Regular"))
    bold: Path = field(default_factory=lambda: bundled_font_path("Bold"))

    def fallbacks(self, role: str) -> tuple[Path, ...]:
        return (self.bold, self.regular) if role == "bold" else (self.regular,)


def register(path: Path) -> str:
    """Register a TrueType file with reportlab once per process; returns its
    reportlab font name (derived from the file's path, so two FontSets with
    different files never clash)."""
    path = Path(path).resolve()
    with _lock:
        name = _registered.get(path)
        if name is not None:
            return name
        digest = hashlib.sha256(str(path).encode("utf-8")).hexdigest()[:10]
        name = f"VP-{path.stem}-{digest}"
        try:
            font = TTFont(name, str(path))
        except (OSError, TTFError) as e:
            raise FontError(f"cannot use font {path}: {e}") from e
        pdfmetrics.registerFont(font)
        _registered[path] = name
        return name


def register_named(name: str, path: Path) -> str:
    """Register a TrueType file under a fixed reportlab name (report styles refer to it by that name);
    the first registration of a name wins for the process, as reportlab caches fonts by name."""
    with _lock:
        if name in pdfmetrics.getRegisteredFontNames():
            return name
        try:
            pdfmetrics.registerFont(TTFont(name, str(path)))
        except (OSError, TTFError) as e:
            raise FontError(f"cannot use font {path}: {e}") from e
        return name


def covers(font_name: str, text: str) -> bool:
    char_to_glyph = pdfmetrics.getFont(font_name).face.charToGlyph
    return all(ord(ch) in char_to_glyph for ch in text)


def missing_chars(font_name: str, text: str) -> str:
    char_to_glyph = pdfmetrics.getFont(font_name).face.charToGlyph
    return "".join(sorted({ch for ch in text if ord(ch) not in char_to_glyph}))


def pick_font(fonts: FontSet, role: str, text: str, *, what: str) -> str:
    """The first font of the role's fallback chain that has every glyph."""
    tried = []
    for path in fonts.fallbacks(role):
        name = register(path)
        if covers(name, text):
            return name
        tried.append(f"{path.name} lacks {missing_chars(name, text)!r}")
    raise MissingGlyph(f"{what}: no font can draw all of this text ({'; '.join(tried)})")


def em_box(font_name: str) -> tuple[float, float]:
    """(ascent, descent) as fractions of the font size; descent is negative."""
    face = pdfmetrics.getFont(font_name).face
    ascent = face.ascent / 1000.0 if face.ascent else 0.88
    descent = face.descent / 1000.0 if face.descent else -0.12
    return ascent, descent


@dataclass(frozen=True, slots=True)
class FittedText:
    font: str
    size: float  # pt
    width: float  # pt, of the text measured
    ascent: float  # fraction of size
    descent: float  # fraction of size, negative


def fit_text(
    text: str,
    font_name: str,
    *,
    size: float,
    min_size: float,
    max_width: float,
    max_height: float,
    what: str,
) -> FittedText:
    """Largest size <= ``size`` (in 0.1 pt steps) at which ``text`` fits a
    box of ``max_width`` x ``max_height`` points, or :class:`TextOverflow`
    when even ``min_size`` does not fit."""
    ascent, descent = em_box(font_name)
    width_1pt = pdfmetrics.stringWidth(text, font_name, 1.0)
    height_1pt = ascent - descent
    limit = size
    if width_1pt > 0:
        limit = min(limit, max_width / width_1pt)
    limit = min(limit, max_height / height_1pt)
    fitted = math.floor(limit * 10 + 1e-9) / 10.0
    if fitted < min_size - 1e-9:
        need_w = width_1pt * min_size
        need_h = height_1pt * min_size
        raise TextOverflow(
            f"{what}: does not fit its box even at the minimum {min_size:g} pt "
            f"(needs {need_w / 72 * 25.4:.1f} x {need_h / 72 * 25.4:.1f} mm, "
            f"box is {max_width / 72 * 25.4:.1f} x {max_height / 72 * 25.4:.1f} mm)"
        )
    return FittedText(font_name, fitted, width_1pt * fitted, ascent, descent)

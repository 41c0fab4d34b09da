"""The utility's logo and name at the top of bills, reports and covers (reportlab drawing objects).

PNG logos are drawn by reportlab itself; SVG logos are converted with ``svglib`` (a vector drawing,
not a bitmap). Both are checked here once so a broken logo fails before any document is built.
"""
from __future__ import annotations

import io

from reportlab.graphics.shapes import Drawing
from reportlab.lib import colors
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.platypus import Flowable, Image, Paragraph, Spacer

from print_templates.errors import InvalidCardData
from print_templates.model import PrintBranding
from vouchers.branding import logo_type

LOGO_HEIGHT_MM = 12.0


def logo_drawing(logo: bytes, height_pt: float) -> tuple[object, float, float]:
    """(reportlab drawable, width, height) of the logo scaled to ``height_pt``: an ImageReader for
    PNG, a Drawing for SVG."""
    kind = logo_type(logo)
    if kind == "png":
        try:
            reader = ImageReader(io.BytesIO(logo))
            w, h = reader.getSize()
        except Exception as e:  # PIL raises assorted errors on a damaged file
            raise InvalidCardData("branding: the PNG logo cannot be read") from e
        return reader, w * height_pt / h, height_pt
    from svglib.svglib import svg2rlg

    try:
        drawing = svg2rlg(io.BytesIO(logo))
    except Exception as e:  # lxml and svglib raise assorted errors on a damaged file
        raise InvalidCardData("branding: the SVG logo cannot be read") from e
    if drawing is None or not drawing.width or not drawing.height:
        raise InvalidCardData("branding: the SVG logo has no size")
    scale = height_pt / drawing.height
    drawing.scale(scale, scale)
    drawing.width, drawing.height = drawing.width * scale, height_pt
    return drawing, drawing.width, height_pt


def draw_logo(canvas, logo: bytes, x: float, y: float, height_pt: float) -> float:  # type: ignore[no-untyped-def]
    """Draw the logo with its bottom-left corner at (x, y); returns its width."""
    drawable, w, h = logo_drawing(logo, height_pt)
    if isinstance(drawable, Drawing):
        from reportlab.graphics import renderPDF

        renderPDF.draw(drawable, canvas, x, y)
    else:
        canvas.drawImage(drawable, x, y, width=w, height=h, mask="auto")
    return w


def letterhead(branding: PrintBranding | None, font: str) -> list[Flowable]:
    """Logo, utility name (in the primary colour) and hotline, for the top of a platypus document."""
    if branding is None:
        return []
    story: list[Flowable] = []
    if branding.logo is not None:
        drawable, w, h = logo_drawing(branding.logo, LOGO_HEIGHT_MM * mm)
        if isinstance(drawable, Drawing):
            drawable.hAlign = "LEFT"
            story.append(drawable)
        else:
            story.append(Image(io.BytesIO(branding.logo), width=w, height=h, hAlign="LEFT"))
    style = ParagraphStyle("letterhead", fontName=font, fontSize=11, leading=14,
                           textColor=colors.HexColor(branding.primary_colour))
    small = ParagraphStyle("letterhead-hotline", fontName=font, fontSize=8, leading=10, textColor=colors.grey)
    story += [Paragraph(_escape(branding.utility_name), style),
              Paragraph(_escape(f"客服热线 Hotline {branding.hotline} · {branding.web_address}"), small),
              Spacer(1, 3 * mm)]
    return story


def letterhead_texts(branding: PrintBranding | None) -> list[str]:
    """The texts :func:`letterhead` prints, for the glyph check of the document."""
    if branding is None:
        return []
    return [branding.utility_name, f"客服热线 Hotline {branding.hotline} · {branding.web_address}"]


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

"""The print_templates exception hierarchy.

Every class carries a stable, machine-readable ``code`` the CLI can show or
put in its ``--json`` error document. Messages name layouts, fields, serials
and paths, never secret codes or tokens.
"""
from __future__ import annotations

from vouchers.errors import VoucherError


class PrintError(VoucherError):
    """Base class: nothing else escapes the public functions of print_templates
    (apart from programming errors such as a wrong argument type)."""

    code = "print_error"


class UnknownLayout(PrintError):
    """No layout of that name ships with the package."""

    code = "unknown_layout"


class InvalidLayout(PrintError):
    """A layout file is malformed: syntax, missing keys, values out of range,
    boxes outside the card or a grid that does not fit the page."""

    code = "invalid_layout"


class FontError(PrintError):
    """A font file is missing, unreadable or not a TrueType font."""

    code = "font_error"


class MissingGlyph(PrintError):
    """Text holds characters that no configured font can draw."""

    code = "missing_glyph"


class TextOverflow(PrintError):
    """Text does not fit its box even at the field's minimum font size."""

    code = "text_overflow"


class InvalidCardData(PrintError):
    """A card record is malformed or inconsistent (bad serial or code check
    digit, token not matching the card, face value differing from the cover)."""

    code = "invalid_card_data"


class BatchMismatch(PrintError):
    """The cards streamed do not match the batch cover (count, serial range or
    the SHA-256 of the card data)."""

    code = "batch_mismatch"


class UnwritablePath(PrintError):
    """The output file or its directory cannot be written."""

    code = "unwritable_path"


class RenderFailed(PrintError):
    """Rendering stopped for another reason (a worker process died, the
    progress callback raised, the card source raised ...)."""

    code = "render_failed"

"""Printable PDFs of voucher batches: cards, sheets and till receipts.

The public API::

    from print_templates import (
        CardRecord, BatchCover, PrintBranding, RenderedFile, FontSet,
        card_data_sha256, list_layouts, load_layout, load_layout_file, render_batch,
    )

See docs/printing.md. This package imports only the voucher core
(``vouchers``) among the project's packages.
"""
from __future__ import annotations

from print_templates.errors import (
    BatchMismatch,
    FontError,
    InvalidCardData,
    InvalidLayout,
    MissingGlyph,
    PrintError,
    RenderFailed,
    TextOverflow,
    UnknownLayout,
    UnwritablePath,
)
from print_templates.layout import Layout, list_layouts, load_layout, load_layout_file
from print_templates.model import (
    BatchCover,
    CardDataHasher,
    CardRecord,
    PrintBranding,
    RenderedFile,
    card_data_sha256,
)
from print_templates.render import render_batch
from print_templates.typeset import FontSet

__all__ = [
    "BatchCover",
    "BatchMismatch",
    "CardDataHasher",
    "CardRecord",
    "FontError",
    "FontSet",
    "InvalidCardData",
    "InvalidLayout",
    "Layout",
    "MissingGlyph",
    "PrintBranding",
    "PrintError",
    "RenderFailed",
    "RenderedFile",
    "TextOverflow",
    "UnknownLayout",
    "UnwritablePath",
    "card_data_sha256",
    "list_layouts",
    "load_layout",
    "load_layout_file",
    "render_batch",
]

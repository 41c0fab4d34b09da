"""Printable PDFs of voucher batches: cards, sheets and till receipts.

The public API::

    from print_templates import (
        CardRecord, BatchCover, PrintBranding, RenderedFile, FontSet,
        card_data_sha256, list_layouts, load_layout, load_layout_file, render_batch,
    )

See docs/printing.md. This package imports only the voucher core
(``vouchers``) among the project's packages. The names backed by ReportLab
(``render_batch``, ``FontSet``) are imported when first used, so code that only
needs the card model (the issuer's card store, the CLI) does not load it.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from print_templates.render import render_batch
    from print_templates.typeset import FontSet

_LAZY = {"render_batch": "print_templates.render", "FontSet": "print_templates.typeset"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

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

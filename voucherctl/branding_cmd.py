"""``voucherctl branding``: what customers see (cards, receipts, bills, reports, the web page)."""
from __future__ import annotations

import click

from voucherctl import context
from voucherctl.output import emit, json_option

DEFAULT_WARNING = ("warning: branding not configured ({fields} still the neutral placeholder): cards, receipts "
                   "and the web page would show it; set [branding] in the configuration file "
                   "(docs/configuration.md)")


@click.group()
def branding() -> None:
    """The utility's branding in force (name, logo, redeem and QR URLs, hotline, terms, colours)."""


@branding.command("show")
@json_option
def show(as_json: bool) -> None:
    """Print the branding in force; warn (stderr) while the neutral default is used."""
    b = context.branding()
    document = {key: value for key, value in b.to_document().items() if key not in ("version", "logo")}
    document["logo"] = None if b.logo is None else {"type": b.logo_type, "bytes": len(b.logo),
                                                    "sha256": b.logo_sha256}
    document["qr_example"] = b.qr_text("EV1:...")
    document["source"] = str(context.settings().source) if context.settings().source else None

    def human() -> None:
        width = max(len(k) for k in document)
        for key, value in document.items():
            if isinstance(value, dict):
                value = f"{value['type']}, {value['bytes']} bytes, sha256 {value['sha256']}"
            click.echo(f"{key:<{width}}  {'-' if value is None else value}")

    emit(as_json, document, human)
    if b.is_default:
        click.echo(DEFAULT_WARNING.format(fields=", ".join(b.placeholders())), err=True)

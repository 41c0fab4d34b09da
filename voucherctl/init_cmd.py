"""``voucherctl init``: schema and key store, idempotent."""
from __future__ import annotations

import click
from alembic.util.exc import CommandError

from vouchers.keystore.audit_key import ensure_audit_key
from vouchers.storage.migrate import upgrade_to_head
from voucherctl import context
from voucherctl.output import CliError, emit, json_option


@click.command()
@json_option
def init(as_json: bool) -> None:
    """Create or upgrade the database schema and the key store (safe to re-run)."""
    settings = context.settings()
    context.refuse_newer_schema()  # before anything is created
    phrase = context.passphrase()
    store = context.key_store()
    # A new store needs the web secret too; an existing one is checked with it when it is given.
    web_phrase = context.web_passphrase() if settings.demo or settings.web_passphrase or not store.exists() else None
    created = store.initialise(phrase, web_phrase)
    if not store.is_split():
        click.echo("voucherctl: note: the key store still seals the web's keys under VOUCHER_KEY_PASSPHRASE; "
                   "run `voucherctl keys split-web-secret` (see docs/security.md)", err=True)
    audit_key_created = ensure_audit_key(store, phrase)
    try:
        before, after = upgrade_to_head(context.engine())
    except CommandError as e:  # e.g. a revision none of our migrations knows
        raise CliError(f"cannot upgrade the database schema: {e}") from e
    document = {
        "home": str(settings.home), "database": context.engine().url.render_as_string(hide_password=True),
        "schema_before": before, "schema": after, "key_store_created": created,
        "audit_checkpoint_key_created": audit_key_created, "demo": settings.demo,
    }
    emit(as_json, document, lambda: click.echo(
        f"key store {'created' if created else 'ok'} in {settings.home}; schema "
        f"{'upgraded ' + str(before) + ' -> ' if before != after else 'at '}{after}"
        + ("  [DEMO MODE: passphrases stored next to the keys]" if settings.demo else "")))

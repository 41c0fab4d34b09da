"""``voucherctl keys``: the Ed25519 signing keys, and the one-time split of the web secret."""
from __future__ import annotations

import click

from issuer.signing_keys import create_key, revoke_key, rotate_key
from voucherctl import context
from voucherctl.output import OPERATOR, CliError, emit, json_option
from voucherctl.staff_auth import prove_checker, totp_option


def _sessions_if_initialised():
    """The database, when there is one: keys can be managed before `init` (no staff can exist then)."""
    try:
        return context.sessions()
    except CliError:
        return None


@click.group()
def keys() -> None:
    """Signing keys: create, list, rotate, revoke, export the public half; split the web secret."""


@keys.command("create")
@json_option
def create(as_json: bool) -> None:
    """Create the first active signing key."""
    record = create_key(context.key_store(), context.passphrase(), context.now())
    emit(as_json, record.to_json(), f"created active key {record.key_id}")


@keys.command("list")
@json_option
def list_keys(as_json: bool) -> None:
    """List keys with status (active signs; retired still verifies; revoked fails)."""
    records = context.key_store().records()
    emit(as_json, {"keys": [r.to_json() for r in records]}, lambda: [
        click.echo(f"{r.key_id:<20} {r.status.value:<8} created {r.created_at}") for r in records
    ] or click.echo("no keys: run `voucherctl keys create`"))


@keys.command("rotate")
@json_option
def rotate(as_json: bool) -> None:
    """Make a new active key; the old one is retired and its tokens stay valid."""
    record, retired = rotate_key(context.key_store(), context.passphrase(), context.now())
    emit(as_json, {**record.to_json(), "retired": retired},
         f"new active key {record.key_id}; retired {', '.join(retired) or 'none'}")


@keys.command("revoke")
@click.argument("key_id")
@click.option("--operator", default="cli", show_default=True, type=OPERATOR,
              help="Once staff exist: the logged-in approver (with --totp).")
@totp_option
@json_option
def revoke(key_id: str, operator: str, totp_code: str | None, as_json: bool) -> None:
    """Revoke KEY_ID: every token it signed is refused from now on."""
    sessions = _sessions_if_initialised()
    if sessions is not None:
        with sessions.begin() as session:
            prove_checker(session, operator, action="key_revoke", subject_type="signing_key", subject_id=key_id,
                          totp_code=totp_code)
    record = revoke_key(context.key_store(), key_id, context.now())
    emit(as_json, record.to_json(), f"revoked {record.key_id}")


@keys.command("export-public")
@json_option
def export_public(as_json: bool) -> None:
    """Print the public key document terminals use to verify tokens offline.

    The document is JSON with or without --json (accepted like on every command).
    """
    emit(True, context.key_store().keyring().export())


@keys.command("split-web-secret")
@json_option
def split_web_secret(as_json: bool) -> None:
    """Re-seal the pepper and vending keys under VOUCHER_WEB_PASSPHRASE (once, for a store made before it).

    Needs VOUCHER_KEY_PASSPHRASE and VOUCHER_WEB_PASSPHRASE. Signing keys, the card store and the audit key
    stay under the issuer passphrase. Safe to re-run: a split store is only checked.
    """
    from vouchers.keystore.split import split_web_secret as split

    phrase = context.passphrase()
    web_phrase = context.web_passphrase()
    result = split(context.key_store(), phrase, web_phrase)
    emit(as_json, {"already_split": result.already_split, "resealed": result.resealed},
         "key store already split; VOUCHER_WEB_PASSPHRASE opens it" if result.already_split and not result.resealed
         else f"re-sealed {len(result.resealed)} file(s) under VOUCHER_WEB_PASSPHRASE: {', '.join(result.resealed)}")

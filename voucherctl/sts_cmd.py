"""``voucherctl sts``: STS prepaid-meter tokens (IEC 62055-41, DKGA04 + EA11/MISTY1).

A calculator for customer service, auditors and certification labs: it vends or
decodes one token from the parameters given and writes no records. The ``sts``
package is imported inside the commands so the rest of ``voucherctl`` never
depends on it. Amounts in JSON are decimal strings; TIDs are integers.
"""
from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

import click

from voucherctl.output import REASON, CliError, emit, json_option

if TYPE_CHECKING:
    from vouchers.sts.decoder import DecodedToken

F = TypeVar("F", bound=Callable[..., Any])
_DIGITS = re.compile(r"[0-9]+")


def _sts_errors(func: F) -> F:
    """Every refusal from the sts package becomes a one-line CLI error."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from vouchers.sts.errors import StsError

        try:
            return func(*args, **kwargs)
        except StsError as e:
            raise CliError(str(e)) from e

    return wrapper  # type: ignore[return-value]


def _int(text: str, option: str, low: int, high: int, max_digits: int) -> int:
    text = text.strip()
    if not _DIGITS.fullmatch(text) or len(text) > max_digits or not low <= int(text) <= high:
        raise CliError(f"{option} must be a whole number {low}..{high}, got {text!r}")
    return int(text)


def _issued(text: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(text.strip())
    except ValueError as e:
        raise CliError(f"--issued must be an ISO 8601 date and time like 2004-03-01T13:00:00Z, got {text!r}") from e
    if moment.tzinfo is None:  # the compliance tests give naive times; the standard's base dates are UTC
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment


class _StsGroup(click.Group):
    """``sts meter ...`` is accepted for ``sts meters ...``."""

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return super().get_command(ctx, "meters" if cmd_name == "meter" else cmd_name)

    def resolve_command(self, ctx: click.Context, args: list[str]):  # type: ignore[no-untyped-def]
        name, command, rest = super().resolve_command(ctx, args)
        return ("meters" if name == "meter" else name), command, rest


@click.group(cls=_StsGroup)
def sts() -> None:
    """STS prepaid-meter tokens.

    `token` and `decode` are calculators (no records written; keys come in as hex on
    the command line: test keys and certification vectors only). `meters`, `vend`,
    `reprint`, `engineering` and `vending-key` use the database and the key store.
    """


@sts.command("token")
@click.option("--vending-key", required=True, metavar="HEX", help="The 20-byte DKGA04 vending key.")
@click.option("--sgc", required=True, metavar="S", help="Supply group code (up to 6 digits).")
@click.option("--ti", required=True, metavar="T", help="Tariff index (0-99).")
@click.option("--krn", required=True, metavar="K", help="Key revision number (1-9).")
@click.option("--key-type", required=True, metavar="KT", help="Key type (0-3; 2 for the vectors).")
@click.option("--ken", default="255", show_default=True, metavar="N",
              help="Key expiry number: tokens whose TID the meter would reject are refused.")
@click.option("--base-date", required=True, metavar="1993|2014|2035", help="The meter's TID base date.")
@click.option("--pan", required=True, metavar="PAN", help="The 18-digit meter PAN (Luhn checked).")
@click.option("--issued", required=True, metavar="ISO8601",
              help="Issue time; without a zone it is taken as UTC. Seconds are dropped.")
@click.option("--token-class", default="0", show_default=True, metavar="0|2",
              help="0 credit; 2 engineering (subclass 0 power limit, 1 clear credit, 5 clear tamper, "
                   "6 phase unbalance limit).")
@click.option("--subclass", required=True, metavar="N",
              help="Class 0: 0 electricity, 1 water, 2 gas, 3 time.")
@click.option("--rnd", default=None, metavar="N", help="The 4-bit random number (0-15); random if omitted.")
@click.option("--amount", default=None, metavar="KWH",
              help="Class 0 amount in kWh (units of 0.1, rounded up in the customer's favour).")
@click.option("--power-limit", default=None, metavar="WATTS", help="Class 2 subclass 0 or 6: the limit in watts.")
@click.option("--register", default=None, metavar="N", help="Class 2 subclass 1: register to clear (default 65535).")
@json_option
@_sts_errors
def token_cmd(vending_key: str, sgc: str, ti: str, krn: str, key_type: str, ken: str, base_date: str, pan: str,
              issued: str, token_class: str, subclass: str, rnd: str | None, amount: str | None,
              power_limit: str | None, register: str | None, as_json: bool) -> None:
    """Vend one token; prints the 20 digits, the TID and the decoder key."""
    from vouchers.sts import backend as b
    from vouchers.sts.amount import decode_field, encode_units, kwh_to_units, units_to_kwh
    from vouchers.sts.dkga04 import VENDING_KEY_BYTES, MeterKeyParams, derive_decoder_key, parse_hex_key
    from vouchers.sts.pan import MeterPan
    from vouchers.sts.tid import BaseDate, tid_at

    meter = MeterKeyParams(
        pan=MeterPan.parse(pan),
        sgc=_int(sgc, "--sgc", 0, 999_999, 6),
        ti=_int(ti, "--ti", 0, 99, 2),
        krn=_int(krn, "--krn", 1, 9, 1),
        key_type=_int(key_type, "--key-type", 0, 3, 1),
        base_date=BaseDate.from_year(base_date.strip()),
        ken=_int(ken, "--ken", 0, 255, 3),
    )
    key = parse_hex_key(vending_key, VENDING_KEY_BYTES, "vending key")
    tid = tid_at(_issued(issued), meter.base_date)
    cls = _int(token_class, "--token-class", 0, 3, 1)
    sub = _int(subclass, "--subclass", 0, 15, 2)
    nibble = None if rnd is None else _int(rnd, "--rnd", 0, 15, 2)

    document: dict[str, Any] = {}
    request: b.TokenRequest
    if cls == 0:
        if sub > 3:
            raise CliError("--subclass for class 0 must be 0 (electricity), 1 (water), 2 (gas) or 3 (time); "
                           "currency tokens are not implemented")
        if amount is None:
            raise CliError("--amount is required for class 0 tokens")
        if power_limit is not None or register is not None:
            raise CliError("--power-limit and --register apply to class 2 tokens only")
        units = kwh_to_units(amount.strip())
        request = b.CreditRequest(units=units, subclass=sub)
        document["amount"] = str(units_to_kwh(decode_field(encode_units(units))))
    elif cls == 2:
        if amount is not None:
            raise CliError("--amount applies to class 0 tokens only")
        if sub in (0, 6):
            if power_limit is None or register is not None:
                raise CliError(f"class 2 subclass {sub} takes --power-limit WATTS (and no --register)")
            watts = _int(power_limit, "--power-limit", 0, 18_201_624, 8)
            request = (b.SetMaximumPowerLimitRequest(watts) if sub == 0
                       else b.SetMaximumPhasePowerUnbalanceLimitRequest(watts))
            document["power_limit"] = str(decode_field(encode_units(watts)))
        elif sub == 1:
            if power_limit is not None:
                raise CliError("class 2 subclass 1 (clear credit) takes --register, not --power-limit")
            request = b.ClearCreditRequest() if register is None else \
                b.ClearCreditRequest(_int(register, "--register", 0, 0xFFFF, 5))
        elif sub == 5:
            if power_limit is not None or register is not None:
                raise CliError("class 2 subclass 5 (clear tamper) takes no value")
            request = b.ClearTamperRequest()
        else:
            raise CliError("class 2 subclasses 0, 1, 5 and 6 are available here (key changes: use the sts package)")
    else:
        raise CliError("--token-class must be 0 or 2")

    vended = b.SoftwareVendingBackend.single_key(key).vend(meter, request, tid=tid, rnd=nibble)
    decoder_key = derive_decoder_key(key, meter).hex()
    result = {"token": vended.digits, "tid": vended.tid, "decoder_key": decoder_key,
              "token_class": vended.token_class, "subclass": vended.subclass, **document}

    def human() -> None:
        click.echo(vended.grouped)
        click.echo(f"tid          {vended.tid}")
        click.echo(f"decoder key  {decoder_key}")
        for name, value in document.items():
            click.echo(f"{name:<12} {value}")

    emit(as_json, result, human)


def _decoded_document(decoded: DecodedToken) -> dict[str, Any]:
    from vouchers.sts.amount import decode_field, units_to_kwh

    doc: dict[str, Any] = {"token_class": decoded.token_class, "subclass": None, "rnd": None, "tid": None,
                           "amount": None, "crc_ok": decoded.crc_ok}
    if not decoded.crc_ok:  # the fields would be noise
        return doc
    doc.update(subclass=decoded.subclass, rnd=decoded.rnd, tid=decoded.tid, kind=decoded.kind)
    if decoded.units is not None:
        doc["amount"] = str(units_to_kwh(decoded.units))
    elif decoded.kind in ("set_maximum_power_limit", "set_maximum_phase_power_unbalance_limit"):
        doc["power_limit"] = str(decode_field(decoded.data or 0))
    elif decoded.kind == "clear_credit":
        doc["register"] = decoded.data
    section = decoded.key_change
    if section is not None:
        doc["key_change"] = {name: (f"{value:08x}" if name.startswith("nk") else value)
                             for name, value in section.fields().items()}
    return doc


@sts.command("decode")
@click.argument("token")
@click.option("--decoder-key", required=True, metavar="HEX", help="The meter's 16-byte decoder key.")
@json_option
@_sts_errors
def decode_cmd(token: str, decoder_key: str, as_json: bool) -> None:
    """Decode TOKEN (20 digits) with a decoder key and check its CRC.

    With a wrong key (or a mistyped token) crc_ok is false and the fields are null.
    """
    from vouchers.sts.decoder import decode_token
    from vouchers.sts.dkga04 import DECODER_KEY_BYTES, parse_hex_key

    key = parse_hex_key(decoder_key, DECODER_KEY_BYTES, "decoder key")
    doc = _decoded_document(decode_token(token, key))

    def human() -> None:
        for name, value in doc.items():
            click.echo(f"{name:<12} {'-' if value is None else value}")

    emit(as_json, doc, human)


# -- records: meters, vending keys, vending -------------------------------------------------
# These commands use the database (VOUCHER_DATABASE_URL) and the key store (VOUCHER_HOME,
# VOUCHER_WEB_PASSPHRASE: vending keys are the web's material, not the issuer's). Vending keys are sealed in the key store, never printed.


def _vending_errors(func: F) -> F:
    """Refusals of the vending side, the books and the key store as one CLI error line."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from vouchers.keystore.errors import KeyStoreError
        from vouchers.books.errors import LedgerError
        from vouchers.metering.errors import MeteringError
        from vouchers.sts.errors import StsError
        from vouchers.tariffs.errors import TariffError
        from vouchers.vending.errors import VendingError

        try:
            return func(*args, **kwargs)
        except (VendingError, StsError, KeyStoreError, MeteringError, TariffError, LedgerError) as e:
            raise CliError(str(e)) from e

    return wrapper  # type: ignore[return-value]


def _actor() -> str:
    from voucherctl import context

    return context.actor()


def _vend_doc(result: Any) -> dict[str, Any]:
    from voucherctl import context

    return context.local_times(result.as_dict(), result, "vended_at")


def _print_vend(doc: dict[str, Any]) -> None:
    click.echo(doc["token_grouped"])
    for name in ("pan", "account_no", "kind", "tid", "kwh", "tariff_kwh", "amount", "reprints"):
        if doc.get(name) is not None:
            click.echo(f"{name:<12} {doc[name]}")


def _metering_config() -> Any:
    from voucherctl import context

    return context.metering_config()


_receipt_option = click.option(
    "--receipt", "receipt", default=None, type=click.Path(dir_okay=False, path_type=Path), metavar="FILE.pdf",
    help="Also write an 80 mm PDF receipt (token in groups of four, meter, account, amount, kWh, TID time, tariff).")
_key_change_receipt_option = click.option(
    "--receipt", "receipt", default=None, type=click.Path(dir_okay=False, path_type=Path), metavar="FILE.pdf",
    help="Also write an 80 mm PDF receipt (the four key change tokens in entry order, meter, old and new "
         "SGC/TI/KRN/KT/KEN/base date, date).")
_lang_option = click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True,
                            help="Language of the receipt.")


def _receipt_pdf(session: Any, result: Any, lang: str, catalog: Any = None) -> bytes:
    """Render inside the transaction (it reads the meter history and the tariff), write after commit."""
    from vouchers.vending.receipts import render_receipt

    from voucherctl import context

    branding = context.branding()
    return render_receipt(session, result, lang=lang, config=_metering_config(), catalog=catalog,
                          utility_name=branding.utility_name, hotline=branding.hotline, logo=branding.logo)


def _key_change_pdf(change: Any, lang: str) -> bytes:
    from vouchers.vending.receipts import render_key_change

    from voucherctl import context

    branding = context.branding()
    return render_key_change(change, lang=lang, config=_metering_config(), utility_name=branding.utility_name,
                             hotline=branding.hotline, logo=branding.logo)


def _write_receipt(path: Path | None, data: bytes | None, doc: dict[str, Any], *, what: str = "the token was",
                   reprint: str = "voucherctl sts reprint --receipt") -> None:
    """A receipt holds a working token: written 0600 and atomically (never through a symlink at ``path``)."""
    if path is None or data is None:
        return
    from vouchers.keystore.files import write_private

    try:
        write_private(path, data)
    except OSError as e:
        raise CliError(f"{what} issued, but the receipt could not be written to {path}: {e.strerror}; "
                       f"use `{reprint}`") from e
    doc["receipt"] = str(path)


@sts.group("meters")
def meters() -> None:
    """STS keypad meters: PAN, key parameters and the account they credit."""


@meters.command("add")
@click.option("--pan", required=True, metavar="PAN", help="The 18-digit meter PAN (IIN + DRN + Luhn digit).")
@click.option("--account", "account_no", required=True, metavar="NO", help="A prepaid metered account.")
@click.option("--sgc", required=True, metavar="S", help="Supply group code (up to 6 digits).")
@click.option("--ti", required=True, metavar="T", help="Tariff index (0-99).")
@click.option("--krn", required=True, metavar="K", help="Key revision number (1-9).")
@click.option("--key-type", default="2", show_default=True, metavar="KT")
@click.option("--ken", default="255", show_default=True, metavar="N", help="Key expiry number.")
@click.option("--base-date", default="2014", show_default=True, metavar="1993|2014|2035")
@json_option
@_vending_errors
def meters_add(pan: str, account_no: str, sgc: str, ti: str, krn: str, key_type: str, ken: str, base_date: str,
               as_json: bool) -> None:
    """Register an STS meter for an account."""
    from vouchers.vending.meters import add_meter
    from voucherctl import context

    with context.sessions().begin() as s:
        view = add_meter(s, pan=pan, account_no=account_no.strip(), sgc=_int(sgc, "--sgc", 0, 999_999, 6),
                         ti=_int(ti, "--ti", 0, 99, 2), krn=_int(krn, "--krn", 1, 9, 1),
                         key_type=_int(key_type, "--key-type", 0, 3, 1), ken=_int(ken, "--ken", 0, 255, 3),
                         base_date=_int(base_date, "--base-date", 1993, 2035, 4), now=context.now(),
                         actor=_actor())
    emit(as_json, view.as_dict(), f"added meter {view.pan} for account {view.account_no}")


@meters.command("list")
@click.option("--account", "account_no", default=None, metavar="NO")
@json_option
@_vending_errors
def meters_list(account_no: str | None, as_json: bool) -> None:
    """List STS meters (optionally of one account)."""
    from vouchers.vending.meters import list_meters
    from voucherctl import context

    with context.sessions().begin() as s:
        rows = [m.as_dict() for m in list_meters(s, account_no)]

    def human() -> None:
        for m in rows:
            click.echo(f"{m['pan']}  {m['account_no']}  SGC {m['sgc']} TI {m['ti']:02d} KRN {m['krn']} "
                       f"KT {m['key_type']} KEN {m['ken']} BD {m['base_date']} EA{m['ea']} "
                       f"last TID {m['last_tid'] if m['last_tid'] is not None else '-'}"
                       f"{'' if m['active'] else '  (inactive)'}")

    emit(as_json, {"meters": rows}, human)


@meters.command("deactivate")
@click.argument("pan", metavar="METER")
@click.option("--reason", required=True, type=REASON, metavar="TEXT",
              help="Why, e.g. 'replaced by a non-keypad meter' (kept in the audit trail).")
@json_option
@_vending_errors
def meters_deactivate(pan: str, reason: str, as_json: bool) -> None:
    """Take METER out of service: no more tokens for it, and its account is billed from readings again.

    Its vend log, key change history and TID record are kept.
    """
    from vouchers.vending.meters import deactivate_meter
    from voucherctl import context

    with context.sessions().begin() as s:
        view = deactivate_meter(s, pan, reason=reason, now=context.now(), actor=_actor())
    emit(as_json, view.as_dict(), f"deactivated meter {view.pan} of account {view.account_no}: no tokens are "
                                  "vended for it, the account is billed from readings")


@meters.command("reactivate")
@click.argument("pan", metavar="METER")
@click.option("--reason", required=True, type=REASON, metavar="TEXT", help="Why (kept in the audit trail).")
@json_option
@_vending_errors
def meters_reactivate(pan: str, reason: str, as_json: bool) -> None:
    """Put a deactivated METER back in service (its account must be prepaid with no other active STS meter)."""
    from vouchers.vending.meters import reactivate_meter
    from voucherctl import context

    with context.sessions().begin() as s:
        view = reactivate_meter(s, pan, reason=reason, now=context.now(), actor=_actor())
    emit(as_json, view.as_dict(), f"reactivated meter {view.pan} of account {view.account_no}")


def _print_key_change(doc: dict[str, Any]) -> None:
    click.echo("key change tokens - enter all four, in this order, before any new credit token:")
    for n, token in enumerate(doc["tokens_grouped"], start=1):
        click.echo(f"  {n}. {token}")
    old, new = doc["old"], doc["new"]
    for name in ("sgc", "ti", "krn", "key_type", "ken", "base_date"):
        mark = "" if old[name] == new[name] else "  (changed)"
        click.echo(f"{name:<10} {old[name]} -> {new[name]}{mark}")
    click.echo(f"rollover   {'yes: the TID record restarts' if doc['rollover'] else 'no'}")


@meters.command("rekey")
@click.argument("pan", metavar="METER")
@click.option("--sgc", default=None, metavar="S", help="New supply group code (default: unchanged).")
@click.option("--ti", default=None, metavar="T", help="New tariff index (default: unchanged).")
@click.option("--krn", default=None, metavar="K", help="New key revision number (default: unchanged).")
@click.option("--key-type", default=None, metavar="KT", help="New key type (default: unchanged).")
@click.option("--ken", default=None, metavar="N", help="New key expiry number (default: unchanged).")
@click.option("--base-date", default=None, metavar="1993|2014|2035",
              help="New base date (default: unchanged); a change sets RO and restarts the TID record.")
@_key_change_receipt_option
@_lang_option
@json_option
@_vending_errors
def meters_rekey(pan: str, sgc: str | None, ti: str | None, krn: str | None, key_type: str | None,
                 ken: str | None, base_date: str | None, receipt: Path | None, lang: str, as_json: bool) -> None:
    """Key change: print the four key change tokens and move METER to the new key parameters.

    The tokens are encrypted under the meter's current key; vends after this use the new one.
    Both vending keys (current and new SGC/KRN/KT) must be in the key store.
    """
    from vouchers.vending.rekey import change_key
    from voucherctl import context

    def opt(text: str | None, option: str, low: int, high: int, digits: int) -> int | None:
        return None if text is None else _int(text, option, low, high, digits)

    values = {"sgc": opt(sgc, "--sgc", 0, 999_999, 6), "ti": opt(ti, "--ti", 0, 99, 2),
              "krn": opt(krn, "--krn", 1, 9, 1), "key_type": opt(key_type, "--key-type", 0, 3, 1),
              "ken": opt(ken, "--ken", 0, 255, 3), "base_date": opt(base_date, "--base-date", 1993, 2035, 4)}
    backend = _backend()
    with context.sessions().begin() as s:
        change = change_key(s, pan, context.now(), backend, actor=_actor(), **values)
        pdf = _key_change_pdf(change, lang) if receipt is not None else None  # a refused render changes nothing
    doc = context.local_times(change.as_dict(), change, "changed_at")
    _write_receipt(receipt, pdf, doc, what="the key change tokens were",
                   reprint="voucherctl sts reprint --key-change --receipt")
    emit(as_json, doc, lambda: _print_key_change(doc))


@sts.group("vending-key")
def vending_key() -> None:
    """Vending keys (DKGA04), sealed in the key store apart from the voucher-signing keys."""


_HEX_FILE_LIMIT = 1024  # 40 hex digits, with room for spaces and newlines
_HEX_ON_ARGV = ("voucherctl: warning: --hex put the vending key on the command line (visible in ps, "
                "/proc/*/cmdline and shell history); use --hex-file FILE or --hex-file - (stdin)")


@vending_key.command("import")
@click.option("--hex-file", "hex_file", default=None,
              type=click.File("r", encoding="ascii", errors="replace", lazy=False),
              metavar="FILE", help="Read the 20-byte vending key (40 hex digits) from FILE, or from stdin with -.")
@click.option("--hex", "hex_key", default=None, metavar="HEX",
              help="The key on the command line (deprecated: visible to other users; use --hex-file).")
@click.option("--generate", is_flag=True, help="Make a random key instead (test supply groups only).")
@click.option("--sgc", required=True, metavar="S")
@click.option("--krn", required=True, metavar="K")
@click.option("--key-type", default="2", show_default=True, metavar="KT")
@click.option("--replace", is_flag=True, help="Overwrite an existing key for the same SGC/KRN/KT.")
@json_option
@_vending_errors
def vending_key_import(hex_file: TextIO | None, hex_key: str | None, generate: bool, sgc: str, krn: str,
                       key_type: str, replace: bool, as_json: bool) -> None:
    """Seal a vending key into the key store (the key is never printed)."""
    import secrets

    from vouchers.keystore.vending_keys import VENDING_KEY_BYTES, VendingKeyId, store_vending_key
    from vouchers.sts.dkga04 import parse_hex_key
    from voucherctl import context

    if sum((hex_file is not None, hex_key is not None, generate)) != 1:
        raise CliError("give exactly one of --hex-file FILE (or - for stdin), --hex HEX or --generate")
    if generate:
        key = secrets.token_bytes(VENDING_KEY_BYTES)
    else:
        text = hex_file.read(_HEX_FILE_LIMIT + 1) if hex_file is not None else hex_key
        if text is not None and len(text) > _HEX_FILE_LIMIT:
            raise CliError(f"--hex-file: more than {_HEX_FILE_LIMIT} characters: not a vending key file")
        key = parse_hex_key(text or "", VENDING_KEY_BYTES, "vending key")
    key_id = VendingKeyId(_int(sgc, "--sgc", 0, 999_999, 6), _int(krn, "--krn", 1, 9, 1),
                          _int(key_type, "--key-type", 0, 3, 1))
    store_vending_key(context.key_store(), key_id, key, context.web_passphrase(), replace=replace)
    if hex_key is not None:  # after success, so a refusal stays one line on stderr
        click.echo(_HEX_ON_ARGV, err=True)
    emit(as_json, {**key_id.as_dict(), "generated": generate},
         f"sealed vending key SGC {key_id.sgc:06d} KRN {key_id.krn} KT {key_id.key_type}")


@vending_key.command("list")
@json_option
@_vending_errors
def vending_key_list(as_json: bool) -> None:
    """The vending keys in the key store (identifiers only)."""
    from vouchers.keystore.vending_keys import list_vending_keys
    from voucherctl import context

    keys = [k.as_dict() for k in list_vending_keys(context.key_store())]
    emit(as_json, {"keys": keys}, lambda: [click.echo(f"SGC {k['sgc']:06d} KRN {k['krn']} KT {k['key_type']}")
                                           for k in keys])


def _backend() -> Any:
    from vouchers.vending.keys import software_backend
    from voucherctl import context

    return software_backend(context.key_store(), context.web_passphrase())


def _catalog() -> Any:
    from voucherctl import context

    return context.catalog()


@sts.command("vend")
@click.option("--account", "account_no", required=True, metavar="NO")
@click.option("--amount", required=True, metavar="YUAN", help="Money paid, e.g. 100.00.")
@click.option("--channel", default="counter_cash", show_default=True, help="Payment channel the money came in by.")
@click.option("--ref", default=None, metavar="REF",
              help="The payment's reference (default: generated). The same channel + ref again reprints the "
                   "token of the first time instead of vending twice.")
@click.option("--meter", "pan", default=None, metavar="PAN", help="Check that this is the account's meter.")
@_receipt_option
@_lang_option
@json_option
@_vending_errors
def vend_cmd(account_no: str, amount: str, channel: str, ref: str | None, pan: str | None, receipt: Path | None,
             lang: str, as_json: bool) -> None:
    """Counter sale: book the payment, vend its credit as a token and book the energy sold, in one transaction.

    The books: Dr clearing / Cr customer_prepaid (the payment), then Dr customer_prepaid / Cr
    revenue:electricity (the energy sale). The same flow as every payment
    (:func:`vouchers.services.money_in.pay`), with a token required.
    """
    import secrets

    from vouchers.errors import InvalidMoney
    from vouchers.money import format_amount, parse_positive_amount
    from vouchers.services import money_in
    from vouchers.services.errors import NothingToVend
    from voucherctl import context

    try:
        amount_minor = parse_positive_amount(amount.strip())
    except InvalidMoney as e:
        raise CliError(f"--amount: {e}") from e
    at = context.now()
    reference = ref or f"STS{at:%Y%m%d%H%M%S}{secrets.token_hex(3).upper()}"
    deps = context.services()
    payment = money_in.ChannelPayment(channel, account_no.strip(), amount_minor, reference, at)
    try:
        with context.sessions().begin() as s:
            paid = money_in.pay(s, payment, now=at, deps=deps, actor=_actor(), meter_pan=pan, token_required=True)
            assert paid.vend is not None and paid.vend.result is not None  # token_required
            result = paid.vend.result
            pdf = _receipt_pdf(s, result, lang, deps.catalog) if receipt is not None else None
    except NothingToVend as e:
        raise CliError(f"{e} (nothing booked)") from e
    doc = {**_vend_doc(result), "payment_id": str(paid.booking.payment_id), "external_ref": reference,
           "applied_to_arrears": format_amount(paid.booking.applied_to_arrears)}
    _write_receipt(receipt, pdf, doc)
    emit(as_json, doc, lambda: _print_vend(doc))


@sts.command("reprint")
@click.option("--meter", "pan", required=True, metavar="PAN")
@click.option("--key-change", is_flag=True,
              help="The meter's last key change tokens instead (derived again from the key change record); "
                   "with --receipt, their key change receipt.")
@_receipt_option
@_lang_option
@json_option
@_vending_errors
def reprint_cmd(pan: str, key_change: bool, receipt: Path | None, lang: str, as_json: bool) -> None:
    """The meter's last token again (a meter accepts each TID once, so this cannot add credit)."""
    from vouchers.vending.service import reprint_last
    from voucherctl import context

    if key_change:
        from vouchers.vending.rekey import reprint_key_change

        backend = _backend()
        with context.sessions().begin() as s:
            change = reprint_key_change(s, pan, context.now(), backend, actor=_actor())
            pdf = _key_change_pdf(change, lang) if receipt is not None else None
        doc = context.local_times(change.as_dict(), change, "changed_at")
        _write_receipt(receipt, pdf, doc, what="the key change tokens were",
                   reprint="voucherctl sts reprint --key-change --receipt")
        emit(as_json, doc, lambda: _print_key_change(doc))
        return
    with context.sessions().begin() as s:
        result = reprint_last(s, pan, now=context.now(), actor=_actor())
        pdf = _receipt_pdf(s, result, lang, _catalog()) if receipt is not None else None
    doc = _vend_doc(result)
    _write_receipt(receipt, pdf, doc)
    emit(as_json, doc, lambda: _print_vend(doc))


@sts.command("engineering")
@click.option("--meter", "pan", required=True, metavar="PAN")
@click.option("--kind", required=True, type=click.Choice(["clear-credit", "clear-tamper", "max-power"]))
@click.option("--watts", default=None, metavar="N", help="max-power: the limit in watts (rounded up).")
@json_option
@_vending_errors
def engineering_cmd(pan: str, kind: str, watts: str | None, as_json: bool) -> None:
    """Class 2 engineering tokens, through the same TID record and vend log as credit."""
    from vouchers.vending.service import vend_engineering
    from voucherctl import context

    if (kind == "max-power") != (watts is not None):
        raise CliError("--watts is required for max-power and not allowed otherwise")
    limit = None if watts is None else _int(watts, "--watts", 0, 18_201_624, 8)
    backend = _backend()
    with context.sessions().begin() as s:
        doc = _vend_doc(vend_engineering(s, pan, kind.replace("-", "_"), context.now(), backend, watts=limit,
                                         actor=_actor()))
    emit(as_json, doc, lambda: _print_vend(doc))

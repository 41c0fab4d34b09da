"""Message text from an outbox row's kind and JSON payload, in Chinese (default) or English.

Amounts arrive as decimal strings (``"100.00"``) and are turned into integer
fen before formatting: no float ever touches money. STS tokens are shown in
five groups of four digits, as the customer types them on the keypad.
"""
from __future__ import annotations

import datetime as dt
import json
import zoneinfo
from collections.abc import Callable, Mapping

from vouchers.notify.errors import RenderError
from vouchers.errors import InvalidMoney
from vouchers.money import parse_amount

LANGS = ("zh", "en")
DEFAULT_TZ = zoneinfo.ZoneInfo("Asia/Shanghai")


def to_fen(value: object) -> int:
    """``"100.00"`` / ``"-3.5"`` / an int of fen -> integer fen (a float is refused)."""
    if isinstance(value, bool) or isinstance(value, float):
        raise RenderError(f"amount must be a decimal string, not {type(value).__name__}")
    if isinstance(value, int):
        return value
    if not isinstance(value, str):
        raise RenderError("amount missing")
    text = value.strip()
    sign = -1 if text.startswith("-") else 1
    try:
        return sign * parse_amount(text[1:] if sign < 0 else text)
    except InvalidMoney as e:
        raise RenderError("invalid amount in payload") from e


def format_money(fen: int, lang: str, currency: str = "CNY") -> str:
    """``123456 -> "1,234.56元"`` (zh) / ``"CNY 1,234.56"`` (en)."""
    if isinstance(fen, bool) or not isinstance(fen, int):
        raise RenderError("money must be integer fen")
    whole, frac = divmod(abs(fen), 100)
    number = f"{'-' if fen < 0 else ''}{whole:,}.{frac:02d}"
    if lang == "zh":
        return f"{number}元" if currency == "CNY" else f"{number} {currency}"
    return f"{currency} {number}"


def group_token(token: object) -> str:
    """A 20-digit STS token as ``1234 5678 9012 3456 7890`` (spaces and dashes in the input are ignored)."""
    digits = "".join(ch for ch in str(token) if ch not in " -")
    if len(digits) != 20 or not digits.isascii() or not digits.isdigit():
        raise RenderError("STS token must have 20 digits")
    return " ".join(digits[i:i + 4] for i in range(0, 20, 4))


def _local(value: object, tz: dt.tzinfo) -> str:
    try:
        moment = dt.datetime.fromisoformat(str(value))
    except ValueError as e:
        raise RenderError("invalid time in payload") from e
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def _money(p: Mapping[str, object], field: str, lang: str) -> str:
    if field not in p:
        raise RenderError(f"payload lacks {field}")
    return format_money(to_fen(p[field]), lang, str(p.get("currency") or "CNY"))


def _sts_line(p: Mapping[str, object], lang: str) -> str:
    sts = p.get("sts")
    if not isinstance(sts, Mapping) or not sts.get("token"):
        return ""
    token = group_token(sts["token"])
    kwh = sts.get("kwh")
    if lang == "zh":
        return f"电表充值码：{token}" + (f"（{kwh}度）" if kwh else "") + "，请在电表键盘输入。"
    return f" Meter token: {token}" + (f" ({kwh} kWh)" if kwh else "") + ", enter it on the meter keypad."


def _voucher_redeemed(p: Mapping[str, object], lang: str, tz: dt.tzinfo) -> str:
    acct = p.get("account_no", "")
    if lang == "zh":
        return (f"【电费充值】户号{acct}充值卡{p.get('serial', '')}已充值{_money(p, 'amount', lang)}，"
                f"抵扣欠费{_money(p, 'applied_to_arrears', lang)}，当前余额{_money(p, 'balance', lang)}。"
                + _sts_line(p, lang))
    return (f"[Electricity] Voucher {p.get('serial', '')} redeemed onto account {acct}: "
            f"{_money(p, 'amount', lang)}, {_money(p, 'applied_to_arrears', lang)} paid arrears, "
            f"balance {_money(p, 'balance', lang)}." + _sts_line(p, lang))


def _sts_token(p: Mapping[str, object], lang: str, tz: dt.tzinfo) -> str:
    line = _sts_line(p, lang)
    if not line:
        raise RenderError("payload lacks the STS token")
    if lang == "zh":
        return f"【电费充值】您已缴费{_money(p, 'amount', lang)}。" + line
    return f"[Electricity] Payment of {_money(p, 'amount', lang)} received." + line


def _low_balance(p: Mapping[str, object], lang: str, tz: dt.tzinfo) -> str:
    acct = p.get("account_no", "")
    if lang == "zh":
        return (f"【电费提醒】户号{acct}可用余额{_money(p, 'available_balance', lang)}，"
                f"已低于{_money(p, 'threshold', lang)}，请及时充值。")
    return (f"[Electricity] Account {acct}: available balance {_money(p, 'available_balance', lang)} is below "
            f"{_money(p, 'threshold', lang)}. Please recharge soon.")


def _zero_balance(p: Mapping[str, object], lang: str, tz: dt.tzinfo) -> str:
    acct = p.get("account_no", "")
    when = _local(p.get("disconnect_at"), tz)
    if lang == "zh":
        return (f"【停电通知】户号{acct}可用余额{_money(p, 'available_balance', lang)}，"
                f"如未充值，将于{when}停止供电。")
    return (f"[Electricity] Account {acct}: available balance {_money(p, 'available_balance', lang)}. "
            f"Supply will be disconnected at {when} unless you recharge.")


def _supply_restored(p: Mapping[str, object], lang: str, tz: dt.tzinfo) -> str:
    acct = p.get("account_no", "")
    if lang == "zh":
        return f"【复电通知】户号{acct}余额{_money(p, 'available_balance', lang)}，已安排恢复供电。"
    return (f"[Electricity] Account {acct}: balance {_money(p, 'available_balance', lang)}; "
            "supply is being restored.")


def _topup_redeemed(p: Mapping[str, object], lang: str, tz: dt.tzinfo) -> str:
    """The reply to an SMS top-up that redeemed: whose account (masked), how much, the balance. Never the code."""
    acct, holder = p.get("account_no", ""), p.get("holder_masked", "")
    if lang == "zh":
        return (f"【短信缴费】已为户号{acct}（户主{holder}）充值{_money(p, 'amount', lang)}，"
                f"当前余额{_money(p, 'balance', lang)}。" + _sts_line(p, lang))
    return (f"[Electricity] {_money(p, 'amount', lang)} added to account {acct} (holder {holder}); "
            f"balance {_money(p, 'balance', lang)}." + _sts_line(p, lang))


def _hotline(p: Mapping[str, object]) -> str:
    """The utility's hotline as the reply was queued with (its branding); the neutral placeholder if absent."""
    hotline = p.get("hotline")
    return hotline if isinstance(hotline, str) and hotline.strip() else "00000"


def _topup_refused(p: Mapping[str, object], lang: str, tz: dt.tzinfo) -> str:
    """One text for every refusal (unknown account, bad or used code, too many attempts): no oracle."""
    if lang == "zh":
        return f"【短信缴费】充值未成功，请核对户号和卡密后重试，或拨打客服热线{_hotline(p)}。"
    return ("[Electricity] The top-up did not go through. Check the account number and the code and try again, "
            f"or call customer service: {_hotline(p)}.")


def _topup_held(p: Mapping[str, object], lang: str, tz: dt.tzinfo) -> str:
    """A top-up held for fraud review: nothing is credited yet; staff release or refuse it."""
    acct = p.get("account_no", "")
    if lang == "zh":
        return (f"【短信缴费】户号{acct}的充值正在审核中，审核通过后到账，无需重复发送。"
                f"如有疑问请拨打客服热线{_hotline(p)}。")
    return (f"[Electricity] The top-up for account {acct} is under review and will be credited once it is "
            f"approved; do not send it again. Questions: call customer service {_hotline(p)}.")


def _topup_help(p: Mapping[str, object], lang: str, tz: dt.tzinfo) -> str:
    if lang == "zh":
        return ("【短信缴费】请发送：CZ 户号 20位卡密，例如 CZ 3300012345 1234 5678 9012 3456 7890。"
                f"客服热线{_hotline(p)}")
    return ("[Electricity] To top up, send: CZ <account number> <20-digit code>, "
            f"e.g. CZ 3300012345 1234 5678 9012 3456 7890. Hotline {_hotline(p)}")


_Renderer = Callable[[Mapping[str, object], str, dt.tzinfo], str]
# by the payload's "template" if it has one, else by the row's kind
TEMPLATES: dict[str, _Renderer] = {
    "voucher_redeemed": _voucher_redeemed,
    "sts_token": _sts_token,
    "low_balance_warning": _low_balance,
    "zero_balance_notice": _zero_balance,
    "supply_restored": _supply_restored,
    "topup_redeemed": _topup_redeemed,
    "topup_refused": _topup_refused,
    "topup_held": _topup_held,
    "topup_help": _topup_help,
}


def render(kind: str, payload: str | Mapping[str, object], *, lang: str = "zh", tz: dt.tzinfo = DEFAULT_TZ) -> str:
    """The SMS text of one outbox row; :class:`RenderError` if it can never be rendered."""
    if lang not in LANGS:
        raise RenderError(f"unknown language {lang!r}: use zh or en")
    if isinstance(payload, str):
        try:
            payload = json.loads(payload)
        except ValueError as e:
            raise RenderError("payload is not JSON") from e
    if not isinstance(payload, Mapping):
        raise RenderError("payload is not a JSON object")
    name = str(payload.get("template") or kind.removeprefix("sms."))
    template = TEMPLATES.get(name)
    if template is None:
        raise RenderError(f"no template for {kind!r}")
    return template(payload, lang, tz)

"""The chart of accounts: codes, kinds and normal sides.

An account code is a class name, optionally followed by ``:`` and a key
(channel, distributor id, customer account number). Stored balances are
``debits - credits``; :func:`normal_balance` flips credit-normal accounts so
a liability of 100.00 reads as +100.00.
"""
from __future__ import annotations

import re

from vouchers.books.errors import InvalidAccountCode

BANK = "bank"
VOUCHER_LIABILITY = "voucher_liability"
REVENUE = "revenue:electricity"
BREAKAGE = "income:breakage"
COMMISSION = "expense:commission"
CHANNEL_FEES = "expense:channel_fees"  # what a payment channel keeps of the money it collected (Alipay 服务费)
HELD_FUNDS = "liability:held_funds"  # money a fraud rule held for review: neither the card's nor the customer's yet

# class -> (kind, needs a key, description)
CLASSES: dict[str, tuple[str, bool, str]] = {
    "bank": ("asset", False, "money in the utility's bank accounts"),
    "clearing": ("asset", True, "money a payment channel owes us until it settles"),
    "distributor": ("asset", True, "what a distributor owes for cards it sold"),
    "customer_arrears": ("asset", True, "unpaid electricity bills of one customer"),
    "voucher_liability": ("liability", False, "activated, unredeemed, unexpired cards"),
    "customer_prepaid": ("liability", True, "prepaid electricity balance of one customer"),
    "liability": ("liability", True, "other liabilities (funds held for fraud review)"),
    "revenue": ("income", True, "billed electricity"),
    "income": ("income", True, "other income (breakage of expired cards)"),
    "expense": ("expense", True, "expenses (distributor commission, payment channel fees)"),
}
NORMAL_SIGN = {"asset": 1, "expense": 1, "liability": -1, "income": -1}
_KEY = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


def split(code: str) -> tuple[str, str | None]:
    if not isinstance(code, str):
        raise InvalidAccountCode(f"account code must be text, not {type(code).__name__}")
    name, sep, key = code.partition(":")
    if name not in CLASSES:
        raise InvalidAccountCode(f"unknown account class in {code!r}")
    needs_key = CLASSES[name][1]
    if needs_key and (not sep or not _KEY.match(key)):
        raise InvalidAccountCode(f"account {code!r} needs a key like {name}:<id> (letters, digits, _ . -)")
    if not needs_key and sep:
        raise InvalidAccountCode(f"account {name!r} takes no key")
    return name, (key if sep else None)


def validate(code: str) -> str:
    split(code)
    return code


# Accounts every writer of one kind shares (one row for all redemptions, one per
# channel...). Their balance rows are moved only at commit time
# (storage.commit_hooks) so concurrent writers do not queue behind each other
# for a whole transaction; per-party accounts (customers, distributors) are
# locked up front.
SHARED_CLASSES = frozenset({"bank", "clearing", "voucher_liability", "liability", "revenue", "income", "expense"})


def is_shared(code: str) -> bool:
    return class_of(code) in SHARED_CLASSES


def kind_of(code: str) -> str:
    return CLASSES[split(code)[0]][0]


def class_of(code: str) -> str:
    return split(code)[0]


def normal_balance(code: str, stored_balance: int) -> int:
    """The balance on the account's normal side (liabilities and income positive when credit)."""
    return NORMAL_SIGN[kind_of(code)] * stored_balance


def clearing(channel: str) -> str:
    return validate(f"clearing:{channel}")


def distributor(distributor_id: str) -> str:
    return validate(f"distributor:{distributor_id}")


def customer_arrears(account_no: str) -> str:
    return validate(f"customer_arrears:{account_no}")


def customer_prepaid(account_no: str) -> str:
    return validate(f"customer_prepaid:{account_no}")

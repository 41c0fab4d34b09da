"""Tables of STS vending (issue 8): keypad meters, their TID record, the vend log.

- ``sts_meters``: one row per STS keypad meter, keyed by its 18-digit PAN
  (IIN + DRN + Luhn check digit), with the key parameters DKGA04 needs (SGC,
  TI, KRN, key type, KEN, base date) and the encryption algorithm (EA 11). The
  meter belongs to a billed account (``metering_accounts``); an account has at
  most one *active* STS meter (checked by :mod:`vouchers.vending.meters`).
- ``last_tid`` on the meter row is the per-meter TID record: the last TID
  issued. It is advanced by one atomic ``UPDATE`` to ``max(now, last + 1)``,
  so two tokens for one meter never share a TID and TIDs never decrease; a
  unique (pan, tid) key on the vend log is the second line of defence.
- ``sts_vends``: every token issued (credit and engineering). The digits are
  stored (``token``) so the last token can be reprinted: a credit token is
  only usable on this one meter, once (the meter refuses a TID it has seen),
  so it is a receipt, not a bearer secret like a voucher code.

- ``sts_key_changes`` (migration 0006): the history of a meter's key
  parameters. Each key change keeps the old and the new SGC/TI/KRN/KT/KEN/base
  date; the meter row holds only the current ones. The key change tokens are
  *not* stored: they carry the new decoder key (encrypted under the old one)
  and are deterministic, so a reprint derives them again from this row.

Vending keys are not in the database: they are sealed in the key store
(:mod:`vouchers.keystore.vending_keys`).
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from vouchers.storage.db import Base
from vouchers.storage.types import UTCDateTime

BigId = BigInteger().with_variant(Integer(), "sqlite")

VEND_KINDS = ("credit", "clear_credit", "clear_tamper", "max_power")


class StsMeter(Base):
    """An STS keypad meter and its key parameters."""

    __tablename__ = "sts_meters"
    pan: Mapped[str] = mapped_column(String(18), primary_key=True)
    account_no: Mapped[str] = mapped_column(String(32), ForeignKey("metering_accounts.account_no"))
    sgc: Mapped[int] = mapped_column(Integer)
    ti: Mapped[int] = mapped_column(Integer)
    krn: Mapped[int] = mapped_column(Integer)
    key_type: Mapped[int] = mapped_column(Integer)
    ken: Mapped[int] = mapped_column(Integer)
    base_date: Mapped[int] = mapped_column(Integer)  # 1993, 2014 or 2035
    ea: Mapped[int] = mapped_column(Integer, default=11)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    last_tid: Mapped[int | None] = mapped_column(Integer)  # the per-meter TID record
    last_tid_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    # taken out of service (None while active): readings up to that local day were paid for by tokens
    deactivated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    __table_args__ = (
        CheckConstraint("sgc >= 0 AND sgc <= 999999", name="ck_sts_meters_sgc"),
        CheckConstraint("ti >= 0 AND ti <= 99", name="ck_sts_meters_ti"),
        CheckConstraint("krn >= 1 AND krn <= 9", name="ck_sts_meters_krn"),
        CheckConstraint("key_type >= 0 AND key_type <= 3", name="ck_sts_meters_key_type"),
        CheckConstraint("ken >= 0 AND ken <= 255", name="ck_sts_meters_ken"),
        CheckConstraint("base_date IN (1993, 2014, 2035)", name="ck_sts_meters_base_date"),
        CheckConstraint("ea = 11", name="ck_sts_meters_ea"),
        CheckConstraint("last_tid IS NULL OR (last_tid >= 0 AND last_tid <= 16777215)", name="ck_sts_meters_tid"),
        Index("ix_sts_meters_account", "account_no", "active"),
    )


class StsVend(Base):
    """One token issued for one meter (the vend log)."""

    __tablename__ = "sts_vends"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    pan: Mapped[str] = mapped_column(String(18), ForeignKey("sts_meters.pan"))
    account_no: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))
    token_class: Mapped[int] = mapped_column(Integer)
    subclass: Mapped[int] = mapped_column(Integer)
    tid: Mapped[int] = mapped_column(Integer)
    token: Mapped[str] = mapped_column(String(20))  # kept for reprints (see the module docstring)
    amount_minor: Mapped[int | None] = mapped_column(BigInteger)  # money the credit was bought with
    units: Mapped[int | None] = mapped_column(BigInteger)  # 0.1 kWh the meter credits (or watts for max_power)
    tariff_kwh: Mapped[str | None] = mapped_column(String(40))  # kWh the tariff gave, exact decimal text
    source: Mapped[str] = mapped_column(String(32))  # redemption | payment | cli | engineering
    source_ref: Mapped[str | None] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(100))
    reprints: Mapped[int] = mapped_column(Integer, default=0)
    vended_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    # the energy sale (Dr customer_prepaid, Cr revenue) booked with a credit vend (migration 0006)
    ledger_transaction_id: Mapped[int | None] = mapped_column(BigInteger)
    __table_args__ = (
        UniqueConstraint("pan", "tid", name="uq_sts_vends_pan_tid"),
        UniqueConstraint("source", "source_ref", name="uq_sts_vends_source_ref"),
        CheckConstraint(f"kind IN {VEND_KINDS!r}", name="ck_sts_vends_kind"),
        Index("ix_sts_vends_pan", "pan", "id"),
        Index("ix_sts_vends_account", "account_no", "id"),
    )


class StsKeyChange(Base):
    """One key change of one meter: the parameters before and after (the history of the meter record)."""

    __tablename__ = "sts_key_changes"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    pan: Mapped[str] = mapped_column(String(18), ForeignKey("sts_meters.pan"))
    account_no: Mapped[str] = mapped_column(String(32))
    old_sgc: Mapped[int] = mapped_column(Integer)
    old_ti: Mapped[int] = mapped_column(Integer)
    old_krn: Mapped[int] = mapped_column(Integer)
    old_key_type: Mapped[int] = mapped_column(Integer)
    old_ken: Mapped[int] = mapped_column(Integer)
    old_base_date: Mapped[int] = mapped_column(Integer)
    new_sgc: Mapped[int] = mapped_column(Integer)
    new_ti: Mapped[int] = mapped_column(Integer)
    new_krn: Mapped[int] = mapped_column(Integer)
    new_key_type: Mapped[int] = mapped_column(Integer)
    new_ken: Mapped[int] = mapped_column(Integer)
    new_base_date: Mapped[int] = mapped_column(Integer)
    rollover: Mapped[bool] = mapped_column(Boolean)  # RO: the base date changed, the TID record restarted
    last_tid_before: Mapped[int | None] = mapped_column(Integer)  # the TID record under the old key
    actor: Mapped[str] = mapped_column(String(100))
    reprints: Mapped[int] = mapped_column(Integer, default=0)
    changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    __table_args__ = (
        Index("ix_sts_key_changes_pan", "pan", "id"),
    )

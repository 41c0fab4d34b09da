"""STS prepaid-meter tokens (IEC 62055-41) with DKGA04 keys and EA11 (MISTY1) encryption.

Pure: no database, no network, no clock (callers pass times and TIDs in). Modules:
``misty1`` (cipher), ``dkga04`` (decoder keys), ``tid``, ``amount``, ``crc``,
``token_data`` and ``transposition`` (token layout), ``encoder``/``decoder`` and
``backend`` (the vending port). See docs/sts.md for what the test vectors verify.
"""
from __future__ import annotations

from vouchers.sts.backend import (
    ClearCreditRequest,
    ClearTamperRequest,
    CreditRequest,
    SetMaximumPhasePowerUnbalanceLimitRequest,
    SetMaximumPowerLimitRequest,
    SoftwareVendingBackend,
    VendedToken,
    VendingBackend,
)
from vouchers.sts.decoder import DecodedToken, decode_token
from vouchers.sts.dkga04 import MeterKeyParams, derive_decoder_key
from vouchers.sts.encoder import EncodedToken
from vouchers.sts.errors import StsError
from vouchers.sts.pan import MeterPan
from vouchers.sts.tid import BaseDate, next_tid, tid_at

__all__ = [
    "BaseDate",
    "ClearCreditRequest",
    "ClearTamperRequest",
    "CreditRequest",
    "DecodedToken",
    "EncodedToken",
    "MeterKeyParams",
    "MeterPan",
    "SetMaximumPhasePowerUnbalanceLimitRequest",
    "SetMaximumPowerLimitRequest",
    "SoftwareVendingBackend",
    "StsError",
    "VendedToken",
    "VendingBackend",
    "decode_token",
    "derive_decoder_key",
    "next_tid",
    "tid_at",
]

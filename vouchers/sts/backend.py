"""The vending port: a ``VendingBackend`` turns meter parameters and a request into tokens.

Vending keys never leave the backend. :class:`SoftwareVendingBackend` derives
decoder keys in process (DKGA04 + EA11); an HSM or a licensed STS engine can take
its place by implementing the same three methods. Callers choose the TID (see
:func:`vouchers.sts.tid.next_tid`) and keep the last TID per meter; the backend refuses a
TID the meter's KEN would reject.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol, Union, runtime_checkable

from vouchers.sts import encoder
from vouchers.sts.decoder import DecodedToken, decode_token
from vouchers.sts.dkga04 import MeterKeyParams, derive_decoder_key
from vouchers.sts.errors import InvalidField
from vouchers.sts.token_data import REGISTER_ALL, CreditSubclass
from vouchers.sts.tid import check_ken, check_tid
from vouchers.sts.transposition import group_digits


@dataclass(frozen=True, slots=True)
class VendedToken:
    """A token as handed to a customer: the digits and what they are."""

    digits: str = field(repr=False)  # kept out of repr so a logged object does not leak it
    token_class: int
    subclass: int
    tid: int | None

    @property
    def grouped(self) -> str:
        return group_digits(self.digits)


@dataclass(frozen=True, slots=True)
class CreditRequest:
    """Class 0 credit of ``units`` transfer units (0.1 kWh for electricity), rounded up."""

    units: int
    subclass: int = CreditSubclass.ELECTRICITY


@dataclass(frozen=True, slots=True)
class SetMaximumPowerLimitRequest:
    watts: int


@dataclass(frozen=True, slots=True)
class SetMaximumPhasePowerUnbalanceLimitRequest:
    watts: int


@dataclass(frozen=True, slots=True)
class ClearCreditRequest:
    register: int = REGISTER_ALL


@dataclass(frozen=True, slots=True)
class ClearTamperRequest:
    pass


TokenRequest = Union[
    CreditRequest, SetMaximumPowerLimitRequest, SetMaximumPhasePowerUnbalanceLimitRequest,
    ClearCreditRequest, ClearTamperRequest,
]


@runtime_checkable
class VendingBackend(Protocol):
    """Anything that can vend STS tokens for a meter without exposing vending keys."""

    def vend(self, meter: MeterKeyParams, request: TokenRequest, *, tid: int, rnd: int | None = None) -> VendedToken:
        """One TID token (credit or engineering) for ``meter``."""
        ...

    def vend_key_change(self, current: MeterKeyParams, new: MeterKeyParams,
                        ) -> tuple[VendedToken, VendedToken, VendedToken, VendedToken]:
        """The four key change tokens moving the meter from ``current`` to ``new``."""
        ...

    def decode(self, meter: MeterKeyParams, token: str) -> DecodedToken:
        """Decode a token for ``meter`` (customer service, audits)."""
        ...


VendingKeyLookup = Callable[[MeterKeyParams], bytes]


class UrandomNibbles:
    """Random 4-bit values from ``os.urandom``, read 512 bytes at a time (two nibbles a byte).

    Same source as :mod:`secrets`, without one system call per token.
    """

    def __init__(self) -> None:
        self._pool: Iterator[int] = iter(())

    def __call__(self) -> int:
        for nibble in self._pool:
            return nibble
        self._pool = iter([n for byte in os.urandom(512) for n in (byte >> 4, byte & 0xF)])
        return next(self._pool)


class SoftwareVendingBackend:
    """In-process DKGA04 + MISTY1 vending.

    ``vending_key_for`` maps meter parameters (SGC, KRN, key type...) to the 20-byte
    vending key; ``random_nibble`` supplies RND when the caller gives none.
    """

    def __init__(self, vending_key_for: VendingKeyLookup, *,
                 random_nibble: Callable[[], int] | None = None) -> None:
        self._vending_key_for = vending_key_for
        self._random_nibble = random_nibble or UrandomNibbles()

    @classmethod
    def single_key(cls, vending_key: bytes, **kwargs: Callable[[], int]) -> SoftwareVendingBackend:
        """A backend with one vending key for every meter."""
        key = bytes(vending_key)
        return cls(lambda _meter: key, **kwargs)

    def _decoder_key(self, meter: MeterKeyParams) -> bytes:
        return derive_decoder_key(self._vending_key_for(meter), meter)

    def vend(self, meter: MeterKeyParams, request: TokenRequest, *, tid: int, rnd: int | None = None) -> VendedToken:
        check_ken(check_tid(tid), meter.ken)
        nibble = self._random_nibble() if rnd is None else rnd
        key = self._decoder_key(meter)
        if isinstance(request, CreditRequest):
            token = encoder.credit_token(key, subclass=request.subclass, rnd=nibble, tid=tid, units=request.units)
        elif isinstance(request, ClearCreditRequest):
            token = encoder.clear_credit_token(key, rnd=nibble, tid=tid, register=request.register)
        elif isinstance(request, ClearTamperRequest):
            token = encoder.clear_tamper_token(key, rnd=nibble, tid=tid)
        elif isinstance(request, SetMaximumPowerLimitRequest):
            token = encoder.set_maximum_power_limit_token(key, rnd=nibble, tid=tid, watts=request.watts)
        elif isinstance(request, SetMaximumPhasePowerUnbalanceLimitRequest):
            token = encoder.set_maximum_phase_power_unbalance_limit_token(key, rnd=nibble, tid=tid,
                                                                          watts=request.watts)
        else:
            raise InvalidField(f"unknown token request {type(request).__name__}")
        return VendedToken(token.digits, token.token_class, token.subclass, tid)

    def vend_key_change(self, current: MeterKeyParams, new: MeterKeyParams,
                        ) -> tuple[VendedToken, VendedToken, VendedToken, VendedToken]:
        """Encrypted under the current key; RO is set when the base date changes."""
        if current.pan != new.pan:
            raise InvalidField("a key change keeps the meter PAN")
        tokens = encoder.key_change_tokens(self._decoder_key(current), self._decoder_key(new), new,
                                           rollover=new.base_date != current.base_date)
        return tuple(  # type: ignore[return-value]
            VendedToken(t.digits, t.token_class, t.subclass, None) for t in tokens
        )

    def decode(self, meter: MeterKeyParams, token: str) -> DecodedToken:
        return decode_token(token, self._decoder_key(meter))

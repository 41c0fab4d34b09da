"""A :class:`vouchers.sts.VendingBackend` over the key store's sealed vending keys."""
from __future__ import annotations

from vouchers.keystore.errors import KeyNotFound
from vouchers.keystore.store import KeyStore
from vouchers.keystore.vending_keys import VendingKeyId, VendingKeyRing, list_vending_keys
from vouchers.sts.backend import SoftwareVendingBackend
from vouchers.sts.dkga04 import MeterKeyParams
from vouchers.vending.errors import NoVendingKey, WrongKeyRevision


def key_lookup(ring: VendingKeyRing):  # type: ignore[no-untyped-def]
    """Meter parameters -> vending key, with clear refusals for a missing key or a wrong KRN."""

    def lookup(meter: MeterKeyParams) -> bytes:
        key_id = VendingKeyId(meter.sgc, meter.krn, meter.key_type)
        try:
            return ring.key(key_id)
        except KeyNotFound:
            others = sorted(k.krn for k in ring.available()
                            if k.sgc == meter.sgc and k.key_type == meter.key_type)
            if others:
                raise WrongKeyRevision(
                    f"the meter is on key revision {meter.krn} of SGC {meter.sgc:06d}, but the key store holds "
                    f"revision(s) {', '.join(map(str, others))} only: import the right vending key or "
                    "correct the meter record", key=(meter.sgc, meter.krn, meter.key_type), held=tuple(others),
                ) from None
            raise NoVendingKey(f"no vending key for SGC {meter.sgc:06d} (KRN {meter.krn}, key type "
                               f"{meter.key_type}): import it with `voucherctl sts vending-key import`") from None

    return lookup


def software_backend(store: KeyStore, passphrase: str) -> SoftwareVendingBackend:
    """The in-process backend; vending keys are unsealed (web secret ``passphrase``) on first use and cached."""
    return backend_for(VendingKeyRing(store, passphrase))


def backend_for(ring: VendingKeyRing) -> SoftwareVendingBackend:
    """The in-process backend over a ring the caller opened (the web: ``WebKeys.vending_keys()``)."""
    return SoftwareVendingBackend(key_lookup(ring))


def has_vending_keys(store: KeyStore) -> bool:
    return bool(list_vending_keys(store))

"""The key store under VOUCHER_HOME: public key ring, sealed secrets, split by trust.

The issuer's passphrase seals signing keys, the card-store identity and the
audit-checkpoint key; the web secret seals the code-hash pepper and vending
keys, and the web process opens the store only as :class:`vouchers.keystore.web_keys.WebKeys`.
"""

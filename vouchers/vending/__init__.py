"""STS vending on top of the books and the tariffs (issue 8).

:mod:`vouchers.vending.meters` keeps STS meter records (PAN, SGC, TI, KRN, KT, KEN,
base date, EA) and their TID record; :mod:`vouchers.vending.service` turns money into
kWh with the account's tariff and then into a token (credit), issues
engineering tokens and reprints; :mod:`vouchers.vending.keys` builds the software
backend over the key store's sealed vending keys. Services take a session,
plain values and ``now``, and vend inside the caller's transaction. See
docs/sts.md.
"""

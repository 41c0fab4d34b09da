"""The pure voucher core: codes, serials, money, claims, signed tokens, lifecycle.

Nothing here touches a database, the network, Flask or a clock: callers pass
``now`` and keys in.
"""

"""Staff accounts: who may work in the console and the CLI, and how they prove it.

Passwords (Argon2id, NIST SP 800-63B rules), TOTP second factor (RFC 6238),
roles, server-side sessions. The use cases that combine these with throttling
and the audit chain live in :mod:`vouchers.services.staff`.
"""

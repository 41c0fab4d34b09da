"""The key store under VOUCHER_HOME: public key ring, sealed secrets.

Shared by the issuer (which also unseals signing keys) and the web process
(which needs only the public ring and the code-hash pepper).
"""

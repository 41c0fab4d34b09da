"""The web process: Flask app with auth, redemption, payments, stock, customer page, OpenAPI.

Build it with :func:`redeem_api.app.create_app`. It never imports ``issuer``:
the web process holds the public keys and the code-hash pepper, never a
signing key.
"""

"""Customer notifications (SMS): render outbox rows and deliver them through a gateway.

Used by the CLI (``voucherctl outbox``); the web app never needs it.
"""

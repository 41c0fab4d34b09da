"""The ``voucherctl`` command line. Nothing imports this package."""

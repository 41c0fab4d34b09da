from voucherctl.main import entry

entry()

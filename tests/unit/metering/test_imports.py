"""metering imports only the core, tariffs, storage and the books (docs/architecture.md, package direction)."""
from __future__ import annotations

from tests.unit.test_architecture import ROOT, _imports

ALLOWED = {"vouchers", "tariffs", "storage", "ledger", "metering"}
OURS = {"vouchers", "issuer", "keystore", "storage", "print_templates", "redeem_api", "ledger", "voucherctl",
        "tariffs", "sts", "metering"}


def test_metering_imports_only_what_it_may() -> None:
    violations = []
    for path in (ROOT / "metering").rglob("*.py"):
        bad = (_imports(path) & OURS) - ALLOWED
        if bad:
            violations.append(f"{path.relative_to(ROOT)} imports {sorted(bad)}")
    assert violations == []


def test_only_the_cli_and_the_web_app_import_metering() -> None:
    violations = []
    for package in OURS - {"metering", "voucherctl", "redeem_api"}:
        for path in (ROOT / package).rglob("*.py"):
            if "metering" in _imports(path):
                violations.append(str(path.relative_to(ROOT)))
    assert violations == []

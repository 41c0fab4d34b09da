"""metering imports only the core, tariffs, storage and the books (docs/architecture.md, package direction)."""
from __future__ import annotations

from tests.unit.test_architecture import ROOT, arrows, our_files, unit_of_path


def test_metering_imports_only_what_it_may() -> None:
    allowed = {"core", "vouchers.tariffs", "vouchers.storage", "vouchers.books"}
    violations = [f"{p.relative_to(ROOT)} imports {sorted(arrows(p) - allowed)}"
                  for p in (ROOT / "vouchers" / "metering").rglob("*.py") if arrows(p) - allowed]
    assert violations == []


def test_only_the_edges_and_the_layers_above_it_import_metering() -> None:
    may = {"voucherctl", "redeem_api", "vouchers.vending", "vouchers.services", "vouchers.metering",
           "print_templates",  # print_templates draws the bills and collection reports
           "vouchers.config"}  # builds MeteringConfig from the settings (loaded by the edges only)
    violations = [str(p.relative_to(ROOT)) for p in our_files()
                  if "vouchers.metering" in arrows(p) and unit_of_path(p) not in may]
    assert violations == []

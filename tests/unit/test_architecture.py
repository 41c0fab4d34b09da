"""Package direction rules of docs/architecture.md, checked by walking imports."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).parents[2]
OURS = {"vouchers", "issuer", "keystore", "storage", "print_templates", "redeem_api", "ledger", "voucherctl",
        "tariffs", "sts", "metering", "vending", "notify", "retention"}

# package -> packages of ours it must never import
FORBIDDEN = {
    "vouchers": OURS - {"vouchers"},
    "print_templates": OURS - {"vouchers", "print_templates"},
    "sts": OURS - {"vouchers", "sts"},
    "tariffs": OURS - {"vouchers", "tariffs"},
    "redeem_api": {"issuer", "voucherctl"},
    "ledger": {"issuer", "redeem_api", "voucherctl"},
    "storage": {"issuer", "redeem_api", "voucherctl", "ledger", "print_templates"},
    "keystore": {"issuer", "redeem_api", "voucherctl", "ledger", "storage"},
    "issuer": {"redeem_api", "voucherctl"},
    "metering": {"issuer", "redeem_api", "voucherctl"},
    "vending": {"issuer", "redeem_api", "voucherctl"},
    # they serve the CLI and never need signing or key-store material
    "notify": {"issuer", "redeem_api", "voucherctl", "keystore"},
    "retention": {"issuer", "redeem_api", "voucherctl", "keystore"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text("utf-8"), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_package_direction():
    violations = []
    for package, banned in FORBIDDEN.items():
        for path in (ROOT / package).rglob("*.py"):
            bad = _imports(path) & banned
            if bad:
                violations.append(f"{path.relative_to(ROOT)} imports {sorted(bad)}")
    assert violations == []


def test_nothing_imports_the_web_app_or_cli():
    violations = []
    for package in OURS - {"redeem_api", "voucherctl"}:
        for path in (ROOT / package).rglob("*.py"):
            bad = _imports(path) & {"redeem_api", "voucherctl"}
            if bad:
                violations.append(f"{path.relative_to(ROOT)} imports {sorted(bad)}")
    assert violations == []


def test_checker_sees_a_violation(tmp_path):
    sample = tmp_path / "x.py"
    sample.write_text("from issuer.batches import create_batch\nimport redeem_api.app\n")
    assert _imports(sample) == {"issuer", "redeem_api"}

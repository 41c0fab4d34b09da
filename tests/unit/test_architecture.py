"""Package direction rules from DESIGN.md, checked by walking imports."""
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


# The web process must not be able to sign: nothing in redeem_api names the code that unseals signing keys,
# the issuer-only key-store modules, or the full KeyStore handle (it gets keystore.web_keys.WebKeys).
SIGNING_ACCESS = {"issuer", "keystore.store", "keystore.audit_key", "keystore.split"}


def _imported_modules(path: Path) -> set[str]:
    """Full dotted names imported by ``path`` (``from a.b import c`` gives ``a.b`` and ``a.b.c``)."""
    tree = ast.parse(path.read_text("utf-8"), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _touches_signing(names: set[str]) -> set[str]:
    return {n for n in names for banned in SIGNING_ACCESS if n == banned or n.startswith(banned + ".")}


def test_the_web_never_imports_the_signing_accessor():
    violations = []
    for path in (ROOT / "redeem_api").rglob("*.py"):
        bad = _touches_signing(_imported_modules(path))
        if bad:
            violations.append(f"{path.relative_to(ROOT)} imports {sorted(bad)}")
    assert violations == []


def test_the_web_app_loads_no_signing_code():
    """Transitively too: building the app's modules loads nothing that unseals a signing key."""
    import subprocess
    import sys

    probe = ("import sys, redeem_api.app, redeem_api.routes, redeem_api.sts_support\n"
             "import pkgutil, importlib\n"
             "for m in pkgutil.walk_packages(redeem_api.__path__, 'redeem_api.'): importlib.import_module(m.name)\n"
             "print('\\n'.join(sorted(n for n in sys.modules if n == 'issuer' or n.startswith('issuer.'))))\n")
    loaded = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert loaded.stdout.split() == []


def test_signing_checker_sees_a_violation(tmp_path):
    sample = tmp_path / "x.py"
    sample.write_text("from issuer.signing_keys import signing_key_raw\nfrom keystore.store import KeyStore\n"
                      "from keystore.web_keys import WebKeys\n")
    assert _touches_signing(_imported_modules(sample)) == {
        "issuer.signing_keys", "issuer.signing_keys.signing_key_raw", "keystore.store", "keystore.store.KeyStore"}

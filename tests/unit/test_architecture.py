"""The package direction rules (docs/architecture.md), checked by walking every import.

This is the intended design, with no list of tolerated violations: a new arrow that runs the wrong way
fails here. The units are the five installed packages, with ``vouchers`` split into its pure core and its
subpackages.
"""
from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
INSTALLED = ("vouchers", "issuer", "print_templates", "redeem_api", "voucherctl")
SUBPACKAGES = ("storage", "keystore", "books", "tariffs", "sts", "metering", "vending", "notify", "services",
               "config", "staff")
CORE = "core"
PURE = {CORE, "vouchers.tariffs", "vouchers.sts"}

# unit -> the units of ours it may import (itself always allowed)
ALLOWED: dict[str, set[str]] = {
    CORE: set(),
    "vouchers.tariffs": {CORE},
    "vouchers.sts": {CORE},
    # every PDF is drawn here, from the domain's report values (never the other way round)
    "print_templates": {CORE, "vouchers.books", "vouchers.metering"},
    "vouchers.storage": {CORE},
    "vouchers.keystore": {CORE},
    # the key table, the file reader and the typed settings: it builds each part's settings type (the
    # throttle's limits, the fraud thresholds, billing's, the staff's), so it sits above them; only the
    # edges load it, and nothing below imports it (the parts get their values passed in)
    "vouchers.config": {CORE, "vouchers.metering", "vouchers.staff", "vouchers.services"},
    "vouchers.books": {CORE, "vouchers.storage"},
    "vouchers.notify": {CORE, "vouchers.storage"},
    # staff accounts, passwords, TOTP, sessions: below the services, beside the books
    "vouchers.staff": {CORE, "vouchers.storage"},
    "vouchers.metering": {CORE, "vouchers.storage", "vouchers.books", "vouchers.tariffs"},
    "vouchers.vending": {CORE, "vouchers.storage", "vouchers.books", "vouchers.metering", "vouchers.tariffs",
                         "vouchers.sts", "vouchers.keystore", "print_templates"},
    "vouchers.services": {CORE, "vouchers.storage", "vouchers.books", "vouchers.metering", "vouchers.tariffs",
                          "vouchers.sts", "vouchers.keystore", "vouchers.vending", "vouchers.notify",
                          "vouchers.staff", "print_templates"},
    "issuer": {CORE, "vouchers.storage", "vouchers.keystore", "print_templates"},
}
EDGES = {"redeem_api", "voucherctl"}
# the only arrow between the two edges: `voucherctl serve` starts the web app
EDGE_CROSSING = {(Path("voucherctl/serve_cmd.py"), "redeem_api")}
# third-party libraries that mean I/O, a framework or a database: never in the pure core
IMPURE_LIBRARIES = {"sqlalchemy", "alembic", "flask", "werkzeug", "gunicorn", "psycopg", "redis", "click", "rich",
                    "reportlab", "requests", "urllib", "socket", "subprocess", "sqlite3"}
CLOCK_READS = {("datetime", "now"), ("datetime", "today"), ("datetime", "utcnow"), ("date", "today"),
               ("time", "time"), ("time", "time_ns")}


def unit_of_module(module: str) -> str | None:
    """The unit a dotted module name belongs to; None for anything not ours."""
    parts = module.split(".")
    if parts[0] == "vouchers":
        return f"vouchers.{parts[1]}" if len(parts) > 1 and parts[1] in SUBPACKAGES else CORE
    return parts[0] if parts[0] in INSTALLED else None


def unit_of_path(path: Path) -> str | None:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return unit_of_module(".".join(p for p in parts if p != "__init__"))


def imported_modules(path: Path) -> set[str]:
    """Absolute module names imported by a file (``from a import b`` counts as ``a`` and ``a.b``)."""
    tree = ast.parse(path.read_text("utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def our_files() -> Iterator[Path]:
    for package in INSTALLED:
        yield from (ROOT / package).rglob("*.py")


def arrows(path: Path) -> set[str]:
    """The units of ours, other than its own, that a file imports."""
    own = unit_of_path(path)
    return {u for m in imported_modules(path) if (u := unit_of_module(m)) is not None and u != own}


def direction_violations(files: Iterator[Path]) -> list[str]:
    violations = []
    for path in files:
        unit = unit_of_path(path)
        rel = path.relative_to(ROOT)
        for target in sorted(arrows(path)):
            if unit in EDGES:
                ok = target not in EDGES | {"issuer"} or (rel, target) in EDGE_CROSSING
                if target == "issuer" and unit == "voucherctl":
                    ok = True  # the CLI is the issuer's front end: batch create/print/export, keys
            else:
                ok = target in ALLOWED[unit]  # type: ignore[index]
            if not ok:
                violations.append(f"{rel} ({unit}) imports {target}")
    return violations


def test_every_file_belongs_to_a_unit_with_rules():
    for path in our_files():
        unit = unit_of_path(path)
        assert unit in ALLOWED or unit in EDGES, path


def test_package_direction():
    assert direction_violations(our_files()) == []


def test_the_pure_core_uses_no_io_framework_or_clock():
    violations = []
    for path in our_files():
        if unit_of_path(path) not in PURE:
            continue
        tree = ast.parse(path.read_text("utf-8"))
        libraries = {m.split(".")[0] for m in imported_modules(path)} & IMPURE_LIBRARIES
        if libraries:
            violations.append(f"{path.relative_to(ROOT)} imports {sorted(libraries)}")
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                owner = node.func.value
                name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", None)
                if (name, node.func.attr) in CLOCK_READS:
                    violations.append(f"{path.relative_to(ROOT)}:{node.lineno} reads the clock")
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "open":
                violations.append(f"{path.relative_to(ROOT)}:{node.lineno} opens a file")
    assert violations == []


def test_the_source_tree_holds_exactly_the_five_packages():
    """(tests/e2e/test_wheel.py checks the same of a built wheel.)"""
    packages = sorted(p.parent.name for p in ROOT.glob("*/__init__.py") if p.parent.name != "tests")
    assert packages == sorted(INSTALLED)


@pytest.mark.parametrize(("where", "source", "expected"), [
    # the core reaching up into storage
    ("vouchers/codes_bad.py", "from vouchers.storage.db import make_engine\n", "imports vouchers.storage"),
    # the books reaching up into the web app
    ("vouchers/books/bad.py", "import redeem_api.http\n", "imports redeem_api"),
    # storage importing the books (an arrow back up)
    ("vouchers/storage/bad.py", "from vouchers.books import payments\n", "imports vouchers.books"),
    # the web app importing the CLI
    ("redeem_api/bad.py", "from voucherctl import context\n", "imports voucherctl"),
    # the web app importing the issuer (signing)
    ("redeem_api/bad.py", "from issuer.signing_keys import x\n", "imports issuer"),
    # a service reading the configuration itself instead of being handed its values
    ("vouchers/services/bad.py", "from vouchers.config import load_settings\n", "imports vouchers.config"),
    ("vouchers/metering/bad.py", "from vouchers.config.values import typed\n", "imports vouchers.config"),
    # the configuration reaching up into an edge
    ("vouchers/config/bad.py", "from redeem_api.config import ApiConfig\n", "imports redeem_api"),
    # a CLI command other than serve importing the web app
    ("voucherctl/bad_cmd.py", "from redeem_api.app import create_app\n", "imports redeem_api"),
])
def test_the_checker_sees_a_violation(where, source, expected):
    path = ROOT / where
    assert not path.exists()
    path.write_text(source, encoding="utf-8")
    try:
        found = direction_violations(iter([path]))
    finally:
        path.unlink()
    assert len(found) == 1 and expected in found[0], found


# The web process must not be able to sign: nothing in redeem_api names the code that unseals signing keys,
# the issuer-only key-store modules, or the full KeyStore handle (it gets keystore.web_keys.WebKeys).
SIGNING_ACCESS = {"issuer", "vouchers.keystore.store", "vouchers.keystore.audit_key", "vouchers.keystore.split"}


def _touches_signing(names: set[str]) -> set[str]:
    return {n for n in names for banned in SIGNING_ACCESS if n == banned or n.startswith(banned + ".")}


def test_the_web_never_imports_the_signing_accessor():
    violations = []
    for path in (ROOT / "redeem_api").rglob("*.py"):
        bad = _touches_signing(imported_modules(path))
        if bad:
            violations.append(f"{path.relative_to(ROOT)} imports {sorted(bad)}")
    assert violations == []


def test_the_web_app_loads_no_signing_code():
    """Transitively too: building the app's modules loads nothing that unseals a signing key."""
    import subprocess
    import sys

    probe = ("import sys, redeem_api.app, redeem_api.routes\n"
             "import pkgutil, importlib\n"
             "for m in pkgutil.walk_packages(redeem_api.__path__, 'redeem_api.'): importlib.import_module(m.name)\n"
             "print('\\n'.join(sorted(n for n in sys.modules if n == 'issuer' or n.startswith('issuer.'))))\n")
    loaded = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert loaded.stdout.split() == []


def test_signing_checker_sees_a_violation(tmp_path):
    sample = tmp_path / "x.py"
    sample.write_text("from issuer.signing_keys import signing_key_raw\nfrom vouchers.keystore.store import KeyStore\n"
                      "from vouchers.keystore.web_keys import WebKeys\n")
    assert _touches_signing(imported_modules(sample)) == {
        "issuer.signing_keys", "issuer.signing_keys.signing_key_raw", "vouchers.keystore.store",
        "vouchers.keystore.store.KeyStore"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(p for p in parts if p != "__init__")


def _module_level_imports(path: Path, known: set[str]) -> set[str]:
    """Our modules a file imports at module level (an import inside a function is a deliberate deferral)."""
    tree = ast.parse(path.read_text("utf-8"))
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in known)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"  # `from package import submodule` needs only the submodule
                found.add(sub if sub in known else node.module)
    found &= known
    return found


def import_cycles(files: list[Path]) -> list[list[str]]:
    """Cycles of module-level imports between our modules (Tarjan's strongly connected components)."""
    known = {_module_name(p) for p in files}
    graph = {_module_name(p): _module_level_imports(p, known) - {_module_name(p)} for p in files}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return cycles


def test_no_two_modules_import_each_other():
    assert import_cycles(list(our_files())) == []


def test_the_cycle_finder_sees_a_cycle(tmp_path, monkeypatch):
    package = tmp_path / "vouchers"
    package.mkdir()
    (package / "a.py").write_text("from vouchers.b import x\n")
    (package / "b.py").write_text("import vouchers.a\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert import_cycles([package / "a.py", package / "b.py"]) == [["vouchers.a", "vouchers.b"]]

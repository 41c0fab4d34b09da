"""The books depend only on the core and storage: never on issuer, redeem_api or the CLI."""
from __future__ import annotations

import ast
from pathlib import Path

import ledger

FORBIDDEN = ("issuer", "redeem_api", "voucherctl", "keystore")


def test_ledger_imports_nothing_it_must_not():
    offenders = []
    for path in Path(ledger.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in FORBIDDEN]
    assert not offenders


GEOMETRY_OR_TIME = {"retry.py", "pdf.py"}  # back-off seconds, line widths: not money


def test_money_is_never_a_float_in_the_books():
    floats = []
    for path in Path(ledger.__file__).parent.rglob("*.py"):
        if path.name in GEOMETRY_OR_TIME:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "float":
                floats.append(path.name)
            if isinstance(node, ast.Constant) and isinstance(node.value, float):
                floats.append(f"{path.name}: {node.value}")
    assert not floats

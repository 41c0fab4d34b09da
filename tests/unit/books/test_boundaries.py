"""The books depend only on the core and storage: never on issuer, redeem_api or the CLI."""
from __future__ import annotations

import ast
from pathlib import Path

import vouchers.books

FORBIDDEN = ("issuer", "redeem_api", "voucherctl", "vouchers.keystore")


def test_the_books_import_nothing_they_must_not():
    offenders = []
    for path in Path(vouchers.books.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{path.name}: {n}" for n in names
                          if any(n == f or n.startswith(f + ".") for f in FORBIDDEN)]
    assert not offenders


GEOMETRY_OR_TIME = {"retry.py", "pdf.py"}  # back-off seconds, line widths: not money


def test_money_is_never_a_float_in_the_books():
    floats = []
    for path in Path(vouchers.books.__file__).parent.rglob("*.py"):
        if path.name in GEOMETRY_OR_TIME:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "float":
                floats.append(path.name)
            if isinstance(node, ast.Constant) and isinstance(node.value, float):
                floats.append(f"{path.name}: {node.value}")
    assert not floats

"""The key table is complete and docs/configuration.md is its rendering."""
from __future__ import annotations

import ast
import re
from pathlib import Path

from vouchers.config.doc import render
from vouchers.config.keys import BY_ENV, BY_TOML, KEYS

ROOT = Path(__file__).parents[3]
PACKAGES = ("vouchers", "issuer", "print_templates", "redeem_api", "voucherctl")
NAME = re.compile(r"\bVOUCHER_[A-Z0-9_]*[A-Z0-9]\b")
# names in string literals that are not settings, with the reason
NOT_SETTINGS: dict[str, str] = {
    "VOUCHER_COLUMNS": "a Python constant (vouchers.storage.bulk) named in docstrings",
}


def names_in_code() -> dict[str, str]:
    """Every ``VOUCHER_*`` name inside a string literal (messages, docstrings, lookups) -> first place."""
    found: dict[str, str] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text("utf-8"))):
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    for name in NAME.findall(node.value):
                        found.setdefault(name, f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_every_voucher_name_in_the_code_is_a_key():
    names = names_in_code()
    assert len(names) > 40  # the walk sees the code
    missing = {n: where for n, where in names.items() if n not in BY_ENV and n not in NOT_SETTINGS}
    assert missing == {}, "add these to vouchers/config/keys.py (then regenerate docs/configuration.md)"


def test_every_key_is_used_somewhere():
    unused = set(BY_ENV) - set(names_in_code())
    assert unused == set()


def test_the_documentation_is_generated_from_the_table():
    doc = (ROOT / "docs" / "configuration.md").read_text("utf-8")
    assert doc == render(), "run: python -m vouchers.config.doc > docs/configuration.md"


def test_the_table_is_one_to_one_and_explains_itself():
    assert len(BY_ENV) == len(KEYS) and len(BY_TOML) == len([k for k in KEYS if k.toml is not None])
    for key in KEYS:
        assert key.doc.endswith(".") and "\n" not in key.doc, key.env
        assert (key.toml is None or key.secret) == bool(key.why_env_only), key.env
        if key.toml is not None:
            assert re.fullmatch(r"[a-z_]+(\.[a-z_]+)?", key.toml), key.toml
            assert key.toml not in {k.rsplit(".", 1)[0] for k in BY_TOML if "." in k}, key.toml


# read by the test harness (tests/conftest.py, scripts/test), never by the program
TEST_ONLY = {"VOUCHER_TEST_PG_URL", "VOUCHER_TEST_CLOCK_SHIFTS", "VOUCHER_TEST_SHIFTED_PATHS"}


def test_each_test_only_variable_is_really_read_by_the_harness():
    harness = (ROOT / "scripts" / "test").read_text("utf-8") + (ROOT / "tests" / "conftest.py").read_text("utf-8")
    assert {n for n in TEST_ONLY if n not in harness} == set()


def test_the_readme_points_to_the_table_and_names_only_real_variables():
    readme = (ROOT / "README.md").read_text("utf-8")
    assert "docs/configuration.md" in readme
    # a family written as VOUCHER_THROTTLE_* counts when some key starts with it
    unknown = {n for n in NAME.findall(readme) if n not in BY_ENV and n not in TEST_ONLY
               and not any(k.startswith(n + "_") for k in BY_ENV)}
    assert unknown == set()

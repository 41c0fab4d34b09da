"""The built wheel installs exactly five top-level import names (not the source tree's view: the wheel's)."""
from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).parents[2]
FIVE = {"vouchers", "issuer", "print_templates", "redeem_api", "voucherctl"}


def test_the_wheel_installs_exactly_five_import_names(tmp_path):
    # built from a copy, so setuptools' build/ and egg-info never land in the checkout
    source = tmp_path / "src"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".venv", ".git", "build", "*.egg-info", "var",
                                                                 "__pycache__", ".hypothesis", "tests", "bench"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "dist"),
                    str(source)], check=True, capture_output=True, timeout=600)
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith((".dist-info", ".data"))}
    assert top == FIVE, sorted(top)
    # the subpackages that used to be top-level names travel inside vouchers/, with their data
    for inner in ("vouchers/books/__init__.py", "vouchers/storage/migrations/env.py", "vouchers/tariffs/data",
                  "print_templates/fonts", "redeem_api/openapi.yaml", "redeem_api/templates/redeem.html",
                  "redeem_api/templates/docs.html", "redeem_api/static/redeem.css", "redeem_api/static/docs.js",
                  "redeem_api/static/redoc/redoc.standalone.js", "redeem_api/static/redoc/LICENSE"):
        assert any(n.startswith(inner) for n in names), inner

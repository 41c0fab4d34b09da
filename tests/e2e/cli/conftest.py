from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from tests import clock

VOUCHERCTL = [sys.executable, "-m", "voucherctl"]
FAR_EXPIRY = clock.FAR_EXPIRY.isoformat()  # `batch create` refuses an expiry in the past


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self):
        return json.loads(self.out)


@dataclass
class Cli:
    env: dict[str, str]
    home: Path

    def at(self, when: dt.datetime) -> Cli:
        """The same CLI with its clock injected at ``when`` (its processes start their clock there)."""
        return replace(self, env={**self.env, **clock.at(when)})

    def __call__(self, *args: str, env: dict[str, str] | None = None, check: bool = False) -> Result:
        proc = subprocess.run([*VOUCHERCTL, *args], env={**self.env, **(env or {})}, capture_output=True,
                              text=True, timeout=300)
        result = Result(proc.returncode, proc.stdout, proc.stderr)
        if check and proc.returncode != 0:
            raise AssertionError(f"voucherctl {' '.join(args)} failed: {proc.stderr}")
        return result


@pytest.fixture
def cli(tmp_path, db_url) -> Cli:
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOUCHER_")}
    env.update(VOUCHER_HOME=str(home), VOUCHER_KEY_PASSPHRASE="cli test passphrase",
               VOUCHER_WEB_PASSPHRASE="cli test web secret", VOUCHER_DATABASE_URL=db_url,
               VOUCHER_MAX_BATCH_SIZE="5000")
    return Cli(env, home)

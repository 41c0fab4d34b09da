from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

VOUCHERCTL = [sys.executable, "-m", "voucherctl"]


def libfaketime() -> str:
    """Path of Debian's libfaketime (package faketime, installed by scripts/test); fails loudly if absent."""
    found = sorted(Path("/usr/lib").glob("*/faketime/libfaketime.so.1"))
    if not found:
        raise AssertionError("libfaketime is missing: install Debian's faketime (scripts/test does)")
    return str(found[0])


def clock_env(at: dt.datetime) -> dict[str, str]:
    """Environment that starts a child process's clock at ``at`` (then it ticks): the subprocess form of the
    injected clock, for CLI runs whose result depends on "today" or "this month"."""
    if at.tzinfo is None:
        raise ValueError("the injected instant needs a time zone")
    utc = at.astimezone(dt.timezone.utc)
    return {"LD_PRELOAD": libfaketime(), "FAKETIME": utc.strftime("@%Y-%m-%d %H:%M:%S"), "TZ": "UTC",
            "FAKETIME_DONT_FAKE_MONOTONIC": "1"}


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
        """The same CLI with its clock injected at ``when`` (see :func:`clock_env`)."""
        return replace(self, env={**self.env, **clock_env(when)})

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

"""The systemd units of deploy/systemd: systemd accepts them, the trust split holds (only the issuer's unit
gets the issuer's secret, the web gets only the web secret), and every ExecStart command runs once, with
exactly the environment its unit gives it, against a fresh installation."""
from __future__ import annotations

import configparser
import datetime as dt
import json
import re
import zoneinfo
import os
import shlex
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests import clock

ROOT = Path(__file__).resolve().parents[3]
UNITS = ROOT / "deploy" / "systemd"
INSTALLED = "/opt/voucher/bin/voucherctl"
SERVICES = sorted(UNITS.glob("*.service"))
SECRETS = {"web-secret.env": "VOUCHER_WEB_PASSPHRASE", "issuer-secret.env": "VOUCHER_KEY_PASSPHRASE",
           "sms-secret.env": "VOUCHER_SMS_TOKEN"}


def unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    # systemd repeats keys (EnvironmentFile=): keep every value
    parser._dict = dict  # noqa: SLF001
    values: dict[str, list[str]] = {}
    section = ""
    for line in path.read_text("utf-8").splitlines():
        if line.startswith("["):
            section = line.strip("[]")
        elif "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            values.setdefault(f"{section}.{key}", []).append(value)
    parser.values = values  # type: ignore[attr-defined]
    return parser


def values(path: Path, key: str) -> list[str]:
    return unit(path).values.get(key, [])  # type: ignore[attr-defined]


def voucherctl_path() -> str:
    found = Path(sys.executable).parent / "voucherctl"
    assert found.exists(), "the test venv has no voucherctl (scripts/setup-venv installs it)"
    return str(found)


def test_there_is_a_unit_for_the_api_and_every_scheduled_job():
    names = {p.stem for p in SERVICES}
    assert names == {"voucher-api", "voucher-outbox", "voucher-expire", "voucher-cost-control",
                     "voucher-collection-warnings", "voucher-late-fees", "voucher-billing", "voucher-audit-checkpoint"}
    for service in SERVICES:
        if service.stem != "voucher-api":
            assert service.with_suffix(".timer").exists(), f"{service.name} has no timer"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_accepts_every_unit(tmp_path):
    for path in UNITS.glob("voucher-*"):
        (tmp_path / path.name).write_text(path.read_text("utf-8").replace(INSTALLED, voucherctl_path()), "utf-8")
    done = subprocess.run(["systemd-analyze", "verify", "--man=no", *sorted(str(p) for p in tmp_path.iterdir())],
                          capture_output=True, text=True, timeout=120, check=False)
    problems = [line for line in (done.stdout + done.stderr).splitlines()
                if line.strip() and "/etc/voucher/" not in line  # the environment files of a real host
                and "Failed to resolve user" not in line and "Failed to resolve group" not in line
                and "voucher-web" not in line and "voucher-jobs" not in line and "voucher-issuer" not in line]
    assert not problems, "\n".join(problems)


def test_only_the_issuers_unit_gets_the_issuers_secret_and_the_web_gets_only_the_web_secret():
    for service in SERVICES:
        files = {Path(f.lstrip("-")).name for f in values(service, "Service.EnvironmentFile")}
        assert "voucher.env" in files, service.name
        if service.stem == "voucher-api":
            assert files == {"voucher.env", "web-secret.env"}
            assert values(service, "Service.User") == ["voucher-web"]
        elif service.stem == "voucher-audit-checkpoint":
            assert files == {"voucher.env", "issuer-secret.env"}
        else:
            assert "issuer-secret.env" not in files and "web-secret.env" not in files, service.name
        assert values(service, "Service.User") != ["root"] and values(service, "Service.User"), service.name
    for name, variable in SECRETS.items():
        lines = [l for l in (UNITS / f"{name}.example").read_text("utf-8").splitlines() if l and not l.startswith("#")]
        assert all(l.startswith(("VOUCHER_SMS_URL=", variable + "=")) for l in lines), name
    common = (UNITS / "voucher.env.example").read_text("utf-8")
    assert "PASSPHRASE" not in common and "TOKEN" not in common


def _env_of(service: Path, home: Path, db_url: str, sink: Path) -> dict[str, str]:
    """What systemd would give the unit's command: its Environment= and EnvironmentFile= lines, with the
    test's home, database and secrets in place of the examples' values."""
    test_values = {"VOUCHER_HOME": str(home), "VOUCHER_DATABASE_URL": db_url,
                   "VOUCHER_WEB_PASSPHRASE": "units test web secret", "VOUCHER_KEY_PASSPHRASE": "units test issuer secret"}
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOUCHER_")}
    for line in values(service, "Service.Environment"):
        key, value = line.split("=", 1)
        env[key] = value
    for file in values(service, "Service.EnvironmentFile"):
        example = UNITS / (Path(file).name + ".example")
        for line in example.read_text("utf-8").splitlines():
            if line and not line.startswith("#"):
                key, value = line.split("=", 1)
                env[key] = test_values.get(key, value)
    if "VOUCHER_SMS_URL" in env:  # no gateway to reach in a test: the file sink stands in for it
        del env["VOUCHER_SMS_URL"], env["VOUCHER_SMS_TOKEN"]
        env["VOUCHER_SMS_SINK"] = str(sink)
    return env


def _command(service: Path) -> list[str]:
    (line,) = values(service, "Service.ExecStart")
    return [part.replace("%%", "%").replace(INSTALLED, voucherctl_path()) for part in shlex.split(line)]


MONTHLY = re.compile(r"^\*-\*-(\d\d) (\d\d):(\d\d):00 (\S+)$")


def timer_instant(service: Path) -> dict[str, str]:
    """The clock a job meets when its timer fires: a monthly timer's next day of the month (libfaketime for
    the command and the `date` its shell runs); other timers run at any time, so the real clock."""
    (calendar,) = values(service.with_suffix(".timer"), "Timer.OnCalendar")
    monthly = MONTHLY.match(calendar)
    if not monthly:
        return {}
    day, hour, minute, zone = monthly.groups()
    today = dt.datetime.now(zoneinfo.ZoneInfo(zone)).date()
    first_of_next = (today.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    return clock.at(dt.datetime.combine(first_of_next.replace(day=int(day)), dt.time(int(hour), int(minute)),
                                        zoneinfo.ZoneInfo(zone)))


@pytest.fixture(scope="module")
def installation(tmp_path_factory):
    """A fresh installation on SQLite made as docs/operations.md says: `voucherctl init` with both secrets."""
    tmp_path = tmp_path_factory.mktemp("installation")
    home, db_url = tmp_path / "home", f"sqlite:///{tmp_path / 'vouchers.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOUCHER_")}
    env.update(VOUCHER_HOME=str(home), VOUCHER_DATABASE_URL=db_url,
               VOUCHER_KEY_PASSPHRASE="units test issuer secret", VOUCHER_WEB_PASSPHRASE="units test web secret")
    done = subprocess.run([voucherctl_path(), "init"], env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return home, db_url


@pytest.mark.parametrize("service", [p for p in SERVICES if p.stem != "voucher-api"], ids=lambda p: p.stem)
def test_each_job_runs_once_with_its_units_environment(service, installation, tmp_path):
    home, db_url = installation
    env = {**_env_of(service, home, db_url, tmp_path / "sms.jsonl"), **timer_instant(service)}
    done = subprocess.run(_command(service), env=env, capture_output=True, text=True, timeout=120, check=False,
                          cwd=tmp_path)
    assert done.returncode == 0, f"{service.name}: {done.stderr}"
    json.loads(done.stdout)  # every job prints one JSON document (the journal keeps it)


def test_the_api_unit_serves_with_only_the_web_secret(installation, tmp_path):
    home, db_url = installation
    service = UNITS / "voucher-api.service"
    env = _env_of(service, home, db_url, tmp_path / "sms.jsonl")
    assert "VOUCHER_KEY_PASSPHRASE" not in env
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [part if part != "8000" else str(port) for part in _command(service)]
    proc = subprocess.Popen([*command, "--workers", "1"], env=env, cwd=tmp_path, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=open(tmp_path / "api.log", "w"))
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (tmp_path / "api.log").read_text()
            try:
                health = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, (tmp_path / "api.log").read_text()
                time.sleep(0.2)
        assert health.status_code == 200 and health.json()["database"] == "ok"
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(30)

"""Run ``voucherctl`` inside the test process: fast, and ``capsys`` captures its output."""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from voucherctl import context
from voucherctl.main import main

Run = Callable[..., tuple[int, str, str]]


def in_process_cli(db_url: str, home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                   *, now: dt.datetime | None = None) -> Iterator[Run]:
    """Yield ``run(*argv) -> (exit code, stdout, stderr)`` against ``db_url`` (for a fixture to ``yield from``).

    ``now`` injects the CLI's clock; the CLI's cached settings and engine are reset before and after.
    """
    monkeypatch.setenv("VOUCHER_DATABASE_URL", db_url)
    monkeypatch.setenv("VOUCHER_HOME", str(home))
    monkeypatch.delenv("VOUCHER_TIMEZONE", raising=False)
    monkeypatch.delenv("VOUCHER_CURRENCY", raising=False)
    if now is not None:
        monkeypatch.setattr(context, "now", lambda: now)
    context.settings.cache_clear()
    context.engine.cache_clear()
    context.branding.cache_clear()
    context.dispose_reports_engines()

    def run(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    yield run
    if context.engine.cache_info().currsize:  # built by a run (never build one here: the settings may be bad)
        context.engine().dispose()
    context.dispose_reports_engines()
    context.settings.cache_clear()
    context.engine.cache_clear()
    context.branding.cache_clear()


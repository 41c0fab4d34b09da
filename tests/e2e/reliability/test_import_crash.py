"""``voucherctl payments import`` killed with SIGKILL mid-file books nothing; the re-run books it exactly once.
Also the import's line-length cap (a file with an over-long line is refused whole)."""
from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest
from sqlalchemy import create_engine, func, select, text

from vouchers.storage.ledger_models import Payment, PaymentImport

from .conftest import VOUCHERCTL, server_env, voucherctl

HEADER = b"external_ref,account_no,amount,currency,paid_at\n"


def _write_file(path, lines: int, accounts: list[str]) -> int:
    """A generic-format file; returns its total in fen."""
    with path.open("wb") as f:
        f.write(HEADER)
        chunk = []
        for i in range(lines):
            chunk.append(f"imp-{i:08d},{accounts[i % len(accounts)]},1.{i % 100:02d},CNY,"
                         f"2026-11-25T{8 + i % 10:02d}:{i % 60:02d}:00+08:00\n")
            if len(chunk) == 10000:
                f.write("".join(chunk).encode())
                chunk.clear()
        f.write("".join(chunk).encode())
    return sum(100 + i % 100 for i in range(lines))


def _booked(world) -> tuple[int, int, int]:
    with world.sessions.begin() as s:
        return (s.execute(select(func.count()).select_from(Payment).where(Payment.channel == "bank_debit")).scalar_one(),
                s.execute(select(func.count()).select_from(PaymentImport)).scalar_one(),
                s.execute(select(func.coalesce(func.sum(Payment.amount), 0))
                          .where(Payment.channel == "bank_debit")).scalar_one())


# What the import's database session is running when it is killed: still staging the file, or already
# writing the books (any design must write ``payments`` and ``ledger_postings``).
KILL_POINTS = {
    "staging": "query ILIKE '%ledger_stage%' AND query NOT ILIKE '%ledger_postings%' "
               "AND query NOT ILIKE '%INSERT INTO payments%'",
    "booking": "(query ILIKE '%INSERT INTO payments%' OR query ILIKE '%ledger_postings%' "
               "OR query ILIKE '%COPY payments%')",
}


def _wait_until(db_url: str, proc: subprocess.Popen, point: str, timeout: float = 60) -> None:
    """Until the import's database session runs a statement of ``point`` (then, for staging, a little more)."""
    engine = create_engine(db_url)
    probe = text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                 f"AND pid <> pg_backend_pid() AND state = 'active' AND {KILL_POINTS[point]}")
    deadline = time.monotonic() + timeout
    try:
        with engine.connect() as conn:
            while time.monotonic() < deadline:
                assert proc.poll() is None, f"the import finished before {point} was seen: raise the line count"
                if conn.execute(probe).scalar_one():
                    if point == "staging":
                        time.sleep(0.3)  # well inside it
                    return
                conn.rollback()
                time.sleep(0.002)
        raise AssertionError(f"the import never reached {point}")
    finally:
        engine.dispose()


def _kill_and_rerun(world, tmp_path, lines: int, point: str = "staging") -> None:
    accounts = [f"32{i:08d}" for i in range(50)]
    path = tmp_path / "bank_debit-20261125.csv"
    total = _write_file(path, lines, accounts)
    env = server_env(world)
    before = sum(world.balance(a)[0] for a in accounts)
    proc = subprocess.Popen([*VOUCHERCTL, "payments", "import", "--channel", "bank_debit", str(path)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_until(world.db_url, proc, point)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
    assert proc.returncode == -signal.SIGKILL
    # the server ends the orphaned backend's transaction; nothing of the file is in the books
    deadline = time.monotonic() + 30
    while _booked(world) != (0, 0, 0) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _booked(world) == (0, 0, 0)
    assert sum(world.balance(a)[0] for a in accounts) == before
    done = voucherctl(env, "payments", "import", "--channel", "bank_debit", str(path), "--json")
    assert done.returncode == 0, done.stderr
    assert f'"booked": {lines}' in done.stdout
    assert _booked(world) == (lines, 1, total)
    assert sum(world.balance(a)[0] for a in accounts) == before + total
    again = voucherctl(env, "payments", "import", "--channel", "bank_debit", str(path), "--json")
    assert again.returncode == 0 and '"booked": 0' in again.stdout and f'"duplicates": {lines}' in again.stdout
    assert _booked(world)[0] == lines
    verify = voucherctl(env, "ledger", "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr


@pytest.mark.postgres
@pytest.mark.parametrize("point", sorted(KILL_POINTS))
def test_sigkill_during_payments_import_books_nothing_and_the_rerun_books_once(pg_world, tmp_path, point):
    _kill_and_rerun(pg_world, tmp_path, 80_000, point)


@pytest.mark.postgres
@pytest.mark.slow
def test_soak_sigkill_during_a_million_line_import(pg_world, tmp_path):
    _kill_and_rerun(pg_world, tmp_path, 1_000_000)


def test_an_over_long_line_rejects_the_whole_file(e2e_world, tmp_path):
    world = e2e_world
    path = tmp_path / "long.csv"
    good = "ok-1,3100000002,1.00,CNY,2026-11-25T10:00:00+08:00\n"
    path.write_text(HEADER.decode() + good + "ok-2,3100000002,1.00,CNY,2026-11-25T10:00:00+08:00," + "x" * 100_000
                    + "\n" + good.replace("ok-1", "ok-3"))
    refused = voucherctl(server_env(world), "payments", "import", "--channel", "bank_debit", str(path), "--json")
    assert refused.returncode != 0
    assert '"line": 3' in refused.stdout and "longer than 4096 bytes" in refused.stdout
    assert world.count(Payment) == 0

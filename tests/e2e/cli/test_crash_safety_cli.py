"""SIGKILL in the middle of batch creation leaves no usable half batch."""
from __future__ import annotations

import os
import signal
import subprocess
import time

from sqlalchemy import create_engine, func, select

from vouchers.storage.models import Batch, Voucher

from .conftest import FAR_EXPIRY, VOUCHERCTL


def _counts(db_url: str) -> tuple[int, int]:
    engine = create_engine(db_url)
    with engine.connect() as conn:
        result = (conn.scalar(select(func.count()).select_from(Batch)),
                  conn.scalar(select(func.count()).select_from(Voucher)))
    engine.dispose()
    return result


def test_sigkill_during_batch_create_leaves_nothing_usable(cli, db_url):
    cli("init", check=True)
    cli("keys", "create", check=True)
    env = {**cli.env, "VOUCHER_MAX_BATCH_SIZE": "1000000"}
    batches_dir = cli.home / "batches"
    proc = subprocess.Popen([*VOUCHERCTL, "batch", "create", "--face-value", "50", "--count", "400000",
                             "--expires", FAR_EXPIRY, "--operator", "alice"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    # wait until generation is well under way: the temporary sealed file grows
    while time.monotonic() < deadline:
        partial = list(batches_dir.glob(".*.tmp")) if batches_dir.exists() else []
        if partial and partial[0].stat().st_size > 2_000_000:
            break
        assert proc.poll() is None, "batch finished before it could be killed: raise the count"
        time.sleep(0.2)
    else:
        raise AssertionError("generation never started")
    os.killpg(proc.pid, signal.SIGKILL)  # the CLI and its signing workers
    proc.wait(timeout=30)

    assert _counts(db_url) == (0, 0)
    assert list(batches_dir.glob("*.cards.age")) == []
    # the next batch works, gets the next number, and sweeps the abandoned temp file
    created = cli("batch", "create", "--face-value", "50", "--count", "3", "--expires", FAR_EXPIRY,
                  "--operator", "alice", "--json", check=True).json()
    assert created["count"] == 3
    assert _counts(db_url) == (1, 3)
    assert list(batches_dir.glob(".*.tmp")) == []

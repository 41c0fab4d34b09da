"""Failover drill: the database machine dies under load and no acknowledged payment or redemption is lost.

A two-node Patroni cluster (scripts/cluster: etcd, synchronous_mode_strict, pg_rewind) serves a real
``voucherctl serve`` that reaches it through a libpq multi-host URL with ``target_session_attrs=read-write``.
Clients send redemptions and payments with Idempotency-Keys; the primary's Patroni and PostgreSQL are
SIGKILLed together (a machine that dies: with Patroni alive it would only restart PostgreSQL in place);
Patroni promotes the synchronous standby once the leader key expires; the dead node comes back and rejoins
as a standby through pg_rewind. Every 2xx must be in the books exactly once, nothing else, and both chains
must verify on the new primary.

Strict synchronous mode means the new primary accepts commits only once a synchronous standby is back: the
drill restarts the old node as soon as the standby is promoted, as operations would replace the machine.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.redeem_api.world import build_world
from vouchers.storage.db import make_engine
from vouchers.storage.migrate import upgrade_to_head

from . import load

pytestmark = [pytest.mark.exclusive, pytest.mark.postgres]

ROOT = Path(__file__).resolve().parents[3]
CLUSTER = ROOT / "scripts" / "cluster"
TOOLS = ("patroni", "patronictl", "etcd", "pgbackrest")


@dataclass(frozen=True)
class Cluster:
    env: dict[str, str]
    url: str

    def run(self, *args: str, timeout: float = 180) -> str:
        done = subprocess.run([str(CLUSTER), *args], env=self.env, capture_output=True, text=True,
                              timeout=timeout, check=False)
        assert done.returncode == 0, f"scripts/cluster {' '.join(args)}: {done.stderr}"
        return done.stdout.strip()

    def leader_port(self) -> str:
        done = subprocess.run([str(CLUSTER), "leader-port"], env=self.env, capture_output=True, text=True,
                              timeout=30, check=False)
        return done.stdout.strip() if done.returncode == 0 else ""


@pytest.fixture(scope="module")
def cluster():
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        pytest.skip(f"Debian packages patroni, etcd-server and pgbackrest are required (scripts/test installs them): "
                    f"missing {', '.join(missing)}")
    env = dict(os.environ, VOUCHER_CLUSTER_DIR=f"/var/tmp/voucher-cluster-test-{os.getpid()}")
    up = subprocess.run([str(CLUSTER), "up"], env=env, capture_output=True, text=True, timeout=240, check=False)
    try:
        assert up.returncode == 0, up.stderr
        url = up.stdout.strip().splitlines()[-1]
        engine = make_engine(url)
        upgrade_to_head(engine)
        engine.dispose()
        yield Cluster(env, url)
    finally:
        subprocess.run([str(CLUSTER), "down"], env=env, capture_output=True, timeout=120, check=False)


def test_killing_the_primary_machine_loses_no_acknowledged_write(cluster, fleet, tmp_path, now, capsys):
    world = build_world(tmp_path, cluster.url, now, accounts=50)
    server = fleet.start(world, workers=2, threads=4, VOUCHER_IDEMPOTENCY_STALE_SECONDS="10",
                         VOUCHER_THROTTLE_CLIENT_FAILURES="100000", VOUCHER_THROTTLE_ACCOUNT_FAILURES="100000")
    old = cluster.leader_port()
    assert old, cluster.run("status")
    old_node = "1" if old.endswith("1") else "2"
    times: dict[str, float] = {}

    def machine_dies(killed) -> None:
        times["kill"] = time.monotonic()
        cluster.run("kill", old_node)
        killed.set()
        deadline = time.monotonic() + 120
        while cluster.leader_port() in ("", old):
            assert time.monotonic() < deadline, "Patroni promoted no standby: " + cluster.run("status")
            time.sleep(0.5)
        times["promoted"] = time.monotonic()
        cluster.run("start", old_node)  # the machine is back: it rejoins as a standby (pg_rewind)
        cluster.run("wait-sync", "180", timeout=200)
        times["synchronous_again"] = time.monotonic()

    outcome = load.drive(world, server, cards=40, payments=40, disturb=machine_dies, deadline_seconds=300)
    world.engine.dispose()
    outcome.assert_only_503_and_all_answered()
    outcome.assert_books_hold_exactly_what_was_acknowledged(world, server.env)
    status = cluster.run("status")
    assert cluster.leader_port() not in ("", old) and "Sync Standby" in status, status
    rto = outcome.first_success_after[load.REDEEM] - times["kill"]
    with capsys.disabled():
        print(f"\nfailover drill: acknowledged writes {len(outcome.final)} (all in the books once), "
              f"promotion after {times['promoted'] - times['kill']:.1f} s, first redemption after {rto:.1f} s "
              f"(RTO), synchronous standby back after {times['synchronous_again'] - times['kill']:.1f} s; "
              f"answers {dict(outcome.seen)}")

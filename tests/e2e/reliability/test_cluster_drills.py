"""Drills on a real two-node cluster: the database machine dies under load and no acknowledged payment or
redemption is lost (failover); the cluster is restored to a chosen minute from pgBackRest (point in time).

Failover:

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

import datetime as dt
import json
import os
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.integration.redeem_api.world import ACCOUNT_CLEAN, Clock, auth, build_world
from vouchers.storage.api_models import Redemption
from vouchers.storage.db import make_engine
from vouchers.storage.migrate import upgrade_to_head

from . import load
from .conftest import voucherctl

pytestmark = [pytest.mark.drill, pytest.mark.postgres]

ROOT = Path(__file__).resolve().parents[3]
CLUSTER = ROOT / "scripts" / "cluster"
TOOLS = ("patroni", "patronictl", "etcd", "pgbackrest")
AS_POSTGRES = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
PG_BIN = Path(sorted(Path("/usr/lib/postgresql").glob("*/bin"))[-1]) if Path("/usr/lib/postgresql").exists() else Path()
RESTORE_PORT = 5449


@dataclass(frozen=True)
class Cluster:
    env: dict[str, str]
    url: str

    def run(self, *args: str, timeout: float = 180) -> str:
        done = subprocess.run([str(CLUSTER), *args], env=self.env, capture_output=True, text=True,
                              timeout=timeout, check=False)
        assert done.returncode == 0, f"scripts/cluster {' '.join(args)}: {done.stderr}"
        return done.stdout.strip()

    def database(self, name: str) -> str:
        """A new, migrated database on the cluster; its URL."""
        admin = create_engine(make_url(self.url).set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        url = make_url(self.url).set(database=name).render_as_string(hide_password=False)
        engine = make_engine(url)
        upgrade_to_head(engine)
        engine.dispose()
        return url

    def pgbackrest(self, *args: str, timeout: float = 300) -> str:
        directory = self.env["VOUCHER_CLUSTER_DIR"]
        done = subprocess.run([*AS_POSTGRES, "pgbackrest", f"--config={directory}/pgbackrest.conf", "--stanza=vouchers",
                               *args], capture_output=True, text=True, timeout=timeout, check=False)
        assert done.returncode == 0, f"pgbackrest {' '.join(args)}: {done.stdout}{done.stderr}"
        return done.stdout

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
    world = build_world(tmp_path, cluster.database("failover"), now, accounts=50)
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


def test_the_cluster_is_restored_to_a_chosen_instant_with_its_books_and_chains_intact(cluster, tmp_path, now, capsys):
    """Full backup, activity, instant T, more activity; restore to T into a fresh data directory: the books are
    exactly those of T, both chains verify, and a card redeemed after T is unspent again on the copy (the
    copy is the database as it was at T: docs/operations.md says what operations do about the cards
    redeemed after T)."""
    url = cluster.database("restore_drill")
    world = build_world(tmp_path, url, now)
    client = world.app(Clock(now)).test_client()
    before, after = world.cards[0], world.cards[1]

    def redeem(card, key: str):
        return client.post("/api/v1/redemptions", json={"code": card.code, "account_no": ACCOUNT_CLEAN},
                           headers=auth(world.keys["terminal"], key))

    cluster.pgbackrest("backup", "--type=full")
    time.sleep(1.1)  # pgBackRest keeps the backup's stop time in whole seconds: the target must be a later second
    assert redeem(before, "before-t").status_code == 201
    with world.engine.connect() as conn:  # the database's clock: commit times in the WAL are its own
        target = conn.execute(text("SELECT clock_timestamp()")).scalar_one()
    time.sleep(1.0)
    assert redeem(after, "after-t").status_code == 201
    balance_at_t = 10000
    assert world.balance(ACCOUNT_CLEAN)[0] == 2 * balance_at_t
    cluster.pgbackrest("check")  # switches WAL and waits until it is archived

    restored = Path(f"/var/tmp/voucher-restore-{uuid.uuid4().hex[:8]}")
    started = time.monotonic()
    try:
        restored.mkdir(mode=0o700)
        shutil.chown(restored, "postgres", "postgres") if AS_POSTGRES else None
        cluster.pgbackrest(f"--pg1-path={restored}", "--type=time", f"--target={target.isoformat(sep=' ')}",
                           "--target-action=promote", "restore")
        pg_ctl = [*AS_POSTGRES, str(PG_BIN / "pg_ctl"), "-D", str(restored), "-w", "-t", "120", "-l",
                  str(restored / "restore.log"), "-o",
                  f"-p {RESTORE_PORT} -c listen_addresses=127.0.0.1 -c unix_socket_directories={restored} "
                  f"-c archive_mode=off -c synchronous_standby_names=''"]
        subprocess.run([*pg_ctl, "start"], check=True, capture_output=True, timeout=180)
        copy_url = f"postgresql+psycopg://postgres@127.0.0.1:{RESTORE_PORT}/restore_drill"
        copy = create_engine(copy_url)
        deadline = time.monotonic() + 120
        while True:
            with copy.connect() as conn:
                if not conn.execute(text("SELECT pg_is_in_recovery()")).scalar_one():
                    break
            assert time.monotonic() < deadline, (restored / "restore.log").read_text()
            time.sleep(0.5)
        restore_seconds = time.monotonic() - started
        with copy.connect() as conn:
            serials = {row.serial for row in conn.execute(text(f"SELECT serial FROM {Redemption.__tablename__}"))}
        assert serials == {before.serial}
        env = dict(server_env(world), VOUCHER_DATABASE_URL=copy_url)
        for check in (("ledger", "verify"), ("audit", "verify")):
            done = voucherctl(env, *check)
            assert done.returncode == 0, done.stdout + done.stderr
        copy_client = world.app(Clock(now), VOUCHER_DATABASE_URL=copy_url).test_client()
        again = copy_client.post("/api/v1/redemptions", json={"code": after.code, "account_no": ACCOUNT_CLEAN},
                                 headers=auth(world.keys["terminal"], "after-t-on-the-copy"))
        assert again.status_code == 201, again.get_json()
        copy.dispose()
        with capsys.disabled():
            print(f"\nrestore drill: restored to {target.isoformat()} and promoted in {restore_seconds:.1f} s "
                  f"(test data: one full backup and its WAL)")
    finally:
        subprocess.run([*AS_POSTGRES, str(PG_BIN / "pg_ctl"), "-D", str(restored), "-m", "immediate", "stop"],
                       capture_output=True, timeout=60, check=False)
        shutil.rmtree(restored, ignore_errors=True)
        world.engine.dispose()


def test_reports_read_the_synchronous_standby_and_state_its_replay_time(cluster, tmp_path, now, capsys):
    """VOUCHER_REPORTS_DATABASE_URL naming the cluster's standby (libpq ``target_session_attrs=standby``): once the
    standby has replayed a redemption, the reports read there give the primary's figures, say they come from
    the standby and state its replay timestamp; a write through the same configuration lands on the primary."""
    url = cluster.database("reports_drill")
    world = build_world(tmp_path, url, now)
    client = world.app(Clock(now)).test_client()
    with world.engine.connect() as conn:
        before = conn.execute(text("SELECT clock_timestamp()")).scalar_one()
    assert client.post("/api/v1/redemptions", json={"code": world.cards[0].code, "account_no": ACCOUNT_CLEAN},
                       headers=auth(world.keys["terminal"], "reports-drill")).status_code == 201
    with world.engine.connect() as conn:
        written = conn.execute(text("SELECT pg_current_wal_lsn()")).scalar_one()
    port = os.environ.get("VOUCHER_CLUSTER_PORT", "5441")
    nodes = [f"127.0.0.1:{int(port) + i}" for i in (0, 1)]
    standby_url = (f"postgresql+psycopg://postgres@/reports_drill?host={nodes[0]}&host={nodes[1]}"
                   "&target_session_attrs=standby&connect_timeout=3")
    standby = create_engine(standby_url)
    deadline = time.monotonic() + 60
    with standby.connect() as conn:  # synchronous commit means on the standby's disk: wait until it is replayed
        assert conn.execute(text("SELECT pg_is_in_recovery()")).scalar_one()
        while not conn.execute(text("SELECT pg_last_wal_replay_lsn() >= CAST(:lsn AS pg_lsn)"),
                               {"lsn": written}).scalar_one():
            assert time.monotonic() < deadline, "the standby did not replay the redemption"
            time.sleep(0.2)
    standby.dispose()

    day = (now + dt.timedelta(days=1)).date().isoformat()
    reports = (("report", "trial-balance", "--as-of", day, "--json"), ("payments", "list", "--json"),
               ("report", "channels", "--from", now.date().isoformat(), "--to", day, "--json"))
    primary_env = server_env(world)
    standby_env = dict(primary_env, VOUCHER_REPORTS_DATABASE_URL=standby_url)
    for argv in reports:
        on_primary, on_standby = (voucherctl(env, *argv) for env in (primary_env, standby_env))
        assert on_primary.returncode == 0 and on_standby.returncode == 0, on_primary.stderr + on_standby.stderr
        from_primary, from_standby = json.loads(on_primary.stdout), json.loads(on_standby.stdout)
        assert from_primary["data_source"] == "live" and from_standby["data_source"] == "standby", argv
        replayed = dt.datetime.fromisoformat(from_standby["data_as_of"])
        assert replayed.utcoffset() == dt.timedelta(hours=8)  # business time with its offset
        # whole seconds, cut down (the data holds every commit up to at least that second)
        assert before.replace(microsecond=0) <= replayed <= dt.datetime.now(dt.timezone.utc), from_standby
        assert from_standby["data_lag_seconds"] is not None and from_standby["data_lag_seconds"] < 300
        figures = {k: v for k, v in from_standby.items() if not k.startswith("data_")}
        assert figures == {k: v for k, v in from_primary.items() if not k.startswith("data_")}, argv
    assert json.loads(voucherctl(standby_env, *reports[1]).stdout)["total"] == 1  # the redemption, replayed
    # a write with the same configuration goes to the primary (VOUCHER_DATABASE_URL), never to the standby
    posted = voucherctl(standby_env, "payments", "post", "--channel", "counter_cash", "--account-no", ACCOUNT_CLEAN,
                        "--amount", "1.00", "--ref", "reports-drill-write", "--json")
    assert posted.returncode == 0, posted.stderr
    text_report = voucherctl(standby_env, "report", "trial-balance", "--as-of", day)
    assert "hot standby's last replayed commit" in text_report.stdout.splitlines()[-1], text_report.stdout
    world.engine.dispose()
    with capsys.disabled():
        print(f"\nreports drill: standby replayed to {from_standby['data_as_of']}, lag "
              f"{from_standby['data_lag_seconds']} s; figures equal to the primary's")


def server_env(world) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if not k.startswith("VOUCHER_")}, **world.env()}

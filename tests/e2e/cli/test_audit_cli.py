"""The audit chain detects edited, inserted and deleted events; signed checkpoints catch a recomputed chain."""
from __future__ import annotations

import datetime as dt
import json
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import create_engine, text

from vouchers.storage.audit_checkpoint import Checkpoint, sign
from tests.audit_forgery import rewrite_and_rechain, truncate_from

from .conftest import FAR_EXPIRY, Cli, Result


@pytest.fixture
def audited(cli: Cli) -> Cli:
    cli("init", check=True)
    cli("keys", "create", check=True)
    created = cli("batch", "create", "--face-value", "10", "--count", "2", "--expires", FAR_EXPIRY,
                  "--operator", "alice", "--json", check=True).json()
    cli("batch", "approve", created["batch_id"], "--operator", "bob", check=True)
    cli("batch", "void", created["batch_id"], "--reason", "stolen", check=True)
    assert cli("audit", "verify", "--json", check=True).json() == {"events": 3, "ok": True, "problems": []}
    return cli


def _sql(db_url: str, statement: str) -> None:
    engine = create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text(statement))
    engine.dispose()


@pytest.mark.parametrize("tamper", [
    "UPDATE audit_events SET actor = 'mallory' WHERE id = 2",
    "UPDATE audit_events SET reason = 'found again' WHERE id = 3",
    "DELETE FROM audit_events WHERE id = 2",
    "INSERT INTO audit_events (id, at, actor, action, subject_type, subject_id, prev_hash, hash) "
    "SELECT 99, at, 'mallory', 'batch.approved', subject_type, subject_id, prev_hash, 'f00' FROM audit_events WHERE id = 2",
], ids=["edit-actor", "edit-reason", "delete", "insert"])
def test_tampering_is_detected(audited, db_url, tamper):
    _sql(db_url, tamper)
    result = audited("audit", "verify")
    assert result.code != 0 and "audit chain broken" in result.err and result.err.count("\n") == 1


def test_list(audited):
    events = audited("audit", "list", "--json", check=True).json()["events"]
    assert [e["action"] for e in events] == ["batch.void", "batch.approved", "batch.create"]
    assert events[0]["reason"] == "stolen" and events[1]["actor"] == "bob"


# -- signed checkpoints: what an insider who rewrites the table and recomputes the chain cannot hide --------

def _checkpoint(cli: Cli, out: Path) -> dict:
    return cli("audit", "checkpoint", "--out", str(out), "--json", check=True).json()


def _verify(cli: Cli, *files: Path) -> Result:
    return cli("audit", "verify", *[a for f in files for a in ("--checkpoint", str(f))], "--json")


def _tampered(engine_url: str, act) -> None:  # type: ignore[no-untyped-def]
    engine = create_engine(engine_url)
    try:
        act(engine)
    finally:
        engine.dispose()


def test_checkpoint_is_signed_kept_private_and_verifies(audited, tmp_path):
    assert (audited.home / "keys" / "audit-checkpoint.sealed").exists()  # made by `init`
    out = tmp_path / "outside" / "cp.json"
    out.parent.mkdir()
    document = _checkpoint(audited, out)
    assert (document["event_id"], document["events"]) == (3, 3) and len(document["hash"]) == 64
    assert json.loads(out.read_text()) == document and stat.S_IMODE(out.stat().st_mode) == 0o600
    log = audited.home / "audit-checkpoints.jsonl"
    assert json.loads(log.read_text().splitlines()[-1]) == document
    again = audited("audit", "checkpoint", "--out", str(out))
    assert again.code == 1 and "exists" in again.err and again.err.count("\n") == 1
    human = audited("audit", "checkpoint", check=True).out.splitlines()
    assert "newest event 3 (3 events)" in human[0] and json.loads(human[1])["event_id"] == 3
    result = _verify(audited, out, log)
    assert result.code == 0, result.err
    verified = result.json()
    assert verified["ok"] is True and verified["problems"] == []
    assert [(c["event_id"], c["ok"]) for c in verified["checkpoints"]] == [(3, True)] * 3
    assert audited("audit", "verify", "--json", check=True).json() == {"events": 3, "ok": True, "problems": []}


def test_a_rewrite_with_a_recomputed_chain_fails_against_a_checkpoint(audited, db_url, tmp_path):
    out = tmp_path / "cp.json"
    _checkpoint(audited, out)
    _tampered(db_url, lambda engine: rewrite_and_rechain(engine, 2, actor="mallory"))
    assert audited("audit", "verify", "--json", check=True).json()["ok"] is True  # the chain alone is fooled
    result = _verify(audited, out)
    assert result.code == 1 and result.err.count("\n") == 1
    assert result.err.startswith(f"voucherctl: error: audit checkpoint {out}: event 3 has hash ")
    [problem] = result.json()["problems"]
    assert problem["event_id"] == 3 and problem["checkpoint"] == str(out) and "rewritten" in problem["problem"]


def test_deleting_the_newest_events_down_to_a_checkpoint_fails(audited, db_url, tmp_path):
    early, late = tmp_path / "early.json", tmp_path / "late.json"
    _checkpoint(audited, early)
    audited("batch", "create", "--face-value", "10", "--count", "1", "--expires", FAR_EXPIRY, "--operator", "carol",
            check=True)
    assert _checkpoint(audited, late)["event_id"] == 4
    _tampered(db_url, lambda engine: truncate_from(engine, 4))  # after `early`: only `late` can see it
    assert _verify(audited, early).code == 0
    result = _verify(audited, early, late)
    assert result.code == 1 and result.err.count("\n") == 1 and "event 4 is missing" in result.err
    assert [p["checkpoint"] for p in result.json()["problems"]] == [str(late)]
    _tampered(db_url, lambda engine: truncate_from(engine, 3))  # now at the early checkpoint's own event
    assert audited("audit", "verify", "--json", check=True).json() == {"events": 2, "ok": True, "problems": []}
    problems = _verify(audited, early, late).json()["problems"]
    assert [(p["checkpoint"], p["event_id"]) for p in problems] == [(str(early), 3), (str(late), 4)]
    assert all("missing (deleted or truncated" in p["problem"] for p in problems)


def test_a_tampered_or_forged_checkpoint_is_refused(audited, tmp_path):
    genuine = _checkpoint(audited, tmp_path / "cp.json")
    forger = Ed25519PrivateKey.generate()
    forged = sign(Checkpoint(2, genuine["hash"], 2, dt.datetime.now(dt.timezone.utc)), forger)
    cases = {
        "events": ({**genuine, "events": 2}, "altered or forged"),
        "hash": ({**genuine, "hash": "0" * 64}, "altered or forged"),
        "own-key": (forged, "another key"),
        "our-key-named": ({**forged, "public_key": genuine["public_key"]}, "altered or forged"),
    }
    for name, (document, words) in cases.items():
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(document))
        result = _verify(audited, path)
        assert result.code == 1 and result.err.count("\n") == 1 and words in result.err, (name, result.err)
        assert result.json()["problems"] == [{"event_id": None, "checkpoint": str(path),
                                              "problem": result.json()["problems"][0]["problem"]}]
        assert result.json()["problems"][0]["problem"].startswith("refused: ")
    garbage = tmp_path / "garbage.json"
    garbage.write_text("not a checkpoint\n")
    assert "refused: unreadable, or not JSON" in _verify(audited, garbage).err


def test_without_its_key_no_checkpoint_verifies(audited, tmp_path):
    out = tmp_path / "cp.json"
    _checkpoint(audited, out)
    (audited.home / "keys" / "audit-checkpoint.sealed").unlink()
    missing = _verify(audited, out)
    assert missing.code == 1 and "no audit-checkpoint key" in missing.err and missing.err.count("\n") == 1
    assert audited("init", "--json", check=True).json()["audit_checkpoint_key_created"] is True
    replaced = _verify(audited, out)  # a new key cannot vouch for the old checkpoints
    assert replaced.code == 1 and "another key" in replaced.err
    wrong = audited("audit", "verify", "--checkpoint", str(out), env={"VOUCHER_KEY_PASSPHRASE": "not the passphrase"})
    assert wrong.code == 1 and "wrong VOUCHER_KEY_PASSPHRASE" in wrong.err

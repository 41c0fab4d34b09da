"""The issuer's CLI end to end: init, keys, batch create/approve/export, bad input."""
from __future__ import annotations

import csv
import io
import os
import re
import shutil
import stat
import subprocess

import pytest
from sqlalchemy import create_engine, func, select

from vouchers.storage.models import Batch, Voucher
from vouchers.codes import normalize_code
from vouchers.keyring import KeyRing
from vouchers.token import verify_token

from .conftest import FAR_EXPIRY, VOUCHERCTL

pytestmark = pytest.mark.skipif(shutil.which("age") is None, reason="Debian package `age` is required")


def _counts(db_url: str) -> tuple[int, int]:
    engine = create_engine(db_url)
    with engine.connect() as conn:
        result = (conn.scalar(select(func.count()).select_from(Batch)),
                  conn.scalar(select(func.count()).select_from(Voucher)))
    engine.dispose()
    return result


@pytest.fixture
def ready(cli):
    cli("init", check=True)
    cli("keys", "create", check=True)
    return cli


def test_workflow_export_opens_with_age(ready, tmp_path, db_url, now):
    cli = ready
    created = cli("batch", "create", "--face-value", "100.00", "--count", "12", "--expires", FAR_EXPIRY,
                  "--operator", "alice", "--json", check=True).json()
    assert created["count"] == 12 and created["batch_id"].startswith("B01-")
    assert {"batch_id", "count", "first_serial", "last_serial"} <= set(created)

    refused = cli("batch", "approve", created["batch_id"], "--operator", "alice")
    assert refused.code != 0 and refused.err.count("\n") == 1 and "second person" in refused.err
    cli("batch", "approve", created["batch_id"], "--operator", "bob", check=True)

    subprocess.run(["age-keygen", "-o", str(tmp_path / "key.txt")], check=True, capture_output=True)
    recipient = re.search(r"age1[0-9a-z]+", (tmp_path / "key.txt").read_text()).group(0)
    out = tmp_path / "print-house.age"
    cli("batch", "export", created["batch_id"], "--recipient", recipient, "--out", str(out), check=True)
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    plaintext = subprocess.run(["age", "-d", "-i", str(tmp_path / "key.txt"), str(out)], check=True,
                               capture_output=True).stdout.decode("utf-8")
    lines = plaintext.split("\n")
    assert lines[0] == "serial,code,token,face_value,currency,expires"
    rows = list(csv.DictReader(io.StringIO(plaintext)))
    assert len(rows) == 12 and lines[-1] == ""
    assert rows[0]["serial"] == created["first_serial"] and rows[-1]["serial"] == created["last_serial"]
    ring = KeyRing.from_export(cli("keys", "export-public", check=True).json())
    for row in rows:
        assert re.fullmatch(r"\d{20}", row["code"]) and normalize_code(row["code"]) == row["code"]
        assert row["face_value"] == "100.00" and row["currency"] == "CNY" and row["expires"] == FAR_EXPIRY
        claims = verify_token(row["token"], ring, now.date())
        assert (claims.serial, claims.code) == (row["serial"], row["code"])
    # another copy of the codes: --reexport --reason, as a reprint (the refusals: tests/integration/issuer)
    again = tmp_path / "again.age"
    cli("batch", "export", created["batch_id"], "--recipient", recipient, "--out", str(again), "--reexport",
        "--reason", "the print house lost the first file", check=True)
    assert stat.S_IMODE(os.stat(again).st_mode) == 0o600


def test_keys_rotate_revoke_export_public(ready):
    cli = ready
    first = cli("keys", "list", "--json", check=True).json()["keys"][0]["key_id"]
    rotated = cli("keys", "rotate", "--json", check=True).json()
    assert rotated["retired"] == [first]
    cli("keys", "revoke", first, check=True)
    document = cli("keys", "export-public", check=True).json()
    assert cli("keys", "export-public", "--json", check=True).json() == document  # --json: accepted, same document
    assert {(k["key_id"], k["status"]) for k in document["keys"]} == {(first, "revoked"),
                                                                      (rotated["key_id"], "active")}
    assert all(k["alg"] == "Ed25519" and len(k["public_key"]) == 43 for k in document["keys"])


BAD_CREATE = [
    (["--face-value", "0"], "greater than zero"),
    (["--face-value", "-5.00"], "invalid amount"),
    (["--face-value", "1.001"], "invalid amount"),
    (["--count", "0"], "count must be"),
    (["--count", "5001"], "count must be"),
    (["--expires", "2020-01-01"], "not in the future"),
    (["--expires", "tomorrow"], "--expires must be a date"),
    (["--currency", "XYZ"], "unknown or unsupported currency"),
    (["--count", "ten"], "not a valid integer"),
    (["--workers", "0"], "'--workers': 0 is not in the range x>=1"),
    (["--workers", "-3"], "'--workers': -3 is not in the range x>=1"),
]


@pytest.mark.parametrize("override, message", BAD_CREATE, ids=[m for _, m in BAD_CREATE])
def test_bad_batch_input_is_one_line_and_writes_nothing(ready, db_url, override, message):
    args = {"--face-value": "100.00", "--count": "5", "--expires": FAR_EXPIRY, "--operator": "alice"}
    for flag, value in zip(override[::2], override[1::2]):
        args[flag] = value
    before = _counts(db_url)
    result = ready("batch", "create", *[x for kv in args.items() for x in kv])
    assert result.code != 0
    assert result.err.count("\n") == 1 and message in result.err and "Traceback" not in result.err
    assert result.out == ""
    assert _counts(db_url) == before
    assert not (ready.home / "batches").exists() or not list((ready.home / "batches").iterdir())


def test_wrong_and_missing_passphrase(ready, db_url):
    wrong = ready("batch", "create", "--face-value", "1", "--count", "1", "--expires", FAR_EXPIRY,
                  "--operator", "a", env={"VOUCHER_KEY_PASSPHRASE": "wrong"})
    assert wrong.code != 0 and wrong.err.strip() == "voucherctl: error: wrong VOUCHER_KEY_PASSPHRASE: cannot unlock the key store"
    env = dict(ready.env)
    env.pop("VOUCHER_KEY_PASSPHRASE")
    missing = subprocess.run([*VOUCHERCTL, "keys", "create"], env=env, capture_output=True, text=True)
    assert missing.returncode != 0 and "VOUCHER_KEY_PASSPHRASE is not set" in missing.stderr
    assert missing.stderr.count("\n") == 1
    assert _counts(db_url) == (0, 0)


def test_init_refuses_a_short_passphrase_for_a_new_key_store(cli):
    for weak in ("a", "eleven char"):
        refused = cli("init", env={"VOUCHER_KEY_PASSPHRASE": weak})
        assert refused.code == 1 and refused.err.count("\n") == 1, refused.err
        assert "too short to create a key store" in refused.err and "at least 12 characters" in refused.err
        assert not (cli.home / "keys").exists()
    assert cli("init", "--json", check=True).json()["key_store_created"] is True


def test_missing_key_store(cli, tmp_path):
    result = cli("keys", "list", env={"VOUCHER_HOME": str(tmp_path / "nowhere")})
    assert result.code != 0 and "voucherctl init" in result.err and result.err.count("\n") == 1
    assert not (tmp_path / "nowhere").exists()


def test_export_refuses_draft_and_bad_recipient(ready, tmp_path):
    created = ready("batch", "create", "--face-value", "50", "--count", "2", "--expires", FAR_EXPIRY,
                    "--operator", "alice", "--json", check=True).json()
    out = tmp_path / "x.age"
    draft = ready("batch", "export", created["batch_id"], "--recipient", "age1" + "q" * 58, "--out", str(out))
    assert draft.code != 0 and not out.exists()
    ready("batch", "approve", created["batch_id"], "--operator", "bob", check=True)
    bad = ready("batch", "export", created["batch_id"], "--recipient", "not-a-key", "--out", str(out))
    assert bad.code != 0 and "age X25519 recipient" in bad.err and not out.exists()
    unwritable = ready("batch", "export", created["batch_id"], "--recipient",
                       "age1cmu2gv6z4tm6dcsdd2tp2qw5dkqyugus8n328n27vkhjete7w33q9h8pvn",
                       "--out", str(tmp_path / "no" / "such" / "dir" / "x.age"))
    assert unwritable.code != 0 and unwritable.err.count("\n") == 1
    assert list(tmp_path.glob("*.partial")) == [] and list(tmp_path.glob(".*.partial")) == []


def test_init_is_idempotent(ready):
    again = ready("init", "--json", check=True).json()
    assert again["key_store_created"] is False and again["schema_before"] == again["schema"]
    assert again["audit_checkpoint_key_created"] is False


def test_two_first_exports_started_together_write_one_file(ready, tmp_path):
    """Two `batch export` processes started at once for one batch: one writes the file, the other exits
    non-zero with one line on stderr and leaves no file (the claim: tests/integration/issuer/test_printing.py)."""
    created = ready("batch", "create", "--face-value", "50", "--count", "20", "--expires", FAR_EXPIRY,
                    "--operator", "alice", "--json", check=True).json()
    ready("batch", "approve", created["batch_id"], "--operator", "bob", check=True)
    from pyrage import x25519

    recipient = str(x25519.Identity.generate().to_public())
    outs = [tmp_path / "one.age", tmp_path / "two.age"]
    procs = [subprocess.Popen([*VOUCHERCTL, "batch", "export", created["batch_id"], "--recipient", recipient,
                               "--out", str(out), "--operator", name], env=ready.env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for out, name in zip(outs, ("carol", "dave"))]
    results = [(p.wait(120), *p.communicate()) for p in procs]
    assert sorted(code for code, _, _ in results) == [0, 1], results
    [(_, _, err)] = [r for r, out in zip(results, outs) if r[0] == 1]
    assert err.count("\n") == 1 and "--reexport --reason" in err, err
    assert [out.exists() for out in outs] == [code == 0 for code, _, _ in results]
    assert not list(tmp_path.glob("*.partial"))

"""The page's proof-of-work script (redeem_api/static/pow.js) finds what the server accepts (vouchers.pow)."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from vouchers import pow as proof_of_work

SCRIPT = Path(__file__).resolve().parents[3] / "redeem_api" / "static" / "pow.js"


def _node() -> str:
    found = shutil.which("node")
    if found:
        return found
    import playwright

    bundled = Path(playwright.__file__).parent / "driver" / "node"
    if not bundled.exists():
        pytest.skip("no node to run the page's script")
    return str(bundled)


def test_the_script_solves_a_challenge_the_server_verifies():
    secret, ip, now = b"k" * 32, "100.64.0.1", 1_800_000_000
    challenge = proof_of_work.issue(secret, ip, 10, now)
    program = (f"global.window = {{}}; global.document = {{getElementById: () => null}};"
               f"require({json.dumps(str(SCRIPT))});"
               f"window.vouchersPow.solve({json.dumps(challenge)}, 10, s => console.log(s));")
    solution = subprocess.run([_node(), "-e", program], capture_output=True, text=True, timeout=30,
                              check=True).stdout.strip()
    proof = proof_of_work.verify(secret, ip, challenge, solution, now + 5, 600)
    assert proof.bits == 10
    with pytest.raises(proof_of_work.InvalidChallenge):
        proof_of_work.verify(secret, "100.64.0.2", challenge, solution, now + 5, 600)  # another address
    with pytest.raises(proof_of_work.InvalidChallenge):
        proof_of_work.verify(secret, ip, challenge, solution, now + 601, 600)  # expired

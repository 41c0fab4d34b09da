"""Shared fixtures: real Ed25519 keys, real EV1 tokens, and helpers to
rasterise PDFs (pdftoppm) and read their symbols back (zbarimg)."""
from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from print_templates import BatchCover, CardRecord, card_data_sha256
from vouchers.claims import VoucherClaims
from vouchers.codes import generate_code
from vouchers.keyring import KeyRing, KeyStatus, PublicKey
from vouchers.serials import Serial, batch_id_for
from vouchers.token import TokenSigner

REPO_ROOT = Path(__file__).resolve().parents[3]
ARTIFACTS = REPO_ROOT / "test-artifacts" / "print"
KEY_ID = "k2026-01"
EXPIRES = dt.date(2027, 12, 31)
TODAY = dt.date(2026, 11, 26)
PRINTED_AT = dt.datetime(2026, 11, 26, 16, 30, tzinfo=dt.timezone(dt.timedelta(hours=8)))


@dataclass
class Batch:
    cards: list[CardRecord]
    cover: BatchCover
    keyring: KeyRing

    @property
    def tokens(self) -> set[str]:
        return {c.token for c in self.cards}

    @property
    def serials(self) -> set[str]:
        return {c.serial for c in self.cards}


def make_batch(
    count: int,
    *,
    face_value: int = 10_000,
    issuer: int = 1,
    batch_number: int = 42,
    first_sequence: int = 1,
    key_id: str = KEY_ID,
    private_key: Ed25519PrivateKey | None = None,
    operator: str = "alice",
) -> Batch:
    key = private_key or Ed25519PrivateKey.generate()
    signer = TokenSigner(key_id, key)
    batch_id = batch_id_for(issuer, batch_number)
    cards = []
    for seq in range(first_sequence, first_sequence + count):
        serial = str(Serial(issuer, batch_number, seq))
        code = generate_code()
        token = signer.sign(VoucherClaims(serial, batch_id, face_value, "CNY", EXPIRES, code))
        cards.append(CardRecord(serial, code, token, face_value, "CNY", EXPIRES))
    cover = BatchCover(
        batch_id=batch_id,
        face_value=face_value,
        currency="CNY",
        count=count,
        first_serial=cards[0].serial,
        last_serial=cards[-1].serial,
        expires=EXPIRES,
        key_id=key_id,
        card_data_sha256=card_data_sha256(cards),
        printed_at=PRINTED_AT,
        operator=operator,
    )
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return Batch(cards, cover, KeyRing([PublicKey(key_id, public, KeyStatus.ACTIVE)]))


@pytest.fixture(scope="session")
def batch24() -> Batch:
    """24 cards of ¥5,000.00 (the widest face value on the platform's cards)."""
    return make_batch(24, face_value=500_000)


def _need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"{tool} is required (apt-get install poppler-utils zbar-tools)")
    return path


def rasterise(pdf: Path, out_dir: Path, *, first: int = 1, last: int | None = None, dpi: int = 300) -> list[Path]:
    """Pages of ``pdf`` as PNG files (pdftoppm), in page order."""
    out_dir.mkdir(parents=True, exist_ok=True)
    cmd = [_need("pdftoppm"), "-r", str(dpi), "-png", "-f", str(first)]
    if last is not None:
        cmd += ["-l", str(last)]
    subprocess.run([*cmd, str(pdf), str(out_dir / "page")], check=True, capture_output=True, timeout=300)
    return sorted(out_dir.glob("page-*.png"), key=lambda p: int(p.stem.rsplit("-", 1)[1]))


def decode(images: list[Path], symbology: str) -> list[str]:
    """Every symbol of one symbology (``qrcode`` or ``code128``) zbarimg finds."""
    return [text for page in scan(images) for text in page[symbology]]


def scan(images: list[Path]) -> list[dict[str, list[str]]]:
    """Per image: {"qrcode": [...], "code128": [...]} as zbarimg reads them
    (one zbarimg run per image, both symbologies, nothing else enabled)."""
    pages = []
    for image in images:
        result = subprocess.run(
            [_need("zbarimg"), "-q", "-Sdisable", "-Sqrcode.enable", "-Scode128.enable", str(image)],
            capture_output=True, text=True, timeout=300,
        )
        # exit 4 = no symbol found at all; anything else but 0 is an error
        assert result.returncode in (0, 4), result.stderr
        found: dict[str, list[str]] = {"qrcode": [], "code128": []}
        for line in result.stdout.splitlines():
            kind, _, text = line.partition(":")
            found[{"QR-Code": "qrcode", "CODE-128": "code128"}[kind]].append(text)
        pages.append(found)
    return pages


def pdf_fonts(pdf: Path) -> list[dict[str, str]]:
    """Rows of ``pdffonts`` as dicts: name, emb, sub, uni and the raw line.
    The last five columns (emb sub uni object-id generation) are read from
    the right, since the type column may contain spaces ("Type 1")."""
    out = subprocess.run([_need("pdffonts"), str(pdf)], capture_output=True, text=True, check=True, timeout=60).stdout
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["name", "type", "encoding"], out
    assert set(lines[1]) <= {"-", " "}, out
    rows = []
    for line in lines[2:]:
        fields = line.split()
        rows.append({"name": fields[0], "emb": fields[-5], "sub": fields[-4], "uni": fields[-3], "raw": line})
    return rows

"""The worker-side card factory: every byte it hands the parent equals the generic path's."""
from __future__ import annotations

import datetime as dt
import io
import secrets

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pyrage import x25519
from sqlalchemy import text

from issuer.cardstore import CSV_HEADER, card_csv_line, parse_card_line
from issuer.generation import COPY, ROWS, BatchSpec, CardFactory
from issuer.streams import IterReader, decrypt_chunks, encrypt_stream
from vouchers.storage.bulk import insert_voucher_rows, sqlite_bulk_cache
from vouchers.claims import VoucherClaims
from vouchers.codes import code_hash, generate_codes
from vouchers.money import format_amount
from vouchers.serials import Serial
from vouchers.token import TokenSigner

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
SPEC = BatchSpec(7, 4242, "B07-004242", 12345, "CNY", dt.date(2028, 2, 29), 30_000)


def _factory(form: str, **kwargs) -> tuple[CardFactory, bytes]:
    pepper = secrets.token_bytes(32)
    return CardFactory(SPEC, TokenSigner("ev-test-1", KEY), pepper, form=form, **kwargs), pepper


@pytest.mark.parametrize("start, stop", [(1, 4), (9_995, 10_006), (19_998, 20_003), (1, 10_001),
                                         (9_999_990, 10_000_000)])
def test_serials_equal_serial_str(start, stop):
    factory, _ = _factory(ROWS)
    assert factory.serials(start, stop) == [str(Serial(7, 4242, s)) for s in range(start, stop)]


def test_serials_refuse_out_of_range():
    factory, _ = _factory(ROWS)
    with pytest.raises(Exception):
        factory.serials(9_999_999, 10_000_001)


@pytest.mark.parametrize("form", [COPY, ROWS])
def test_chunk_bytes_equal_the_generic_encoders(form):
    factory, pepper = _factory(form)
    chunk = factory.make_chunk(9_990, 10_010)  # crosses a serial block of 10,000
    lines = chunk.csv.decode("ascii").splitlines(keepends=True)
    assert len(lines) == len(chunk) == 20
    signer = TokenSigner("ev-test-1", KEY)
    copy_lines = chunk.copy_text.decode("ascii").splitlines(keepends=True) if form == COPY else None
    for i, line in enumerate(lines):
        sequence = 9_990 + i
        card = parse_card_line(line)
        serial = str(Serial(7, 4242, sequence))
        claims = VoucherClaims(serial, "B07-004242", 12345, "CNY", dt.date(2028, 2, 29), card.code)
        assert line == card_csv_line(serial, card.code, signer.sign(claims), format_amount(12345), "CNY",
                                     "2028-02-29")
        digest = code_hash(pepper, card.code)
        if form == ROWS:
            assert chunk.rows[i] == (serial, sequence, digest) and chunk.copy_text is None
        else:
            assert copy_lines[i] == f"{serial}\t4242\t{sequence}\t\\\\x{digest.hex()}\t12345\tCNY\t2028-02-29\tinactive\n"
            assert chunk.rows is None


def test_code_source_is_used_in_order_and_checked():
    wanted = generate_codes(2) + ["00000000000000000000"]
    codes = iter(wanted)
    factory, _ = _factory(ROWS, code_source=lambda: next(codes))
    chunk = factory.make_chunk(1, 4)
    assert [parse_card_line(line).code for line in chunk.csv.decode().splitlines()] == wanted
    for bad in ["1234", "1234567890123456789x", "１２３４５６７８９０１２３４５６７８９０"]:
        factory, _ = _factory(ROWS, code_source=lambda bad=bad: bad)
        with pytest.raises(ValueError):
            factory.make_chunk(1, 2)


def test_unknown_form_is_refused():
    with pytest.raises(ValueError):
        _factory("csv")


@pytest.mark.parametrize("read_size", [1, 7, 4096, 1 << 20])
def test_iter_reader_returns_the_concatenation(read_size):
    chunks = [b"", b"a", secrets.token_bytes(5000), b"", secrets.token_bytes(70_001), b"z"]
    reader, out = IterReader(chunks), bytearray()
    buffer = bytearray(read_size)
    while n := reader.readinto(buffer):
        out += buffer[:n]
    assert bytes(out) == b"".join(chunks)


def test_encrypted_stream_round_trip_and_producer_error():
    identity = x25519.Identity.generate()
    chunks = [(CSV_HEADER + "\n").encode()] + [secrets.token_bytes(300_000) for _ in range(5)]
    sealed = io.BytesIO()
    encrypt_stream(iter(chunks), sealed, [identity.to_public()])
    sealed.seek(0)
    assert b"".join(decrypt_chunks(sealed, [identity])) == b"".join(chunks)

    def failing():
        yield b"x" * 100_000
        raise RuntimeError("producer failed")

    with pytest.raises(RuntimeError, match="producer failed"):
        encrypt_stream(failing(), io.BytesIO(), [identity.to_public()])


def test_sqlite_bulk_cache_is_restored(engine):
    with engine.connect() as connection:
        if connection.dialect.name != "sqlite":
            with sqlite_bulk_cache(connection):  # a no-op elsewhere
                pass
            return
        before = connection.exec_driver_sql("PRAGMA cache_size").scalar()
        with sqlite_bulk_cache(connection, kib=12345):
            assert connection.exec_driver_sql("PRAGMA cache_size").scalar() == -12345
        assert connection.exec_driver_sql("PRAGMA cache_size").scalar() == before


@pytest.mark.parametrize("constants", [
    {"batch_pk": 1, "face_value": 1, "currency": "C'Y", "expires": dt.date(2028, 1, 1)},
    {"batch_pk": "1", "face_value": 1, "currency": "CNY", "expires": dt.date(2028, 1, 1)},
    {"batch_pk": 1, "face_value": 1.0, "currency": "CNY", "expires": dt.date(2028, 1, 1)},
    {"batch_pk": 1, "face_value": 1, "currency": "CNY", "expires": "2028-01-01"},
])
def test_row_insert_refuses_constants_that_are_not_plain_values(engine, constants):
    with engine.connect() as connection:
        with pytest.raises(ValueError):
            insert_voucher_rows(connection, [], **constants)
        assert connection.execute(text("SELECT count(*) FROM vouchers")).scalar() == 0


_SCRIPT = """
import os, sys
if __name__ != "__main__":  # a spawned worker re-running this script
    open(os.environ["MARKER"], "a").write("main module imported by a worker\\n")
else:
    import datetime as dt
    from issuer.generation import PARALLEL_THRESHOLD, ROWS, BatchSpec, generate
    spec = BatchSpec(1, 1, "B01-000001", 100, "CNY", dt.date(2028, 1, 1), PARALLEL_THRESHOLD)
    cards = sum(len(chunk) for chunk in generate(spec, "kid", bytes(range(32)), b"pepper", workers=2,
                                                 chunk_size=PARALLEL_THRESHOLD // 2, form=ROWS))
    print(cards)
"""


def test_signing_workers_do_not_rerun_the_main_script(tmp_path):
    """voucherctl's main module is the whole CLI: each worker would spend a second importing it."""
    import subprocess
    import sys

    from issuer.generation import PARALLEL_THRESHOLD

    script, marker = tmp_path / "main_script.py", tmp_path / "marker"
    script.write_text(_SCRIPT)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True,
                         env={**__import__("os").environ, "MARKER": str(marker)}, timeout=300)
    assert out.stdout.strip() == str(PARALLEL_THRESHOLD)
    assert not marker.exists()

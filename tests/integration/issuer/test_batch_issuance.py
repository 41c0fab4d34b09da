"""Batch generation on SQLite and PostgreSQL: complete, unique, secret-free, atomic."""
from __future__ import annotations

import datetime as dt
import subprocess
import threading
from itertools import cycle

import pytest
from sqlalchemy import func, select

from issuer.batches import approve_batch, get_batch, void_batch
from issuer.cardstore import card_file_path, read_cards
from issuer.errors import BatchStateError, MakerCheckerViolation
from vouchers.storage.audit import verify_chain
from vouchers.storage.models import AuditEvent, Batch, Voucher
from vouchers.codes import code_hash, generate_code, group_code
from vouchers.serials import Serial
from vouchers.token import verify_token


def _cards(issuer, batch_id):
    return list(read_cards(card_file_path(issuer.store.home, batch_id), issuer.store.cardstore_identity(issuer.passphrase)))


def test_batch_is_complete_and_verifiable(issuer):
    summary = issuer.create(count=50)
    cards = _cards(issuer, summary.batch_id)
    assert [c.serial for c in cards] == [str(Serial(1, int(summary.batch_id[-6:]), i)) for i in range(1, 51)]
    assert summary.first_serial == cards[0].serial and summary.last_serial == cards[-1].serial
    ring = issuer.store.keyring()
    pepper = issuer.store.pepper(issuer.web_passphrase)
    with issuer.sessions() as session:
        stored = {v.serial: v for v in session.execute(select(Voucher)).scalars()}
    assert len(stored) == 50
    for card in cards:
        claims = verify_token(card.token, ring, dt.date(2026, 11, 26))
        assert (claims.serial, claims.code, claims.face_value) == (card.serial, card.code, 10000)
        assert stored[card.serial].code_hash == code_hash(pepper, card.code)
        assert stored[card.serial].status == "inactive"


def test_two_batches_have_disjoint_serials(issuer):
    a, b = issuer.create(count=5), issuer.create(count=5)
    assert a.batch_id != b.batch_id
    serials_a = {c.serial for c in _cards(issuer, a.batch_id)}
    serials_b = {c.serial for c in _cards(issuer, b.batch_id)}
    assert not serials_a & serials_b


def test_no_plaintext_code_in_sqlite_file(issuer, db_url, engine):
    if not db_url.startswith("sqlite"):
        pytest.skip("the PostgreSQL variant uses pg_dump")
    summary = issuer.create(count=200)
    engine.dispose()
    issuer.sessions.kw["bind"].dispose()
    path = db_url.removeprefix("sqlite:///")
    raw = b"".join(open(p, "rb").read() for p in [path, path + "-wal"] if __import__("os").path.exists(p))
    cards = _cards(issuer, summary.batch_id)
    assert len(cards) == 200
    for card in cards:
        assert card.code.encode() not in raw
        assert group_code(card.code).encode() not in raw
        assert card.token.encode() not in raw


@pytest.mark.postgres
def test_no_plaintext_code_in_pg_dump(issuer, db_url):
    if not db_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only")
    summary = issuer.create(count=200)
    from sqlalchemy.engine import make_url

    url = make_url(db_url)
    dump = subprocess.run(["pg_dump", "-h", url.host or "127.0.0.1", "-p", str(url.port or 5432), "-U",
                           url.username or "postgres", url.database], capture_output=True, check=True).stdout
    assert b"COPY public.vouchers" in dump
    for card in _cards(issuer, summary.batch_id):
        assert card.code.encode() not in dump
        assert group_code(card.code).encode() not in dump


def test_failure_midway_leaves_nothing(issuer):
    with pytest.raises(RuntimeError, match="injected"):
        issuer.create(count=3000, code_source=generate_code, fail_after=2000)
    with issuer.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Voucher)) == 0
        assert session.scalar(select(func.count()).select_from(Batch)) == 0
    batches_dir = issuer.store.home / "batches"
    assert not batches_dir.exists() or list(batches_dir.iterdir()) == []


def test_code_collisions_are_retried_not_dropped(issuer):
    first = issuer.create(count=3)
    taken = _cards(issuer, first.batch_id)[0].code
    fresh = [generate_code() for _ in range(10)]
    # the 1st code collides with the earlier batch, the 3rd repeats the 2nd within the chunk;
    # the regenerated chunk then draws fresh[3:8]
    source = cycle([taken, fresh[0], fresh[0], *fresh[1:]])
    summary = issuer.create(count=5, code_source=lambda: next(source))
    cards = _cards(issuer, summary.batch_id)
    assert len(cards) == 5 and len({c.code for c in cards}) == 5
    assert taken not in {c.code for c in cards}
    with issuer.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Voucher)) == 8
        event = session.execute(select(AuditEvent).where(AuditEvent.subject_id == summary.batch_id)).scalar_one()
        assert '"collisions_retried": 1' in event.details


def test_parallel_generation_path(issuer):
    summary = issuer.create(count=21_000, workers=2)
    cards = _cards(issuer, summary.batch_id)
    assert len(cards) == 21_000 and len({c.code for c in cards}) == 21_000
    assert [int(c.serial[8:15]) for c in cards[:3]] == [1, 2, 3]
    ring = issuer.store.keyring()
    for card in cards[::2000]:
        verify_token(card.token, ring, dt.date(2026, 11, 26))


def test_maker_checker_and_lifecycle(issuer, now):
    summary = issuer.create(count=3, operator="alice")
    with issuer.sessions.begin() as session:
        with pytest.raises(MakerCheckerViolation):
            approve_batch(session, summary.batch_id, "Alice", now)
    with issuer.sessions.begin() as session:
        assert approve_batch(session, summary.batch_id, "bob", now).status == "approved"
    with issuer.sessions.begin() as session:
        with pytest.raises(BatchStateError):
            approve_batch(session, summary.batch_id, "carol", now)
    with issuer.sessions.begin() as session:
        _, voided = void_batch(session, summary.batch_id, "stolen in transit", "bob", now)
        assert voided == 3
    with issuer.sessions() as session:
        assert get_batch(session, summary.batch_id).status == "void"
        statuses = set(session.execute(select(Voucher.status)).scalars())
        assert statuses == {"void"}
        actions = [e.action for e in session.execute(select(AuditEvent).order_by(AuditEvent.id)).scalars()]
        assert actions == ["batch.create", "batch.approved", "batch.void"]
        assert list(verify_chain(session)) == []


@pytest.mark.postgres
def test_concurrent_batches_on_postgres_are_disjoint_and_complete(issuer, db_url):
    if not db_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only")
    results, errors = [], []

    def run():
        try:
            results.append(issuer.create(count=3000, workers=1))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len({r.batch_id for r in results}) == 3
    with issuer.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Voucher)) == 9000
        assert session.scalar(select(func.count(func.distinct(Voucher.serial)))) == 9000


def test_ship_and_close_destroys_card_file(issuer, now):
    from sqlalchemy import update

    from issuer.batches import close_batch, transition_batch

    summary = issuer.create(count=2)
    path = card_file_path(issuer.store.home, summary.batch_id)
    with issuer.sessions.begin() as session:
        approve_batch(session, summary.batch_id, "bob", now)
        transition_batch(session, summary.batch_id, "shipped", "bob", now)
        with pytest.raises(BatchStateError, match="can be sold or redeemed"):
            close_batch(session, summary.batch_id, "bob", now, issuer.store.home)
    assert path.exists()
    with issuer.sessions.begin() as session:
        session.execute(update(Voucher).values(status="expired"))
        assert close_batch(session, summary.batch_id, "bob", now, issuer.store.home).status == "closed"
    assert not path.exists()


def test_a_damaged_or_foreign_card_file_is_a_clear_card_store_error(issuer, tmp_path):
    from issuer.errors import CardStoreError
    from vouchers.keystore.store import KeyStore
    from tests.conftest import cheap_sealing

    summary = issuer.create(count=3)
    path = card_file_path(issuer.store.home, summary.batch_id)
    identity = issuer.store.cardstore_identity(issuer.passphrase)
    other = KeyStore(tmp_path / "other")
    with cheap_sealing():
        other.initialise(issuer.passphrase, issuer.web_passphrase)
    original = path.read_bytes()
    cases = [(original[:len(original) // 2], identity, "cannot be decrypted: it is damaged"),
             (b"garbage", identity, "cannot be decrypted"),
             (original, other.cardstore_identity(issuer.passphrase), "sealed for another key store")]
    for data, key, words in cases:
        path.write_bytes(data)
        with pytest.raises(CardStoreError, match=words) as raised:
            list(read_cards(path, key))
        assert summary.batch_id in str(raised.value)
    path.unlink()
    path.mkdir()
    with pytest.raises(CardStoreError, match="cannot read the sealed card file"):
        list(read_cards(path, identity))

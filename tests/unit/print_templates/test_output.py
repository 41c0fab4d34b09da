"""Output files: splitting, naming, hashes, mode 0600, and nothing left
behind when anything fails."""
from __future__ import annotations

import dataclasses
import hashlib
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from print_templates import (
    BatchMismatch,
    InvalidCardData,
    PrintError,
    RenderFailed,
    UnknownLayout,
    UnwritablePath,
    card_data_sha256,
    render_batch,
)

from tests.unprivileged import run_unprivileged, unprivileged_dir  # noqa: F401 - a fixture

from .conftest import decode, make_batch, rasterise


@pytest.fixture(scope="module")
def batch25():
    return make_batch(25)


def listing(directory) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_split_into_numbered_files(batch25, tmp_path) -> None:
    progress: list[int] = []
    out = tmp_path / "batch.pdf"
    files = render_batch(
        iter(batch25.cards), batch25.cover, "a4-cards", out, max_cards_per_file=10, workers=2, progress=progress.append
    )
    assert [f.path.name for f in files] == ["batch-0001.pdf", "batch-0002.pdf", "batch-0003.pdf"]
    assert [f.card_count for f in files] == [10, 10, 5]
    assert [f.pages for f in files] == [6, 6, 4]  # cover and its back, then 2, 2, 1 sheets of fronts and backs
    assert listing(tmp_path) == ["batch-0001.pdf", "batch-0002.pdf", "batch-0003.pdf"]  # no temp file left
    serials = [c.serial for c in batch25.cards]
    assert [(f.first_serial, f.last_serial) for f in files] == [
        (serials[0], serials[9]), (serials[10], serials[19]), (serials[20], serials[24])
    ]
    for f in files:
        assert f.sha256 == hashlib.sha256(f.path.read_bytes()).hexdigest()
        assert stat.S_IMODE(f.path.stat().st_mode) == 0o600
        assert f.path.read_bytes().startswith(b"%PDF-")
    assert progress == [10, 20, 25]
    # the last file holds exactly the last five cards
    assert sorted(decode(rasterise(files[2].path, tmp_path / "png", first=2), "code128")) == serials[20:]


def test_one_file_keeps_the_plain_name(batch25, tmp_path) -> None:
    out = tmp_path / "batch.pdf"
    files = render_batch(batch25.cards, batch25.cover, "a4-sheet", out, max_cards_per_file=25, workers=2)
    assert [f.path for f in files] == [out] and files[0].card_count == 25
    assert listing(tmp_path) == ["batch.pdf"]


def test_mode_is_0600_whatever_the_umask(batch25, tmp_path) -> None:
    old = os.umask(0)
    try:
        [f] = render_batch(batch25.cards, batch25.cover, "receipt-80mm", tmp_path / "r.pdf", workers=1)
    finally:
        os.umask(old)
    assert stat.S_IMODE(f.path.stat().st_mode) == 0o600


def test_output_is_reproducible_and_independent_of_workers(batch25, tmp_path) -> None:
    a = render_batch(batch25.cards, batch25.cover, "a4-cards", tmp_path / "a.pdf", workers=1)
    b = render_batch(batch25.cards, batch25.cover, "a4-cards", tmp_path / "b.pdf", workers=2)
    assert a[0].sha256 == b[0].sha256


def test_existing_file_is_replaced(batch25, tmp_path) -> None:
    out = tmp_path / "batch.pdf"
    out.write_bytes(b"old")
    out.chmod(0o644)
    [f] = render_batch(batch25.cards, batch25.cover, "a4-cards", out, workers=1)
    assert out.read_bytes().startswith(b"%PDF-") and stat.S_IMODE(out.stat().st_mode) == 0o600
    assert f.path == out


# ---------------------------------------------------------------- failures


def test_failure_in_a_worker_removes_finished_files(batch25, tmp_path) -> None:
    """Card 18 carries card 17's token: its worker refuses it after files
    1-3 are already written; everything goes."""
    cards = list(batch25.cards)
    cards[17] = dataclasses.replace(cards[17], token=cards[16].token)
    cover = dataclasses.replace(batch25.cover, card_data_sha256=card_data_sha256(cards))
    progress: list[int] = []
    with pytest.raises(InvalidCardData) as info:
        render_batch(
            cards, cover, "a4-cards", tmp_path / "batch.pdf", max_cards_per_file=4, workers=2, progress=progress.append
        )
    assert progress[:4] == [4, 8, 12, 16]  # files 1-4 were complete on disk
    assert cards[17].serial in str(info.value) and "serial" in str(info.value)
    assert info.value.code == "invalid_card_data"
    assert listing(tmp_path) == []


def test_failure_in_the_single_file_pipeline(batch25, tmp_path) -> None:
    cards = list(batch25.cards)
    cards[20] = dataclasses.replace(cards[20], token=cards[3].token)
    cover = dataclasses.replace(batch25.cover, card_data_sha256=card_data_sha256(cards))
    with pytest.raises(InvalidCardData):
        render_batch(cards, cover, "a4-cards", tmp_path / "batch.pdf", workers=2)
    assert listing(tmp_path) == []


def test_card_source_that_raises(batch25, tmp_path) -> None:
    def cards():
        yield from batch25.cards[:12]
        raise ConnectionError("database went away")

    with pytest.raises(RenderFailed) as info:
        render_batch(cards(), batch25.cover, "a4-cards", tmp_path / "b.pdf", max_cards_per_file=5, workers=2)
    assert isinstance(info.value.__cause__, ConnectionError)
    assert info.value.code == "render_failed"
    assert listing(tmp_path) == []


def test_progress_callback_that_raises(batch25, tmp_path) -> None:
    def progress(done: int) -> None:
        if done >= 10:
            raise ValueError("terminal closed")

    with pytest.raises(RenderFailed):
        render_batch(
            batch25.cards, batch25.cover, "a4-cards", tmp_path / "b.pdf", max_cards_per_file=5, workers=1, progress=progress
        )
    assert listing(tmp_path) == []


def test_wrong_digest_is_caught_after_rendering(batch25, tmp_path) -> None:
    cover = dataclasses.replace(batch25.cover, card_data_sha256="0" * 64)
    with pytest.raises(BatchMismatch, match="SHA-256"):
        render_batch(batch25.cards, cover, "a4-cards", tmp_path / "b.pdf", max_cards_per_file=10, workers=2)
    assert listing(tmp_path) == []


def test_existing_file_survives_a_failure(batch25, tmp_path) -> None:
    out = tmp_path / "batch.pdf"
    out.write_bytes(b"previous print")
    cover = dataclasses.replace(batch25.cover, card_data_sha256="0" * 64)
    with pytest.raises(BatchMismatch):
        render_batch(batch25.cards, cover, "a4-cards", out, workers=1)
    assert listing(tmp_path) == ["batch.pdf"] and out.read_bytes() == b"previous print"


@pytest.mark.parametrize(
    ("change", "cut", "message"),
    [
        ({"count": 26}, None, "got 25 cards"),
        ({"count": 24}, None, "more cards"),
        ({}, 1, "first card"),
        ({"last_serial": "0100004200000019"}, None, "last card"),
    ],
)
def test_cards_must_match_the_cover(batch25, tmp_path, change, cut, message) -> None:
    cards = batch25.cards[cut:] if cut else batch25.cards
    cover = dataclasses.replace(batch25.cover, **change)
    with pytest.raises(BatchMismatch, match=message):
        render_batch(cards, cover, "a4-cards", tmp_path / "b.pdf", max_cards_per_file=10, workers=2)
    assert listing(tmp_path) == []


def test_face_value_must_match_the_cover(tmp_path) -> None:
    batch = make_batch(3)
    cover = dataclasses.replace(batch.cover, face_value=5000)
    with pytest.raises(InvalidCardData, match="face value"):
        render_batch(batch.cards, cover, "a4-cards", tmp_path / "b.pdf", workers=1)
    assert listing(tmp_path) == []


def test_serials_must_increase(batch25, tmp_path) -> None:
    cards = list(batch25.cards)
    cards[5], cards[6] = cards[6], cards[5]
    cover = dataclasses.replace(batch25.cover, card_data_sha256=card_data_sha256(cards))
    with pytest.raises(InvalidCardData, match="increasing"):
        render_batch(cards, cover, "a4-cards", tmp_path / "b.pdf", workers=1)
    assert listing(tmp_path) == []


def test_token_under_another_key_id_is_refused(tmp_path) -> None:
    batch = make_batch(3)
    cover = dataclasses.replace(batch.cover, key_id="k1999-99")
    with pytest.raises(InvalidCardData, match="key_id"):
        render_batch(batch.cards, cover, "a4-cards", tmp_path / "b.pdf", workers=1)
    assert listing(tmp_path) == []


def test_unwritable_directory(batch25, tmp_path) -> None:
    with pytest.raises(UnwritablePath) as info:
        render_batch(batch25.cards, batch25.cover, "a4-cards", tmp_path / "missing" / "b.pdf")
    assert info.value.code == "unwritable_path"
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(UnwritablePath):
        render_batch(batch25.cards, batch25.cover, "a4-cards", blocker / "b.pdf")
    with pytest.raises(UnwritablePath):
        render_batch(batch25.cards, batch25.cover, "a4-cards", tmp_path)  # a directory
    assert listing(tmp_path) == ["file"]


def test_read_only_directory(batch25, unprivileged_dir) -> None:
    # as root: rendered by a child process that became nobody (root writes into read-only directories)
    ro = unprivileged_dir / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    with pytest.raises(UnwritablePath, match="cannot create .*ro/.*: Permission denied"):
        run_unprivileged(lambda: render_batch(batch25.cards, batch25.cover, "a4-cards", ro / "b.pdf"))
    assert listing(ro) == []


def test_read_only_filesystem(batch25, tmp_path) -> None:
    """/proc is read-only even for root."""
    with pytest.raises(UnwritablePath):
        render_batch(batch25.cards, batch25.cover, "a4-cards", "/proc/voucher-test.pdf")


def test_unknown_layout_writes_nothing(batch25, tmp_path) -> None:
    with pytest.raises(UnknownLayout):
        render_batch(batch25.cards, batch25.cover, "a4-nope", tmp_path / "b.pdf")
    assert listing(tmp_path) == []


def test_all_errors_share_the_base_class_and_have_codes() -> None:
    from print_templates import errors

    classes = [c for c in vars(errors).values()
               if isinstance(c, type) and issubclass(c, Exception) and c.__module__ == errors.__name__]
    assert all(issubclass(c, PrintError) for c in classes)
    codes = [c.code for c in classes]
    assert len(codes) == len(set(codes)) and all(code.islower() for code in codes)


@pytest.mark.parametrize("bad", [0, -1, True, 1.5])
def test_argument_checks(batch25, tmp_path, bad) -> None:
    with pytest.raises(ValueError):
        render_batch(batch25.cards, batch25.cover, "a4-cards", tmp_path / "b.pdf", max_cards_per_file=bad)
    with pytest.raises(ValueError):
        render_batch(batch25.cards, batch25.cover, "a4-cards", tmp_path / "b.pdf", workers=bad)
    assert listing(tmp_path) == []


def test_workers_start_safely_when_other_threads_run(batch25, tmp_path) -> None:
    """With another thread alive, workers come from forkserver/spawn (fork
    could copy a lock that thread holds); the output is the same."""
    import threading

    from print_templates.render import _mp_context

    release = threading.Event()
    thread = threading.Thread(target=release.wait, daemon=True)
    thread.start()
    try:
        assert _mp_context().get_start_method() != "fork"
        files = render_batch(batch25.cards, batch25.cover, "a4-cards", tmp_path / "t.pdf", max_cards_per_file=10, workers=2)
    finally:
        release.set()
        thread.join()
    reference = render_batch(batch25.cards, batch25.cover, "a4-cards", tmp_path / "r.pdf", max_cards_per_file=10, workers=1)
    assert [f.sha256 for f in files] == [f.sha256 for f in reference]


def test_interrupt_on_the_one_worker_path_is_passed_on_in_a_fresh_interpreter(tmp_path) -> None:
    """Ctrl-C (or any error) with workers=1 in a process that never started a pool: no AttributeError."""
    probe = (
        "from tests.unit.print_templates.conftest import make_batch\n"
        "from print_templates import render_batch\n"
        "batch = make_batch(3)\n"
        "def cards():\n"
        "    yield batch.cards[0]\n"
        "    raise KeyboardInterrupt\n"
        "try:\n"
        f"    render_batch(cards(), batch.cover, 'a4-cards', {str(tmp_path / 'b.pdf')!r}, workers=1)\n"
        "except KeyboardInterrupt:\n"
        "    print('interrupted')\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[3])
    assert (done.returncode, done.stdout, done.stderr) == (0, "interrupted\n", "")
    assert listing(tmp_path) == []

"""voucherctl.output: a command's output files are written all or none, with one clear error line."""
from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from tests.unprivileged import run_unprivileged, unprivileged_dir  # noqa: F401 - a fixture
from voucherctl.output import CliError, csv_encoding, furthest, output_files


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_files_appear_only_when_the_block_succeeds(tmp_path: Path) -> None:
    csv, pdf = tmp_path / "r.csv", tmp_path / "r.pdf"
    csv.write_text("old")
    with output_files(csv, None, pdf) as (csv_file, nothing, pdf_file):
        assert nothing is None and csv_file.parent == pdf_file.parent == tmp_path
        csv_file.write_text("new")
        pdf_file.write_bytes(b"%PDF")
        assert csv.read_text() == "old" and not pdf.exists()
    assert (csv.read_text(), pdf.read_bytes()) == ("new", b"%PDF")
    assert _leftovers(tmp_path) == ["r.csv", "r.pdf"]


def test_a_failure_leaves_no_output_behind(tmp_path: Path) -> None:
    csv, pdf = tmp_path / "r.csv", tmp_path / "r.pdf"
    csv.write_text("old")
    with pytest.raises(RuntimeError), output_files(csv, pdf) as (csv_file, pdf_file):
        csv_file.write_text("new")
        raise RuntimeError("the report failed")
    assert _leftovers(tmp_path) == ["r.csv"] and csv.read_text() == "old"


@pytest.mark.parametrize("where,reason", [("missing/r.csv", "No such file or directory"),
                                          ("file/r.csv", "Not a directory")])
def test_an_unwritable_destination_fails_before_any_work(tmp_path: Path, where: str, reason: str) -> None:
    (tmp_path / "file").write_text("")
    good, bad = tmp_path / "good.pdf", tmp_path / where
    ran = False
    with pytest.raises(CliError) as e, output_files(good, bad):
        ran = True
    assert e.value.format_message() == f"cannot write {bad}: {reason}"
    assert not ran and _leftovers(tmp_path) == ["file"]


def test_a_read_only_destination_is_not_replaced(unprivileged_dir: Path) -> None:
    # the folder is writable: only the file's own mode stops the rename over it (as root: run as nobody)
    target = unprivileged_dir / "r.csv"
    target.write_text("keep")
    target.chmod(0o444)

    def write() -> None:
        with output_files(target) as (temp,):
            temp.write_text("replaced")

    with pytest.raises(CliError, match="cannot write .*r.csv: Permission denied"):
        run_unprivileged(write)
    assert target.read_text() == "keep" and _leftovers(unprivileged_dir) == ["r.csv"]


def test_an_os_error_about_a_temporary_file_names_its_destination(tmp_path: Path) -> None:
    pdf = tmp_path / "r.pdf"
    with pytest.raises(CliError) as e, output_files(pdf) as (pdf_file,):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(pdf_file))
    assert e.value.format_message() == f"cannot write {pdf}: No space left on device"
    assert _leftovers(tmp_path) == []
    with pytest.raises(ConnectionResetError), output_files(pdf):  # anything else goes on as it was
        raise ConnectionResetError(errno.ECONNRESET, "reset")


def test_a_bar_of_bytes_moves_to_the_furthest_offset_heard() -> None:
    steps: list[int] = []
    on_read = furthest(steps.append)
    for offset in (100, 300, 50, 200, 300, 400):  # a second pass from the start adds only what is new
        on_read(offset)
    assert steps == [100, 200, 100]


def test_output_files_are_private_whatever_the_umask(tmp_path: Path) -> None:
    """Issue 22: report files hold account numbers and amounts: 0600 like exports, prints and checkpoints,
    a new file and one replacing an existing 0644 file alike."""
    csv, pdf = tmp_path / "r.csv", tmp_path / "r.pdf"
    csv.write_text("old")
    os.chmod(csv, 0o644)
    old = os.umask(0o022)
    try:
        with output_files(csv, pdf) as (csv_file, pdf_file):
            with csv_file.open("w", encoding=csv_encoding(True)) as f:  # how the report commands write
                f.write("area\n东湖区\n")
            pdf_file.write_bytes(b"%PDF")
    finally:
        os.umask(old)
    assert {p.name: p.stat().st_mode & 0o777 for p in (csv, pdf)} == {"r.csv": 0o600, "r.pdf": 0o600}
    assert csv.read_bytes().startswith(b"\xef\xbb\xbfarea\n")  # --excel: a BOM, so Excel reads UTF-8
    assert csv_encoding(False) == "utf-8"  # the machine CSV stays plain UTF-8

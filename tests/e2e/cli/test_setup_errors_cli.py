"""A wrong set-up (home, database URL, schema) is named in one line, never "unexpected X" (in process)."""
from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from vouchers.storage.db import make_engine
from tests.conftest import cheap_sealing
from voucherctl import context
from voucherctl.main import main

Run = Callable[..., tuple[int, str, str]]
NEWER = "voucherctl: error: the database's schema (0099_future) is newer than this voucherctl"


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Iterator[Run]:
    """``run(*argv, VOUCHER_X=...) -> (exit code, stdout, stderr)``; home tmp_path/home unless given."""
    monkeypatch.setenv("VOUCHER_KEY_PASSPHRASE", "set-up passphrase")
    monkeypatch.setenv("VOUCHER_WEB_PASSPHRASE", "set-up web secret")

    def _run(*argv: str, **env: str) -> tuple[int, str, str]:
        env = {"VOUCHER_HOME": str(tmp_path / "home"), "VOUCHER_DATABASE_URL": "", **env}
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        _reset()
        capsys.readouterr()
        code = main(list(argv))
        out, err = capsys.readouterr()
        _reset()
        return code, out, err

    with cheap_sealing():
        yield _run


def _reset() -> None:
    if context.engine.cache_info().currsize:
        context.engine().dispose()
    context.settings.cache_clear()
    context.engine.cache_clear()


def _free_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return str(s.getsockname()[1])


def _one_line(err: str, expected_start: str) -> None:
    assert err.count("\n") == 1 and err.startswith(expected_start), err
    assert "unexpected" not in err


@pytest.fixture
def future_db(db_url: str) -> Iterator[str]:
    """The migrated test database, marked as written by a newer release (restored after)."""
    engine = make_engine(db_url)
    with engine.begin() as conn:
        head = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
        conn.execute(text("UPDATE alembic_version SET version_num = '0099_future'"))
    try:
        yield db_url
    finally:
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": head})
        engine.dispose()


def test_a_database_newer_than_the_code_asks_for_a_newer_voucherctl(run, future_db, tmp_path):
    for argv in (("batch", "list"), ("init",), ("serve", "--port", _free_port())):
        code, out, err = run(*argv, VOUCHER_DATABASE_URL=future_db)
        assert code == 1 and out == ""
        _one_line(err, NEWER)
        assert err.rstrip().endswith("upgrade voucherctl")
    assert not (tmp_path / "home").exists()  # init refused before creating the key store


def test_voucher_home_that_is_a_file(run, tmp_path):
    home = tmp_path / "not-a-dir"
    home.write_text("x")
    for argv in (("init",), ("batch", "list")):
        code, _, err = run(*argv, VOUCHER_HOME=str(home))
        assert code == 1
        _one_line(err, f"voucherctl: error: VOUCHER_HOME {home} is not a directory")


@pytest.mark.parametrize("url, scheme", [("mysql://u@localhost/db", "mysql"), ("foo://x", "foo")])
def test_an_unsupported_database_url_scheme(run, url, scheme):
    for argv in (("init",), ("batch", "list")):
        code, _, err = run(*argv, VOUCHER_DATABASE_URL=url)
        assert code == 1
        assert err == (f"voucherctl: error: unsupported database URL scheme '{scheme}' "
                       "(use sqlite:/// or postgresql+psycopg://)\n")


def test_a_sqlite_path_that_is_a_directory_or_not_a_database(run, tmp_path):
    directory = tmp_path / "a-dir"
    directory.mkdir()
    other = tmp_path / "notes.db"
    other.write_text("not a database\n")
    for path, problem in ((directory, "is a directory, not a database file"),
                          (other, "is not a SQLite database")):
        for argv in (("init",), ("batch", "list")):
            code, _, err = run(*argv, VOUCHER_DATABASE_URL=f"sqlite:///{path}")
            assert code == 1 and str(path) in err and problem in err
            _one_line(err, "voucherctl: error: ")
    assert list(directory.iterdir()) == [] and other.read_text() == "not a database\n"


def test_serve_on_a_missing_sqlite_database_creates_nothing(run, tmp_path):
    assert run("init")[0] == 0  # a key store, so that only the database is missing
    missing = tmp_path / "missing" / "dir" / "vouchers.db"
    code, out, err = run("serve", "--port", _free_port(), VOUCHER_DATABASE_URL=f"sqlite:///{missing}")
    assert code == 1 and out == ""
    _one_line(err, f"voucherctl: error: database is not initialised: no file {missing}")
    assert "voucherctl init" in err
    assert not (tmp_path / "missing").exists()

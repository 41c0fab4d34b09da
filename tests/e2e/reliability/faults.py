"""Test-only fault injection for ``voucherctl serve``: SIGKILL the whole server at a chosen moment.

Random kills from outside rarely land in the few microseconds that matter (between the COMMIT of a
booking and the response, or between the booking statements and the COMMIT). This module puts a kill
exactly there, without touching production code: the crash test starts the server through
:func:`boot`, which installs SQLAlchemy event listeners in the master before gunicorn forks its
workers, then runs ``voucherctl`` as usual. Nothing here is imported by production code.

The test arms a kill by writing a *trigger file* (its path is in ``VOUCHER_TEST_KILL_FILE``, an
environment variable read only here) holding a point and a route, e.g. ``after-commit redemptions``
(``POST /api/v1/redemptions``) or ``before-commit payments`` (``POST /api/v1/payments``):

* ``after-commit``: the next transaction of that route that booked money (inserted a ``redemptions``
  or ``payments`` row: a redemption writes both) dies right after its COMMIT returned, before any
  response is written (the client sees a dropped connection for a request that IS booked: its retry
  must replay the stored answer);
* ``before-commit``: the next such transaction dies after its booking statements were sent, right
  before COMMIT (the retry must find nothing booked and do the work once).

The first worker thread to reach the point takes the file (``os.rename`` is atomic: exactly one wins)
and kills the server's process group (master and every worker) with SIGKILL.
"""
from __future__ import annotations

import os
import signal
import threading

ENV = "VOUCHER_TEST_KILL_FILE"
AFTER_COMMIT, BEFORE_COMMIT = "after-commit", "before-commit"
TABLES = ("redemptions", "payments")


def install(trigger: str) -> None:
    """Register the kill points (call in the server's master process, before the workers fork)."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine
    from sqlalchemy.orm import Session

    local = threading.local()

    def armed(point: str) -> bool:
        from flask import has_request_context, request

        taken = f"{trigger}.{os.getpid()}.{threading.get_ident()}"
        try:
            with open(trigger, encoding="ascii") as f:
                want, _, route = f.read().strip().partition(" ")
            if want != point or not has_request_context() or request.path != f"/api/v1/{route}":
                return False
            os.rename(trigger, taken)  # one winner across workers and threads
        except OSError:
            return False
        os.unlink(taken)
        return True

    def die(point: str) -> None:
        from flask import request

        # which request dies there (the Idempotency-Key is no secret), for the test's failure messages
        os.write(2, f"fault injection: SIGKILL {point} {request.path} key={request.headers.get('Idempotency-Key')}\n"
                 .encode())
        os.killpg(os.getpgrp(), signal.SIGKILL)

    @event.listens_for(Engine, "before_cursor_execute")
    def _note(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        words = statement.split(None, 3)
        if len(words) > 2 and words[0] == "INSERT" and words[1] == "INTO" and words[2] in TABLES:
            local.booked = True

    @event.listens_for(Engine, "commit")
    def _before(conn):  # type: ignore[no-untyped-def]  # fired right before the DBAPI COMMIT
        if getattr(local, "booked", False) and armed(BEFORE_COMMIT):
            die(BEFORE_COMMIT)

    @event.listens_for(Session, "after_commit")
    def _after(session):  # type: ignore[no-untyped-def]  # the COMMIT has returned
        booked, local.booked = getattr(local, "booked", False), False
        if booked and armed(AFTER_COMMIT):
            die(AFTER_COMMIT)

    @event.listens_for(Engine, "rollback")
    def _forget(conn):  # type: ignore[no-untyped-def]
        local.booked = False


def boot(voucherctl_boot: str) -> str:
    """``python -c`` source: install the kill points, then run voucherctl as the e2e suite's boot string
    does. The current directory is dropped from ``sys.path`` (``-c`` puts it first; the installed
    ``voucherctl`` script does not have it), so a ``PYTHONPATH`` pointing at another checkout decides
    which production code runs (removal checks); this file is loaded by its path for the same reason."""
    return ("import importlib.util, os, sys\nsys.path[:] = [p for p in sys.path if p not in ('', os.getcwd())]\n"
            f"_spec = importlib.util.spec_from_file_location('voucher_test_faults', {__file__!r})\n"
            "_faults = importlib.util.module_from_spec(_spec)\n_spec.loader.exec_module(_faults)\n"
            "_faults.install(os.environ[_faults.ENV])\n" + voucherctl_boot)

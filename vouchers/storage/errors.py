"""Database failures described in one line, without leaking parameters."""
from __future__ import annotations

from sqlalchemy import exc as sa_exc


def describe_database_error(error: BaseException) -> str | None:
    """A one-line, secret-free description of a database error, or None."""
    if isinstance(error, sa_exc.OperationalError):
        return "database unavailable or refused the operation: " + type(error.orig).__name__
    if isinstance(error, sa_exc.IntegrityError):
        return "database integrity error: " + type(error.orig).__name__
    if isinstance(error, sa_exc.ArgumentError):
        return "invalid VOUCHER_DATABASE_URL"
    if isinstance(error, sa_exc.NoSuchModuleError):
        return "unsupported database driver in VOUCHER_DATABASE_URL"
    if isinstance(error, sa_exc.SQLAlchemyError):
        return "database error: " + type(error).__name__
    return None

"""Hot-path statements executed on the PostgreSQL driver's cursor, compiled once.

Executing a statement through SQLAlchemy costs about 0.1 ms of Python even
when its compiled form is cached (execution context, parameter and result
set-up) - as much again as the driver itself - and a redemption runs a
dozen. For statements built once at import time, :func:`rows` and friends
compile each once per dialect, keep its SQL text, the values it holds
(``.values(status="redeemed")``) and the bind and result processors of its
types, and execute it on the driver's cursor inside the session's
transaction. On other databases (SQLite) SQLAlchemy executes the statement.

Driver errors are raised as SQLAlchemy's (``IntegrityError``,
``OperationalError``, ... with the driver's error as ``.orig``; bound values
left out of the message as the engine's ``hide_parameters`` says), and a lost
connection is invalidated as SQLAlchemy would, so callers and retry loops
see what they always saw; listeners of the engine's ``before_cursor_execute``
and ``after_cursor_execute`` events are called as usual (their return
values are not used). Not for expanding (``IN``-list) parameters.
"""
from __future__ import annotations

import re
from collections import namedtuple
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, event, exc
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import ValuesBase
from sqlalchemy.sql.expression import Executable


@dataclass
class _Compiled:
    statement: Executable  # held, so its id() stays its own
    sql: str  # as SQLAlchemy renders it (what cursor event listeners see)
    numbered: str  # the same with $1, $2, ... (executed by psycopg's RawCursor: no conversion per call)
    order: tuple[str, ...]  # parameter names in $n order
    fixed: dict[str, Any]  # values the statement itself holds
    required: frozenset[str]  # parameters every call must give
    binds: dict[str, Callable[[Any], Any]]  # name -> the type's bind processor
    types: dict[str, Any]  # result column name -> its SQLAlchemy type (where the statement knows it)
    shape: tuple[type, tuple[Callable[[Any], Any] | None, ...]] | None = None  # row type, result processors


_COMPILED: dict[tuple[Any, ...], _Compiled] = {}
_CONNECTION = "hot_sql_connection"
_PLACEHOLDER = re.compile(r"%\(([^)]+)\)s|%%")


def rows(session: Session, statement: Executable, params: Mapping[str, Any]) -> list[Any]:
    """Every row (named tuples: ``row.column`` and ``row[i]``)."""
    return _run(session, statement, params, fetch=True)  # type: ignore[return-value]


def one_or_none(session: Session, statement: Executable, params: Mapping[str, Any]) -> Any | None:
    found = rows(session, statement, params)
    if len(found) > 1:
        raise exc.MultipleResultsFound("more than one row where at most one was expected")
    return found[0] if found else None


def scalar_one_or_none(session: Session, statement: Executable, params: Mapping[str, Any]) -> Any | None:
    row = one_or_none(session, statement, params)
    return None if row is None else row[0]


def execute(session: Session, statement: Executable, params: Mapping[str, Any]) -> int:
    """A statement whose rows nobody reads: the number of rows it changed (the driver's rowcount)."""
    return _run(session, statement, params, fetch=False)  # type: ignore[return-value]


def rows_on(connection: Connection, statement: Executable, params: Mapping[str, Any]) -> list[Any]:
    """:func:`rows` on a connection of the caller's (e.g. an autocommit engine's), not a session's."""
    return _run_on(connection, statement, params, fetch=True)  # type: ignore[return-value]


def _connection(session: Session) -> Connection:
    """``session.connection()``, kept for the rest of the session's transaction (asking the session costs
    ~0.05 ms a time through its transaction state machine; the hot paths ask a dozen times)."""
    connection = session.info.get(_CONNECTION)
    if connection is None:
        connection = session.info[_CONNECTION] = session.connection()
    return connection


@event.listens_for(Session, "after_transaction_end")
def _forget_connection(session: Session, transaction: Any) -> None:
    session.info.pop(_CONNECTION, None)


@event.listens_for(Session, "after_transaction_create")
def _forget_connection_at_savepoint(session: Session, transaction: Any) -> None:
    """A SAVEPOINT (``session.begin_nested()``) is emitted by the session only when the nested transaction
    first asks for its connection. Executing on the connection kept from before it would run the
    statements in the enclosing transaction, BEFORE the SAVEPOINT: a rollback to it would not undo them
    (a refused redemption's claim and books surviving its savepoint). So a nested transaction asks again."""
    if transaction.nested:
        session.info.pop(_CONNECTION, None)


def _run(session: Session, statement: Executable, params: Mapping[str, Any], *, fetch: bool) -> list[Any] | int:
    return _run_on(_connection(session), statement, params, fetch=fetch)


def _run_on(connection: Connection, statement: Executable, params: Mapping[str, Any], *,
            fetch: bool) -> list[Any] | int:
    dialect = connection.dialect
    if dialect.name != "postgresql":
        result = connection.execute(statement, dict(params))
        if not fetch:
            return result.rowcount
        return list(result.all()) if result.returns_rows else []
    compiled = _compile(statement, dialect, params)
    if not compiled.required.issubset(params):
        raise exc.ArgumentError(f"no value for {sorted(compiled.required.difference(params))}")
    values = dict(compiled.fixed)
    values.update(params)
    for name, process in compiled.binds.items():
        values[name] = process(values[name])
    from psycopg import RawCursor  # only PostgreSQL comes here: SQLite-only processes never load the driver

    driver = connection.connection.driver_connection
    # listeners of the engine's cursor events (statement logs, tracing, tests) still see every statement
    events = getattr(connection, "_has_events", True) or getattr(connection.engine, "_has_events", True)
    with RawCursor(driver) as cursor:
        if events:
            connection.dispatch.before_cursor_execute(connection, cursor, compiled.sql, values, None, False)
        try:
            cursor.execute(compiled.numbered, tuple(values[name] for name in compiled.order))
            if events:
                connection.dispatch.after_cursor_execute(connection, cursor, compiled.sql, values, None, False)
            if not fetch:
                return cursor.rowcount
            result = cursor.pgresult
            if result is not None and result.nfields == 0:  # no columns (pipeline mode: not known yet)
                return []
            fetched = cursor.fetchall()
        except dialect.loaded_dbapi.Error as e:
            invalidated = dialect.is_disconnect(e, driver, cursor)
            if invalidated:
                connection.invalidate(e)
            raise exc.DBAPIError.instance(compiled.sql, values, e, dialect.loaded_dbapi.Error,
                                          hide_parameters=connection.engine.hide_parameters,
                                          connection_invalidated=invalidated, dialect=dialect) from e
        row_type, processors = compiled.shape or _shape(compiled, cursor, dialect)
    if any(processors):
        return [row_type(*(value if process is None else process(value)
                           for process, value in zip(processors, row))) for row in fetched]
    return [row_type(*row) for row in fetched]


def _compile(statement: Executable, dialect: Any, params: Mapping[str, Any]) -> _Compiled:
    # an INSERT or UPDATE without .values() for every column sets the columns the parameters name (as
    # SQLAlchemy does): one compiled form per set of names
    columns = tuple(sorted(params)) if isinstance(statement, ValuesBase) else None
    key = (id(statement), dialect.name, dialect.paramstyle, columns)
    found = _COMPILED.get(key)
    if found is not None and found.statement is statement:
        return found
    compiled = statement.compile(dialect=dialect, column_keys=list(columns) if columns is not None else None)
    if compiled.insert_prefetch or compiled.update_prefetch:  # Python-side column defaults
        raise TypeError("hot_sql does not compute Python-side column defaults: give every column's value")
    fixed: dict[str, Any] = {}
    required: set[str] = set()
    binds: dict[str, Callable[[Any], Any]] = {}
    for name, bind in compiled.binds.items():
        if bind.expanding:
            raise TypeError(f"hot_sql does not take expanding parameters ({name})")
        if bind.required:
            required.add(name)
        else:
            fixed[name] = bind.effective_value
        process = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            binds[name] = process
    # the result columns' types (a select's columns, a RETURNING clause's); text() knows none
    types = {entry[0]: entry[3] for entry in getattr(compiled, "_result_columns", ())}
    sql = str(compiled)
    numbered, order = _numbered(sql)
    found = _COMPILED[key] = _Compiled(statement, sql, numbered, order, fixed, frozenset(required), binds, types)
    return found


def _numbered(sql: str) -> tuple[str, tuple[str, ...]]:
    """``%(name)s`` placeholders -> ``$n`` (a name used twice keeps its number), ``%%`` -> ``%``."""
    order: list[str] = []

    def number(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return "%"
        if name not in order:
            order.append(name)
        return f"${order.index(name) + 1}"

    return _PLACEHOLDER.sub(number, sql), tuple(order)


def _shape(compiled: _Compiled, cursor: Any, dialect: Any) -> tuple[type, tuple[Callable[[Any], Any] | None, ...]]:
    """The row type and per-column result processors, from the first result's columns (a statement's
    columns do not change)."""
    description = cursor.description
    processors = []
    for column in description:
        type_ = compiled.types.get(column.name)
        processors.append(None if type_ is None else
                          type_.dialect_impl(dialect).result_processor(dialect, column.type_code))
    compiled.shape = (namedtuple("Row", [column.name for column in description], rename=True), tuple(processors))
    return compiled.shape

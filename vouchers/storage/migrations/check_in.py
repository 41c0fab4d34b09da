"""Widen or narrow a ``CHECK (column IN (...))`` constraint, for migrations that add an allowed value.

PostgreSQL drops and re-creates the named constraint. SQLite cannot alter a constraint, and rebuilding
the table is impossible while other tables' rows reference it (the implicit DELETE of DROP TABLE fails
their foreign keys), so the stored table definition is edited in place with ``PRAGMA writable_schema``:
the procedure SQLite documents for changes that leave the stored rows valid. A narrowing is only valid
once no row holds a removed value: the migration checks that first (see 0007's downgrade).
"""
from __future__ import annotations

from alembic import op
from sqlalchemy import text


def replace_check_in(table: str, column: str, name: str, before: str, after: str) -> None:
    """``CHECK (column IN before)`` of ``table`` (constraint ``name``) becomes ``CHECK (column IN after)``.

    ``before`` and ``after`` are SQL lists as the model writes them: ``"('terminal', 'web')"``.
    """
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_replace(table, column, before, after)
        return
    op.drop_constraint(name, table, type_="check")
    op.create_check_constraint(name, table, f"{column} IN {after}")


def _sqlite_replace(table: str, column: str, before: str, after: str) -> None:
    bind = op.get_bind()
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar_one()
    bind.exec_driver_sql("PRAGMA writable_schema=ON")
    try:
        changed = bind.execute(text(
            "UPDATE sqlite_master SET sql = replace(sql, :before, :after) "
            "WHERE type = 'table' AND name = :table AND instr(sql, :before) > 0"),
            {"before": f"CHECK ({column} IN {before})", "after": f"CHECK ({column} IN {after})",
             "table": table}).rowcount
        if changed != 1:
            raise RuntimeError(f"{table}: the {column} CHECK constraint is not the expected one; not changed")
        bind.exec_driver_sql(f"PRAGMA schema_version={int(version) + 1}")
    finally:
        bind.exec_driver_sql("PRAGMA writable_schema=OFF")

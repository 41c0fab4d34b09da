"""Alembic environment: the URL and connection come from storage.migrate."""
from __future__ import annotations

from alembic import context

from vouchers.storage.db import Base
import importlib

# Register every table module (for autogenerate comparisons); an area not
# built in this checkout is simply absent.
for _module in ("vouchers.storage.models", "vouchers.storage.ledger_models", "vouchers.storage.api_models", "vouchers.storage.metering_models",
                "vouchers.storage.sts_models", "vouchers.storage.staff_models",
                "vouchers.storage.request_models"):
    try:
        importlib.import_module(_module)
    except ModuleNotFoundError as _e:
        if _e.name != _module:
            raise

config = context.config
target_metadata = Base.metadata

connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - only for the alembic CLI
    from sqlalchemy import create_engine

    with create_engine(config.get_main_option("sqlalchemy.url"), hide_parameters=True).connect() as conn:
        context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
else:
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()

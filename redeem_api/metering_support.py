"""Metering in the API: the tariff catalogue and metering settings of this app, and the kWh fields.

:func:`load` is called once by :func:`redeem_api.app.create_app` (a bad
tariff directory or metering setting fails at start-up, never on a
request); the same catalogue and settings go into the services'
dependencies (:class:`vouchers.services.deps.ServiceDeps`). Request code
reaches them through :func:`support`.

The kWh fields themselves (new fields, present only for prepaid accounts
with a tariff) are :func:`vouchers.services.kwh.kwh_figures`.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from flask import Flask, current_app
from sqlalchemy.orm import Session

from vouchers.config import Settings
from vouchers.metering.config import MeteringConfig
from vouchers.tariffs import Catalog, load_catalog
from vouchers.services.kwh import KWH_FIELDS, kwh_figures

EXTENSION = "vouchers_metering"
__all__ = ["EXTENSION", "KWH_FIELDS", "MeteringSupport", "install", "kwh_document", "load", "support"]


@dataclass(frozen=True)
class MeteringSupport:
    catalog: Catalog
    config: MeteringConfig


def load(settings: Settings) -> MeteringSupport:
    """The tariff catalogue (``tariffs.dir`` or the shipped data) and the metering settings."""
    return MeteringSupport(catalog=load_catalog(settings.tariff_dir), config=settings.metering)


def install(app: Flask, found: MeteringSupport) -> MeteringSupport:
    app.extensions[EXTENSION] = found
    return found


def support() -> MeteringSupport:
    return current_app.extensions[EXTENSION]


def kwh_document(session: Session, account_no: str, *, now: dt.datetime) -> dict[str, str]:
    """The kWh fields of ``account_no`` for ``GET /api/v1/accounts/<no>`` (``{}`` for most accounts)."""
    from redeem_api.state import state

    return kwh_figures(session, account_no, state().services, now=now)

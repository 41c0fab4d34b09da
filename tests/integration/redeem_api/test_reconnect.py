"""The API's engine pre-pings pooled connections: after they die (what a PostgreSQL restart does to them),
the next requests are served on fresh connections - no 503, no restart of the app, no double booking.

(Without pre-ping the first request of each worker meets a dead connection and answers 503 until the
pool is invalidated; tests/e2e/reliability/test_db_restart.py then sees /healthz answer 503 after the
restart - measured 2026-11-27.)"""
from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from redeem_api.state import EXTENSION
from vouchers.storage.api_models import Redemption
from tests.conftest import PG_ADMIN_URL
from tests.integration.redeem_api.world import ACCOUNT_ARREARS, ACCOUNT_CLEAN, auth

URL = "/api/v1/redemptions"


def _kill_connections(database: str) -> int:
    """What a server restart does to the app's pooled connections: terminate every backend of ``database``."""
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            return len(conn.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = :db AND pid <> pg_backend_pid()"), {"db": database}).all())
    finally:
        admin.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_the_app_recovers_by_itself_after_its_connections_die(world, app, client):
    engine = app.extensions[EXTENSION].engine
    assert engine.pool._pre_ping is True
    first = client.post(URL, json={"code": world.cards[0].code, "account_no": ACCOUNT_ARREARS},
                        headers=auth(world.keys["terminal"], "reconnect-1"))
    assert first.status_code == 201
    with engine.connect(), engine.connect():  # two pooled connections, both about to die
        pass
    assert engine.pool.checkedin() == 2
    world.engine.dispose()
    assert _kill_connections(engine.url.database) >= 2

    body = {"code": world.cards[1].code, "account_no": ACCOUNT_CLEAN}
    served = client.post(URL, json=body, headers=auth(world.keys["terminal"], "reconnect-2"))
    assert served.status_code == 201, served.get_data()  # the dead connections were replaced at checkout
    after = client.post(URL, json={"code": world.cards[2].code, "account_no": ACCOUNT_CLEAN},
                        headers=auth(world.keys["terminal"], "reconnect-3"))
    assert after.status_code == 201, after.get_data()
    assert client.get("/healthz").status_code == 200
    assert world.count(Redemption) == 3

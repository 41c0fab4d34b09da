from __future__ import annotations

import pytest

from tests.integration.redeem_api.world import Clock, World, build_world


@pytest.fixture
def world(tmp_path, db_url, now) -> World:
    world = build_world(tmp_path, db_url, now)
    yield world
    world.engine.dispose()


@pytest.fixture
def clock(now) -> Clock:
    return Clock(now)


@pytest.fixture
def app(world, clock):
    app = world.app(clock)
    yield app
    from redeem_api.state import EXTENSION

    app.extensions[EXTENSION].engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()

"""The shared services the suite talks to (Redis): missing one is a skip on a developer's machine, an error in CI.

CI (``CI=true``, scripts/test) starts Redis before the tests; a Redis test that skipped there would hide that
the Redis code paths went untested.
"""
from __future__ import annotations

import os

import pytest
import redis

REDIS_HOST_PORT = "127.0.0.1:6379"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def redis_or_skip(db: int = 0) -> tuple[str, redis.Redis]:
    """(URL, client) of the local Redis; skips without it, but fails when ``CI=true``."""
    url = f"redis://{REDIS_HOST_PORT}/{db}"
    client = redis.Redis.from_url(url, socket_timeout=5)
    try:
        client.ping()
    except redis.RedisError as e:
        client.close()
        message = f"no Redis at {url} ({e})"
        if in_ci():
            pytest.fail(f"{message}: CI must run the Redis tests (scripts/test starts redis-server)", pytrace=False)
        pytest.skip(message)
    return url, client

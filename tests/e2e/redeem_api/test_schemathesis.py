"""schemathesis against /openapi.json: no 5xx, and every response matches the documented schema.

In-process (WSGI) on SQLite, a few examples per operation, so it stays fast.
Each operation is called with a key of a role allowed to use it, so the
generated data reaches the handlers instead of stopping at 403.
"""
from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis.errors import Unsatisfiable  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from redeem_api.state import EXTENSION  # noqa: E402
from vouchers.storage.db import make_engine  # noqa: E402
from vouchers.storage.migrate import upgrade_to_head  # noqa: E402
from tests.integration.redeem_api.world import (  # noqa: E402
    ACCOUNT_CLEAN,
    ACCOUNT_METERED,
    DISTRIBUTOR,
    build_world,
)

NOW = dt.datetime(2026, 11, 26, 10, 0, tzinfo=zoneinfo.ZoneInfo("Asia/Shanghai"))
ROLE_FOR = {"/api/v1/redemptions": "terminal", "/api/v1/payments": "channel",
            "/api/v1/accounts/{account_no}": "finance", "/api/v1/vouchers/{serial}": "distributor",
            "/api/v1/activations": "distributor", "/api/v1/keys": "admin", "/api/v1/readings": "headend",
            "/api/v1/orders": "headend", "/api/v1/orders/{order_id}/ack": "headend",
            "GET /api/v1/payments": "finance", "/api/v1/accounts": "service",
            "/api/v1/accounts/{account_no}/statement": "service",
            "/api/v1/distributors/{distributor_id}/stock": "distributor",
            "/api/v1/distributors/{distributor_id}/statement": "distributor",
            "/api/v1/sms/inbound": "sms_gateway"}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance]


@pytest.fixture(scope="module")
def api_world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("schemathesis")
    url = f"sqlite:///{tmp / 'vouchers.db'}"
    engine = make_engine(url)
    upgrade_to_head(engine)
    engine.dispose()
    world = build_world(tmp, url, NOW)
    world.metered_account(prepaid=5000)
    app = world.app(VOUCHER_THROTTLE_CLIENT_FAILURES="1000000", VOUCHER_THROTTLE_ACCOUNT_FAILURES="1000000",
                    VOUCHER_THROTTLE_WEB_IP_FAILURES="1000000", VOUCHER_THROTTLE_WEB_ACCOUNT_FAILURES="1000000",
                    VOUCHER_THROTTLE_CLIENT_LOOKUPS="1000000", VOUCHER_THROTTLE_WEB_IP_LOOKUPS="1000000")
    yield world, app
    app.extensions[EXTENSION].engine.dispose()
    world.engine.dispose()


def known_data(world, path: str, method: str = "") -> dict:
    """Values that exist, so success responses are generated and checked too."""
    card = world.cards[-1]
    data = {
        "/api/v1/accounts/{account_no}": {"path_parameters": {"account_no": ACCOUNT_METERED}},  # with kWh fields
        "/api/v1/vouchers/{serial}": {"path_parameters": {"serial": world.cards[0].serial}},
        "/api/v1/redemptions": {"body": {"code": world.cards[0].code, "account_no": ACCOUNT_CLEAN}},
        "/api/v1/payments": {"body": {"account_no": ACCOUNT_METERED, "amount": "1.00", "external_ref": "st-1"}},
        "/api/v1/activations": {"body": {"batch_id": world.batch_id, "from_serial": card.serial,
                                         "to_serial": card.serial}},
        "/api/v1/readings": {"body": {"readings": [{"account_no": ACCOUNT_METERED, "meter": f"M{ACCOUNT_METERED}",
                                                    "reading_date": "2026-11-20", "reading": "150.25"}]}},
        "/api/v1/orders": {"query": {"status": "all", "account_no": ACCOUNT_METERED}},
        "GET /api/v1/payments": {"query": {"account_no": ACCOUNT_METERED}},
        "/api/v1/accounts": {"query": {"q": ACCOUNT_METERED[:6]}},
        "/api/v1/accounts/{account_no}/statement": {"path_parameters": {"account_no": ACCOUNT_METERED}},
        "/api/v1/distributors/{distributor_id}/stock": {"path_parameters": {"distributor_id": DISTRIBUTOR}},
        "/api/v1/distributors/{distributor_id}/statement": {"path_parameters": {"distributor_id": DISTRIBUTOR}},
    }
    return data.get(f"{method.upper()} {path}", data.get(path, {}))


def checked_calls(strategy, headers):
    """A Hypothesis test calling the app with each generated case and running the checks."""

    @given(case=strategy)
    @settings(max_examples=10, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case):
        case.call_and_validate(headers=headers, checks=CHECKS)

    return run


@pytest.mark.parametrize("mode", ["positive", "negative", "known"])
def test_api_conforms_to_its_schema(api_world, mode):
    world, app = api_world
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    generation = GenerationMode.NEGATIVE if mode == "negative" else GenerationMode.POSITIVE
    tested = []
    for result in schema.get_all_operations():
        operation = result.ok()
        role = ROLE_FOR.get(f"{operation.method.upper()} {operation.path}", ROLE_FOR.get(operation.path))
        headers = {"Authorization": f"Bearer {world.keys[role]}"} if role else {}
        fixed = known_data(world, operation.path, operation.method) if mode == "known" else {}

        run = checked_calls(operation.as_strategy(generation_mode=generation, **fixed), headers)
        try:
            run()
        except Unsatisfiable:  # negative mode: nothing in this operation can be made invalid
            assert generation is GenerationMode.NEGATIVE
        tested.append(f"{operation.method.upper()} {operation.path}")
    documented = {f"{m.upper()} {p}" for p, item in schema.raw_schema["paths"].items() for m in item}
    assert set(tested) == documented - {"GET /openapi.json"}  # schemathesis skips the schema route itself

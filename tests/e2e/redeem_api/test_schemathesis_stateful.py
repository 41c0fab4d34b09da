"""Stateful schemathesis: chains of calls that follow the OpenAPI links of /openapi.json.

schemathesis's state machine (``schema.as_state_machine()``) draws sequences of
calls; an answer with a link (redemption -> account and voucher, payment ->
account, voucher -> activation of that card, activation -> its vouchers,
orders -> acknowledgement, readings -> orders) feeds the next call, so it
reaches states a single generated request cannot (a voucher read back after
its redemption, an account after a payment, a card activated from its own
stock entry, an activation attempt on a card redeemed two steps earlier).
Positive data only (the stateless test_schemathesis.py covers negative data):
every step can feed the next. No 5xx and no schema violation, in-process on
SQLite, with a bounded number of scenarios and steps (CI runs it).

Generated requests rarely hit a real code or account, so the first call of
some chains is given real data (``before_call``): every other redemption uses
a fresh active card, every other payment a real account and a new reference,
every other activation not made from a link a fresh inactive card. Account
and voucher lookups are never rewritten (and a voucher lookup is only ever
reached through a link): a 200 there needs a link, which the test asserts.
"""
from __future__ import annotations

import itertools
from collections import Counter

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402

from redeem_api.state import EXTENSION  # noqa: E402
from vouchers.storage.db import make_engine  # noqa: E402
from vouchers.storage.migrate import upgrade_to_head  # noqa: E402
from tests.integration.redeem_api.world import ACCOUNT_CLEAN, ACCOUNT_METERED, build_world  # noqa: E402

from .test_schemathesis import CHECKS, NOW, ROLE_FOR  # noqa: E402

SCENARIOS, STEPS = 60, 10  # about 15 s on one core
SOAK_SCENARIOS = 400


def _world(tmp, scenarios: int):
    """A world with real data for the rewrites: ``scenarios * STEPS`` active cards (redemptions) and as
    many inactive ones (activations), so the supply never runs out (a re-run of a scenario while
    Hypothesis searches must see the same answers)."""
    url = f"sqlite:///{tmp / 'vouchers.db'}"
    engine = make_engine(url)
    upgrade_to_head(engine)
    engine.dispose()
    world = build_world(tmp, url, NOW, count=scenarios * STEPS, active=0)  # the distributor's inactive stock
    world.metered_account(prepaid=5000)
    _, redeemable = world.new_batch(scenarios * STEPS, activate_count=scenarios * STEPS)
    app = world.app(VOUCHER_THROTTLE_CLIENT_FAILURES="1000000", VOUCHER_THROTTLE_ACCOUNT_FAILURES="1000000",
                    VOUCHER_THROTTLE_WEB_IP_FAILURES="1000000", VOUCHER_THROTTLE_WEB_ACCOUNT_FAILURES="1000000",
                    VOUCHER_THROTTLE_CLIENT_LOOKUPS="1000000", VOUCHER_THROTTLE_WEB_IP_LOOKUPS="1000000")
    yield world, app, redeemable
    app.extensions[EXTENSION].engine.dispose()
    world.engine.dispose()


@pytest.fixture
def stateful_world(tmp_path):
    yield from _world(tmp_path, SCENARIOS)


@pytest.fixture
def soak_world(tmp_path):
    yield from _world(tmp_path, SOAK_SCENARIOS)


def workflow(schema, world, redeemable) -> tuple[type, Counter]:
    """The state machine class of ``schema``: per-operation API keys, seeded data, our checks."""
    seen: Counter = Counter()
    fresh_cards, inactive = iter(redeemable), iter(world.cards)
    serials = {c.serial for c in world.cards} | {c.serial for c in redeemable}
    unique = itertools.count(1)

    class Workflow(schema.as_state_machine()):  # type: ignore[misc]
        def setup(self) -> None:
            self.turn = itertools.count()  # the same drawn scenario gets the same rewrites when replayed

        def before_call(self, case) -> None:
            # Hypothesis re-runs scenarios while it searches and shrinks: a drawn Idempotency-Key is kept
            # (its characters are the fuzz) but made unique, so a re-run is not a replay of an earlier run.
            key = (case.headers or {}).get("Idempotency-Key")
            if isinstance(key, str):
                case.headers = {**case.headers, "Idempotency-Key": f"{key[:200]}-{next(unique)}"}
            path, rewrite = case.operation.path, next(self.turn) % 2 == 0
            if path == "/api/v1/redemptions" and rewrite and isinstance(case.body, dict):
                card = next(fresh_cards, None)
                if card is not None:
                    case.body = {"code": card.code, "account_no": ACCOUNT_CLEAN}
            elif path == "/api/v1/payments" and rewrite and isinstance(case.body, dict):
                case.body = {"account_no": ACCOUNT_METERED, "amount": "1.25", "external_ref": f"sf-{next(unique)}"}
            elif (path == "/api/v1/activations" and rewrite and isinstance(case.body, dict)
                  and case.body.get("from_serial") not in serials):  # not a link's card: a fresh inactive one
                card = next(inactive, None)
                if card is not None:
                    case.body = {"batch_id": world.batch_id, "from_serial": card.serial, "to_serial": card.serial}

        def get_call_kwargs(self, case) -> dict:
            role = ROLE_FOR.get(case.operation.path)
            return {"headers": {"Authorization": f"Bearer {world.keys[role]}"}} if role else {}

        def after_call(self, response, case) -> None:
            super().after_call(response, case)
            seen[(case.operation.method.upper(), case.operation.path, response.status_code)] += 1

        def validate_response(self, response, case, additional_checks=None, **kwargs) -> None:
            case.validate_response(response, checks=CHECKS, headers=kwargs.get("headers"))

    return Workflow, seen


def _run(stateful_world, scenarios: int, *, derandomize: bool) -> Counter:
    world, app, redeemable = stateful_world
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    # positive data only: every step can feed the next (negative data is test_schemathesis.py's job)
    schema.config.generation.update(modes=[GenerationMode.POSITIVE])
    machine, seen = workflow(schema, world, redeemable)
    machine.run(settings=settings(max_examples=scenarios, stateful_step_count=STEPS, deadline=None,
                                  derandomize=derandomize, database=None, suppress_health_check=list(HealthCheck)))
    assert not [k for k in seen if k[2] >= 500], seen
    return seen


def test_api_workflows_follow_the_links_without_5xx_or_schema_violations(stateful_world):
    seen = _run(stateful_world, SCENARIOS, derandomize=True)
    # the links were followed: these answers need the previous call's output
    assert seen[("GET", "/api/v1/accounts/{account_no}", 200)] > 0, seen
    assert seen[("GET", "/api/v1/vouchers/{serial}", 200)] > 0, seen
    # and the chains reached the states that need real data: money booked, stock activated
    assert seen[("POST", "/api/v1/redemptions", 201)] > 0, seen
    assert seen[("POST", "/api/v1/payments", 201)] > 0, seen
    assert seen[("POST", "/api/v1/activations", 201)] > 0, seen


@pytest.mark.slow
def test_soak_api_workflows_with_random_seeds(soak_world):
    """``--soak``: many more scenarios, a new random seed each run."""
    _run(soak_world, SOAK_SCENARIOS, derandomize=False)

"""Each command area in a process of its own: it imports only its own modules and still reaches the
database (the CLI loads a command's module when that command runs, so no area may depend on another
having been imported first)."""
from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from .conftest import Cli

# (argv, what stdout must contain); in this order, against one initialised database
STEPS: list[tuple[tuple[str, ...], str]] = [
    (("accounts", "create", "--account-no", "3100000001", "--name", "Li Lei", "--arrears", "12.50", "--json"),
     '"3100000001"'),
    (("payments", "post", "--channel", "counter_cash", "--account-no", "3100000001", "--amount", "20.00",
      "--ref", "C-1", "--json"), '"C-1"'),
    (("accounts", "show", "3100000001", "--json"), '"balance": "7.50", "arrears": "0.00"'),
    (("billing", "assign", "3100000001", "--tariff", "jx-residential", "--mode", "postpaid", "--area", "思明区",
      "--meter", "M-0001"), "jx-residential"),
    (("billing", "show", "3100000001"), "available 7.50"),
    (("collection", "report", "--month", "2026-11", "--json"), '"collected_to_date": "12.50"'),
    (("report", "trial-balance", "--json"), '"balanced": true'),
    (("report", "liability", "--json"), '"total"'),
    (("ledger", "verify"), "books verified"),
    (("collection", "warnings", "--json"), '"warnings"'),
    (("cost-control", "orders", "--json"), '"orders"'),
    (("sts", "meters", "list"), ""),
    (("clients", "list", "--json"), '"clients"'),
    (("fraud", "alerts", "--json"), '"alerts"'),
    (("outbox", "list", "--json"), '"messages"'),
    (("idempotency", "purge"), "deleted 0"),
    (("vouchers", "expire"), "expired 0"),
    (("batch", "list", "--json"), '"batches"'),
    (("keys", "list", "--json"), '"keys"'),
    (("audit", "list", "--json"), '"events"'),
    (("tariff", "list"), "residential"),
]


@pytest.fixture
def initialised(cli: Cli) -> Cli:
    """An initialised home whose commands all run at 2026-11-26 10:00 in Beijing (the month reported above)."""
    at_the_26th = cli.at(dt.datetime(2026, 11, 26, 10, tzinfo=zoneinfo.ZoneInfo("Asia/Shanghai")))
    at_the_26th("init", check=True)
    return at_the_26th


# Every process starts its clock at 10:00:00 (libfaketime's absolute start), so a report that reads "as it
# stands now" runs later in the day than the payment it must count.
LATER = dt.datetime(2026, 11, 26, 18, tzinfo=zoneinfo.ZoneInfo("Asia/Shanghai"))


def test_every_area_runs_in_a_fresh_process(initialised: Cli):
    for argv, expected in STEPS:
        result = (initialised.at(LATER) if argv[:2] == ("collection", "report") else initialised)(*argv)
        assert result.code == 0, (argv, result.err)
        assert expected in result.out, (argv, result.out)

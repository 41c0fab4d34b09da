"""/redeem's confirmation ticket: sealed, bound to the visitor's session, short-lived."""
from __future__ import annotations

import datetime as dt

from redeem_api.confirmation import TICKET_SECONDS, Ticket, open_ticket, seal_ticket

KEY = bytes(range(32))
NOW = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.timezone.utc)
TICKET = Ticket("3100000001", "12345678901234567890", "ab" * 16)


def test_the_ticket_opens_for_its_session_until_it_expires():
    value = seal_ticket(KEY, TICKET, csrf_token="csrf-a", now=NOW)
    assert TICKET.code not in value and TICKET.code not in repr(TICKET)
    assert open_ticket(KEY, value, csrf_token="csrf-a", now=NOW + dt.timedelta(seconds=TICKET_SECONDS)) == TICKET
    assert open_ticket(KEY, value, csrf_token="csrf-a", now=NOW + dt.timedelta(seconds=TICKET_SECONDS + 1)) is None
    assert open_ticket(KEY, value, csrf_token="csrf-b", now=NOW) is None  # another visitor
    assert open_ticket(bytes(32), value, csrf_token="csrf-a", now=NOW) is None  # another key
    for bad in ("", "!!", "AAAA", value[:-1], value + "A"):
        assert open_ticket(KEY, bad, csrf_token="csrf-a", now=NOW) is None


def test_the_ticket_carries_the_first_steps_proof_of_work_difficulty():
    """The proof of work is checked (and spent) on the first step; the confirmation redeems with its bits."""
    worked = Ticket("3100000001", "12345678901234567890", "ab" * 16, pow_bits=17)
    value = seal_ticket(KEY, worked, csrf_token="csrf-a", now=NOW)
    assert open_ticket(KEY, value, csrf_token="csrf-a", now=NOW) == worked
    assert open_ticket(KEY, seal_ticket(KEY, TICKET, csrf_token="csrf-a", now=NOW), csrf_token="csrf-a",
                       now=NOW).pow_bits == 0

"""The one two-person confirmation (vouchers/services/two_person.py): the pending request is claimed with a
conditional UPDATE, so a confirmation that read the row before someone else decided it cannot act on it.

Here with the console's staff fixtures (one person per role) on the API world's database, SQLite and PostgreSQL.
"""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select, update

from tests.integration.redeem_api.world import WEB_PASSPHRASE
from tests.staff_helpers import code
from vouchers.services import batch_desk, two_person
from vouchers.staff import accounts
from vouchers.staff.sessions import Resumed
from vouchers.staff.totp import seal_key
from vouchers.storage.request_models import StaffRequest


def test_a_request_decided_meanwhile_is_not_confirmed_again(world, staff):
    key = seal_key(world.store.pepper(WEB_PASSPHRASE))
    with world.sessions.begin() as s:
        row = StaffRequest(kind="key_revoke", subject_id="k1", params=json.dumps({}), reason="lost laptop",
                           status="pending", requested_by=staff["admin"].username, requested_at=world.now)
        s.add(row)
        s.flush()
        request_id = row.id
    with pytest.raises(batch_desk.DeskRefused, match="decided meanwhile"):
        with world.sessions.begin() as s:
            who = Resumed(accounts.get_staff(s, staff["approver"].username), "sess-1", world.now)
            stale = s.get(StaffRequest, request_id)  # read while pending ...
            s.execute(update(StaffRequest.__table__).where(StaffRequest.__table__.c.id == request_id)
                      .values(status="rejected"))  # ... then decided by someone else, behind the ORM's back
            assert stale.status == "pending"
            two_person.decide(s, who, StaffRequest, stale, status="approved",
                              totp_code=code(staff["approver"].secret, world.now, 1), seal_key=key, now=world.now,
                              refusals=batch_desk.REFUSALS,
                              carry_out=lambda: pytest.fail("the action ran on a request decided meanwhile"))
    with world.sessions.begin() as s:
        assert s.execute(select(StaffRequest.status).where(StaffRequest.id == request_id)).scalar_one() == "pending"

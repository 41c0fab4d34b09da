"""The issuer's batch desk in the console: requests for the issuer process, the key-free batch actions, two-person
void and key revocation, the distributor portal's activation and statement (SQLite and PostgreSQL)."""
from __future__ import annotations

import datetime as dt
import json

import pytest
from pyrage import x25519
from sqlalchemy import select

from tests.inprocess_cli import in_process_cli
from tests.integration.redeem_api.console.conftest import login, token
from tests.integration.redeem_api.world import DISTRIBUTOR, OTHER_DISTRIBUTOR, PASSPHRASE, WEB_PASSPHRASE
from tests.staff_helpers import GOOD_PASSWORD, code
from voucherctl import staff_auth
from vouchers.books import chart, distributors
from vouchers.books.reports.liability import ledger_balance_as_of
from vouchers.storage.models import AuditEvent, Batch, Voucher
from vouchers.storage.request_models import StaffRequest


@pytest.fixture
def cli(world, clock, monkeypatch, capsys):
    monkeypatch.setenv("VOUCHER_KEY_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("VOUCHER_WEB_PASSPHRASE", WEB_PASSPHRASE)
    monkeypatch.setattr(staff_auth, "_pending", False)
    yield from in_process_cli(world.db_url, world.home, monkeypatch, capsys, now=clock.now)


def _cli_login(cli, tmp_path, person, at, steps):
    password = tmp_path / "pw"
    password.write_text(GOOD_PASSWORD + "\n", "utf-8")
    result = cli("login", "--username", person.username, "--password-file", str(password),
                 "--totp", code(person.secret, at, steps))
    assert result[0] == 0, result


def _batch(world, batch_id: str) -> Batch:
    with world.sessions.begin() as s:
        return s.execute(select(Batch).where(Batch.batch_id == batch_id)).scalar_one()


def _requests(world, kind: str) -> list[StaffRequest]:
    with world.sessions.begin() as s:
        return list(s.execute(select(StaffRequest).where(StaffRequest.kind == kind).order_by(StaffRequest.id))
                    .scalars())


def _events(world, action: str) -> list[AuditEvent]:
    with world.sessions.begin() as s:
        return list(s.execute(select(AuditEvent).where(AuditEvent.action == action)).scalars())


def _statuses(world, batch_id: str) -> dict[str, tuple[str, str | None]]:
    with world.sessions.begin() as s:
        batch = s.execute(select(Batch).where(Batch.batch_id == batch_id)).scalar_one()
        return {str(v.sequence): (v.status, v.consigned_to)
                for v in s.execute(select(Voucher).where(Voucher.batch_pk == batch.id)).scalars()}


def _audited(event: AuditEvent, actor: str) -> None:
    details = json.loads(event.details)
    assert event.actor == actor and details["staff_id"] > 0 and details["session_id"].startswith("s_")


def test_a_batch_request_is_generated_by_the_issuer_process_and_approved_by_someone_else(
        app, world, clock, staff, cli, tmp_path):
    maker = app.test_client()
    login(maker, staff["issuer_operator"], clock.now)
    form = maker.get("/console/batches/new?lang=en").get_data(as_text=True)
    assert "voucherctl requests fulfil" in form  # the page says what happens next
    csrf = token(maker)
    bad = maker.post("/console/batches/new?lang=en", data={"csrf_token": csrf, "face_value": "-5", "count": "3",
                                                           "expires": "2000-01-01"})
    assert bad.status_code == 422 and 'data-code="refused"' in bad.get_data(as_text=True)
    past = maker.post("/console/batches/new", data={"csrf_token": csrf, "face_value": "50.00", "count": "3",
                                                    "expires": "2000-01-01"})
    assert past.status_code == 422 and "is not in the future" in past.get_data(as_text=True)
    assert maker.post("/console/batches/new", data={"face_value": "50.00", "count": "3",
                                                    "expires": "2099-12-31"}).status_code == 403  # no CSRF token
    done = maker.post("/console/batches/new", data={"csrf_token": csrf, "face_value": "50.00", "count": "3",
                                                    "expires": "2099-12-31"})
    assert done.status_code == 303 and "/console/requests" in done.headers["Location"]
    [request] = _requests(world, "batch_create")
    assert (request.status, request.requested_by) == ("pending", "issuer.operator")
    assert json.loads(request.params) == {"face_value": 5000, "count": 3, "expires": "2099-12-31",
                                          "currency": "CNY"}
    _audited(_events(world, "console.request.batch_create")[-1], "issuer.operator")
    listing = maker.get("/console/requests?lang=en").get_data(as_text=True)
    assert f"voucherctl requests fulfil {request.id}" in listing

    # the issuer process: the logged-in issuer operator carries it out; the maker stays the batch's creator
    _cli_login(cli, tmp_path, staff["maker_approver"], clock.now, 0)
    listed = cli("requests", "list", "--json")
    assert [r["id"] for r in json.loads(listed[1])["requests"]] == [request.id]
    result = cli("requests", "fulfil", str(request.id), "--operator", "maker.checker", "--json")
    assert result[0] == 0, result
    batch_id = json.loads(result[1])["batch_id"]
    batch = _batch(world, batch_id)
    assert (batch.status, batch.created_by, batch.count, batch.face_value) == ("draft", "issuer.operator", 3, 5000)
    [request] = _requests(world, "batch_create")
    assert (request.status, request.done_by, request.subject_id) == ("done", "maker.checker", batch_id)
    again = cli("requests", "fulfil", str(request.id), "--operator", "maker.checker")
    assert again[0] != 0 and "is done" in again[2]

    checker = app.test_client()
    login(checker, staff["approver"], clock.now)
    approved = checker.post(f"/console/batches/{batch_id}/approve", data={
        "csrf_token": token(checker), "totp": code(staff["approver"].secret, clock.now, 1)})
    assert approved.status_code == 303 and _batch(world, batch_id).status == "approved"


def test_print_export_ship_consign_activate_close_by_the_maker_only(app, world, clock, staff, cli, tmp_path):
    batch_id, cards = world.new_batch(6, consign=False)
    maker, checker = app.test_client(), app.test_client()
    login(maker, staff["issuer_operator"], clock.now)
    login(checker, staff["approver"], clock.now)
    csrf = token(maker)
    page = maker.get(f"/console/batches/{batch_id}").get_data(as_text=True)
    for form in ('id="print"', 'id="export"', 'id="ship"', 'id="consign"', 'id="activate"', 'id="void"'):
        assert form in page
    assert 'id="close"' not in page  # approved stock cannot close yet
    assert 'id="ship"' not in checker.get(f"/console/batches/{batch_id}").get_data(as_text=True)
    assert checker.post(f"/console/batches/{batch_id}/ship",
                        data={"csrf_token": token(checker)}).status_code == 403  # the server refuses too
    assert maker.post(f"/console/batches/{batch_id}/ship", data={}).status_code == 403  # no CSRF token

    assert maker.post(f"/console/batches/{batch_id}/print", data={"csrf_token": csrf}).status_code == 303
    twice = maker.post(f"/console/batches/{batch_id}/print", data={"csrf_token": csrf})
    assert twice.status_code == 422 and "already waiting" in twice.get_data(as_text=True)
    wrong = maker.post(f"/console/batches/{batch_id}/export", data={"csrf_token": csrf, "recipient": "age1nope"})
    assert wrong.status_code == 422
    recipient = str(x25519.Identity.generate().to_public())
    assert maker.post(f"/console/batches/{batch_id}/export",
                      data={"csrf_token": csrf, "recipient": recipient}).status_code == 303
    [printing], [export] = _requests(world, "batch_print"), _requests(world, "batch_export")
    assert printing.subject_id == export.subject_id == batch_id and json.loads(export.params)["recipient"] == recipient

    # the issuer process prints (custody: the person logged in there) and exports to the print house
    _cli_login(cli, tmp_path, staff["maker_approver"], clock.now, 0)
    printed = cli("requests", "fulfil", str(printing.id), "--operator", "maker.checker",
                  "--out", str(tmp_path / "cards.pdf"), "--json")
    assert printed[0] == 0, printed
    assert (tmp_path / "cards.pdf").exists() and _batch(world, batch_id).status == "printed"
    assert _events(world, "batch.print")[-1].actor == "maker.checker"
    exported = cli("requests", "fulfil", str(export.id), "--operator", "maker.checker",
                   "--out", str(tmp_path / "cards.age"), "--json")
    assert exported[0] == 0, exported
    assert (tmp_path / "cards.age").read_bytes().startswith(b"age-encryption.org/v1")

    # consign 3 cards from the second by first serial + count, then activate 2 of them for that distributor
    consigned = maker.post(f"/console/batches/{batch_id}/consign", data={
        "csrf_token": csrf, "distributor": OTHER_DISTRIBUTOR, "first_serial": cards[1].serial, "count": "3"})
    assert consigned.status_code == 303, consigned.get_data(as_text=True)[:500]
    assert [_statuses(world, batch_id)[str(n)] for n in range(1, 5)] == [
        ("inactive", None), ("inactive", OTHER_DISTRIBUTOR), ("inactive", OTHER_DISTRIBUTOR),
        ("inactive", OTHER_DISTRIBUTOR)]
    taken = maker.post(f"/console/batches/{batch_id}/activate", data={
        "csrf_token": csrf, "distributor": DISTRIBUTOR, "first_serial": cards[1].serial, "count": "1"})
    assert taken.status_code == 409 and 'data-code="stock_refused"' in taken.get_data(as_text=True)
    sold = maker.post(f"/console/batches/{batch_id}/activate", data={
        "csrf_token": csrf, "distributor": OTHER_DISTRIBUTOR, "first_serial": cards[1].serial, "count": "2"})
    assert sold.status_code == 303
    assert _statuses(world, batch_id)["2"] == ("active", OTHER_DISTRIBUTOR)
    _audited(_events(world, "console.batch.activate")[-1], "issuer.operator")

    assert maker.post(f"/console/batches/{batch_id}/ship", data={"csrf_token": csrf}).status_code == 303
    assert _batch(world, batch_id).status == "shipped"
    _audited(_events(world, "console.batch.ship")[-1], "issuer.operator")
    again = maker.post(f"/console/batches/{batch_id}/ship?lang=en", data={"csrf_token": csrf})
    assert again.status_code == 409 and "does not allow this" in again.get_data(as_text=True)
    zh = maker.post(f"/console/batches/{batch_id}/ship", data={"csrf_token": csrf})
    assert "批次当前状态不允许此操作" in zh.get_data(as_text=True)
    assert maker.post(f"/console/batches/{batch_id}/close", data={"csrf_token": csrf}).status_code == 303
    [close] = _requests(world, "batch_close")
    closing = cli("requests", "fulfil", str(close.id), "--operator", "maker.checker")
    assert closing[0] != 0 and "still has vouchers" in closing[2]  # closing needs every card spent or void
    assert _batch(world, batch_id).status == "shipped"


def test_void_needs_a_second_approver_with_a_fresh_code(app, world, clock, staff):
    batch_id = world.batch_id  # 8 of its 12 cards are sold: the void reverses their liability
    with world.sessions.begin() as s:
        liability = ledger_balance_as_of(s, chart.VOUCHER_LIABILITY, "CNY", clock.now + dt.timedelta(seconds=1))
    proposer, same, second = app.test_client(), app.test_client(), app.test_client()
    login(proposer, staff["maker_approver"], clock.now)
    login(second, staff["approver2"], clock.now)
    no_reason = proposer.post(f"/console/batches/{batch_id}/void", data={"csrf_token": token(proposer)})
    assert no_reason.status_code == 422
    assert proposer.post(f"/console/batches/{batch_id}/void", data={
        "csrf_token": token(proposer), "reason": "stolen in transit"}).status_code == 303
    [proposal] = _requests(world, "batch_void")
    assert (proposal.status, proposal.requested_by) == ("pending", "maker.checker")
    page = proposer.get("/console/requests").get_data(as_text=True)
    assert f"/console/requests/{proposal.id}/confirm" not in page  # no confirm button for the proposer ...
    own = proposer.post(f"/console/requests/{proposal.id}/confirm?lang=en", data={
        "csrf_token": token(proposer), "totp": code(staff["maker_approver"].secret, clock.now, 1)})
    assert own.status_code == 403 and 'data-code="same_person"' in own.get_data(as_text=True)  # ... nor the server
    assert _batch(world, batch_id).status == "approved"
    assert f"/console/requests/{proposal.id}/confirm" in second.get("/console/requests").get_data(as_text=True)
    spent = second.post(f"/console/requests/{proposal.id}/confirm", data={
        "csrf_token": token(second), "totp": code(staff["approver2"].secret, clock.now)})  # the login's code
    assert spent.status_code == 403 and 'data-code="step_up_refused"' in spent.get_data(as_text=True)
    assert _batch(world, batch_id).status == "approved"
    confirmed = second.post(f"/console/requests/{proposal.id}/confirm", data={
        "csrf_token": token(second), "totp": code(staff["approver2"].secret, clock.now, 1)})
    assert confirmed.status_code == 303
    batch = _batch(world, batch_id)
    assert (batch.status, batch.void_reason) == ("void", "stolen in transit")
    [proposal] = _requests(world, "batch_void")
    assert (proposal.status, proposal.decided_by, proposal.done_by) == ("done", "approver.two", "approver.two")
    with world.sessions.begin() as s:
        after = ledger_balance_as_of(s, chart.VOUCHER_LIABILITY, "CNY", clock.now + dt.timedelta(seconds=1))
    assert liability != 0 and after == liability - 8 * 10000 * (1 if liability > 0 else -1)  # the sale reversed
    _audited(_events(world, "console.request.batch_void.confirm")[-1], "approver.two")
    _audited(_events(world, "console.request.batch_void")[-1], "maker.checker")
    # a maker without the approver role cannot confirm anything
    maker = app.test_client()
    login(maker, staff["issuer_operator"], clock.now)
    assert maker.post(f"/console/requests/{proposal.id}/confirm", data={
        "csrf_token": token(maker), "totp": "000000"}).status_code == 403


def test_key_revocation_is_proposed_confirmed_by_another_and_carried_out_by_the_issuer(
        app, world, clock, staff, cli, tmp_path):
    [key] = [r.key_id for r in world.store.records()]
    admin, approver, other = app.test_client(), app.test_client(), app.test_client()
    login(admin, staff["admin"], clock.now)
    login(approver, staff["approver"], clock.now)
    login(other, staff["approver2"], clock.now)
    unknown = admin.post("/console/keys/revoke", data={"csrf_token": token(admin), "key_id": "no-such-key",
                                                       "reason": "leaked"})
    assert unknown.status_code == 422
    assert approver.post("/console/keys/revoke", data={"csrf_token": token(approver), "key_id": key,
                                                       "reason": "laptop stolen"}).status_code == 303
    [proposal] = _requests(world, "key_revoke")
    own = approver.post(f"/console/requests/{proposal.id}/confirm", data={
        "csrf_token": token(approver), "totp": code(staff["approver"].secret, clock.now, 1)})
    assert own.status_code == 403 and 'data-code="same_person"' in own.get_data(as_text=True)
    assert admin.post(f"/console/requests/{proposal.id}/confirm", data={
        "csrf_token": token(admin), "totp": code(staff["admin"].secret, clock.now, 1)}).status_code == 403
    assert other.post(f"/console/requests/{proposal.id}/confirm", data={
        "csrf_token": token(other), "totp": code(staff["approver2"].secret, clock.now, 1)}).status_code == 303
    [proposal] = _requests(world, "key_revoke")
    assert (proposal.status, proposal.decided_by) == ("approved", "approver.two")
    assert world.store.record(key).status.value == "active"  # the web process never writes the key store
    _cli_login(cli, tmp_path, staff["admin"], clock.now, 1)
    done = cli("requests", "fulfil", str(proposal.id), "--operator", "admin", "--json")
    assert done[0] == 0, done
    assert world.store.record(key).status.value == "revoked"
    assert _requests(world, "key_revoke")[0].status == "done"


def test_distributor_activates_only_its_own_consigned_stock_and_reads_its_statement(app, world, clock, staff):
    mine, theirs = app.test_client(), app.test_client()
    login(mine, staff["distributor"], clock.now)
    login(theirs, staff["other_distributor"], clock.now)
    first = world.cards[8].serial  # cards 9..12 are consigned to D001 and not sold yet
    before = _statuses(world, world.batch_id)
    for data in ({"batch_id": world.batch_id, "first_serial": first, "count": "2"},  # another's stock
                 {"batch_id": "B01-999999", "first_serial": first, "count": "2"},  # no such batch
                 {"batch_id": world.batch_id, "distributor": OTHER_DISTRIBUTOR, "first_serial": first,
                  "count": "2"}):  # naming itself in the form changes nothing
        refused = theirs.post("/console/distributor/activate", data={"csrf_token": token(theirs, "/console/distributor"),
                                                                     **data})
        assert refused.status_code == 404 and 'data-code="not_in_stock"' in refused.get_data(as_text=True)
        assert first not in refused.get_data(as_text=True)
    assert _statuses(world, world.batch_id) == before
    done = mine.post("/console/distributor/activate", data={
        "csrf_token": token(mine, "/console/distributor"), "batch_id": world.batch_id, "first_serial": first,
        "count": "2"})
    assert done.status_code == 303, done.get_data(as_text=True)[:600]
    after = _statuses(world, world.batch_id)
    assert after["9"] == after["10"] == ("active", DISTRIBUTOR) and after["11"] == ("inactive", DISTRIBUTOR)
    _audited(_events(world, "console.batch.activate")[-1], "dist.one")
    with world.sessions.begin() as s:
        distributors.post_remittance(s, DISTRIBUTOR, 12345, "BANK-REF-77", now=clock.now, actor="finance")
    statement = mine.get("/console/distributor/statement?lang=en").get_data(as_text=True)
    assert "BANK-REF-77" in statement and "123.45" in statement and world.batch_id in statement
    other = theirs.get(f"/console/distributor/statement?distributor={DISTRIBUTOR}").get_data(as_text=True)
    assert "BANK-REF-77" not in other and world.batch_id not in other


def test_the_cli_takes_a_range_as_first_serial_and_count_too(world, cli):
    batch_id, cards = world.new_batch(5, consign=False)
    code_, out, err = cli("batch", "consign", batch_id, "--distributor", OTHER_DISTRIBUTOR, "--from", cards[1].serial,
                          "--count", "2", "--operator", "carol", "--json")
    assert code_ == 0, err
    assert (json.loads(out)["first_serial"], json.loads(out)["last_serial"]) == (cards[1].serial, cards[2].serial)
    code_, out, err = cli("batch", "activate", batch_id, "--distributor", OTHER_DISTRIBUTOR, "--from",
                          cards[1].serial, "--count", "1", "--json")
    assert code_ == 0 and json.loads(out)["count"] == 1, err
    for bad in (["--count", "2"], ["--from", cards[0].serial, "--to", cards[1].serial, "--count", "2"]):
        code_, out, err = cli("batch", "consign", batch_id, "--distributor", OTHER_DISTRIBUTOR, *bad,
                              "--operator", "carol")
        assert code_ != 0 and out == "" and err.count("\n") == 1 and "--count" in err

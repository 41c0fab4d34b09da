"""The console's reports and dashboard read ``VOUCHER_REPORTS_DATABASE_URL`` and state their data's as-of.

The reports database here is another database than the primary (on an installation a hot standby of it):
it holds the world (cards, accounts) and the day's payments; the primary holds only the staff who log in.
A lagging standby (an injected replay probe) is shown with a warning banner, never refused.
"""
from __future__ import annotations

import datetime as dt
import subprocess

import pytest
from sqlalchemy import select

from tests.integration.redeem_api.console.conftest import Person, login
from tests.integration.redeem_api.world import ACCOUNT_CLEAN, WEB_PASSPHRASE
from tests.staff_helpers import GOOD_PASSWORD
from redeem_api.state import EXTENSION
from vouchers.books.payments import post_payment
from vouchers.staff import accounts, roles
from vouchers.staff.totp import seal_key
from vouchers.storage.db import make_engine, session_factory
from vouchers.storage.models import AuditEvent
from vouchers.storage.replica import Freshness


@pytest.fixture
def reports_app(world, clock, primary_url):
    """The console on ``primary_url`` with the world's database as its reports database, and a finance member
    on the primary (staff sessions and the audit trail are the primary's)."""
    paid = world.now - dt.timedelta(hours=1)
    with world.sessions.begin() as s:  # the reports database's day: 10 + 20 on wechat_pay
        post_payment(s, "wechat_pay", ACCOUNT_CLEAN, 1000, "R1", paid, world.now)
        post_payment(s, "wechat_pay", ACCOUNT_CLEAN, 2000, "R2", paid, world.now)
    primary = make_engine(primary_url)
    with session_factory(primary).begin() as s:
        enrolment = accounts.create_staff(s, username="fin.primary", roles=[roles.FINANCE, roles.ADMIN],
                                          password=GOOD_PASSWORD, seal_key=seal_key(world.store.pepper(WEB_PASSPHRASE)),
                                          now=world.now, actor="setup")
    app = world.app(clock, VOUCHER_DATABASE_URL=primary_url, VOUCHER_REPORTS_DATABASE_URL=world.db_url)
    yield app, Person("fin.primary", enrolment.totp_secret), primary
    app.extensions[EXTENSION].engine.dispose()
    app.extensions[EXTENSION].reports_engine.dispose()
    primary.dispose()


def lagging(world, seconds: float):
    """A standby ``seconds`` behind by the database's clock (5 s after the app's)."""
    server = world.now + dt.timedelta(seconds=5)
    return lambda session: Freshness(True, server - dt.timedelta(seconds=seconds), server, False)


def _pdf_text(data: bytes, tmp_path) -> str:
    path = tmp_path / "download.pdf"
    path.write_bytes(data)
    out = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True)
    return " ".join(out.stdout.split())


def test_the_finance_reports_and_the_dashboard_read_the_reports_database(reports_app, world, clock, tmp_path):
    app, person, primary = reports_app
    client = app.test_client()
    login(client, person, clock.now)
    today = world.now.date()
    page = client.get(f"/console/finance/reports?report=daily_close&day={today}&lang=en")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "wechat_pay" in html and "30.00" in html  # the primary has no payment
    # the reports database is no standby here: live, as of the page's moment, in business time
    assert 'id="data-as-of" data-source="live"' in html and "data as of 2026-11-26 10:00:00 (UTC+8) (live)" in html
    assert 'id="data-stale"' not in html
    zh = client.get(f"/console/finance/reports?report=daily_close&day={today}").get_data(as_text=True)
    assert "数据截至 2026-11-26 10:00:00 (UTC+8) (主库实时)" in zh
    liability = client.get(f"/console/finance/reports?report=liability&as_of={today}").get_data(as_text=True)
    assert f"<td>{world.batch_id}</td>" in liability  # the world's cards are in the reports database only
    board = client.get("/console/?lang=en").get_data(as_text=True)
    assert f'id="liability" data-minor="{world.active * 10000}"' in board and 'id="data-as-of"' in board

    # downloads: read there too; the PDF states the as-of, the CSV keeps its columns; audited on the primary
    csv_body = client.get(f"/console/finance/reports?report=daily_close&day={today}&download=csv").data
    assert "channel_money_in,wechat_pay,2,30.00" in csv_body.decode("utf-8-sig")
    pdf = client.get(f"/console/finance/reports?report=daily_close&day={today}&download=pdf")
    assert "data as of 2026-11-26 10:00:00 (UTC+8)" in _pdf_text(pdf.data, tmp_path)
    with session_factory(primary).begin() as s:
        downloads = s.execute(select(AuditEvent).where(AuditEvent.action == "console.report.download")).all()
    assert len(downloads) == 2
    assert world.count(AuditEvent, AuditEvent.action == "console.report.download") == 0


def test_a_lagging_standby_shows_the_page_with_a_banner_stating_the_lag(reports_app, world, clock, tmp_path):
    app, person, _ = reports_app
    client = app.test_client()
    login(client, person, clock.now)
    today = world.now.date()
    app.extensions[EXTENSION].replay_probe = lagging(world, 600)
    page = client.get(f"/console/finance/reports?report=daily_close&day={today}&lang=en")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "30.00" in html  # shown, not refused
    assert 'id="data-stale"' in html and "lags the primary by 600 s, more than the 300 s allowed" in html
    assert "data as of 2026-11-26 09:50:05 (UTC+8) (standby, lag 600 s)" in html
    zh = client.get(f"/console/?report=daily_close").get_data(as_text=True)
    assert "备库落后主库 600 秒，超过允许的 300 秒" in zh and "数据截至 2026-11-26 09:50:05 (UTC+8) (备库" in zh
    pdf = client.get(f"/console/finance/reports?report=liability&as_of={today}&download=pdf")
    shown = _pdf_text(pdf.data, tmp_path)
    assert "data as of 2026-11-26 09:50:05 (UTC+8)" in shown and "standby replay, lag 600 s" in shown

    app.extensions[EXTENSION].replay_probe = lagging(world, 20)  # within the maximum: the as-of, no banner
    html = client.get(f"/console/finance/reports?report=daily_close&day={today}&lang=en").get_data(as_text=True)
    assert 'id="data-stale"' not in html and "(standby, lag 20 s)" in html


def test_the_app_does_not_start_on_a_reports_database_that_is_missing_or_not_ours(world, clock, tmp_path):
    from vouchers.config import ConfigError

    missing = tmp_path / "nowhere.db"
    with pytest.raises(ConfigError, match="the reports database .* does not exist"):
        world.app(clock, VOUCHER_REPORTS_DATABASE_URL=f"sqlite:///{missing}")
    assert not missing.exists()  # a reader creates no database
    empty = tmp_path / "empty.db"
    make_engine(f"sqlite:///{empty}").connect().close()
    with pytest.raises(ConfigError, match="reports database's schema is at nothing"):
        world.app(clock, VOUCHER_REPORTS_DATABASE_URL=f"sqlite:///{empty}")

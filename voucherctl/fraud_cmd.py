"""``voucherctl fraud``: alerts, the scheduled scan, funds on hold, cases and the fraud report."""
from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import click

from vouchers.services.fraud import KINDS, list_alerts, list_lockouts, unlock as unlock_subject
from vouchers.services.fraud_rules import RULES, describe
from vouchers.services.throttle import build, subject_keys
from voucherctl import context
from voucherctl.data_as_of import allow_stale_option, line, stamp
from voucherctl.output import REASON, CliError, emit, json_option, output_files


@click.group()
def fraud() -> None:
    """Fraud rules and their alerts, funds held for review, cases, reports."""


def _actor(operator: str | None) -> str:
    return operator or context.actor()


def _day_start(text: str, option: str) -> dt.datetime:
    """A local date (YYYY-MM-DD) or an ISO 8601 instant with offset, as an aware instant."""
    try:
        if "T" in text:
            at = dt.datetime.fromisoformat(text)
            if at.tzinfo is None:
                raise ValueError("no offset")
            return at
        return dt.datetime.combine(dt.date.fromisoformat(text), dt.time(0), tzinfo=context.settings().tz)
    except ValueError as e:
        raise CliError(f"{option} must be a date like 2026-11-26 or an instant with offset, got {text!r}") from e


@fraud.command("alerts")
@click.option("--since", default=None, help="Only alerts at or after this date (YYYY-MM-DD, business time zone).")
@click.option("--kind", type=click.Choice(KINDS + tuple(r for r in RULES if r not in KINDS)), default=None,
              help="Only this rule (the attempt kinds first, as before the money rules).")
@click.option("--limit", default=1000, show_default=True, type=click.IntRange(1, 100_000))
@json_option
def alerts(since: str | None, kind: str | None, limit: int, as_json: bool) -> None:
    """Newest first."""
    since_at = None
    if since is not None:
        try:
            day = dt.date.fromisoformat(since)
        except ValueError as e:
            raise CliError(f"--since must be a date like 2026-11-26, got {since!r}") from e
        since_at = dt.datetime.combine(day, dt.time(0), tzinfo=context.settings().tz)
    with context.sessions().begin() as session:
        records = list_alerts(session, since=since_at, kind=kind, limit=limit)

    def human() -> None:
        if not records:
            click.echo("no fraud alerts")
        for a in records:
            who = a.client_id or a.ip or "?"
            click.echo(f"{a.at.isoformat(timespec='seconds')}  {a.kind:<24} serial={a.serial or '-'} "
                       f"status={a.voucher_status or '-'} via {a.channel} by {who} account={a.account_no or '-'}")

    emit(as_json, {"alerts": [a.as_json() for a in records]}, human)


@fraud.command("rules")
@json_option
def rules(as_json: bool) -> None:
    """The rules: stable id, subject, default action, where checked, description (zh and en)."""
    cfg = context.fraud_config()
    rows = [{"id": r.id, "subject": r.subject, "action": cfg.action(r.id, r.action),
             "inline": r.inline, "en": r.en, "zh": r.zh} for r in RULES.values()]
    emit(as_json, {"rules": rows}, lambda: [click.echo(f"{r['id']:<26} {r['action']:<6} {r['subject']:<12} "
                                                       f"{r['en']} / {r['zh']}") for r in rows])


@fraud.command("scan")
@click.option("--since", required=True, help="Start: a local date (YYYY-MM-DD) or an instant with offset.")
@click.option("--until", default=None, help="End (exclusive); default now.")
@click.option("--dry-run", is_flag=True, help="Report what fires; record nothing.")
@json_option
def scan_cmd(since: str, until: str | None, dry_run: bool, as_json: bool) -> None:
    """Run every rule over a time range (a scheduled job): new alerts are recorded into their cases."""
    from vouchers.services.fraud_scan import scan

    now = context.now()
    since_at = _day_start(since, "--since")
    until_at = _day_start(until, "--until") if until else now
    if until_at <= since_at:
        raise CliError("--until must be after --since")
    with context.sessions().begin() as session:
        result = scan(session, since=since_at, until=until_at, cfg=context.fraud_config(), tz=context.settings().tz,
                      now=now, record=not dry_run)
    doc = result.as_json()
    emit(as_json, doc, lambda: click.echo(
        f"scanned {result.events} money-in events from {since_at.isoformat()} to {until_at.isoformat()}: "
        + (", ".join(f"{rule} {n}" for rule, n in sorted(result.hits.items())) or "nothing fired")
        + ("" if dry_run else f"; {result.recorded} new alerts")))


@fraud.command("holds")
@click.option("--status", type=click.Choice(("held", "released", "returned")), default=None)
@click.option("--limit", default=1000, show_default=True, type=click.IntRange(1, 100_000))
@json_option
def holds(status: str | None, limit: int, as_json: bool) -> None:
    """Money held for review (newest first)."""
    from vouchers.services.fraud_holds import list_holds

    with context.sessions().begin() as session:
        rows = list_holds(session, status=status, limit=limit)
    emit(as_json, {"holds": rows}, lambda: [click.echo(
        f"{h['hold_id']}  {h['status']:<8} {h['kind']:<10} {h['amount']} {h['currency']} -> {h['account_no']} "
        f"({','.join(h['rules'])})") for h in rows] or click.echo("no holds"))


@fraud.command("release")
@click.argument("hold_id")
@click.option("--to", "to", type=click.Choice(("account", "source")), required=True,
              help="account: credit the customer; source: back to the card's liability or the channel.")
@click.option("--reason", required=True)
@click.option("--operator", default=None, help="The fraud analyst (default VOUCHER_ACTOR, else $USER).")
@json_option
def release_cmd(hold_id: str, to: str, reason: str, operator: str | None, as_json: bool) -> None:
    """Release held money to the account, or return it to where it came from. Idempotent."""
    from vouchers.services.errors import FraudReviewError
    from vouchers.services.fraud_holds import release

    try:
        with context.sessions().begin() as session:
            done = release(session, hold_id, to=to, reason=reason, actor=_actor(operator), now=context.now(),
                           deps=context.services())
    except FraudReviewError as e:
        raise CliError(str(e)) from e
    emit(as_json, done.as_json(), f"{hold_id} {done.status}" + (" (already)" if done.replayed else "")
         + (f" by transaction {done.transaction_id}" if done.transaction_id else ""))


@fraud.command("cases")
@click.option("--open", "open_only", is_flag=True, help="Only open cases.")
@click.option("--limit", default=1000, show_default=True, type=click.IntRange(1, 100_000))
@json_option
def cases(open_only: bool, limit: int, as_json: bool) -> None:
    """Alerts grouped per subject (account, distributor, terminal, batch, channel), newest activity first."""
    from vouchers.services.fraud_cases import list_cases

    with context.sessions().begin() as session:
        rows = list_cases(session, open_only=open_only, limit=limit)
    emit(as_json, {"cases": rows}, lambda: [click.echo(
        f"#{c['id']:<5} {c['status']:<6} {c['subject_type']}:{c['subject_id']}  {c['alerts']} alerts, "
        f"{c['held']} held" + (f"  verdict={c['verdict']}" if c["verdict"] else "")) for c in rows]
        or click.echo("no fraud cases"))


@fraud.group("case")
def case() -> None:
    """One case: show it, close it with a verdict."""


@case.command("show")
@click.argument("case_id", type=int)
@click.option("--lang", type=click.Choice(("zh", "en")), default="en", show_default=True)
@json_option
def case_show(case_id: int, lang: str, as_json: bool) -> None:
    from vouchers.services.errors import FraudReviewError
    from vouchers.services.fraud_cases import show_case

    try:
        with context.sessions().begin() as session:
            body = show_case(session, case_id, lang=lang)
    except FraudReviewError as e:
        raise CliError(str(e)) from e

    def human() -> None:
        click.echo(f"case #{body['id']} {body['subject_type']}:{body['subject_id']} {body['status']}"
                   + (f" ({body['verdict']}: {body['note']})" if body["verdict"] else ""))
        for a in body["alert_list"]:
            click.echo(f"  {a['at']}  {a['rule']:<24} {a['action']:<5} {a['amount'] or '-':>10}  "
                       f"{a['account_no'] or '-'}  {a['description']}")

    emit(as_json, body, human)


@case.command("close")
@click.argument("case_id", type=int)
@click.option("--verdict", type=click.Choice(("fraud", "legit")), required=True)
@click.option("--note", required=True)
@click.option("--operator", default=None, help="The fraud analyst (default VOUCHER_ACTOR, else $USER).")
@json_option
def case_close(case_id: int, verdict: str, note: str, operator: str | None, as_json: bool) -> None:
    from vouchers.services.errors import FraudReviewError
    from vouchers.services.fraud_cases import close_case

    try:
        with context.sessions().begin() as session:
            body = close_case(session, case_id, verdict=verdict, note=note, actor=_actor(operator),
                              now=context.now())
    except FraudReviewError as e:
        raise CliError(str(e)) from e
    emit(as_json, body, f"case #{case_id} closed: {verdict}")


@fraud.command("report")
@click.option("--since", required=True, help="Start: a local date (YYYY-MM-DD).")
@click.option("--until", default=None, help="End (exclusive); default now.")
@click.option("--format", "fmt", type=click.Choice(("text", "json", "csv", "pdf")), default="text",
              show_default=True)
@click.option("--out", "pdf_out", default=None, type=click.Path(dir_okay=False, path_type=Path),
              help="--format pdf: the file to write.")
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True, help="PDF language.")
@allow_stale_option
def report_cmd(since: str, until: str | None, fmt: str, pdf_out: Path | None, lang: str, allow_stale: bool) -> None:
    """Alerts and held amounts by rule, channel, distributor and month (text, JSON, CSV or a zh/en PDF; read
    from the reports database; with ``--format csv`` the data's as-of line goes to stderr, the CSV alone to
    stdout)."""
    from vouchers.services.fraud_cases import report, report_minor

    if fmt == "pdf" and pdf_out is None:
        raise CliError("--format pdf needs --out FILE")
    since_at = _day_start(since, "--since")
    until_at = _day_start(until, "--until") if until else context.now()
    settings = context.settings()
    with context.report_session(allow_stale) as (session, data_as_of):
        if fmt == "pdf":
            minor = report_minor(session, since=since_at, until=until_at, tz=settings.tz)
        else:
            rows = report(session, since=since_at, until=until_at, tz=settings.tz)
    if fmt == "pdf":
        from print_templates.fraud_report import FraudReportView, fraud_report_pdf

        view = FraudReportView(since_at, until_at, settings.tz, settings.currency, minor,
                               {rule_id: describe(rule_id, lang) for rule_id in RULES})
        assert pdf_out is not None
        with output_files(None, pdf_out) as (_, pdf_file):
            pdf_file.write_bytes(fraud_report_pdf(view, lang=lang, branding=context.print_branding()))
        click.echo(f"wrote {pdf_out}")
        click.echo(line(data_as_of))
    elif fmt == "json":
        emit(True, stamp({"since": since_at.isoformat(), "until": until_at.isoformat(), "rows": rows}, data_as_of))
    elif fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=["rule", "channel", "distributor", "month", "alerts", "holds",
                                                 "held_amount", "still_held"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        click.echo(out.getvalue(), nl=False)
        click.echo(line(data_as_of), err=True)
    else:
        for r in rows or []:
            click.echo(f"{r['month']}  {r['rule']:<24} {r['channel']:<12} {r['distributor']:<10} "
                       f"{r['alerts']:>6} alerts  {r['holds']:>4} holds  {r['held_amount']:>12}  "
                       f"{describe(r['rule'], 'zh')}")
        if not rows:
            click.echo("no fraud alerts in the range")
        click.echo(line(data_as_of))


def _throttle():  # type: ignore[no-untyped-def]
    """The throttle store the web uses (Redis if VOUCHER_REDIS_URL, else the database) and its limits."""
    settings = context.settings()
    return build(settings, settings.throttle, prefix=settings.redis_prefix), settings.throttle


@fraud.command("lockouts")
@click.option("--all", "show_all", is_flag=True, help="Also subjects with failures that are not locked out yet.")
@json_option
def lockouts(show_all: bool, as_json: bool) -> None:
    """Clients, IP addresses and accounts locked out by failed attempts now (counters of the window)."""
    throttle, limits = _throttle()
    with context.sessions().begin() as session:
        found = list_lockouts(session, throttle, limits, now=context.now(), locked_only=not show_all)

    def human() -> None:
        if not found:
            click.echo("no lockouts")
        for f in found:
            click.echo(f"{f.subject:<40} {f.failures:>5}/{f.limit:<5} "
                       f"{'LOCKED' if f.locked else 'counting'}  {f.seconds_left} s left")

    emit(as_json, {"lockouts": [f.as_json() for f in found]}, human)


@fraud.command("unlock")
@click.option("--account", "account_no", default=None, metavar="NO", help="An account (in every channel).")
@click.option("--ip", default=None, metavar="IP", help="A web client address.")
@click.option("--client", "client_id", default=None, metavar="ID", help="An API client (till).")
@click.option("--reason", required=True, type=REASON, metavar="TEXT", help="Why (kept in the audit trail).")
@json_option
def unlock(account_no: str | None, ip: str | None, client_id: str | None, reason: str, as_json: bool) -> None:
    """Lift a lockout at once: forget the subject's failures of the window (audited)."""
    given = [(kind, value) for kind, value in (("account", account_no), ("ip", ip), ("client", client_id))
             if value is not None]
    if len(given) != 1:
        raise CliError("give exactly one of --account, --ip, --client")
    kind, value = given[0]
    value = value.strip()
    if not value or len(value) > 100 or any(c.isspace() for c in value):
        raise CliError(f"--{kind} must be one word, got {value!r}")
    keys = subject_keys(account_no=value if kind == "account" else None, ip=value if kind == "ip" else None,
                        client_id=value if kind == "client" else None)
    throttle, _ = _throttle()
    actor = context.actor()
    with context.sessions().begin() as session:
        cleared = unlock_subject(session, throttle, keys, subject_type=kind, subject_id=value, reason=reason,
                                 now=context.now(), actor=actor)
    emit(as_json, {"subject_type": kind, "subject_id": value, "counters_cleared": cleared},
         f"unlocked {kind} {value} ({cleared} counter(s) cleared)")

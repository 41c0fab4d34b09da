"""``voucherctl outbox``: deliver customer notifications (SMS) from both outboxes, list unsent and dead ones."""
from __future__ import annotations

import datetime as dt
import sys

import click

from vouchers.notify import outbox
from vouchers.notify.errors import NotifyError
from vouchers.notify.gateway import make_gateway
from voucherctl import context
from voucherctl.output import CliError, emit, json_option, progress

_PLAIN_PROGRESS_EVERY = 1000  # without a TTY: one stderr line per this many messages
EXIT_SOME_FAILED = 3
_BATCH = 20  # messages claimed per short transaction


def _lease(gateway: object) -> dt.timedelta:
    """Long enough for a whole batch of timeouts: no other sender takes a message this one still holds."""
    seconds = float(getattr(gateway, "timeout", 0.0) or 0.0) * _BATCH * 2
    return max(outbox.DEFAULT_LEASE, dt.timedelta(seconds=seconds))


@click.group("outbox")
def outbox_group() -> None:
    """Customer SMS from redemptions, payments and cost control (docs/notifications.md)."""


@outbox_group.command("send")
@click.option("--limit", type=click.IntRange(1), default=None, help="Send at most this many messages.")
@click.option("--max-attempts", type=click.IntRange(1, 1000), default=outbox.DEFAULT_MAX_ATTEMPTS, show_default=True,
              help="A message that failed this many times is marked dead.")
@click.option("--lang", type=click.Choice(["zh", "en"]), default=None,
              help="Message language (default VOUCHER_SMS_LANG, else zh).")
@json_option
def send(limit: int | None, max_attempts: int, lang: str | None, as_json: bool) -> None:
    """Deliver due messages through the SMS gateway (VOUCHER_SMS_URL + VOUCHER_SMS_TOKEN, or VOUCHER_SMS_SINK).

    Exit status 3 (with one line on stderr) if any message failed or went dead in this run.
    """
    sms = context.settings().sms
    lang = lang or sms.lang
    try:  # before the database: a missing gateway marks nothing
        gateway = make_gateway(sink=sms.sink, url=sms.url, token=sms.token, timeout=sms.timeout_seconds)
    except NotifyError as e:
        raise CliError(str(e)) from e
    sessions = context.sessions()
    due = outbox.count_due(sessions, context.now())
    total = min(due, limit) if limit is not None else due
    with progress(total, "sending SMS") as advance:
        done = 0

        def step(n: int) -> None:
            nonlocal done
            advance(n)
            done += n
            if not sys.stderr.isatty() and done % _PLAIN_PROGRESS_EVERY == 0:
                click.echo(f"outbox: {done}/{total} processed", err=True)

        result = outbox.send_due(sessions, gateway, clock=context.now, lang=lang, limit=limit,
                                 max_attempts=max_attempts, batch_size=_BATCH, lease=_lease(gateway),
                                 tz=context.settings().tz, on_progress=step)
    emit(as_json, result.as_dict(), f"sent {result.sent}, failed {result.failed}, dead {result.dead}")
    if result.failed or result.dead:
        error = CliError(f"{result.failed} messages failed and {result.dead} went dead in this run: "
                         "see `voucherctl outbox list --unsent` and `--dead`")
        error.exit_code = EXIT_SOME_FAILED
        raise error


@outbox_group.command("list")
@click.option("--unsent", "status", flag_value="unsent", help="Only messages still to send (not dead).")
@click.option("--dead", "status", flag_value="dead", help="Only messages given up after --max-attempts.")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 10000))
@json_option
def list_(status: str | None, limit: int, as_json: bool) -> None:
    """Messages of both outboxes, oldest first: ids, kinds, attempts, last error (never the text)."""
    with context.sessions().begin() as session:
        found = outbox.list_messages(session, status=status, limit=limit)
    emit(as_json, {"messages": [context.local_times(m.as_dict(), m, "created_at", "next_attempt_at", "sent_at", "dead_at")
                                for m in found]},
         "\n".join(f"{m.source}:{m.id} {m.kind:22} {m.account_no} {m.status:6} attempts {m.attempts}"
                   + (f" next {context.when_text(m.next_attempt_at)}" if m.next_attempt_at and m.status == "unsent" else "")
                   + (f" error: {m.last_error}" if m.last_error and m.status != "sent" else "")
                   for m in found) or "no messages")


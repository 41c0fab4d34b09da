"""A labelled fraud scenario: ordinary money-in traffic with injected instances of every rule's pattern.

Seeded and deterministic. ``ordinary`` transactions (card redemptions by
terminals and the web page, channel payments) spread over ``days`` days with a
daily rhythm (quiet nights, a morning and an evening peak), across accounts
with a skewed activity, distributors, terminals and channels; about one in two
hundred payments is refunded. Then ``per_pattern`` instances of each rule's
pattern are injected, each labelled with the event keys the rules report
(``voucher:<serial>``, ``payment:<channel>:<ref>``, ``activation:<id>``,
``channel:<channel>:<day>``), so a scan's flags can be scored: recall per
pattern, false positives among the ordinary transactions.

Rows are written straight into the tables the rules read (foreign keys off, a
scratch SQLite file): the scenario exercises the rules, not the booking code,
and 100,000 transactions take seconds instead of the half hour the full
money-in flow would.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import random
import zoneinfo
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import Engine, insert

from vouchers.storage.api_models import ApiClient, FraudHold, Redemption
from vouchers.storage.ledger_models import (
    CustomerAccount,
    Distributor,
    LedgerTransaction,
    Payment,
    VoucherActivation,
)
from vouchers.storage.models import Batch, Voucher
from vouchers.storage.staff_models import StaffAccount
from vouchers.storage.sts_models import StsVend

TZ = zoneinfo.ZoneInfo("Asia/Shanghai")
START = dt.date(2026, 3, 2)  # a Monday; fixed, so no run depends on today
CHANNELS = ("alipay", "wechat_pay", "bank_counter", "counter_cash")
FACES = (5_000, 10_000, 10_000, 20_000)
# relative activity per local hour (a terminal site is open 07-22; payments run all day)
HOURLY = (1, 1, 1, 1, 1, 2, 4, 8, 12, 14, 13, 11, 10, 9, 9, 9, 10, 12, 14, 13, 10, 7, 4, 2)
OPEN_HOURLY = tuple(w if 7 <= h < 22 else 0 for h, w in enumerate(HOURLY))
PATTERNS = ("velocity.account_cards", "velocity.account_amount", "velocity.terminal_rate",
            "velocity.terminal_hours", "insider.quick_redeem", "insider.bulk_same_day", "stolen.near_void",
            "channel.structuring", "channel.reversal_rate", "channel.refund_after_use", "insider.staff_match",
            "channel.reversal_operator", "channel.refund_after_release")
BATCH_SIZE = 5_000


@dataclass
class Scenario:
    seed: int
    days: int
    ordinary: set[str] = field(default_factory=set)  # keys of ordinary transactions
    ordinary_activations: set[str] = field(default_factory=set)
    ordinary_operator_days: set[str] = field(default_factory=set)  # the everyday refunds' operator-days
    ordinary_channel_days: set[str] = field(default_factory=set)
    instances: dict[str, list[set[str]]] = field(default_factory=lambda: defaultdict(list))
    transactions: int = 0  # every money-in row written (ordinary and injected)

    @property
    def since(self) -> dt.datetime:
        return dt.datetime.combine(START, dt.time(0), tzinfo=TZ)

    @property
    def until(self) -> dt.datetime:
        return self.since + dt.timedelta(days=self.days)


class _Writer:
    """Buffers rows per table and writes them in big multi-row inserts."""

    def __init__(self, conn) -> None:  # type: ignore[no-untyped-def]
        self.conn = conn
        self.rows: dict[object, list[dict]] = defaultdict(list)
        self.ids: dict[str, int] = defaultdict(int)

    def next_id(self, table: str) -> int:
        self.ids[table] += 1
        return self.ids[table]

    def add(self, model, **row) -> None:  # type: ignore[no-untyped-def]
        self.rows[model].append(row)
        if len(self.rows[model]) >= 5_000:
            self.flush(model)

    def flush(self, model=None) -> None:  # type: ignore[no-untyped-def]
        for m in ([model] if model is not None else list(self.rows)):
            if self.rows[m]:
                self.conn.execute(insert(m.__table__), self.rows[m])
                self.rows[m] = []


def generate(engine: Engine, *, seed: int = 20261207, ordinary: int = 100_000, per_pattern: int = 50,
             days: int = 60, accounts: int = 4_000, terminals: int = 60, distributors: int = 20) -> Scenario:
    """Write the scenario into the (migrated, empty) database of ``engine``; the labels come back."""
    rng = random.Random(seed)
    sc = Scenario(seed, days)
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":  # outside any transaction, or SQLite ignores it
            conn.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
        w = _Writer(conn)
        _Gen(rng, sc, w, accounts=accounts, terminals=terminals, distributors=distributors).run(ordinary,
                                                                                               per_pattern)
        w.flush()
        conn.commit()
    return sc


class _Gen:
    def __init__(self, rng: random.Random, sc: Scenario, w: _Writer, *, accounts: int, terminals: int,
                 distributors: int) -> None:
        self.rng, self.sc, self.w = rng, sc, w
        t0 = sc.since.astimezone(dt.timezone.utc)
        self.t0 = t0
        self.accounts = []
        for i in range(accounts):
            cid = w.next_id("customer")
            no = f"5{i:09d}"
            w.add(CustomerAccount, id=cid, account_no=no, name=f"bench {i}", meter_no=None, currency="CNY",
                  arrears_account_id=0, prepaid_account_id=0, created_at=t0, phone=f"139{i:08d}")
            self.accounts.append((cid, no))
        # a few accounts are busy (landlords paying for tenants), most pay a few times a month
        self.weights = [rng.paretovariate(3.0) for _ in range(accounts)]
        self.terminals = []
        for i in range(terminals):
            pk = w.next_id("client")
            w.add(ApiClient, id=pk, client_id=f"c_term{i:04d}", name=f"terminal {i}", role="terminal", channel=None,
                  distributor_id=None, key_hash=hashlib.sha256(str(i).encode()).digest(), revoked=False,
                  created_at=t0, created_by="bench", revoked_at=None)
            self.terminals.append(pk)
        self.distributors = []
        for i in range(distributors):
            pk = w.next_id("distributor")
            w.add(Distributor, id=pk, distributor_id=f"D{i:03d}", name=f"distributor {i}", commission_bp=200,
                  created_at=t0)
            self.distributors.append((pk, f"D{i:03d}"))
        self.tx = w.next_id("transaction")  # one journal header every row points at (the rules never read it)
        w.add(LedgerTransaction, id=self.tx, kind="bench", source="bench", external_ref="bench", occurred_at=t0,
              posted_at=t0, actor="bench", memo=None, reverses_id=None)
        self.batch = None
        self.left = 0
        self.serial_no = 0

    # --- building blocks ------------------------------------------------------------------------

    def instant(self, day: int, weights: tuple[int, ...] = HOURLY) -> dt.datetime:
        hour = self.rng.choices(range(24), weights)[0]
        local = dt.datetime.combine(START + dt.timedelta(days=day), dt.time(hour), tzinfo=TZ)
        return (local + dt.timedelta(seconds=self.rng.randrange(3600))).astimezone(dt.timezone.utc)

    def account(self) -> tuple[int, str]:
        return self.rng.choices(self.accounts, self.weights)[0]

    def new_batch(self, count: int = BATCH_SIZE) -> int:
        pk = self.w.next_id("batch")
        self.w.add(Batch, id=pk, batch_id=f"B{pk:06d}", issuer_code=1, face_value=10_000, currency="CNY",
                   count=count, expires=dt.date(2030, 12, 31), status="shipped", key_id="bench", first_serial="",
                   last_serial="", card_data_sha256="0" * 64, created_by="bench", created_at=self.t0,
                   approved_by="bench", approved_at=self.t0, void_reason=None)
        return pk

    def card(self, *, distributor: str, activated: dt.datetime, redeemed: dt.datetime | None,
             status: str | None = None, batch: tuple[int, int] | None = None, face: int | None = None) -> str:
        """A card row (from the running batch, or at ``batch`` = (batch pk, sequence)); its serial."""
        if batch is None:
            if self.left == 0:
                self.batch, self.left, self.seq = self.new_batch(), BATCH_SIZE, 0
            self.left -= 1
            self.seq += 1
            batch = (self.batch, self.seq)  # type: ignore[assignment]
        self.serial_no += 1
        serial = f"01{self.serial_no:014d}"
        self.w.add(Voucher, id=self.w.next_id("voucher"), serial=serial, batch_pk=batch[0], sequence=batch[1],
                   code_hash=hashlib.sha256(serial.encode()).digest(), face_value=face or self.rng.choice(FACES),
                   currency="CNY", expires=dt.date(2030, 12, 31),
                   status=status or ("redeemed" if redeemed else "active"), distributor_id=distributor,
                   consigned_to=distributor, activated_at=activated, redeemed_at=redeemed, expired_at=None,
                   voided_at=None, updated_at=redeemed or activated)
        return serial

    def redeem(self, serial: str, account: tuple[int, str], at: dt.datetime, amount: int,
               terminal: int | None) -> str:
        pid = self.w.next_id("payment")
        self.w.add(Payment, id=pid, channel="voucher", external_ref=serial, customer_id=account[0], amount=amount,
                   currency="CNY", applied_to_arrears=0, balance_after=0, paid_at=at, transaction_id=self.tx,
                   import_id=None, status="booked", reconciliation_id=None)
        self.w.add(Redemption, id=self.w.next_id("redemption"), redemption_id=f"rdm_{pid:020d}",
                   voucher_id=self.w.ids["voucher"], serial=serial, account_no=account[1], amount=amount,
                   currency="CNY", applied_to_arrears=0, credited_to_balance=amount, balance_after=0,
                   channel="terminal" if terminal else "web", client_pk=terminal, ledger_transaction_id=self.tx,
                   redeemed_at=at)
        self.sc.transactions += 1
        return f"voucher:{serial}"

    def redeem_new(self, account: tuple[int, str], at: dt.datetime, *, terminal: int | None,
                   activated: dt.datetime | None = None, distributor: str | None = None) -> str:
        distributor = distributor or self.rng.choice(self.distributors)[1]
        if activated is None:  # sold hours to weeks before; never minutes
            activated = at - dt.timedelta(hours=self.rng.uniform(2, 24 * 30))
        face = self.rng.choice(FACES)
        serial = self.card(distributor=distributor, activated=activated, redeemed=at, face=face)
        return self.redeem(serial, account, at, face, terminal)

    def pay(self, account: tuple[int, str], at: dt.datetime, amount: int, channel: str | None = None,
            reversed_at: dt.datetime | None = None, vended_at: dt.datetime | None = None,
            actor: str = "bench") -> str:
        channel = channel or self.rng.choice(CHANNELS)
        pid = self.w.next_id("payment")
        ref = f"P{pid:010d}"
        self.w.add(Payment, id=pid, channel=channel, external_ref=ref, customer_id=account[0], amount=amount,
                   currency="CNY", applied_to_arrears=0, balance_after=0, paid_at=at, transaction_id=self.tx,
                   import_id=None, status="reversed" if reversed_at else "booked", reconciliation_id=None)
        if vended_at is not None:
            self.w.add(StsVend, id=self.w.next_id("vend"), pan="bench", account_no=account[1], kind="credit",
                       token_class=0, subclass=0, tid=pid, token="0" * 20, amount_minor=amount, units=1,
                       tariff_kwh="1", source="payment", source_ref=str(pid), actor="bench", reprints=0,
                       vended_at=vended_at, ledger_transaction_id=None)
        if reversed_at is not None:
            self.w.add(LedgerTransaction, id=self.w.next_id("transaction"), kind="payment_reversal",
                       source="payment_reversal", external_ref=str(pid), occurred_at=reversed_at,
                       posted_at=reversed_at, actor=actor, memo="refund", reverses_id=self.tx)
        self.sc.transactions += 1
        return f"payment:{channel}:{ref}"

    def ordinary_amount(self) -> int:
        # most payments are round-ish 20-500 yuan; a few larger; the band just under 1000 is rare but not empty
        r = self.rng.random()
        if r < 0.85:
            return self.rng.choice((2_000, 5_000, 10_000, 20_000, 30_000, 50_000)) + self.rng.choice((0, 0, 0, 123))
        if r < 0.995:
            return self.rng.randrange(5_000, 150_000)
        return self.rng.randrange(90_000, 100_000)

    # --- the scenario ---------------------------------------------------------------------------

    def run(self, ordinary: int, per_pattern: int) -> None:
        rng, sc = self.rng, self.sc
        for _ in range(ordinary):
            day = rng.randrange(sc.days)
            account = self.account()
            if rng.random() < 0.6:  # a card: most at a terminal during opening hours, some on the web page
                terminal = rng.choice(self.terminals) if rng.random() < 0.8 else None
                at = self.instant(day, OPEN_HOURLY if terminal else HOURLY)
                sc.ordinary.add(self.redeem_new(account, at, terminal=terminal))
            else:
                at = self.instant(day)
                refund = rng.random() < 0.005
                sc.ordinary.add(self.pay(account, at, self.ordinary_amount(),
                                         reversed_at=at + dt.timedelta(days=rng.uniform(0.1, 3)) if refund else None))
        for aid in range(1, len(self.distributors) * 2 + 1):  # ordinary activations: small, redeemed later
            self.activation(rng.choice(self.distributors), count=rng.randrange(5, 40), day=rng.randrange(sc.days),
                            redeem_same_day=rng.randrange(0, 3), label=None)
        for ch in CHANNELS:
            for d in range(sc.days):
                sc.ordinary_channel_days.add(f"channel:{ch}:{(START + dt.timedelta(days=d)).isoformat()}")
        for d in range(sc.days + 4):  # the everyday refunds (reversed up to three days later)
            sc.ordinary_operator_days.add(f"operator:bench:{(START + dt.timedelta(days=d)).isoformat()}")
        inject = {
            "velocity.account_cards": self.inject_account_cards,
            "velocity.account_amount": self.inject_account_amount,
            "velocity.terminal_rate": self.inject_terminal_rate,
            "velocity.terminal_hours": self.inject_terminal_hours,
            "insider.quick_redeem": self.inject_quick_redeem,
            "insider.bulk_same_day": self.inject_bulk_same_day,
            "stolen.near_void": self.inject_near_void,
            "channel.structuring": self.inject_structuring,
            "channel.refund_after_use": self.inject_refund_after_use,
            "insider.staff_match": self.inject_staff_match,
            "channel.reversal_operator": self.inject_reversal_operator,
            "channel.refund_after_release": self.inject_refund_after_release,
        }
        for pattern, make in inject.items():
            for _ in range(per_pattern):
                sc.instances[pattern].append(make(rng.randrange(1, sc.days - 3)))  # inside the window, refunds too
        self.inject_reversal_rate(per_pattern)

    def fresh_account(self) -> tuple[int, str]:
        """An account the ordinary traffic barely touches (the weights' long tail)."""
        return self.rng.choice(self.accounts)

    def inject_account_cards(self, day: int) -> set[str]:
        account, start = self.fresh_account(), self.instant(day, OPEN_HOURLY)
        return {self.redeem_new(account, start + dt.timedelta(minutes=20 * i), terminal=self.rng.choice(self.terminals))
                for i in range(8)}

    def inject_account_amount(self, day: int) -> set[str]:
        account, start = self.fresh_account(), self.instant(day)
        return {self.pay(account, start + dt.timedelta(hours=i), 180_000) for i in range(2)}

    def inject_terminal_rate(self, day: int) -> set[str]:
        terminal, start = self.rng.choice(self.terminals), self.instant(day, OPEN_HOURLY)
        start = min(start, dt.datetime.combine(START + dt.timedelta(days=day), dt.time(20), tzinfo=TZ))
        return {self.redeem_new(self.account(), start + dt.timedelta(seconds=40 * i), terminal=terminal)
                for i in range(80)}

    def inject_terminal_hours(self, day: int) -> set[str]:
        at = dt.datetime.combine(START + dt.timedelta(days=day), dt.time(self.rng.choice((0, 1, 2, 3, 4, 23))),
                                 tzinfo=TZ) + dt.timedelta(minutes=self.rng.randrange(60))
        return {self.redeem_new(self.account(), at, terminal=self.rng.choice(self.terminals))}

    def inject_quick_redeem(self, day: int) -> set[str]:
        account, dist = self.fresh_account(), self.rng.choice(self.distributors)[1]
        start = self.instant(day, OPEN_HOURLY)
        return {self.redeem_new(account, start + dt.timedelta(minutes=3 * i + 4), terminal=self.rng.choice(self.terminals),
                                activated=start + dt.timedelta(minutes=3 * i), distributor=dist) for i in range(4)}

    def activation(self, dist: tuple[int, str], *, count: int, day: int, redeem_same_day: int,
                   label: set[str] | None) -> str:
        batch = self.new_batch(count)
        at = self.instant(day, OPEN_HOURLY)
        local_end = dt.datetime.combine(START + dt.timedelta(days=day + 1), dt.time(0), tzinfo=TZ)
        aid = self.w.next_id("activation")
        self.w.add(VoucherActivation, id=aid, batch_pk=batch, distributor_pk=dist[0], first_sequence=1,
                   last_sequence=count, count=count, face_value=10_000, commission_each=200, currency="CNY",
                   transaction_id=self.tx, activated_at=at, actor="bench")
        closing = local_end - dt.timedelta(hours=2)  # the sites close at 22:00
        for seq in range(1, count + 1):
            if seq <= redeem_same_day:
                when = at + (max(closing, at + dt.timedelta(minutes=30)) - at) * self.rng.uniform(0.3, 0.95)
            else:
                when = self.instant(day + self.rng.randrange(2, 20), OPEN_HOURLY)
            serial = self.card(distributor=dist[1], activated=at, redeemed=when, batch=(batch, seq), face=10_000)
            key = self.redeem(serial, self.account(), when, 10_000, self.rng.choice(self.terminals))
            (label if label is not None else self.sc.ordinary).add(key)
        key = f"activation:{aid}"
        (label if label is not None else self.sc.ordinary_activations).add(key)
        return key

    def inject_bulk_same_day(self, day: int) -> set[str]:
        label: set[str] = set()
        self.activation(self.rng.choice(self.distributors), count=60, day=day, redeem_same_day=30, label=label)
        return label

    def inject_near_void(self, day: int) -> set[str]:
        """A box of 40 cards: the last 20 stolen and voided; one of the first 20 redeemed near them, or (half the
        time) one of the first 20 of the next box."""
        batch, dist = self.new_batch(40), self.rng.choice(self.distributors)[1]
        at = self.instant(day, OPEN_HOURLY)
        for seq in range(21, 41):
            self.card(distributor=dist, activated=None, redeemed=None, status="void", batch=(batch, seq))  # type: ignore[arg-type]
        seq = self.rng.randrange(5, 21)
        if self.rng.random() < 0.5:  # across the boundary: the first cards of the box issued next
            batch, seq = self.new_batch(40), self.rng.randrange(1, 21)
        serial = self.card(distributor=dist, activated=at - dt.timedelta(days=3), redeemed=at, batch=(batch, seq),
                           face=10_000)
        return {self.redeem(serial, self.account(), at, 10_000, self.rng.choice(self.terminals))}

    def inject_structuring(self, day: int) -> set[str]:
        account, start = self.fresh_account(), self.instant(day)
        return {self.pay(account, start + dt.timedelta(hours=2 * i), self.rng.randrange(95_000, 100_000))
                for i in range(3)}

    def inject_refund_after_use(self, day: int) -> set[str]:
        at = self.instant(day)
        return {self.pay(self.account(), at, 20_000, vended_at=at + dt.timedelta(seconds=2),
                         reversed_at=at + dt.timedelta(days=self.rng.uniform(0.5, 2)))}

    def inject_staff_match(self, day: int) -> set[str]:
        """A staff member's own account (same phone), credited once: a card or a payment."""
        n = self.w.next_id("staff")
        phone = f"137{n:08d}"
        self.w.add(StaffAccount, id=n, username=f"staff{n}", roles="customer_service", distributor_id=None,
                   password_hash="bench", totp_sealed=b"bench", totp_last_step=None, disabled=False,
                   created_at=self.t0, created_by="bench", disabled_at=None, reset_requested_by=None,
                   reset_requested_at=None, phone=phone, address=None)
        cid = self.w.next_id("customer")
        account = (cid, f"7{n:09d}")
        self.w.add(CustomerAccount, id=cid, account_no=account[1], name=f"staff relative {n}", meter_no=None,
                   currency="CNY", arrears_account_id=0, prepaid_account_id=0, created_at=self.t0, phone=phone)
        at = self.instant(day, OPEN_HOURLY)
        if self.rng.random() < 0.5:
            return {self.redeem_new(account, at, terminal=self.rng.choice(self.terminals))}
        return {self.pay(account, at, self.ordinary_amount())}

    def inject_reversal_operator(self, day: int) -> set[str]:
        """One back-office operator refunding six bank direct debits in a morning. ``bank_debit`` carries no
        ordinary traffic here: the pattern's reversals would otherwise double the channels' reversal volume
        and bury the channel-rate pattern's incidents in their own baseline."""
        actor = f"op{self.w.next_id('operator')}"
        day = max(day, 8)  # the rule judges a day once the books hold a week before it
        start = dt.datetime.combine(START + dt.timedelta(days=day), dt.time(8), tzinfo=TZ)
        for i in range(6):
            at = start + dt.timedelta(minutes=self.rng.randrange(0, 240))
            self.pay(self.account(), at, self.ordinary_amount(), channel="bank_debit",
                     reversed_at=at + dt.timedelta(hours=1), actor=actor)
        return {f"operator:{actor}:{(START + dt.timedelta(days=day)).isoformat()}"}

    def inject_refund_after_release(self, day: int) -> set[str]:
        """A direct debit held, released by an analyst an hour later, returned by the bank a day later (on
        ``bank_debit``, like the operator pattern: the channels' reversal baselines stay the ordinary ones)."""
        at = self.instant(day)
        account = self.account()
        key = self.pay(account, at, 150_000, channel="bank_debit", reversed_at=at + dt.timedelta(days=1),
                       actor="bank-returns")
        pid = self.w.ids["payment"]
        channel = key.split(":")[1]
        self.w.add(FraudHold, id=self.w.next_id("hold"), hold_id=f"hold_{pid:020d}", kind="payment",
                   account_no=account[1], amount=150_000, currency="CNY", channel=channel, voucher_id=None,
                   serial=None, payment_id=pid, client_pk=None, distributor_id=None, rules="velocity.account_amount",
                   status="released", created_at=at, transaction_id=self.tx, resolved_at=at + dt.timedelta(hours=1),
                   resolved_by="analyst", reason="known customer", resolution_transaction_id=None)
        return {key}

    def inject_reversal_rate(self, per_pattern: int) -> None:
        """Channel-days with ten extra refunded payments (a compromised channel operator)."""
        pairs = [(ch, d) for ch in CHANNELS for d in range(self.sc.days)]
        for ch, d in self.rng.sample(pairs, per_pattern):
            key = f"channel:{ch}:{(START + dt.timedelta(days=d)).isoformat()}"
            self.sc.ordinary_channel_days.discard(key)
            for i in range(30):  # ten of them refunded
                at = self.instant(d)
                self.pay(self.account(), at, self.ordinary_amount(), channel=ch,
                         reversed_at=at + dt.timedelta(hours=1) if i % 3 == 0 else None, actor="channel-ops")
            self.sc.instances["channel.reversal_rate"].append({key})


def score(sc: Scenario, flagged: dict[str, set[str]]) -> dict[str, object]:
    """Recall per pattern; false positives among ordinary transactions, activations and channel-days."""
    any_flag: set[str] = set().union(*flagged.values()) if flagged else set()
    per_rule = {}
    for pattern in PATTERNS:
        instances = sc.instances.get(pattern, [])
        found = sum(1 for keys in instances if keys & flagged.get(pattern, set()))
        fp_units = (sc.ordinary_activations if pattern == "insider.bulk_same_day" else
                    sc.ordinary_channel_days if pattern == "channel.reversal_rate" else
                    sc.ordinary_operator_days if pattern == "channel.reversal_operator" else sc.ordinary)
        fp = len(fp_units & flagged.get(pattern, set()))
        per_rule[pattern] = {"instances": len(instances), "detected": found,
                             "recall": round(found / len(instances), 4) if instances else None,
                             "false_positives": fp, "fpr": round(fp / len(fp_units), 5) if fp_units else 0.0}
    fp_all = len(sc.ordinary & any_flag)
    return {"seed": sc.seed, "ordinary_transactions": len(sc.ordinary), "transactions": sc.transactions,
            "false_positive_transactions": fp_all, "fpr": round(fp_all / len(sc.ordinary), 5),
            "rules": per_rule}

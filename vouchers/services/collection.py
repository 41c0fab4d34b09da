"""The one collection report (电费回收): ``voucherctl report collection`` and ``voucherctl collection report``.

Two command names (both are contract) and one use case: the month-by-month rate of the books
(money applied to bills ÷ money billed, over a period of local days) and the collection analysis
of the period's last month (rates, arrears aging by area and channel, largest arrears) at its
cut-off. A period that has not ended is reported to ``now``, and the cut-off says so.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.orm import Session

from vouchers.books.reports.collection import CollectionLine
from vouchers.books.reports.collection import collection_report as monthly_rates
from vouchers.books.timeutil import end_of_day, start_of_day
from vouchers.metering.collection import CollectionReport
from vouchers.metering.collection import collection_report as month_analysis
from vouchers.metering.config import MeteringConfig
from vouchers.metering.errors import ReportError
from vouchers.money import format_amount


@dataclass(frozen=True)
class CollectionStatement:
    """The report: ``analysis`` of the last month at ``analysis.cutoff``, and ``months`` from ``first`` to ``last``."""

    first: dt.date
    last: dt.date  # the last local day covered (today for a period still running)
    currency: str
    months: list[CollectionLine]
    analysis: CollectionReport

    def as_dict(self) -> dict[str, object]:
        return {**self.analysis.as_dict(), "currency": self.currency, "from": self.first.isoformat(),
                "to": self.last.isoformat(),
                "months": [{"month": x.month, "billed": format_amount(x.billed), "collected": format_amount(x.collected),
                            "rate": x.rate} for x in self.months]}


def collection_report(session: Session, *, first: dt.date, last: dt.date, now: dt.datetime, currency: str,
                      config: MeteringConfig, top: int = 20) -> CollectionStatement:
    """The collection report for local days ``first`` .. ``last`` (inclusive) as it stands at ``now``.

    Days after today are not reported (the cut-off is ``now``); a period that begins after today is refused.
    """
    if first > last:
        raise ReportError(f"the period {first} .. {last} ends before it begins")
    tz = config.tz
    start, end = start_of_day(first, tz), end_of_day(last, tz)
    if now < start:
        raise ReportError(f"the period {first} .. {last} has not begun on {config.local_date(now)} (business time)")
    as_of = end  # the analysis of a period that has ended is made at its end
    if now < end:
        as_of, last = now, config.local_date(now)
        end = now + dt.timedelta(microseconds=1)  # what happened at ``now`` itself is known at ``now``
    rates = monthly_rates(session, start=start, end=end, currency=currency, tz=config.timezone)
    analysis = month_analysis(session, f"{last.year:04d}-{last.month:02d}", now=as_of, config=config, top=top)
    return CollectionStatement(first, last, currency, rates.lines, analysis)


__all__ = ["CollectionStatement", "collection_report"]

"""``/metrics``: counted by prometheus_client, summed over gunicorn workers.

Under ``voucherctl serve`` prometheus_client runs in its multiprocess mode:
serve sets ``PROMETHEUS_MULTIPROC_DIR`` before anything imports the library,
every worker counts into memory-mapped files there (written at once, so a
scrape never lags), and whichever worker answers a scrape sums every file
(``MultiProcessCollector``). Without that variable (tests, ``flask run``)
each app counts in its own registry, in memory.

The text is written from the library's samples by :func:`exposition`, not by
``generate_latest``: that one sorts label names and writes ``1.0`` and
``le="1.0"``, and on Prometheus 2 a changed ``le`` value is a new series, so
dashboards would break across the upgrade. Ours keeps the documented lines:
labels in declared order, whole numbers as integers, ``le="1"``.
"""
from __future__ import annotations

import math
import os
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics
from prometheus_client import values
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
REDEMPTION_OUTCOMES = ("redeemed", "held", "replayed", "invalid_voucher", "invalid_code_format", "invalid_token",
                       "unknown_account", "throttled", "rejected", "error")

# Methods counted by name (RFC 9110); any other (a scanner's FOOBAR1, ...) is counted as "other", so
# clients cannot add label values, and series, at will.
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"})

# The *_created series would be new series the contract never had (multiprocess mode has none anyway).
disable_created_metrics()


def method_label(method: str) -> str:
    """The ``method`` label: a standard method's name, else ``other``."""
    return method if method in HTTP_METHODS else "other"


def multiprocess_dir() -> str | None:
    """The shared directory when this process counts in prometheus_client's multiprocess mode.

    The library picks its mode once, when imported: a variable set later would leave this worker
    counting in memory while scrapes read only the files, so that is refused rather than lost."""
    directory = os.environ.get(MULTIPROC_ENV) or None
    if directory is not None and values.ValueClass is values.MutexValue:
        raise RuntimeError(f"{MULTIPROC_ENV} was set after prometheus_client was imported")
    return directory


class Metrics:
    """The API's three metrics; ``render()`` is the whole exposition (every worker's under gunicorn)."""

    def __init__(self, directory: str | None = None) -> None:
        # Metric objects live in a private registry: several apps in one process (tests) never clash.
        self._own = CollectorRegistry(auto_describe=True)
        self.directory = directory
        if directory is None:
            self._scrape = self._own
        else:
            self._scrape = CollectorRegistry()
            MultiProcessCollector(self._scrape, path=directory)
        self._redemptions = Counter("voucher_redemptions_total",
                                    "Redemption attempts by outcome (terminal API and web page).",
                                    ["outcome"], registry=self._own)
        self._requests = Counter("voucher_http_requests_total", "HTTP requests by route, method and status.",
                                 ["route", "method", "status"], registry=self._own)
        self._latency = Histogram("voucher_http_request_duration_seconds", "HTTP request latency by route.",
                                  ["route", "method"], buckets=LATENCY_BUCKETS, registry=self._own)
        for outcome in REDEMPTION_OUTCOMES:  # every outcome from the start, at 0
            self._redemptions.labels(outcome)

    @classmethod
    def for_process(cls) -> Metrics:
        """Shared across workers when serve set up the multiprocess directory, else per app."""
        return cls(multiprocess_dir())

    def count_redemption(self, outcome: str) -> None:
        self._redemptions.labels(outcome).inc()

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        method = method_label(method)
        self._requests.labels(route, method, str(status)).inc()
        self._latency.labels(route, method).observe(seconds)

    def render(self) -> str:
        return exposition(self._scrape.collect())


# name -> (type, label names in exposition order); the HELP text comes from the samples' family
_LABELS = {
    "voucher_redemptions_total": ("counter", ("outcome",)),
    "voucher_http_requests_total": ("counter", ("route", "method", "status")),
    "voucher_http_request_duration_seconds": ("histogram", ("route", "method")),
}
_SUFFIX_ORDER = {"_bucket": 0, "_sum": 1, "_count": 2}


def _number(value: float) -> str:
    """A whole number exactly (1234567, never 1.234567e+06), any other with every digit it has."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(pairs: Iterable[tuple[str, str]]) -> str:
    text = ",".join(f'{k}="{_escape(v)}"' for k, v in pairs)
    return "{" + text + "}" if text else ""


def exposition(families: Iterable[Metric]) -> str:
    """Prometheus text format 0.0.4 for our three metrics, series sorted by their labels."""
    lines: list[str] = []
    by_name = {f.name + ("_total" if f.type == "counter" else ""): f for f in families}
    for name, (kind, label_names) in _LABELS.items():
        family = by_name.get(name)
        if family is None:
            continue
        lines += [f"# HELP {name} {_escape_help(family.documentation)}", f"# TYPE {name} {kind}"]
        rows = []
        for sample in family.samples:
            suffix = sample.name[len(family.name):]
            if kind == "counter" and suffix != "_total":
                continue  # no _created (disabled above; never in multiprocess mode)
            series = tuple(sample.labels.get(k, "") for k in label_names)
            le = float(sample.labels["le"]) if suffix == "_bucket" else 0.0
            pairs = list(zip(label_names, series))
            if suffix == "_bucket":
                pairs.append(("le", "+Inf" if math.isinf(le) else f"{le:g}"))
            rows.append(((series, _SUFFIX_ORDER.get(suffix, 0), le),
                         f"{family.name}{suffix if kind == 'histogram' else '_total'}{_labels(pairs)} "
                         f"{_number(sample.value)}"))
        lines += [line for _, line in sorted(rows)]
    return "\n".join(lines) + "\n"


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")

"""A small Prometheus text exposition, aggregated over gunicorn workers.

Each worker counts in memory and, at most once a second (and whenever it
answers a scrape), writes its totals to ``<metrics_dir>/worker-<pid>.json``
(atomic rename). A scrape, answered by whichever worker, sums every file, so
the numbers do not depend on which worker you hit. Without a directory (tests,
``flask run``) only the process's own counts are shown.
"""
from __future__ import annotations

import json
import math
import os
import threading
import time
from collections import defaultdict
from pathlib import Path

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
REDEMPTION_OUTCOMES = ("redeemed", "replayed", "invalid_voucher", "invalid_code_format", "invalid_token",
                       "unknown_account", "throttled", "rejected", "error")

# Methods counted by name (RFC 9110); any other (a scanner's FOOBAR1, ...) is counted as "other", so
# clients cannot add label values, and series, at will.
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"})

_HELP = {
    "voucher_redemptions_total": ("counter", "Redemption attempts by outcome (terminal API and web page)."),
    "voucher_http_requests_total": ("counter", "HTTP requests by route, method and status."),
    "voucher_http_request_duration_seconds": ("histogram", "HTTP request latency by route."),
}


def method_label(method: str) -> str:
    """The ``method`` label: a standard method's name, else ``other``."""
    return method if method in HTTP_METHODS else "other"


def _sample(value: float) -> str:
    """A sample value in the text format: a whole number exactly (1234567, never 1.23457e+06), any
    other with every digit it has (the shortest text that reads back as the same float)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(pairs: tuple[tuple[str, str], ...]) -> str:
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in pairs) + "}" if pairs else ""


class Metrics:
    def __init__(self, directory: str | None = None, flush_interval: float = 1.0,
                 worker_name: str | None = None) -> None:
        self.directory = Path(directory) if directory else None
        self.flush_interval = flush_interval
        self._lock = threading.Lock()
        self._counters: dict[str, dict[tuple, float]] = defaultdict(lambda: defaultdict(float))
        # route -> [bucket counts..., +Inf count, sum]
        self._hist: dict[tuple, list[float]] = {}
        self._last_flush = 0.0
        self._worker_name = worker_name
        self._dirty = False
        self._flusher: threading.Thread | None = None
        for outcome in REDEMPTION_OUTCOMES:
            self._counters["voucher_redemptions_total"][(("outcome", outcome),)] += 0

    # -- recording ---------------------------------------------------------------
    def count_redemption(self, outcome: str) -> None:
        with self._lock:
            self._counters["voucher_redemptions_total"][(("outcome", outcome),)] += 1
        self._maybe_flush()

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        method = method_label(method)
        with self._lock:
            self._counters["voucher_http_requests_total"][
                (("route", route), ("method", method), ("status", str(status)))] += 1
            key = (("route", route), ("method", method))
            hist = self._hist.get(key)
            if hist is None:
                hist = self._hist[key] = [0.0] * (len(LATENCY_BUCKETS) + 2)
            for i, bound in enumerate(LATENCY_BUCKETS):
                if seconds <= bound:
                    hist[i] += 1
                    break
            else:
                hist[len(LATENCY_BUCKETS)] += 1
            hist[-1] += seconds
        self._maybe_flush()

    # -- sharing between workers ------------------------------------------------
    def _file_name(self) -> str:
        # the current pid, so a copy inherited through fork never writes its parent's file
        return f"worker-{self._worker_name or os.getpid()}.json"

    def _snapshot(self) -> dict:
        with self._lock:
            return {
                "counters": {name: [[list(map(list, labels)), value] for labels, value in series.items()]
                             for name, series in self._counters.items()},
                "hist": [[list(map(list, labels)), list(values)] for labels, values in self._hist.items()],
            }

    def _background_flush(self) -> None:
        while True:
            time.sleep(self.flush_interval)
            if self._dirty:
                self._maybe_flush(force=True)

    def _maybe_flush(self, force: bool = False) -> None:
        if self.directory is None:
            return
        self._dirty = True
        if self._flusher is None or not self._flusher.is_alive():
            # started lazily, in the worker process: a thread does not survive a fork
            self._flusher = threading.Thread(target=self._background_flush, name="metrics-flush", daemon=True)
            self._flusher.start()
        now = time.monotonic()
        if not force and now - self._last_flush < self.flush_interval:
            return
        self._last_flush = now
        self._dirty = False
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            target = self.directory / self._file_name()
            tmp = target.with_suffix(f".tmp{threading.get_ident()}")
            tmp.write_text(json.dumps(self._snapshot()), "utf-8")
            os.replace(tmp, target)
        except OSError:  # metrics must never break a request
            pass

    def _merged(self) -> dict:
        snapshots = [self._snapshot()]
        if self.directory is not None:
            self._maybe_flush(force=True)
            own = self._file_name()
            for path in sorted(self.directory.glob("worker-*.json")):
                if path.name == own:
                    continue
                try:
                    snapshots.append(json.loads(path.read_text("utf-8")))
                except (OSError, ValueError):
                    continue
        counters: dict[str, dict[tuple, float]] = defaultdict(lambda: defaultdict(float))
        hist: dict[tuple, list[float]] = {}
        for snap in snapshots:
            for name, series in snap.get("counters", {}).items():
                for labels, value in series:
                    counters[name][tuple(tuple(p) for p in labels)] += value
            for labels, values in snap.get("hist", []):
                key = tuple(tuple(p) for p in labels)
                current = hist.setdefault(key, [0.0] * len(values))
                for i, v in enumerate(values):
                    current[i] += v
        return {"counters": counters, "hist": hist}

    # -- exposition ---------------------------------------------------------------
    def render(self) -> str:
        merged = self._merged()
        lines: list[str] = []
        for name in ("voucher_redemptions_total", "voucher_http_requests_total"):
            kind, text = _HELP[name]
            lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]
            for labels, value in sorted(merged["counters"].get(name, {}).items()):
                lines.append(f"{name}{_labels(labels)} {_sample(value)}")
        name = "voucher_http_request_duration_seconds"
        kind, text = _HELP[name]
        lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]
        for labels, values in sorted(merged["hist"].items()):
            cumulative = 0.0
            for i, bound in enumerate(LATENCY_BUCKETS):
                cumulative += values[i]
                lines.append(f"{name}_bucket{_labels(labels + (('le', f'{bound:g}'),))} {_sample(cumulative)}")
            cumulative += values[len(LATENCY_BUCKETS)]
            lines.append(f"{name}_bucket{_labels(labels + (('le', '+Inf'),))} {_sample(cumulative)}")
            lines.append(f"{name}_sum{_labels(labels)} {_sample(values[-1])}")
            lines.append(f"{name}_count{_labels(labels)} {_sample(cumulative)}")
        return "\n".join(lines) + "\n"

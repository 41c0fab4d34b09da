"""vouchers.books.staging.reading: how far a pass over a file has got, by blocks or by lines."""
from __future__ import annotations

import io

from vouchers.books.staging import ReportingReader, reading


def test_blocks_and_lines_report_now_and_then_and_at_the_end() -> None:
    data = b"x" * 99 + b"\n"
    size = len(data) * 10_000  # 1,000,000 bytes
    heard: list[int] = []
    stream = reading(io.BytesIO(data * 10_000), heard.append)
    while stream.read(100_000):
        pass
    assert heard[-1] == size and heard == sorted(heard) and len(heard) == size // 300_000 + 1
    heard.clear()
    assert sum(len(line) for line in reading(io.BytesIO(data * 10_000), heard.append)) == size
    assert heard[-1] == size and all(b - a >= ReportingReader.EVERY for a, b in zip(heard, heard[1:-1]))


def test_no_listener_no_wrapper() -> None:
    raw = io.BytesIO(b"abc")
    assert reading(raw, None) is raw
    heard: list[int] = []
    assert list(reading(io.BytesIO(b""), heard.append)) == [] and heard == []

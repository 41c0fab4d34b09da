"""Benchmark of print_templates.render_batch against a naive renderer.

For each count, cards with real EV1 tokens (a fixed Ed25519 key) are written
once to a CSV file; rendering then streams them from that file, as the CLI
streams them from the database. Each variant runs in its own subprocess so
its memory is measured alone:

* ``fast``: ``render_batch`` with the given layout, ``max_cards_per_file``
  and workers (default os.cpu_count()).
* ``naive``: one process, one canvas, every card drawn from scratch with
  reportlab's ``QrCodeWidget`` (reportlab's own QR encoder, automatic mask
  choice, one rectangle per module) and the ``Code128`` flowable, same
  QR content (the default QR URL with the token as its fragment) and the
  same layout positions. Run on fewer cards (it is slow).

Reported: wall-clock cards/s; CPU milliseconds per card (getrusage of the
variant's process and the workers it reaped); peak RSS of the whole process
tree (the variant process and all its descendants, summed, sampled every
50 ms from /proc by this driver) and the largest single process seen.

    .venv/bin/python bench/bench_print.py                     # 10,000 and 100,000
    .venv/bin/python bench/bench_print.py --counts 2000 --baseline-count 200
"""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import random
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from print_templates import (
    BatchCover,
    CardDataHasher,
    CardRecord,
    load_layout,
    render_batch,
)
from vouchers import damm
from vouchers.claims import VoucherClaims
from vouchers.money import format_amount, parse_amount
from vouchers.serials import Serial, batch_id_for
from vouchers.token import TokenSigner

KEY_ID = "bench-2026-01"
EXPIRES = dt.date(2027, 12, 31)
FACE_VALUE = 10_000  # ¥100.00
HEADER = ["serial", "code", "token", "face_value", "currency", "expires"]


# ---------------------------------------------------------------- card data


def write_cards(path: Path, count: int, seed: int = 2026) -> dict:
    """Write ``count`` cards as the print-house CSV; return the cover fields."""
    rng = random.Random(seed)
    signer = TokenSigner(KEY_ID, Ed25519PrivateKey.from_private_bytes(bytes(range(32))))
    batch_id = batch_id_for(1, 77)
    hasher = CardDataHasher()
    first = last = ""
    with path.open("w", encoding="utf-8", newline="") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow(HEADER)
        for seq in range(1, count + 1):
            serial = str(Serial(1, 77, seq))
            body = f"{rng.randrange(10**19):019d}"
            code = body + damm.check_digit(body)
            token = signer.sign(VoucherClaims(serial, batch_id, FACE_VALUE, "CNY", EXPIRES, code))
            card = CardRecord(serial, code, token, FACE_VALUE, "CNY", EXPIRES)
            hasher.update(card)
            out.writerow([serial, code, token, format_amount(FACE_VALUE), "CNY", EXPIRES.isoformat()])
            first = first or serial
            last = serial
    return {
        "batch_id": batch_id, "count": count, "first_serial": first, "last_serial": last,
        "card_data_sha256": hasher.hexdigest(),
    }


def read_cards(path: Path, limit: int | None = None) -> Iterator[CardRecord]:
    """Stream cards from the CSV (never all in memory)."""
    with path.open(encoding="utf-8", newline="") as f:
        rows = csv.reader(f)
        if next(rows) != HEADER:
            raise SystemExit(f"{path}: unexpected header")
        for n, (serial, code, token, face, currency, expires) in enumerate(rows):
            if limit is not None and n >= limit:
                return
            yield CardRecord(serial, code, token, parse_amount(face), currency, dt.date.fromisoformat(expires))


def make_cover(info: dict, count: int | None = None, last_serial: str | None = None, sha: str | None = None) -> BatchCover:
    return BatchCover(
        batch_id=info["batch_id"], face_value=FACE_VALUE, currency="CNY", count=count or info["count"],
        first_serial=info["first_serial"], last_serial=last_serial or info["last_serial"], expires=EXPIRES,
        key_id=KEY_ID, card_data_sha256=sha or info["card_data_sha256"],
        printed_at=dt.datetime(2026, 11, 26, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=8))), operator="bench",
    )


# ---------------------------------------------------------------- measuring


def _proc_table() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, RSS in KiB) for every process we can read."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            rss = 0
            with open(f"/proc/{entry}/status", encoding="ascii", errors="replace") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        rss = int(line.split()[1])
                        break
        except (OSError, IndexError, ValueError):
            continue
        table[int(entry)] = (ppid, rss)
    return table


def tree_rss_kib(root: int) -> tuple[int, int]:
    """(sum, largest) RSS of ``root`` and all its descendants."""
    table = _proc_table()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    total = largest = 0
    stack = [root]
    while stack:
        pid = stack.pop()
        rss = table.get(pid, (0, 0))[1]
        total += rss
        largest = max(largest, rss)
        stack.extend(children.get(pid, ()))
    return total, largest


def run_variant(args: argparse.Namespace) -> dict:
    info = json.loads(Path(args.cover).read_text())
    count = args.limit or info["count"]
    if count != info["count"]:  # a prefix of the cards: its own cover
        hasher, last = CardDataHasher(), ""
        for card in read_cards(Path(args.csv), count):
            hasher.update(card)
            last = card.serial
        cover = make_cover(info, count, last, hasher.hexdigest())
    else:
        cover = make_cover(info)
    out_dir = Path(args.out)
    start = time.perf_counter()
    if args.variant == "fast":
        files = render_batch(
            read_cards(Path(args.csv), count), cover, args.layout, out_dir / "bench.pdf",
            max_cards_per_file=args.max_cards_per_file, workers=args.workers,
        )
        n_files, size = len(files), sum(f.path.stat().st_size for f in files)
    else:
        size = naive_render(read_cards(Path(args.csv), count), cover, args.layout, out_dir / "naive.pdf")
        n_files = 1
    elapsed = time.perf_counter() - start
    return {
        "variant": args.variant, "cards": count, "seconds": round(elapsed, 2),
        "cards_per_second": round(count / elapsed, 1), "files": n_files, "bytes_per_card": round(size / count),
        "workers": args.workers or os.cpu_count(), "max_cards_per_file": args.max_cards_per_file,
    }


# ---------------------------------------------------------------- naive baseline


def naive_render(cards: Iterator[CardRecord], cover: BatchCover, layout_name: str, out: Path) -> int:
    """Same card content and positions, drawn the straightforward way."""
    from reportlab.graphics import renderPDF
    from reportlab.graphics.barcode.code128 import Code128
    from reportlab.graphics.barcode.qr import QrCodeWidget
    from reportlab.graphics.shapes import Drawing
    from reportlab.pdfgen.canvas import Canvas

    from print_templates import FontSet, PrintBranding
    from print_templates.layout import BarcodeField, QrField
    from print_templates.render import _card_values, _Plan
    from vouchers.token import qr_fragment

    layout = load_layout(layout_name)
    plan = _Plan(layout, cover, PrintBranding(), FontSet())
    qr_prefix = plan.branding.qr_prefix
    c = Canvas(str(out), pagesize=(plan.page_w, plan.page_h), initialFontName=plan.regular)
    qr_field, bar_field = layout.fields_of(QrField)[0], layout.fields_of(BarcodeField)[0]
    qx, qy, qw, qh = plan.card_box(qr_field.box)
    bx, by, bw, bh = plan.card_box(bar_field.box)
    slot = 0
    for card in cards:
        if slot == layout.cards_per_page:
            c.showPage()
            slot = 0
        ox, oy = plan.origins[slot]
        c.saveState()
        c.translate(ox, oy)
        for t in plan.static_texts:
            c.setFont(t.font, t.size)
            c.drawString(t.x_for(t.width), t.baseline, t.template)
        values = _card_values(card)
        for placed, template in plan.card_texts:
            text = template.format_map(values)
            c.setFont(placed.font, placed.size)
            c.drawString(placed.left, placed.baseline, text)
        side = min(qw, qh)
        # the same QR content as the fast path: the (default) QR URL with the token as its fragment
        widget = QrCodeWidget(qr_prefix + qr_fragment(card.token), barLevel="M", barWidth=side, barHeight=side)
        drawing = Drawing(side, side)
        drawing.add(widget)
        renderPDF.draw(drawing, c, qx, qy)
        barcode = Code128(card.serial, barWidth=bw / 143, barHeight=bh, quiet=1, lquiet=bw / 143 * 10, rquiet=bw / 143 * 10)
        barcode.drawOn(c, bx, by)
        c.restoreState()
        slot += 1
    c.showPage()
    c.save()
    return out.stat().st_size


# ---------------------------------------------------------------- driver


def child(variant: str, csv_path: Path, cover_path: Path, out_dir: Path, args: argparse.Namespace, limit: int | None) -> dict:
    cmd = [
        sys.executable, __file__, "_variant", variant, "--csv", str(csv_path), "--cover", str(cover_path),
        "--out", str(out_dir), "--layout", args.layout,
    ]
    if limit:
        cmd += ["--limit", str(limit)]
    if args.max_cards_per_file:
        cmd += ["--max-cards-per-file", str(args.max_cards_per_file)]
    if args.workers:
        cmd += ["--workers", str(args.workers)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True)
        peak_total = peak_single = 0
        while proc.poll() is None:
            total, single = tree_rss_kib(proc.pid)
            peak_total, peak_single = max(peak_total, total), max(peak_single, single)
            time.sleep(0.05)
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise SystemExit(f"{variant} failed:\n{err.read()}")
        result = json.loads(out.read().strip().splitlines()[-1])
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # CPU of the child and every descendant it reaped (its worker processes)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    result.update(
        cpu_seconds=round(cpu, 2),
        cpu_ms_per_card=round(cpu / result["cards"] * 1000, 3),
        peak_tree_rss_mb=round(peak_total / 1024, 1),
        max_process_rss_mb=round(peak_single / 1024, 1),
    )
    return result


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_variant":
        p = argparse.ArgumentParser()
        p.add_argument("variant", choices=["fast", "naive"])
        p.add_argument("--csv", required=True)
        p.add_argument("--cover", required=True)
        p.add_argument("--out", required=True)
        p.add_argument("--layout", default="a4-cards")
        p.add_argument("--limit", type=int)
        p.add_argument("--max-cards-per-file", type=int)
        p.add_argument("--workers", type=int)
        # as a CLI should: turn SIGTERM into SystemExit so render_batch cleans up
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
        print(json.dumps(run_variant(p.parse_args(argv[1:]))))
        return 0

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--counts", default="10000,100000", help="comma-separated card counts (default 10000,100000)")
    p.add_argument("--baseline-count", type=int, default=1000, help="cards for the naive baseline (default 1000)")
    p.add_argument("--layout", default="a4-cards")
    p.add_argument("--max-cards-per-file", type=int, default=5000, help="0 = one file (default 5000)")
    p.add_argument("--workers", type=int, default=None, help="default os.cpu_count()")
    p.add_argument("--json", action="store_true", help="print the results as one JSON document")
    args = p.parse_args(argv)
    args.max_cards_per_file = args.max_cards_per_file or None
    counts = [int(c.replace("_", "")) for c in args.counts.split(",") if c]
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-print-") as tmp:
        tmp_path = Path(tmp)
        biggest = max(counts + [args.baseline_count])
        csv_path, cover_path = tmp_path / "cards.csv", tmp_path / "cover.json"
        t = time.perf_counter()
        cover_path.write_text(json.dumps(write_cards(csv_path, biggest)))
        prep = time.perf_counter() - t
        if not args.json:
            print(f"prepared {biggest:,} signed cards in {prep:.1f} s (not timed below)", flush=True)
        for i, count in enumerate([args.baseline_count]):
            out = tmp_path / f"naive-{i}"
            out.mkdir()
            results.append(child("naive", csv_path, cover_path, out, args, count))
            if not args.json:
                print(_line(results[-1]), flush=True)
        for count in counts:
            out = tmp_path / f"fast-{count}"
            out.mkdir()
            results.append(child("fast", csv_path, cover_path, out, args, count))
            if not args.json:
                print(_line(results[-1]), flush=True)
            for f in out.iterdir():
                f.unlink()
    baseline = results[0]["cards_per_second"]
    for r in results[1:]:
        r["speedup_vs_naive"] = round(r["cards_per_second"] / baseline, 1)
        r["cpu_speedup_vs_naive"] = round(results[0]["cpu_ms_per_card"] / r["cpu_ms_per_card"], 1)
    if args.json:
        print(json.dumps({"layout": args.layout, "cpu_count": os.cpu_count(), "results": results}))
    else:
        print()
        print(
            "| variant | cards | workers | cards/file | wall s | cards/s | CPU ms/card | peak tree RSS MB "
            "| largest process RSS MB | bytes/card | speed-up (wall) | speed-up (CPU) |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for r in results:
            print(
                f"| {r['variant']} | {r['cards']:,} | {r['workers'] if r['variant'] == 'fast' else 1} | "
                f"{r['max_cards_per_file'] or 'all' if r['variant'] == 'fast' else 'all'} | {r['seconds']} | "
                f"{r['cards_per_second']:,} | {r['cpu_ms_per_card']} | {r['peak_tree_rss_mb']} | "
                f"{r['max_process_rss_mb']} | {r['bytes_per_card']:,} | {r.get('speedup_vs_naive', '1.0')}x | "
                f"{r.get('cpu_speedup_vs_naive', '1.0')}x |"
            )
    return 0


def _line(r: dict) -> str:
    return (
        f"{r['variant']:>5} {r['cards']:>7,} cards: {r['seconds']:>7.1f} s, {r['cards_per_second']:>8,.1f} cards/s, "
        f"CPU {r['cpu_ms_per_card']:.2f} ms/card, peak tree RSS {r['peak_tree_rss_mb']} MB"
    )


if __name__ == "__main__":
    sys.exit(main())

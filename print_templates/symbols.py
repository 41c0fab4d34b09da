"""QR codes and Code 128 barcodes as compact vector paths.

Both symbols are turned into a list of filled rectangles in *module units*
(one unit = one QR module or one narrow bar) and written as a single PDF path
that the renderer places and scales with one ``cm`` operator. A QR code is
thus one path of a few hundred integer rectangles, never an image.

QR: the ``qrcode`` library builds the matrix (function patterns, module
placement, masking, format and version information) in alphanumeric mode,
error correction M, with a fixed mask pattern (choosing the best of eight
masks is what makes QR generation slow) and a version fixed per token length
(all EV1 tokens of a batch have the same length, so a batch gets one
version). The codewords it places (data bits and Reed-Solomon error
correction) are computed here with table-driven arithmetic over qrcode's own
GF(256) tables, about four times faster than qrcode's polynomial objects; the
unit tests check the resulting matrices are identical to qrcode's own.
"""
from __future__ import annotations

import functools
import re

import qrcode
import qrcode.constants
from qrcode import base as qr_base
from qrcode import util as qr_util
from qrcode.util import MODE_8BIT_BYTE, MODE_ALPHA_NUM, QRData
from reportlab.graphics.barcode.code128 import Code128

from print_templates.errors import InvalidCardData

QR_ERROR_CORRECTION = qrcode.constants.ERROR_CORRECT_M
QR_MASK_PATTERN = 2
QR_MAX_VERSION = 25
_DARK_RUN = re.compile(rb"\x01+")


_URL_HEAD = re.compile(r"^(https?://[A-Za-z0-9.-]+(?::[0-9]+)?)(.*)$")
_ALNUM_SET = frozenset(qr_util.ALPHA_NUM.decode("ascii"))


@functools.lru_cache(maxsize=64)
def qr_segments(prefix: str) -> tuple[tuple[int, bytes], ...]:
    """The QR segments before the token: a URL's scheme and host (case-insensitive) upper-cased in
    alphanumeric mode (5.5 bits a character), the rest (path and "#") in byte mode (8 bits)."""
    if not prefix:
        return ()
    match = _URL_HEAD.match(prefix)
    if match and _ALNUM_SET.issuperset(match.group(1).upper()):
        head, rest = match.group(1).upper(), match.group(2)
        segments = [(MODE_ALPHA_NUM, head.encode("ascii"))]
        if rest:
            segments.append((MODE_8BIT_BYTE, rest.encode("utf-8")))
        return tuple(segments)
    return ((MODE_8BIT_BYTE, prefix.encode("utf-8")),)


def _add_segments(qr: qrcode.QRCode, prefix: str, text: str) -> None:
    for mode, data in qr_segments(prefix):
        qr.add_data(QRData(data, mode=mode))
    qr.add_data(QRData(text, mode=MODE_ALPHA_NUM))


@functools.lru_cache(maxsize=128)
def qr_version_for_length(length: int, prefix: str = "") -> int:
    """Smallest QR version holding ``prefix`` (see :func:`qr_segments`) then ``length``
    alphanumeric characters at error correction M (computed once per
    prefix and length, then cached)."""
    probe = qrcode.QRCode(version=None, error_correction=QR_ERROR_CORRECTION, border=0, mask_pattern=QR_MASK_PATTERN)
    _add_segments(probe, prefix, "0" * length)
    try:
        version = probe.best_fit()
    except qrcode.exceptions.DataOverflowError as e:
        raise InvalidCardData(f"a token of {length} characters does not fit any QR version") from e
    if version > QR_MAX_VERSION:
        raise InvalidCardData(f"a token of {length} characters needs QR version {version} (more than {QR_MAX_VERSION})")
    return version


def qr_matrix(text: str, prefix: str = "") -> list[list[bool]]:
    """The QR module matrix (rows top to bottom, True = dark), no quiet zone:
    ``prefix`` (a URL up to its "#") then ``text`` (alphanumeric)."""
    version = qr_version_for_length(len(text), prefix)
    qr = qrcode.QRCode(version=version, error_correction=QR_ERROR_CORRECTION, border=0, mask_pattern=QR_MASK_PATTERN)
    _add_segments(qr, prefix, text)  # validates the alphabet
    qr.data_cache = qr_codewords(text, version, prefix)  # qrcode places what it would have computed
    qr.make(fit=False)
    return qr.modules  # type: ignore[return-value]


_ALPHANUMERIC_VALUE = {ch: i for i, ch in enumerate(qr_util.ALPHA_NUM.decode("ascii"))}
_PAD_CODEWORDS = (0xEC, 0x11)


def _alnum_bits(text: str, version: int, acc: int, nbits: int) -> tuple[int, int]:
    count_bits = qr_util.length_in_bits(MODE_ALPHA_NUM, version)
    try:
        values = [_ALPHANUMERIC_VALUE[ch] for ch in text]
    except KeyError as e:
        raise InvalidCardData("QR text is not in the alphanumeric alphabet") from e
    acc = (((acc << 4) | MODE_ALPHA_NUM) << count_bits) | len(text)
    nbits += 4 + count_bits
    for i in range(0, len(values) - 1, 2):
        acc = (acc << 11) | (values[i] * 45 + values[i + 1])
    nbits += 11 * (len(values) // 2)
    if len(values) % 2:
        acc = (acc << 6) | values[-1]
        nbits += 6
    return acc, nbits


def qr_codewords(text: str, version: int, prefix: str = "") -> list[int]:
    """Final codeword sequence (data then error correction, interleaved by
    block) of the ``prefix`` segments (if any) and ``text`` in one
    alphanumeric segment, at error correction M."""
    blocks = qr_base.rs_blocks(version, QR_ERROR_CORRECTION)
    capacity = sum(b.data_count for b in blocks)
    acc, nbits = 0, 0
    for mode, data in qr_segments(prefix):
        if mode == MODE_ALPHA_NUM:
            acc, nbits = _alnum_bits(data.decode("ascii"), version, acc, nbits)
        else:
            count_bits = qr_util.length_in_bits(MODE_8BIT_BYTE, version)
            acc = (((acc << 4) | MODE_8BIT_BYTE) << count_bits) | len(data)
            acc = (acc << 8 * len(data)) | int.from_bytes(data, "big")
            nbits += 4 + count_bits + 8 * len(data)
    acc, nbits = _alnum_bits(text, version, acc, nbits)
    if nbits > capacity * 8:
        raise InvalidCardData(f"{len(text)} characters do not fit QR version {version}")
    terminator = min(4, capacity * 8 - nbits)
    nbits += terminator
    pad = -nbits % 8
    acc <<= terminator + pad
    nbits += pad
    data = list(acc.to_bytes(nbits // 8, "big"))
    data.extend(_PAD_CODEWORDS[i % 2] for i in range(capacity - len(data)))

    data_blocks: list[list[int]] = []
    ec_blocks: list[list[int]] = []
    offset = 0
    for block in blocks:
        chunk = data[offset : offset + block.data_count]
        offset += block.data_count
        data_blocks.append(chunk)
        ec_blocks.append(_rs_remainder(chunk, block.total_count - block.data_count))
    out = [b[i] for i in range(max(map(len, data_blocks))) for b in data_blocks if i < len(b)]
    out += [b[i] for i in range(max(map(len, ec_blocks))) for b in ec_blocks if i < len(b)]
    return out


@functools.lru_cache(maxsize=16)
def _rs_product_table(ec_count: int) -> tuple[tuple[int, ...], ...]:
    """Row f: the generator polynomial's coefficients (after the leading 1)
    multiplied by f in GF(256), for every f from 0 to 255."""
    generator = [1]
    for i in range(ec_count):  # product of (x - a^i)
        nxt = generator + [0]
        for j, coef in enumerate(generator):
            if coef:
                nxt[j + 1] ^= qr_base.EXP_TABLE[(qr_base.LOG_TABLE[coef] + i) % 255]
        generator = nxt
    logs = [qr_base.LOG_TABLE[c] for c in generator[1:]]
    rows = [(0,) * ec_count]
    for factor in range(1, 256):
        lf = qr_base.LOG_TABLE[factor]
        rows.append(tuple(qr_base.EXP_TABLE[(lf + g) % 255] for g in logs))
    return tuple(rows)


def _rs_remainder(data: list[int], ec_count: int) -> list[int]:
    """Reed-Solomon error correction codewords: data(x) * x^n mod g(x)."""
    table = _rs_product_table(ec_count)
    remainder = [0] * ec_count
    for byte in data:
        factor = byte ^ remainder[0]
        row = table[factor]
        remainder = [a ^ b for a, b in zip(remainder[1:], row[:-1], strict=True)]
        remainder.append(row[-1])
    return remainder


def matrix_rectangles(matrix: list[list[bool]]) -> list[tuple[int, int, int, int]]:
    """Dark modules as rectangles (x, y, width, height) in module units, y
    downwards: horizontal runs of dark modules are merged, and a run repeated
    on the rows below (finder patterns, timing columns) is extended into one
    taller rectangle."""
    rects: list[tuple[int, int, int, int]] = []
    open_runs: dict[tuple[int, int], int] = {}  # (start, end) -> first row
    y = -1
    for y, row in enumerate(matrix):
        still_open: dict[tuple[int, int], int] = {}
        for match in _DARK_RUN.finditer(bytes(row)):  # True/False -> b"\x01"/b"\x00"
            span = match.span()
            still_open[span] = open_runs.pop(span, y)
        for (start, end), y0 in open_runs.items():
            rects.append((start, y0, end - start, y - y0))
        open_runs = still_open
    for (start, end), y0 in open_runs.items():
        rects.append((start, y0, end - start, y + 1 - y0))
    return rects


def rectangles_path(rects: list[tuple[int, int, int, int]]) -> str:
    """PDF path operators (``x y w h re`` ...) for rectangles in module units,
    without the final fill operator."""
    return " ".join(f"{x} {y} {w} {h} re" for x, y, w, h in rects)


@functools.lru_cache(maxsize=32)
def qr_size_for_length(length: int, prefix: str = "") -> int:
    """Modules per side of the QR symbol for a token of this length (after ``prefix``)."""
    return 17 + 4 * qr_version_for_length(length, prefix)


def qr_path(text: str, prefix: str = "") -> tuple[int, str]:
    """(modules per side, path operators in module units, y downwards)."""
    matrix = qr_matrix(text, prefix)
    return len(matrix), rectangles_path(matrix_rectangles(matrix))


def code128_bars(value: str) -> list[tuple[int, int]]:
    """Bars of the Code 128 symbol for ``value`` as (x, width) in narrow-module
    units, without quiet zones. reportlab's encoder chooses code set C for
    runs of digits, so a 16-digit serial takes 123 modules."""
    symbol = Code128(value, quiet=0)
    symbol.validate()
    if symbol.validated != value:
        raise InvalidCardData(f"{value!r} cannot be encoded as Code 128")
    symbol.encode()
    pattern = symbol.decompose()
    bars: list[tuple[int, int]] = []
    x = 0
    for ch in pattern:
        if "A" <= ch <= "Z":
            width = ord(ch) - ord("A") + 1
            bars.append((x, width))
        else:
            width = ord(ch) - ord("a") + 1
        x += width
    return bars


def code128_modules(value: str) -> int:
    bars = code128_bars(value)
    x, w = bars[-1]
    return x + w


def code128_path(value: str) -> tuple[int, str]:
    """(total modules, path operators in module units with bar height 1)."""
    bars = code128_bars(value)
    total = bars[-1][0] + bars[-1][1]
    return total, " ".join(f"{x} 0 {w} 1 re" for x, w in bars)

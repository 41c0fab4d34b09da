"""QR matrices and their vector paths, Code 128 bars."""
from __future__ import annotations

import random
import re

import pytest
import qrcode
import qrcode.constants
from qrcode.util import MODE_ALPHA_NUM, QRData

from print_templates.model import QR_ALPHANUMERIC
from print_templates.symbols import (
    QR_MASK_PATTERN,
    code128_bars,
    code128_modules,
    code128_path,
    matrix_rectangles,
    qr_matrix,
    qr_path,
    qr_size_for_length,
    qr_version_for_length,
)

ALPHABET = "".join(sorted(QR_ALPHANUMERIC))


def random_token(rng: random.Random, length: int = 230) -> str:
    return "EV1:" + "".join(rng.choice(ALPHABET) for _ in range(length - 4))


def test_fixed_mask_and_version_match_qrcode_itself() -> None:
    rng = random.Random(7)
    token = random_token(rng)
    reference = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=0, mask_pattern=QR_MASK_PATTERN)
    reference.add_data(QRData(token, mode=MODE_ALPHA_NUM))
    reference.make(fit=True)
    assert qr_matrix(token) == reference.modules
    assert reference.version == qr_version_for_length(len(token))


# Alphanumeric capacity at error correction M, versions 1-12 (ISO/IEC 18004, the character-capacity table)
CAPACITY_M_ALPHANUMERIC = [20, 38, 61, 90, 122, 154, 178, 221, 262, 311, 366, 419]


def test_version_is_fixed_per_length_and_grows_with_it() -> None:
    assert qr_version_for_length(234) == 9  # the card tokens' length: 53 modules per side
    assert qr_size_for_length(234) == 53
    assert qr_version_for_length(100) < qr_version_for_length(234) < qr_version_for_length(400)
    for version, capacity in enumerate(CAPACITY_M_ALPHANUMERIC, start=1):
        assert qr_version_for_length(capacity) == version, capacity  # the last length a version holds
        assert qr_version_for_length(capacity + 1) == version + 1, capacity + 1


def test_all_tokens_of_a_length_share_the_size() -> None:
    rng = random.Random(11)
    sizes = {len(qr_matrix(random_token(rng))) for _ in range(10)}
    assert sizes == {qr_size_for_length(230)}


def _paint(rects, n):
    grid = [[0] * n for _ in range(n)]
    for x, y, w, h in rects:
        assert w > 0 and h > 0
        for yy in range(y, y + h):
            for xx in range(x, x + w):
                grid[yy][xx] += 1
    return grid


@pytest.mark.parametrize("seed", range(5))
def test_rectangles_cover_exactly_the_dark_modules(seed) -> None:
    matrix = qr_matrix(random_token(random.Random(seed)))
    n = len(matrix)
    painted = _paint(matrix_rectangles(matrix), n)
    for y in range(n):
        for x in range(n):
            assert painted[y][x] == (1 if matrix[y][x] else 0), (x, y)  # no gap, no overlap


def test_runs_are_merged() -> None:
    matrix = qr_matrix(random_token(random.Random(3)))
    dark = sum(map(sum, matrix))
    rects = matrix_rectangles(matrix)
    assert len(rects) < dark / 2
    # the 7x7 finder pattern's outer columns are single rectangles 7 high
    assert (0, 0, 7, 1) in rects and (0, 1, 1, 5) in rects


def test_path_is_one_path_of_rectangles() -> None:
    size, path = qr_path(random_token(random.Random(5)))
    assert size == qr_size_for_length(230)
    assert re.fullmatch(r"(\d+ \d+ \d+ \d+ re)( \d+ \d+ \d+ \d+ re)*", path)
    assert " f" not in path and "BI" not in path and "Do" not in path  # no fill per module, no image


def test_code128_serial_uses_code_set_c() -> None:
    serial = "0100004200000019"
    bars = code128_bars(serial)
    # start C + 8 digit pairs + check + stop = 10 symbols of 11 modules + 13
    assert code128_modules(serial) == 123
    widths = [w for _, w in bars]
    assert all(1 <= w <= 4 for w in widths)
    xs = [x for x, _ in bars]
    assert xs == sorted(xs) and xs[0] == 0
    total, path = code128_path(serial)
    assert total == 123 and path.count(" re") == len(bars)


def test_code128_differs_per_serial() -> None:
    assert code128_bars("0100004200000019") != code128_bars("0100004200000024")

"""The free-text rule for operators, actors, reasons and names."""
from __future__ import annotations

import pytest

from vouchers.errors import VoucherError
from vouchers.text import InvalidText, check_text, printable, text_problem


@pytest.mark.parametrize("value", ["alice", "王 五", "Till 3, Hongdu supermarket", "O'Brien-Smith", "x" * 100])
def test_ordinary_text_passes(value):
    assert text_problem(value, 100) is None
    assert check_text(value, "operator", 100) is value


@pytest.mark.parametrize("value, problem", [
    ("eve\nINFO fake", "control characters (found U+000A)"),
    ("x\ry", "(found U+000D)"),
    ("tab\there", "(found U+0009)"),
    ("nul\x00", "(found U+0000)"),
    ("del\x7f", "(found U+007F)"),
    ("c1\x85", "(found U+0085)"),
    ("line\u2028sep", "(found U+2028)"),
    ("bidi\u202egnp.exe", "(found U+202E)"),
    ("", "must not be blank"),
    ("   ", "must not be blank"),
    ("x" * 101, "at most 100 characters"),
])
def test_refused_text_says_why(value, problem):
    assert problem in text_problem(value, 100)
    with pytest.raises(InvalidText) as info:
        check_text(value, "operator", 100)
    assert str(info.value).startswith("operator ") and problem in str(info.value)
    assert isinstance(info.value, VoucherError) and info.value.code == "invalid_text"


def test_non_text_is_refused():
    with pytest.raises(InvalidText):
        check_text(None, "actor", 100)  # type: ignore[arg-type]


def test_printable_escapes_only_refused_characters():
    assert printable("王五 ok") == "王五 ok"
    assert printable("eve\nINFO fake\u202e") == "eve\\nINFO fake\\u202e"

"""短信缴费: ``CZ <户号> <code>`` in every spelling a phone produces, and nothing else."""
from __future__ import annotations

import pytest

from vouchers.sms_command import parse_topup

CODE = "12345678901234567890"


@pytest.mark.parametrize("text", [
    f"CZ 3100000001 {CODE}", f"cz 3100000001 {CODE}", f"  Cz   3100000001   1234 5678 9012 3456 7890  ",
    "ＣＺ　３１０００００００１　１２３４５６７８９０１２３４５６７８９０",  # full-width letters, digits, spaces
    f"CZ 3100000001 1234-5678-9012-3456-7890。", f"CZ\t3100000001\n{CODE}",
])
def test_every_spelling_of_the_command_is_read(text):
    command = parse_topup(text)
    assert command is not None and (command.account_no, command.code) == ("3100000001", CODE)
    assert CODE not in repr(command)


@pytest.mark.parametrize("text", ["", "help", "CZ", "CZ 3100000001", f"CZX 3100000001 {CODE}",
                                  "CZ 3100000001 1234", f"CZ 3100000001 {CODE}1", f"CZ {CODE}",
                                  f"余额 3100000001 {CODE}", "CZ " + "9" * 600])
def test_anything_else_is_not_a_command(text):
    assert parse_topup(text) is None

"""The masked holder: enough to recognise one's own account, not to learn a stranger's name."""
from __future__ import annotations

import pytest

from vouchers.holder import mask_district, mask_name


@pytest.mark.parametrize("name, masked", [
    ("张小三", "张*三"), ("张三", "张*"), ("张", "*"), ("欧阳娜娜", "欧**娜"), ("  张小三 ", "张*三"),
    ("Mary Smith", "M**y S***h"), ("Mary-Jane  Smith", "M**y-J**e S***h"), ("J Smith", "J S***h"),
    ("阿卜杜·热合曼", "阿*杜·热*曼"), ("", "*"),
])
def test_names_keep_the_first_and_last_character_of_each_part(name, masked):
    assert mask_name(name) == masked


def test_the_district_is_masked_like_a_name_and_may_be_absent():
    assert mask_district("海淀区") == "海*区"
    assert mask_district("Haidian") == "H*****n"
    assert mask_district(None) is None and mask_district("  ") is None

"""The console's texts: Chinese and English say the same things, and every text a template reads exists in both."""
from __future__ import annotations

import re
from pathlib import Path

from redeem_api.console.text import TEXT

TEMPLATES = Path(__file__).resolve().parents[3] / "redeem_api" / "templates" / "console"


def test_both_languages_have_every_text():
    assert set(TEXT["zh"]) == set(TEXT["en"])
    assert all(value.strip() for texts in TEXT.values() for value in texts.values())


def test_every_text_a_template_reads_exists():
    used = set()
    for template in TEMPLATES.glob("*.html"):
        used |= set(re.findall(r"\bt\.([a-z_0-9]+)", template.read_text("utf-8")))
        used |= {"lock_" + kind for kind in re.findall(r"t\['lock_' \+ k\]", template.read_text("utf-8")) and
                 ("account", "ip", "client")}
    assert used and sorted(used - set(TEXT["en"])) == []


def test_every_navigation_link_has_its_text():
    from redeem_api.console.gate import NAV_EXTRA

    assert NAV_EXTRA and [label for _, label, _ in NAV_EXTRA if label not in TEXT["en"]] == []

"""README promises outputs in its command table; each command it names offers them (issue 22: `report collection
--pdf` and `report distributor --pdf` were listed and answered "No such option").

Walks every README table row whose first cell is a ``voucherctl ...`` command line: each option the row names
in backticks (``--pdf``, ``--csv OUT``, ``--json``, ``--excel``) and each output format it promises in words
(PDF, CSV) exists on every command of the row, alternatives such as ``breakage|channels`` expanded.
"""
from __future__ import annotations

import re
from pathlib import Path

import click

from voucherctl.main import cli

README = Path(__file__).parents[3] / "README.md"
_ROW = re.compile(r"^\| `(voucherctl [^`]+)`(.*)$", re.M)
_OPTION = re.compile(r"`[^`]*?(--[a-z][a-z-]*)[^`]*`")
_FORMATS = {"--pdf": re.compile(r"\bPDF\b"), "--csv": re.compile(r"\bCSV\b(?! `)")}  # not an input CSV's columns
_REPORT_GROUPS = ("report", "collection report", "reconcile")


def _commands(synopsis: str) -> list[tuple[str, click.Command]]:
    """The commands a synopsis names: ``voucherctl report breakage|channels`` -> two."""
    found: list[tuple[list[str], click.Command]] = [([], cli)]
    for word in synopsis.split()[1:]:
        if not re.fullmatch(r"[a-z][a-z-]*(\|[a-z][a-z-]*)*", word):
            break
        expanded = []
        for path, command in found:
            if not isinstance(command, click.Group):
                expanded.append((path, command))
                continue
            for name in word.split("|"):
                sub = command.get_command(click.Context(command), name)
                if sub is not None:
                    expanded.append(([*path, name], sub))
        if not expanded:
            break
        found = expanded
    return [(" ".join(path), command) for path, command in found if path]


def _options(command: click.Command) -> set[str]:
    return {o for p in command.params if isinstance(p, click.Option) for o in p.opts}


def _promises(row: str, name: str) -> set[str]:
    promised = set(_OPTION.findall(row))
    if name.startswith(_REPORT_GROUPS):
        promised |= {option for option, words in _FORMATS.items() if words.search(row)}
    return promised


def test_every_output_readme_promises_exists() -> None:
    missing = {}
    rows = _ROW.findall(README.read_text("utf-8"))
    assert len(rows) > 30
    for synopsis, rest in rows:
        for part in synopsis.replace("\\|", "|").split(" / "):
            for name, command in _commands(part if part.startswith("voucherctl") else f"voucherctl {part}"):
                lacking = {o for o in _promises(rest, name) if o in ("--pdf", "--csv", "--json", "--excel")}
                lacking -= _options(command)
                if lacking:
                    missing[name] = sorted(lacking)
    assert missing == {}


def test_the_walk_sees_a_missing_format() -> None:
    (name, command), = _commands("voucherctl report distributor ID")
    assert name == "report distributor"
    assert _promises("| finance reports (`--json`, CSV, PDF with charts) |", name) == {"--json", "--csv", "--pdf"}
    assert "--pdf" in _options(command)  # issue 22: README promised it before it existed
    names = [n for n, _ in _commands("voucherctl report breakage|channels|collection|distributor|trial-balance")]
    assert names == ["report breakage", "report channels", "report collection", "report distributor",
                     "report trial-balance"]

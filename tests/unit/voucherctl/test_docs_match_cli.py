"""Every ``voucherctl ...`` synopsis in the README and docs/ parses as the CLI defines it."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest

from voucherctl.main import cli

ROOT = Path(__file__).parents[3]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_SPAN = re.compile(r"`(voucherctl [^`\n]+)`|^ *\$? *(voucherctl .+)$", re.M)


def _synopses(text: str) -> list[str]:
    """Each command line of ``text``: "a / b" alternatives split, comments and brackets dropped."""
    found = []
    for match in _SPAN.finditer(text):
        span = (match.group(1) or match.group(2)).split(" #")[0].replace("\\|", "|")
        for part in span.split(" / "):
            part = part.strip()
            found.append(part if part.startswith("voucherctl ") else f"voucherctl {part}")
    return found


def _problems(synopsis: str) -> list[str]:
    """What in ``synopsis`` the CLI would not accept: unknown options, extra positional arguments."""
    plain = re.sub(r"\|(?=-)", " ", synopsis.replace("[", " ").replace("]", " "))  # [--a X|--b] -> both options
    words = [w.split("|")[0] for w in shlex.split(plain)[1:]]  # other alternatives: the first
    words = [w for w in words if w and w not in ("...", "…")]
    context = click.Context(cli)
    command: click.Command = cli
    options = {o: p for p in cli.params if isinstance(p, click.Option) for o in p.opts + p.secondary_opts}  # -v
    positional: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        if word.startswith("-"):
            option = options.get(word.split("=")[0])
            if option is None and word not in ("-h", "--help"):
                return [f"no option {word}"]
            if option is not None and not (option.is_flag or option.count) and "=" not in word:
                i += 1
        elif isinstance(command, click.Group):
            sub = command.get_command(context, word)
            if sub is None:
                return [] if not positional and command is cli else [f"no command {word}"]
            command = sub
            options.update({o: p for p in sub.params if isinstance(p, click.Option) for o in p.opts + p.secondary_opts})
        else:
            positional.append(word)
        i += 1
    arguments = [p for p in command.params if isinstance(p, click.Argument)]
    takes = float("inf") if any(p.nargs < 0 for p in arguments) else len(arguments)
    return [f"{len(positional)} positional argument(s) {positional}, takes {takes}"] if len(positional) > takes else []


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_synopsis_parses(doc: Path) -> None:
    wrong = {s: p for s in _synopses(doc.read_text("utf-8")) if (p := _problems(s))}
    assert wrong == {}


def test_the_checker_sees_a_wrong_synopsis() -> None:
    assert _problems("voucherctl billing run PERIOD [--as-of DATE]") == [
        "1 positional argument(s) ['PERIOD'], takes 0"]
    assert _problems("voucherctl keys list --nope") == ["no option --nope"]
    assert _problems("voucherctl -v keys list") == []
    assert _problems("voucherctl billing run --period YYYY-MM [--as-of DATE] [--account NO ...]") == []
    assert _problems("voucherctl tariff [--data-dir DIR] list [--json]") == []

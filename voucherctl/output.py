"""Shared CLI plumbing: --json output, one-line errors, progress bars, free-text options."""
from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click

from vouchers.text import ACTOR_MAX, CLIENT_NAME_MAX, NAME_MAX, REASON_MAX, text_problem


class CliError(click.ClickException):
    """An expected failure: printed as one line on stderr, exit code 1."""


json_option = click.option("--json", "as_json", is_flag=True, help="Print exactly one JSON document on stdout.")


class FreeText(click.ParamType):
    """An operator, reason or name: the free-text rule of :mod:`vouchers.text`; surrounding spaces dropped."""

    name = "text"

    def __init__(self, max_length: int) -> None:
        self.max_length = max_length

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        problem = text_problem(value, self.max_length)
        if problem is not None:
            self.fail(problem, param, ctx)
        return value.strip()


# The type of every --operator, --reason and --name option (lengths match the columns they land in).
OPERATOR = FreeText(ACTOR_MAX)
REASON = FreeText(REASON_MAX)
NAME = FreeText(NAME_MAX)
CLIENT_NAME = FreeText(CLIENT_NAME_MAX)


def emit(as_json: bool, document: Any, human: Callable[[], None] | str | None = None) -> None:
    """Print ``document`` as JSON, or the human rendering."""
    if as_json:
        click.echo(json.dumps(document, ensure_ascii=False, sort_keys=False, default=str))
    elif callable(human):
        human()
    elif human is not None:
        click.echo(human)
    else:
        click.echo(json.dumps(document, ensure_ascii=False, indent=2, default=str))


@contextmanager
def progress(total: int, label: str) -> Iterator[Callable[[int], None]]:
    """A rich progress bar on a TTY (stderr); silent otherwise. Yields ``advance(n)``."""
    if not sys.stderr.isatty():
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=Console(stderr=True), transient=True,
    ) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)

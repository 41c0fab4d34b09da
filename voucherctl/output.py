"""Shared CLI plumbing: --json output, one-line errors, progress bars, output files, free-text options."""
from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from vouchers.keystore.files import create_private, temp_path
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


def furthest(advance: Callable[[int], None]) -> Callable[[int], None]:
    """An ``on_read(offset)`` that moves a bar of bytes to the furthest offset heard (a pass that starts over
    moves it again only once past where the earlier one got)."""
    reached = 0

    def on_read(offset: int) -> None:
        nonlocal reached
        if offset > reached:
            advance(offset - reached)
            reached = offset

    return on_read


def cannot_write(path: Path, error: OSError) -> CliError:
    """The one-line error for an output file that cannot be written."""
    return CliError(f"cannot write {path}: {error.strerror or error}")


def _temp_beside(path: Path) -> Path:
    """Create an empty private (0600) temporary file in ``path``'s folder; OSError if that is impossible.

    Every report, CSV and PDF a command writes holds account numbers and amounts: it is created 0600
    whatever the umask, like exports, prints and checkpoints (:func:`vouchers.keystore.files.create_private`).
    """
    if path.exists() and not os.access(path, os.W_OK):
        raise PermissionError(13, os.strerror(13), str(path))
    temp = temp_path(path, "partial")
    os.close(create_private(temp))
    return temp


excel_option = click.option(
    "--excel", is_flag=True,
    help="Write the CSV for spreadsheets: UTF-8 with a byte-order mark, so Excel shows Chinese text right "
         "(default: plain UTF-8 for programs).")


def csv_encoding(excel: bool) -> str:
    """``utf-8-sig`` (a BOM first) for ``--excel``, else plain ``utf-8`` (the machine CSV)."""
    return "utf-8-sig" if excel else "utf-8"


@contextmanager
def output_files(*paths: Path | None) -> Iterator[tuple[Path | None, ...]]:
    """A command's output files, written all or none, mode 0600. Yields a temporary path beside each (None stays
    None); the one helper through which commands write private output files.

    Each destination is tried first (its temporary file is created), so one that cannot be written fails
    before any work, as ``cannot write PATH: reason``; so does an OSError about a temporary file in the block.
    The temporary files replace the destinations only when the block succeeds; otherwise they are removed.
    """
    temps: dict[Path, Path] = {}
    try:
        for path in paths:
            if path is not None:
                try:
                    temps[path] = _temp_beside(path)
                except OSError as e:
                    raise cannot_write(path, e) from e
        try:
            yield tuple(temps[path] if path is not None else None for path in paths)
        except OSError as e:
            owner = next((path for path, temp in temps.items() if e.filename in (temp, str(temp))), None)
            if owner is None:
                raise
            raise cannot_write(owner, e) from e
        for path, temp in list(temps.items()):
            try:
                os.replace(temp, path)
            except OSError as e:
                raise cannot_write(path, e) from e
            del temps[path]
    finally:
        for temp in temps.values():
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)

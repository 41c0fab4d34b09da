"""The repository explains itself: nothing in it points to documents outside it.

Why: the owners' rule is that the project holds its own documents. README.md
and docs/ explain everything in the project's own words, and code comments,
docstrings, data files and tests cite those pages (docs/contract.md,
docs/domain.md, docs/tariffs.md §2, docs/sts.md §5, ...). The working notes
the project was first built from lived outside the repository, beside it; a
reader of a checkout, a reviewer or a packager has no such files, so a
citation of them is a dead end. This test fails when any tracked text file
names one of those notes (by its file name) or a path outside the repository,
and when a relative link in the markdown files leads to a file the repository
does not have (links with a scheme, such as https:, are not checked).
"""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# The outside notes, by file name (spelled so that this file does not name them itself).
_NOTES = re.compile(rb"\b(?:CONTRACT|DESIGN|TARIFFS|SPEC)\.md\b")
# Paths that leave the repository: the folder the notes lived in, reached from a checkout or absolutely.
_OUTSIDE = re.compile(rb"(?:\.\./)+(?:shared)\b|/work/(?:shared)\b")
_SKIPPED_DIRS = {"__pycache__", "node_modules", "build", "dist", "var", "test-artifacts"}


def _tracked_files() -> list[Path]:
    """The files git tracks (and new ones it does not ignore); without git, every file outside hidden and
    generated folders."""
    try:
        out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                             capture_output=True, check=True).stdout
        names = [n for n in out.decode("utf-8").split("\0") if n]
    except (OSError, subprocess.CalledProcessError):
        names = []
        for folder, dirs, files in os.walk(ROOT):
            dirs[:] = [d for d in dirs if not d.startswith(".") and d not in _SKIPPED_DIRS
                       and not d.endswith(".egg-info")]
            names += [os.path.relpath(os.path.join(folder, f), ROOT) for f in files]
    return [ROOT / n for n in sorted(names) if (ROOT / n).is_file()]


def _text(path: Path) -> bytes | None:
    """The file's bytes, or None for a binary file (a NUL byte near the start)."""
    data = path.read_bytes()
    return None if b"\0" in data[:8192] else data


def _mentions(data: bytes) -> list[str]:
    """``line: text`` of every mention of an outside note or an outside path in ``data``."""
    found = []
    for number, line in enumerate(data.splitlines(), start=1):
        if _NOTES.search(line) or _OUTSIDE.search(line):
            found.append(f"{number}: {line.decode('utf-8', 'replace').strip()[:160]}")
    return found


_FENCE = re.compile(r"^ {0,3}(```|~~~).*?^ {0,3}\1[^\n]*$", re.M | re.S)
_CODE_SPAN = re.compile(r"(`+)[^`]*?\1")
_INLINE_LINK = re.compile(r"!?\[[^\]\n]*\]\(\s*<?([^)\s>]+)>?(?:\s+[\"'(][^)]*)?\)")
_REFERENCE_LINK = re.compile(r"^ {0,3}\[[^\]\n]+\]:\s*<?(\S+?)>?(?:\s|$)", re.M)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def _link_targets(markdown: str) -> list[str]:
    """The targets of the inline and reference links of ``markdown``, outside code."""
    prose = _CODE_SPAN.sub("", _FENCE.sub("", markdown))
    return _INLINE_LINK.findall(prose) + _REFERENCE_LINK.findall(prose)


def _broken_links(path: Path, markdown: str) -> list[str]:
    """Relative links of ``path`` whose target is missing or outside the repository."""
    broken = []
    for target in _link_targets(markdown):
        if _SCHEME.match(target) or target.startswith("#"):
            continue  # https:, mailto:, ... and anchors in the same page
        file_part = target.split("#", 1)[0].split("?", 1)[0]
        resolved = (ROOT / file_part.lstrip("/")) if file_part.startswith("/") else (path.parent / file_part)
        resolved = Path(os.path.normpath(resolved))
        if not resolved.is_relative_to(ROOT):
            broken.append(f"{target} (outside the repository)")
        elif not resolved.exists():
            broken.append(f"{target} (no such file)")
    return broken


FILES = _tracked_files()
MARKDOWN = [p for p in FILES if p.suffix == ".md"]


def test_the_files_are_found() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in FILES}
    assert {"README.md", "docs/contract.md", "pyproject.toml"} <= names
    assert any(n.endswith(".py") for n in names) and len(MARKDOWN) >= 5


def test_no_file_points_outside_the_repository() -> None:
    offenders = {}
    for path in FILES:
        data = _text(path)
        if data is not None and (found := _mentions(data)):
            offenders[path.relative_to(ROOT).as_posix()] = found
    assert offenders == {}, "cite the pages in docs/ instead (docs/contract.md, docs/tariffs.md, docs/sts.md, ...)"


@pytest.mark.parametrize("path", MARKDOWN, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_lead_to_files_in_the_repository(path: Path) -> None:
    assert _broken_links(path, path.read_text("utf-8")) == []


def test_the_checks_see_what_they_look_for() -> None:
    note = "CONTRACT" + ".md"
    assert _mentions(f"see the shared {note}\nnothing here\n".encode()) == [f"1: see the shared {note}"]
    folder = b"shar" + b"ed"  # (split, so that a grep for the folder's path does not find this test)
    assert _mentions(b"facts in /work/" + folder + b"/tariffs") != []
    assert _mentions(b"[x](../../" + folder + b"/notes)") != []
    assert _mentions(b"docs/contract.md, docs/tariffs.md \xc2\xa72, a DESIGN decision") == []
    page = ROOT / "docs" / "example.md"
    text = ("[ok](api.md) [ok too](../README.md#quick-start) [web](https://example.org/x.md) [anchor](#top)\n"
            "`[in code](missing.md)`\n```\n[in a block](missing.md)\n```\n"
            "[gone](missing.md) [away](../../outside.md)\n[ref]: nowhere.md\n")
    assert _broken_links(page, text) == ["missing.md (no such file)", "../../outside.md (outside the repository)",
                                         "nowhere.md (no such file)"]

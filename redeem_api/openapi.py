"""The OpenAPI 3.1 description, kept as data in ``openapi.yaml`` next to this module.

Data rather than code so that it reads (and diffs) like the document clients
get; it is parsed once per process, and ``/openapi.json`` serves the same
JSON text on every request.
"""
from __future__ import annotations

import copy
import functools
import json
from importlib import resources
from typing import Any

import yaml

DOCUMENT = "openapi.yaml"


@functools.cache
def _cached() -> dict[str, Any]:
    text = resources.files(__package__).joinpath(DOCUMENT).read_text("utf-8")
    document = yaml.safe_load(text)
    if not isinstance(document, dict) or "paths" not in document:
        raise RuntimeError(f"{DOCUMENT} is not an OpenAPI document")
    return document


def spec() -> dict[str, Any]:
    """The document (a fresh copy: callers may not mutate the cached one)."""
    return copy.deepcopy(_cached())


def title() -> str:
    """The API's title (``info.title``), for the docs page."""
    return str(_cached()["info"]["title"])


@functools.cache
def spec_json() -> str:
    """The document as the JSON text ``/openapi.json`` serves (built once)."""
    return json.dumps(_cached(), ensure_ascii=False, separators=(",", ":"))


def error_codes() -> dict[str, tuple[int, str]]:
    """Every stable error code: its status and meaning (``info.x-error-codes``)."""
    return {code: (entry["status"], entry["meaning"]) for code, entry in _cached()["info"]["x-error-codes"].items()}

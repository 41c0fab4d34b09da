"""openapi.yaml against the app: every route under /api/ described, every described path served (methods
too), the document valid OpenAPI 3.1, shipped in the package and served as JSON at /openapi.json."""
from __future__ import annotations

import json
import re
from collections import Counter
from importlib import resources

import pytest
import yaml

from redeem_api.openapi import spec

IGNORED_METHODS = {"HEAD", "OPTIONS"}  # HEAD follows GET; OPTIONS is never served (405)


def _openapi_path(rule: str) -> str:
    """A Flask rule as an OpenAPI path: ``<int:order_id>`` -> ``{order_id}``."""
    return re.sub(r"<(?:[a-z]+(?:\([^)]*\))?:)?([a-z_]+)>", r"{\1}", rule)


def _served(app) -> set[tuple[str, str]]:
    return {(method, _openapi_path(rule.rule)) for rule in app.url_map.iter_rules() if rule.endpoint != "static"
            for method in rule.methods - IGNORED_METHODS}


def _described(document: dict) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, item in document["paths"].items() for method in item
            if method in {"get", "put", "post", "delete", "patch", "head", "options", "trace"}}


def test_every_api_route_is_described_and_every_described_route_is_served(app):
    served, described = _served(app), _described(spec())
    api = {pair for pair in served if pair[1].startswith("/api/")}
    assert api, "no /api/ routes found"
    assert api - described == set(), "routes missing from openapi.yaml"
    assert described - served == set(), "openapi.yaml describes what the app does not serve"


def test_the_document_is_valid_openapi_3_1():
    validator = pytest.importorskip("openapi_spec_validator")
    document = spec()
    assert document["openapi"].startswith("3.1")
    validator.validate(document)  # raises with the path of the first error


def test_the_document_ships_in_the_package_and_is_served_unchanged(client):
    shipped = yaml.safe_load(resources.files("redeem_api").joinpath("openapi.yaml").read_text("utf-8"))
    response = client.get("/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.get_json() == shipped
    assert client.get("/openapi.json").get_data() == response.get_data()  # the same text every time


def inline_error_responses(document: dict) -> Counter[str]:
    """Error responses (4xx, 5xx) written out in the paths, as canonical JSON with their status."""
    found: Counter[str] = Counter()
    for item in document["paths"].values():
        for operation in item.values():
            if isinstance(operation, dict):
                for status, response in operation.get("responses", {}).items():
                    if str(status)[0] in "45" and "$ref" not in response:
                        found[json.dumps([str(status), response], sort_keys=True)] += 1
    return found


def test_no_error_response_is_written_out_twice():
    """One used by several operations is a components/responses entry, referenced with $ref."""
    document = spec()
    repeated = {text[:120]: n for text, n in inline_error_responses(document).items() if n > 1}
    assert repeated == {}, "move these into components/responses and $ref them"
    shared = document["components"]["responses"]
    used = {r["$ref"].rsplit("/", 1)[1] for item in document["paths"].values() for op in item.values()
            if isinstance(op, dict) for r in op.get("responses", {}).values() if "$ref" in r}
    assert used == set(shared), "every shared response is used, and only those that exist"


def test_the_repeat_finder_sees_a_copy():
    document = spec()
    copy = next(r for r in document["components"]["responses"].values())
    first, second = [op for item in document["paths"].values() for op in item.values() if isinstance(op, dict)][:2]
    first["responses"]["599"] = dict(copy)
    second["responses"]["599"] = dict(copy)
    assert max(inline_error_responses(document).values()) == 2

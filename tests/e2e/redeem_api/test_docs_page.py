"""/docs in a real browser: the vendored Redoc renders /openapi.json with nothing loaded from elsewhere."""
from __future__ import annotations

import pytest

from redeem_api.openapi import spec
from tests.e2e.redeem_api.test_browser import browser  # noqa: F401 - the fixture

# Redoc 2 always asks for Redocly's footer logo on its CDN; the page's CSP refuses it (static/redoc/README.md).
REDOCLY_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_redoc_renders_the_description_locally(e2e_world, serve, browser):  # noqa: F811
    server = serve(e2e_world, workers=1, threads=2)
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    errors: list[str] = []
    requested: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requested.append(r.url))
    page.on("requestfailed", lambda r: errors.append(f"failed: {r.url}"))
    page.on("response", lambda r: errors.append(f"{r.status}: {r.url}") if r.status >= 400 else None)

    response = page.goto(server.url + "/docs")
    assert response.status == 200
    title = spec()["info"]["title"]
    page.get_by_role("heading", name=title, level=1).wait_for(timeout=30_000)
    page.get_by_role("heading", name="Redeem a voucher onto an electricity account (terminal role)").first.wait_for()
    assert "'unsafe-eval'" not in response.headers["content-security-policy"]
    page.wait_for_load_state("networkidle")

    assert [u for u in requested if not u.startswith(server.url) and not u.startswith(("blob:", "data:"))] \
        in ([], [REDOCLY_LOGO])
    unexpected = [e for e in errors if REDOCLY_LOGO not in e]
    assert unexpected == [], unexpected
    context.close()

"""The web app factory reads the configuration file under the environment (create_app without a config)."""
from __future__ import annotations

import os

import pytest

from redeem_api.app import create_app
from redeem_api.metering_support import EXTENSION as METERING
from redeem_api.state import EXTENSION
from vouchers.config import ConfigError


@pytest.fixture
def environ(world, monkeypatch, tmp_path):
    """The process environment of a web worker: the world's variables and a configuration file."""
    for name in [n for n in os.environ if n.startswith("VOUCHER_")]:
        monkeypatch.delenv(name)
    for name, value in world.env().items():
        monkeypatch.setenv(name, value)
    path = tmp_path / "web.toml"
    path.write_text('timezone = "UTC"\n[throttle]\nweb_ip_failures = 2\nwindow_seconds = 60\n'
                    '[web]\nmax_body_bytes = 4096\n', encoding="utf-8")
    monkeypatch.setenv("VOUCHER_CONFIG", str(path))
    return path


def build(monkeypatch, **env: str):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    app = create_app()
    state = app.extensions[EXTENSION]
    state.engine.dispose()
    return app, state


def test_file_values_take_effect_in_the_app(environ, monkeypatch):
    app, state = build(monkeypatch)
    assert state.config.throttle.web_ip_failures == 2 and state.config.throttle.window_seconds == 60
    assert app.config["MAX_CONTENT_LENGTH"] == 4096
    assert state.config.settings.timezone == "UTC" and app.extensions[METERING].config.timezone == "UTC"


def test_the_environment_overrides_the_file(environ, monkeypatch):
    _, state = build(monkeypatch, VOUCHER_THROTTLE_WEB_IP_FAILURES="4", VOUCHER_TIMEZONE="Asia/Shanghai")
    assert state.config.throttle.web_ip_failures == 4 and state.config.throttle.window_seconds == 60
    assert state.services.metering.timezone == "Asia/Shanghai"


def test_a_bad_file_stops_the_app_with_one_line_naming_the_key(environ, monkeypatch):
    environ.write_text("[throttle]\nweb_ip_failures = \"two\"\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        create_app()
    assert str(caught.value) == f"{environ}: throttle.web_ip_failures must be an integer, got 'two'"

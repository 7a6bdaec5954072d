"""Broker wiring per mode, offline: testnet uses ccxt's sandbox URLs (unless a base URL is configured: then sandbox
mode stays off, spec §1.2), live and testnet need keys, live needs the confirmation setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from aura_common.config import AuraConfig, ConfigError, Secrets
from aura_common.config.secrets import SecretStr
from aura_trader.app import make_venue

KEYS = Secrets(api_key=SecretStr("key-1234"), api_secret=SecretStr("secret-1234"))


def config(**execution) -> AuraConfig:
    return AuraConfig.model_validate({"execution": execution})


def test_testnet_uses_the_sandbox_urls(tmp_path: Path):
    venue = make_venue(config(mode="testnet"), KEYS, tmp_path / "j.sqlite")
    urls = venue.exchange.urls["api"]
    assert urls["public"].startswith("https://testnet.binance.vision")
    assert urls["private"].startswith("https://testnet.binance.vision")


@pytest.mark.parametrize("mode, extra, problem", [
    ("testnet", {}, "AURA_API_KEY"),
    ("live", {"live_confirm": True}, "AURA_API_KEY"),
])
def test_modes_that_trade_need_keys(tmp_path, mode, extra, problem):
    with pytest.raises(ConfigError, match=problem):
        make_venue(config(mode=mode, **extra), Secrets(), tmp_path / "j.sqlite")


def test_live_needs_the_confirmation_even_with_keys(tmp_path):
    with pytest.raises(ConfigError, match="live_confirm"):
        make_venue(config(mode="live"), KEYS, tmp_path / "j.sqlite")


def test_live_with_keys_and_confirmation_talks_to_the_real_venue_urls(tmp_path):
    venue = make_venue(config(mode="live", live_confirm=True), KEYS, tmp_path / "j.sqlite")
    assert venue.exchange.urls["api"]["private"].startswith("https://api.binance.com")


def test_a_venue_answering_html_everywhere_fails_start_up_with_one_line_naming_the_endpoint(tmp_path):
    """An all-HTML server (a captive portal, a misrouted proxy) at the configured base URL: start-up fails after
    its retries with one line naming GET /api/v3/time - not ``TypeError: int() ... NoneType``."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from aura_trader.boot import ReconcileError

    class Html(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the stdlib's name
            body = b"<html><body>Please log in</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Html)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        with pytest.raises(ReconcileError) as info:
            make_venue(config(mode="testnet", base_url=f"http://127.0.0.1:{srv.server_address[1]}"), KEYS,
                       tmp_path / "j.sqlite")
    finally:
        srv.shutdown()
    text = str(info.value)
    assert "GET /api/v3/time" in text and "malformed answer" in text
    assert "TypeError" not in text and "NoneType" not in text

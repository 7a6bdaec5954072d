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

"""Wire-format translators on recorded/constructed bodies: archive CSV, CoinGecko market_chart; the manifest file."""

from __future__ import annotations

import json
import math

import pytest

from aura_common.adapters.manifest import Entry, Manifest, ManifestError, load_manifest, manifest_path, save_manifest
from aura_common.adapters.providers.archive import parse_kline_csv
from aura_common.adapters.providers.base import ProviderError
from aura_common.adapters.providers.coingecko import parse_market_chart

# spec §6.2 constructed rows: one millisecond (2024) and one microsecond (2025) row
MS_ROW = ("1704067200000,42283.58000000,44184.10000000,42180.77000000,44179.55000000,27174.29903000,"
          "1704153599999,1169995813.67000000,1032014,13885.74020000,597871329.11000000,0")
US_ROW = ("1735689600000000,93576.00000000,95151.15000000,92888.00000000,94591.79000000,10373.32613000,"
          "1735775999999999,979349478.87000000,1245001,5034.12000000,475331200.10000000,0")
HEADER = ("open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,"
          "taker_buy_quote_volume,ignore")


@pytest.mark.parametrize("text, times, rejects", [
    (MS_ROW + "\n" + US_ROW + "\n", [1704067200000, 1735689600000], {}),
    (HEADER + "\n" + MS_ROW + "\n", [1704067200000], {}),             # a header is detected and skipped
    (MS_ROW + "\r\n\r\n" + US_ROW, [1704067200000, 1735689600000], {}),  # CRLF, blank line, no final newline
    (MS_ROW + ",extra\n" + US_ROW + "\n", [1735689600000], {"bad_columns": 1}),
    ("1704067200000,abc" + ",1" * 10 + "\n", [], {"unparseable": 1}),
    ("", [], {}),
])
def test_parse_kline_csv(text, times, rejects):
    c, rej = parse_kline_csv(text)
    assert c.open_time.tolist() == times and rej == rejects
    if times:
        assert set(c.source) == {"archive"}
    if times == [1704067200000, 1735689600000]:
        assert c.close.tolist() == [44179.55, 94591.79]
        assert c.quote_volume.tolist() == [1169995813.67, 979349478.87]


D = 86_400_000


def test_market_chart_makes_daily_line_candles_and_ignores_the_now_point():
    body = json.dumps({"prices": [[10 * D, 100.0], [11 * D, 110.0], [12 * D, 99.0], [12 * D + 43_200_123, 98.0]],
                       "market_caps": [], "total_volumes": []})
    c, rej = parse_market_chart(body, "test")
    assert c.open_time.tolist() == [10 * D, 11 * D] and rej == {}
    assert c.open.tolist() == [100.0, 110.0] and c.close.tolist() == [110.0, 99.0]
    assert c.high.tolist() == [110.0, 110.0] and c.low.tolist() == [100.0, 99.0]
    assert all(math.isnan(v) for v in c.volume) and set(c.source) == {"coingecko"}


@pytest.mark.parametrize("body", [
    "<!DOCTYPE html><html><body>Just a moment...</body></html>",
    '{"prices": [[864000000, 1.0], [9504',
    '{"error": {"status": {"error_code": 10012, "error_message": "exceeds the allowed time range"}}}',
    '{"status": {"error_code": 429, "error_message": "You\'ve exceeded the Rate Limit"}}',
    "[]",
    "",
])
def test_market_chart_garbage_is_a_bad_response(body):
    with pytest.raises(ProviderError) as err:
        parse_market_chart(body, "https://cg.example/coins/x/market_chart")
    assert err.value.kind == "bad_response" and "cg.example" in str(err.value)


def test_manifest_round_trip_and_corruption(tmp_path):
    m = Manifest()
    m.put("1d", "BTCUSDT", Entry(first_open_ms=0, last_open_ms=D, rows=2, sources={"archive": 2},
                                 settled=[[0, D]], updated_ms=5))
    save_manifest(tmp_path, m)
    back = load_manifest(tmp_path)
    assert back.get("1d", "BTCUSDT") == m.get("1d", "BTCUSDT") and not back.dirty
    assert load_manifest(tmp_path / "none").entries == {}
    manifest_path(tmp_path).write_text('{"version": 99, "intervals": {}}')
    with pytest.raises(ManifestError, match="manifest.json"):
        load_manifest(tmp_path)
    manifest_path(tmp_path).write_bytes(b"\x00\xff garbage")
    with pytest.raises(ManifestError, match="manifest.json"):
        load_manifest(tmp_path)


def test_entry_matches_only_the_file_it_describes(tmp_path):
    f = tmp_path / "x.parquet"
    f.write_bytes(b"1234")
    e = Entry()
    e.describe_file(f)
    assert e.matches_file(f)
    f.write_bytes(b"12345")
    assert not e.matches_file(f) and not e.matches_file(tmp_path / "missing")

"""Cost calibration from a real journal snapshot copy (real SQLite files in tmp_path), never the live file."""

from __future__ import annotations

import json
from decimal import Decimal as D

import pytest

from aura_common.adapters.clock import SteppedClock
from aura_common.adapters.journal import Journal, SnapshotError
from aura_common.domain import OrderStatus, Side
from aura_optimizer.inputs import MIN_FILLS, InputError, calibrate_costs

T0 = 1_714_521_600_000


def _journal_with_fills(path, n: int, fee_asset: str = "USDT") -> Journal:
    """``n`` market orders of 1 unit at a reference price of 100: buys fill at 100.2, sells at 99.9 (slippage
    20 and 10 bps), fee 0.1 % of the fill in ``fee_asset`` ("binance": a BUY pays 0.001 BTC, a SELL 0.1 % of the
    notional in USDT, as Binance charges the received asset)."""
    clock = SteppedClock(T0)
    j = Journal.open(path, clock)
    j.begin_cycle("c1")
    for i in range(n):
        side = Side.BUY if i % 2 == 0 else Side.SELL
        price = D("100.2") if side is Side.BUY else D("99.9")
        coid = f"aura-t{i}"
        j.record_intent("c1", coid, "BTCUSDT", side, D("1"), ref_price=D("100"))
        j.mark_order_sent(coid)
        j.update_order(coid, OrderStatus.FILLED, exchange_order_id=str(i), filled_qty=D("1"), avg_price=price)
        if fee_asset == "binance":
            fee, asset = (D("0.001"), "BTC") if side is Side.BUY else (price * D("0.001"), "USDT")
        else:
            fee, asset = price * D("0.001"), fee_asset
        j.record_fill("BTCUSDT", str(i), side, D("1"), price, fee, asset, T0 + i, client_order_id=coid)
        clock.advance(1)
    return j


def test_calibrates_from_the_snapshot_copy(tmp_path):
    live = tmp_path / "journal" / "aura.sqlite"
    j = _journal_with_fills(live, 12)
    j.snapshot(tmp_path / "snaps")
    j.close()
    cal = calibrate_costs(tmp_path / "snaps", live, 10.0, 5.0)
    assert cal.source == "journal" and cal.fills == 12
    assert cal.fee_bps == pytest.approx(10.0)
    # 6 buys at +20 bps and 6 sells at +10 bps of a reference notional of 100 each
    assert cal.slippage_bps == pytest.approx(15.0)
    assert cal.snapshot == str(tmp_path / "snaps" / "latest.sqlite")
    json.dumps(cal.as_dict())


def test_fees_in_the_received_asset_are_valued_at_the_fill_price(tmp_path):
    """Binance's BUY commission is in the base asset: it is valued at its fill's price, so the calibration still
    reads 10 bps (before, a symbol with base fees was left out and the config's fee used instead)."""
    live = tmp_path / "journal" / "aura.sqlite"
    j = _journal_with_fills(live, 12, fee_asset="binance")
    j.snapshot(tmp_path / "snaps")
    j.close()
    cal = calibrate_costs(tmp_path / "snaps", live, 7.5, 5.0)
    assert cal.source == "journal" and cal.fee_bps == pytest.approx(10.0)


def test_falls_back_to_the_config_without_history(tmp_path):
    live = tmp_path / "journal" / "aura.sqlite"
    cal = calibrate_costs(tmp_path / "snaps", live, 10.0, 5.0)
    assert (cal.source, cal.fee_bps, cal.slippage_bps, cal.fills) == ("config", 10.0, 5.0, 0)
    j = _journal_with_fills(live, MIN_FILLS - 1)
    j.snapshot(tmp_path / "snaps")
    j.close()
    cal = calibrate_costs(tmp_path / "snaps", live, 10.0, 5.0)
    assert (cal.source, cal.fee_bps, cal.slippage_bps, cal.fills) == ("config", 10.0, 5.0, MIN_FILLS - 1)


def test_fees_in_another_asset_fall_back_to_the_configured_fee(tmp_path):
    live = tmp_path / "journal" / "aura.sqlite"
    j = _journal_with_fills(live, 12, fee_asset="BNB")
    j.snapshot(tmp_path / "snaps")
    j.close()
    cal = calibrate_costs(tmp_path / "snaps", live, 7.5, 5.0)
    assert cal.source == "journal" and cal.fee_bps == 7.5 and cal.slippage_bps == pytest.approx(15.0)


def test_a_corrupt_snapshot_is_an_error_not_a_fallback(tmp_path):
    (tmp_path / "snaps").mkdir()
    (tmp_path / "snaps" / "latest.sqlite").write_bytes(b"not a database at all" * 100)
    with pytest.raises(SnapshotError, match="latest.sqlite"):
        calibrate_costs(tmp_path / "snaps", tmp_path / "live.sqlite", 10.0, 5.0)


def test_refuses_the_live_journal(tmp_path):
    snaps = tmp_path / "snaps"
    live = snaps / "latest.sqlite"  # a misconfiguration: the journal path is the snapshot path
    j = _journal_with_fills(live, 1)
    j.close()
    with pytest.raises(InputError, match="live journal"):
        calibrate_costs(snaps, live, 10.0, 5.0)


def test_a_run_reports_journal_costs(ws):
    j = _journal_with_fills(ws.journal, 12)
    j.snapshot(ws.snapshots_dir)
    j.close()
    proc = ws.aura("--space", "space.yaml", "--folds", "1", "--trials", "3", "--run-id", "c")
    assert proc.returncode == 0, proc.stderr
    results = json.loads((ws.optimizer_dir / "c" / "results.json").read_text())
    costs = results["inputs"]["costs"]
    assert (costs["source"], costs["fills"]) == ("journal", 12)
    assert costs["slippage_bps"] == pytest.approx(15.0)
    assert "journal" in (ws.optimizer_dir / "c" / "report.html").read_text()

"""The risk tick on a real journal file: kill switch persisted across restarts, reset requests, cooldown,
stop-loss / take-profit exits with distinct client order ids, and the [RISK_TICK] / [SL_CHECK] operator lines."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aura_common.adapters.journal import Journal, Position
from aura_common.core.params import RiskParams
from aura_common.domain import Balance, MarketSpec, Side, Symbol
from aura_trader import risk_reset
from aura_trader.account import AccountView
from aura_trader.risk import RISK_LEG_BASE, RISK_PLAN_HASH, RiskTicker

from .conftest import DAY, HOUR, tag_lines

D = Decimal
SPECS = {Symbol(s): MarketSpec(Symbol(s), s[:-4], "USDT", D("0.01"), D("0.001"), D("0.001"), D(5))
         for s in ("BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT")}


def view(equity, positions=None, prices=None, accepted=True, cash=None) -> AccountView:
    positions = {Symbol(s): D(str(q)) for s, q in (positions or {}).items()}
    prices = {Symbol(s): D(str(p)) for s, p in (prices or {}).items()}
    balances = {"USDT": Balance("USDT", D(str(cash if cash is not None else equity)))}
    return AccountView(balances, prices, D(str(equity)), positions, accepted, "" if accepted else "empty_balances",
                       D(str(cash if cash is not None else equity)), 0, SPECS)


def run(ticker, clock, equity, params, key, **kw):
    return ticker.tick(view(equity, **kw), clock.now_ms(), params, key)


# --- kill switch ------------------------------------------------------------------------------------------------
def test_a_drawdown_past_the_threshold_trips_and_blocks(journal, metrics, clock, logger, caplog):
    params = RiskParams(kill_switch_max_drawdown_pct=20.0)
    t = RiskTicker(journal, metrics, logger)
    for i, eq in enumerate((10_000, 10_500, 9_000, 8_500)):
        out = run(t, clock, eq, params, f"k{i}")
        clock.advance(3600)
        assert not out.kill_switch_active and not out.cancel_open_orders
    out = run(t, clock, 8_400, params, "k4")  # (10500 - 8400) / 10500 = 20 %: exactly at the threshold trips
    assert out.kill_switch_active and out.cancel_open_orders and out.drawdown == D("0.2")
    assert journal.kill_switch().tripped
    assert metrics.value("aura_kill_switch_active") == 1 and metrics.value("aura_drawdown_ratio") == 0.2
    assert metrics.value("aura_equity_peak_quote") == 10_500 and metrics.value("aura_equity_quote") == 8_400
    assert metrics.value("aura_kill_switch_threshold_ratio") == 0.2
    line = tag_lines(caplog, "RISK_TICK")[-1]
    assert (line["equity"], line["peak"], line["drawdown_pct"], line["threshold_pct"], line["kill_switch"]) == (
        "8400", "10500", "20", "20", "tripped")
    assert journal.latest_equity().peak == D(10_500)
    assert [c.action for c in journal.kill_switch_history()] == ["trip"]


def test_the_tripped_state_survives_a_restart_and_resets_only_by_request(journal_path, journal, metrics, clock,
                                                                         logger, caplog):
    params = RiskParams(kill_switch_max_drawdown_pct=10.0)
    t = RiskTicker(journal, metrics, logger)
    run(t, clock, 10_000, params, "a")
    clock.advance(60)
    assert run(t, clock, 8_000, params, "b").kill_switch_active
    journal.close()

    # a new process: the switch is still tripped, even though equity recovered
    j2 = Journal.open(journal_path, clock)
    try:
        t2 = RiskTicker(j2, metrics, logger)
        clock.advance(60)
        out = run(t2, clock, 9_900, params, "c")
        assert out.kill_switch_active and out.cancel_open_orders
        # aura risk reset, while this "trader" holds the journal: a request file
        req = risk_reset.write_request(t2.control_dir, "drawdown understood, resuming", "ops@host", clock.now_ms())
        clock.advance(60)
        out = run(t2, clock, 9_900, params, "d")
        assert not out.kill_switch_active and out.resets == ("reset",)
        assert not req.exists()
        done = risk_reset.done_path(req)
        assert done.exists() and '"result": "reset"' in done.read_text()
        hist = j2.kill_switch_history()
        assert [c.action for c in hist] == ["trip", "reset"]
        assert hist[-1].reason == "drawdown understood, resuming" and hist[-1].actor == "aura risk reset (ops@host)"
        assert hist[-1].ts_ms == clock.now_ms()
        [ev] = j2.events(tag="RISK_RESET")
        assert ev.fields["source"] == "request" and ev.fields["request"] == req.name
        # the peak is re-based at the reset: 9,900 is not a 10 % drawdown any more
        assert out.peak == D(9_900) and out.drawdown == 0
        [line] = tag_lines(caplog, "RISK_RESET")
        assert line["result"] == "reset" and line["requester"] == "ops@host"
    finally:
        j2.close()


def test_a_request_while_armed_is_a_noop_and_a_bad_request_is_rejected(journal, metrics, clock, logger, caplog):
    t = RiskTicker(journal, metrics, logger)
    ok = risk_reset.write_request(t.control_dir, "just in case", "ops@host", clock.now_ms())
    bad = t.control_dir / "risk-reset-zzz.json"
    bad.write_text('{"kind": "risk_reset", "reason": ""}')
    (t.control_dir / ".risk-reset-partial.json.123.tmp").write_text("{")  # a writer's temp file: ignored
    out = run(t, clock, 10_000, RiskParams(), "x")
    assert out.resets == ("already_armed", "rejected")
    assert '"result": "already_armed"' in risk_reset.done_path(ok).read_text()
    assert '"result": "rejected"' in risk_reset.done_path(bad).read_text()
    assert journal.kill_switch_history() == []
    assert (t.control_dir / ".risk-reset-partial.json.123.tmp").exists()
    assert {x["result"] for x in tag_lines(caplog, "RISK_RESET")} == {"already_armed", "rejected"}


def test_cooldown_rearms_and_is_journaled(journal, metrics, clock, logger):
    params = RiskParams(kill_switch_max_drawdown_pct=10.0, kill_switch_cooldown_hours=2.0)
    t = RiskTicker(journal, metrics, logger)
    run(t, clock, 10_000, params, "a")
    clock.advance(60)
    assert run(t, clock, 8_000, params, "b").kill_switch_active
    clock.advance(HOUR / 1000)
    assert run(t, clock, 8_000, params, "c").kill_switch_active
    clock.advance(HOUR / 1000)
    out = run(t, clock, 8_000, params, "d")
    assert not out.kill_switch_active and out.drawdown == 0
    assert [(c.action, c.actor) for c in journal.kill_switch_history()] == [("trip", "trader"), ("reset", "cooldown")]


def test_a_peak_older_than_the_window_does_not_count(journal, metrics, clock, logger):
    params = RiskParams(kill_switch_window_days=2, kill_switch_max_drawdown_pct=20.0)
    t = RiskTicker(journal, metrics, logger)
    run(t, clock, 10_000, params, "a")
    for i in range(3):
        clock.advance(DAY / 1000)
        out = run(t, clock, 7_000, params, f"b{i}")
    # the first tick at 7,000 tripped (30 %); a later window without the 10,000 peak does not re-arm by itself
    assert out.kill_switch_active


def test_a_stale_view_never_moves_equity_or_trips(journal, metrics, clock, logger, caplog):
    params = RiskParams(kill_switch_max_drawdown_pct=10.0)
    t = RiskTicker(journal, metrics, logger)
    run(t, clock, 10_000, params, "a")
    clock.advance(60)
    out = run(t, clock, 0, params, "b", accepted=False)  # what a glitch would look like, if it got this far
    assert not out.kill_switch_active and out.drawdown == 0
    assert len(journal._conn.execute("SELECT * FROM equity_snapshots").fetchall()) == 1
    assert tag_lines(caplog, "RISK_TICK")[-1]["sync"] == "stale"


@pytest.mark.parametrize("restart", [False, True])
def test_a_clock_stepped_back_skips_the_point_logs_it_and_goes_on(journal_path, journal, metrics, clock, logger,
                                                                   caplog, restart):
    params = RiskParams(kill_switch_max_drawdown_pct=10.0)
    t = RiskTicker(journal, metrics, logger)
    run(t, clock, 10_000, params, "a")
    j = journal
    if restart:  # a new process whose clock is behind what the last one journaled
        journal.close()
        j = Journal.open(journal_path, clock)
        t = RiskTicker(j, metrics, logger)
    try:
        clock.set(clock.now_ms() - HOUR)  # an NTP step back
        out = run(t, clock, 8_000, params, "b")  # would be a 20 % drawdown: never judged, never journaled
        assert not out.kill_switch_active and out.equity == D(10_000)
        assert [e.equity for e in j.equity_curve()] == [D(10_000)]
        (line,) = tag_lines(caplog, "EQUITY_SKIPPED")
        assert (line["reason"], line["equity"], line["behind_ms"], line["cycle"]) == (
            "clock_behind", "8000", str(HOUR), "b")
        assert tag_lines(caplog, "RISK_TICK")[-1]["equity"] == "10000"
        clock.advance(2 * HOUR / 1000)  # the clock is past the last point again: points count again
        out = run(t, clock, 8_000, params, "c")
        assert out.kill_switch_active and [e.equity for e in j.equity_curve()] == [D(10_000), D(8_000)]
        assert len(tag_lines(caplog, "EQUITY_SKIPPED")) == 1
    finally:
        if restart:
            j.close()


# --- stop-loss / take-profit --------------------------------------------------------------------------------------
def test_sl_tp_exits_with_distinct_ids_and_one_sl_check_per_position(journal, metrics, clock, logger, caplog):
    params = RiskParams(stop_loss_pct=10.0, take_profit_pct=50.0)
    journal.record_positions([Position("BTCUSDT", D(1), D(100)), Position("ETHUSDT", D(2), D(100)),
                              Position("SOLUSDT", D(3), D(100)), Position("XRPUSDT", D(4))], source="test")
    t = RiskTicker(journal, metrics, logger)
    out = run(t, clock, 10_000, params, "2024-05-01T00:15Z",
              positions={"BTCUSDT": 1, "ETHUSDT": 2, "SOLUSDT": 3, "XRPUSDT": 4},
              prices={"BTCUSDT": 90, "ETHUSDT": 150, "SOLUSDT": 101, "XRPUSDT": 1000})
    lines = {x["symbol"]: x for x in tag_lines(caplog, "SL_CHECK")}
    assert {s: x["decision"] for s, x in lines.items()} == {"BTCUSDT": "stop_loss", "ETHUSDT": "take_profit",
                                                            "SOLUSDT": "hold", "XRPUSDT": "no_entry"}
    btc = lines["BTCUSDT"]
    assert (btc["entry"], btc["last"], btc["stop"], btc["take"]) == ("100", "90", "90", "150")
    assert lines["XRPUSDT"]["entry"] == "-" and lines["XRPUSDT"]["stop"] == "-"
    assert [(i.symbol, i.side, i.quantity, i.leg, i.plan_hash) for i in out.exit_intents] == [
        ("BTCUSDT", Side.SELL, D(1), RISK_LEG_BASE, RISK_PLAN_HASH),
        ("ETHUSDT", Side.SELL, D(2), RISK_LEG_BASE + 1, RISK_PLAN_HASH)]
    ids = [i.client_order_id for i in out.exit_intents]
    assert len(set(ids)) == 2 and all(i.startswith("aura-") for i in ids)
    assert [out.reasons[i] for i in ids] == ["stop_loss", "take_profit"]
    assert metrics.value("aura_gate_decisions_total", gate="stop_loss", decision="deny") == 1
    assert metrics.value("aura_gate_decisions_total", gate="take_profit", decision="deny") == 1
    events = journal.events(tag="RISK_GATE")
    assert sorted((e.fields["gate"], e.fields["symbol"]) for e in events) == [("stop_loss", "BTCUSDT"),
                                                                             ("take_profit", "ETHUSDT")]
    assert metrics.value("aura_positions") == 4
    # same inputs, same cycle: the same ids (a restart re-derives them)
    again = RiskTicker(journal, metrics, logger).tick(
        view(10_000, positions={"BTCUSDT": 1, "ETHUSDT": 2}, prices={"BTCUSDT": 90, "ETHUSDT": 150}),
        clock.now_ms(), params, "2024-05-01T00:15Z")
    assert [i.client_order_id for i in again.exit_intents] == ids


def test_no_exit_on_a_stale_view_and_dust_is_not_sent(journal, metrics, clock, logger, caplog):
    params = RiskParams(stop_loss_pct=10.0)
    journal.record_positions([Position("BTCUSDT", D(1), D(100)), Position("ETHUSDT", D("0.01"), D(100))],
                             source="test")
    t = RiskTicker(journal, metrics, logger)
    out = run(t, clock, 10_000, params, "s", positions={"BTCUSDT": 1}, prices={"BTCUSDT": 50}, accepted=False)
    assert out.exit_intents == () and tag_lines(caplog, "SL_CHECK")[0]["sync"] == "stale"
    out = run(t, clock, 10_000, params, "s2", positions={"ETHUSDT": "0.01"}, prices={"ETHUSDT": 50})
    assert out.exit_intents == ()  # 0.01 x 50 = 0.5 USDT < min notional 5
    assert tag_lines(caplog, "RISK_EXIT")[0]["action"] == "dust"


def test_liquidation_on_a_trip(journal, metrics, clock, logger):
    params = RiskParams(kill_switch_max_drawdown_pct=10.0, kill_switch_liquidate=True)
    t = RiskTicker(journal, metrics, logger)
    run(t, clock, 10_000, params, "a", positions={"BTCUSDT": "0.5"}, prices={"BTCUSDT": 10_000})
    clock.advance(60)
    out = run(t, clock, 8_000, params, "b", positions={"BTCUSDT": "0.5", "ETHUSDT": "1.2345"},
              prices={"BTCUSDT": 6_000, "ETHUSDT": 1_000})
    assert out.kill_switch_active
    assert [(i.symbol, i.quantity) for i in out.exit_intents] == [("BTCUSDT", D("0.5")), ("ETHUSDT", D("1.234"))]
    assert set(out.reasons.values()) == {"kill_switch_liquidate"}


def test_entry_price_from_journaled_fills(journal, metrics, clock, logger, caplog):
    for i, (side, qty, price) in enumerate([(Side.BUY, "1", "100"), (Side.BUY, "1", "200"),
                                            (Side.SELL, "1", "300")]):
        journal.record_fill("BTCUSDT", str(i), side, D(qty), D(price), D(0), "USDT", 1_000 + i)
    t = RiskTicker(journal, metrics, logger)
    run(t, clock, 10_000, RiskParams(stop_loss_pct=10.0), "f", positions={"BTCUSDT": 1}, prices={"BTCUSDT": 130})
    [line] = tag_lines(caplog, "SL_CHECK")
    assert (line["entry"], line["decision"]) == ("150", "stop_loss")


def test_fees_in_the_base_asset_keep_the_entry_and_an_exit_sells_only_the_free_balance(journal, metrics, clock,
                                                                                        logger, caplog):
    """Binance charges a BUY's commission in the base asset: the venue holds 0.999 of a 1.0 buy. The entry stays
    the fill price (THE entry rule, core.reconcile.open_lots, the same as boot's [ENTRY_RECOVER]; the old risk-side
    rule made it 100.1), and the stop-loss exit asks for what the venue holds free, never the gross 1.0."""
    journal.record_fill("BTCUSDT", "1", Side.BUY, D(1), D(100), D("0.001"), "BTC", 1_000)
    t = RiskTicker(journal, metrics, logger)
    account = view(10_000, positions={"BTCUSDT": "0.999"}, prices={"BTCUSDT": 89})
    account = AccountView({**account.balances, "BTC": Balance("BTC", D("0.999"))}, account.prices, account.equity,
                          account.positions, True, "", account.cash, 0, SPECS)
    out = t.tick(account, clock.now_ms(), RiskParams(stop_loss_pct=10.0), "fee")
    [line] = tag_lines(caplog, "SL_CHECK")
    assert (line["entry"], line["stop"], line["decision"]) == ("100", "90", "stop_loss")
    assert [(i.symbol, i.quantity) for i in out.exit_intents] == [("BTCUSDT", D("0.999"))]
    # part of it locked by an open order: only the free part is asked for, rounded down to the lot step
    caplog.clear()
    locked = AccountView({**account.balances, "BTC": Balance("BTC", D("0.4995"), D("0.4995"))}, account.prices,
                         account.equity, account.positions, True, "", account.cash, 0, SPECS)
    out = RiskTicker(journal, metrics, logger).tick(locked, clock.now_ms(), RiskParams(stop_loss_pct=10.0), "fee2")
    assert [(i.symbol, i.quantity) for i in out.exit_intents] == [("BTCUSDT", D("0.499"))]


# --- RollingWindow: the compact curve gives the gate's verdict on the full curve (property) ----------------------
from aura_common.core.risk import KillSwitchState, kill_switch  # noqa: E402
from aura_trader.risk import RollingWindow  # noqa: E402

equities = st.decimals(min_value=D(0), max_value=D(100_000), places=2)


@settings(deadline=None, max_examples=300)
@given(st.lists(st.tuples(st.integers(0, 5 * DAY), equities), min_size=0, max_size=40),
       st.integers(1, 4), st.integers(0, 6 * DAY), st.floats(1, 60))
def test_compact_curve_gives_the_same_verdict_as_the_full_curve(raw, window_days, now_offset, threshold):
    points = sorted(raw, key=lambda p: p[0])
    now = max([t for t, _ in points] + [now_offset])
    params = RiskParams(kill_switch_window_days=window_days, kill_switch_max_drawdown_pct=threshold)
    start = now - window_days * DAY
    window = RollingWindow(start)
    for t, e in points:
        window.append(t, e)
        window.evict(t - window_days * DAY)  # evicting as time goes by, like the ticks do
    window.evict(start)
    full, _ = kill_switch(points, KillSwitchState(), params, now)
    compact, _ = kill_switch(window.compact(), KillSwitchState(), params, now)
    assert compact.decision == full.decision and dict(compact.figures) == dict(full.figures)
    in_window = [e for t, e in points if start <= t <= now]
    assert window.peak == (max(in_window) if in_window else None)


def test_rolling_window_refuses_time_going_backwards():
    w = RollingWindow(0)
    w.append(10, D(1))
    with pytest.raises(ValueError):
        w.append(5, D(2))

"""The account sync behind the sync guard, against the real exchange simulator through real ccxt.

The simulator's ``empty_balances`` fault answers GET /api/v3/account with no balances; ``http_error`` fails the
fetch. Neither may move equity or drawdown, nor trip the kill switch; only K consecutive consistent syncs accept a
real change. A real crash (the replayed market gaps down 50 %) is accepted after K syncs and trips the switch.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from aura_common.core.params import RiskParams
from aura_trader.account import AccountSync
from aura_trader.risk import RiskTicker

from .conftest import DAY, SIM_START, tag_lines

ACCOUNT = "/api/v3/account"


def make_sync(broker, journal, metrics, clock, logger, params: RiskParams, attempts: int = 3) -> AccountSync:
    # the stepped clock stands in for host time too (confirmations must be spread over it)
    return AccountSync(broker, journal, lambda: params, metrics, clock, "USDT", logger=logger, attempts=attempts,
                       backoff_seconds=0.5, wall_ms=clock.now_ms)


def trips(metrics, reason: str) -> float:
    return metrics.value("aura_sync_guard_trips_total", reason=reason)


def test_a_plain_read_values_the_account(broker, journal, metrics, clock, logger, admin):
    view = make_sync(broker, journal, metrics, clock, logger, RiskParams()).sync()
    assert view.accepted and view.reason == ""
    assert set(view.positions) == {"BTCUSDT", "ETHUSDT"}
    assert view.positions["BTCUSDT"] == Decimal(1) and view.positions["ETHUSDT"] == Decimal(5)
    expected = Decimal(10_000) + view.prices["BTCUSDT"] + 5 * view.prices["ETHUSDT"]
    assert view.equity == expected and view.cash == Decimal(10_000)
    assert 0 < view.exposure < 1


def equity_rows(journal) -> list[Decimal]:
    return [Decimal(e) for (e,) in journal._conn.execute("SELECT equity FROM equity_snapshots ORDER BY snapshot_id")]


def test_empty_balances_fault_is_transient_and_never_trips(broker, journal, metrics, clock, logger, caplog, admin):
    from aura_common.adapters.journal import Position
    journal.record_positions([Position("BTCUSDT", Decimal(1)), Position("ETHUSDT", Decimal(5))], source="test")
    params = RiskParams(sync_guard_confirm_reads=3)
    sync = make_sync(broker, journal, metrics, clock, logger, params)
    ticker = RiskTicker(journal, metrics, logger)
    good = sync.sync()
    ticker.tick(good, clock.now_ms(), params, "t0")
    # 5 empty answers in a row: more than one sync's attempts, fewer than K syncs' worth
    admin.faults({"kind": "empty_balances", "endpoint": ACCOUNT, "count": 5})
    views = []
    for i in range(1, 4):
        clock.advance(60)
        view = sync.sync()
        views.append(view)
        outcome = ticker.tick(view, clock.now_ms(), params, f"t{i}")
        assert not outcome.kill_switch_active
    # sync 1: three empty reads (kept last good); sync 2: two more, then a plain read (accepted)
    assert [v.accepted for v in views] == [False, True, True]
    assert views[0].equity == good.equity and views[0].reason == "empty_balances"
    assert views[1].equity == good.equity and views[1].reason == ""  # no real change: the glitch is gone
    assert trips(metrics, "empty_balances") == 5
    assert journal.kill_switch().tripped is False and journal.kill_switch_history() == []
    assert equity_rows(journal) == [good.equity] * 3  # t0, t2, t3: the rejected sync recorded nothing
    assert metrics.value("aura_drawdown_ratio") == 0.0
    assert metrics.value("aura_equity_quote") == float(good.equity)
    lines = tag_lines(caplog, "SYNC_GUARD")
    assert len(lines) == 5
    assert all(line["reason"] == "empty_balances" and line["seen_equity"] == "0" for line in lines)
    assert [line["action"] for line in lines] == ["retry", "retry", "keep_last_good", "retry", "retry"]
    assert [line["attempt"] for line in lines] == ["1", "2", "3", "1", "2"]
    assert [line["consecutive"] for line in lines] == ["1", "1", "1", "2", "2"]  # one streak step per sync
    assert {line["last_good_equity"] for line in lines} == {str(good.equity)}
    ticks = tag_lines(caplog, "RISK_TICK")
    assert [t["sync"] for t in ticks] == ["accepted", "stale", "accepted", "accepted"]
    assert {t["drawdown_pct"] for t in ticks} == {"0"} and {t["kill_switch"] for t in ticks} == {"armed"}


def test_a_failed_fetch_keeps_the_last_good_snapshot(broker, journal, metrics, clock, logger, caplog, admin):
    params = RiskParams()
    sync = make_sync(broker, journal, metrics, clock, logger, params, attempts=2)
    good = sync.sync()
    admin.faults({"kind": "http_error", "endpoint": ACCOUNT, "status": 503, "count": 2})
    t0 = clock.now_ms()
    view = sync.sync()
    assert not view.accepted and view.reason == "fetch_failed"
    assert view.equity == good.equity and view.balances == good.balances and view.synced_ms == good.synced_ms
    assert clock.now_ms() - t0 >= 500  # backed off between the attempts
    assert trips(metrics, "fetch_failed") == 2
    lines = tag_lines(caplog, "SYNC_GUARD")
    assert [(x["reason"], x["action"]) for x in lines] == [("fetch_failed", "retry"),
                                                          ("fetch_failed", "keep_last_good")]
    assert lines[0]["seen_equity"] == "-" and "error" in lines[0]
    assert sync.sync().accepted  # the fault is over: the next read is plain


def test_a_real_crash_is_accepted_after_k_syncs_and_trips_the_switch(broker, journal, metrics, clock, logger,
                                                                     caplog, admin):
    params = RiskParams(sync_guard_confirm_reads=3, kill_switch_max_drawdown_pct=20.0)
    sync = make_sync(broker, journal, metrics, clock, logger, params, attempts=2)
    ticker = RiskTicker(journal, metrics, logger)
    before = sync.sync()
    ticker.tick(before, clock.now_ms(), params, "c0")
    admin.set_time(SIM_START + 41 * DAY)  # past the crash day: BTC and ETH at half their level
    states = []
    for i in range(1, 4):
        clock.advance(3600)
        view = sync.sync()
        outcome = ticker.tick(view, clock.now_ms(), params, f"c{i}")
        states.append((view.accepted, view.reason, outcome.kill_switch_active))
    assert states == [(False, "equity_jump", False), (False, "equity_jump", False), (True, "equity_jump", True)]
    crashed = sync.last_good
    assert crashed.equity < before.equity * Decimal("0.8")
    ks = journal.kill_switch()
    assert ks.tripped and "threshold" in ks.reason
    assert [c.action for c in journal.kill_switch_history()] == ["trip"]
    assert metrics.value("aura_kill_switch_active") == 1
    assert metrics.value("aura_gate_decisions_total", gate="kill_switch", decision="deny") == 1
    accepted = [x for x in tag_lines(caplog, "SYNC_GUARD") if x["action"] == "accept"]
    assert len(accepted) == 1 and accepted[0]["consecutive"] == "3" and accepted[0]["reason"] == "equity_jump"
    assert tag_lines(caplog, "RISK_TICK")[-1]["kill_switch"] == "tripped"
    [ev] = journal.events(tag="RISK_GATE")
    assert ev.fields["gate"] == "kill_switch" and ev.fields["decision"] == "deny"


def test_empty_balances_with_journaled_positions_is_named_so(broker, journal, metrics, clock, logger, caplog, admin):
    from aura_common.adapters.journal import Position
    journal.record_positions([Position("BTCUSDT", Decimal(1), Decimal(20_000))], source="test")
    sync = make_sync(broker, journal, metrics, clock, logger, RiskParams(), attempts=1)
    sync.sync()
    admin.faults({"kind": "empty_balances", "endpoint": ACCOUNT, "count": 1})
    view = sync.sync()
    assert not view.accepted and view.reason == "empty_balances"
    assert trips(metrics, "empty_balances") == 1 and trips(metrics, "equity_jump") == 0


@pytest.mark.parametrize("attempts", [0, -1])
def test_attempts_must_be_positive(broker, journal, metrics, clock, attempts):
    with pytest.raises(ValueError):
        AccountSync(broker, journal, RiskParams, metrics, clock, attempts=attempts)


def test_journaled_fills_explain_only_their_own_fees_never_a_jump(broker, journal, metrics, clock, logger, sim):
    """A fill swaps cash for coins at its price: 10,000 USDT gone with a 'buy' journaled whose coins never
    arrived is a phantom drop, rejected like any other (it used to be waved through as 'explained')."""
    from aura_common.domain import Side
    for i in range(3):  # history: only the last day of it is read at each sync
        journal.record_fill("ETHUSDT", f"old{i}", Side.BUY, Decimal(1), Decimal(2_000), Decimal(0), "USDT", i * DAY)
    sync = make_sync(broker, journal, metrics, clock, logger, RiskParams(), attempts=1)
    good = sync.sync()
    requests_post(sim.url + "/admin/balances", {"USDT": "0"})  # -10,000 USDT: a 20 % drop
    clock.advance(60)
    assert not sync.sync().accepted
    journal.record_fill("BTCUSDT", "t1", Side.BUY, Decimal("0.3"), Decimal(30_000), Decimal(9), "USDT", 2 * DAY + 1)
    clock.advance(60)
    view = sync.sync()
    assert not view.accepted and view.reason == "equity_jump" and view.equity == good.equity
    # a real buy through the venue: cash and coins swap at the fill price, equity barely moves: accepted at once
    requests_post(sim.url + "/admin/balances", {"USDT": "10000"})
    clock.advance(60)
    assert sync.sync().accepted
    broker.place_order(__import__("aura_common.domain", fromlist=["OrderRequest"]).OrderRequest(
        "aura-real-buy", __import__("aura_common.domain", fromlist=["Symbol"]).Symbol("BTCUSDT"), Side.BUY,
        Decimal("0.2")))
    clock.advance(60)
    view = sync.sync()
    assert view.accepted and view.reason == "" and view.cash < Decimal(10_000) * Decimal("0.8")


def test_the_guard_starts_from_the_journals_last_equity(broker, journal, metrics, clock, logger, caplog):
    journal.record_equity(Decimal(100_000), Decimal(100_000))  # what the trader saw before a restart
    view = make_sync(broker, journal, metrics, clock, logger, RiskParams(), attempts=1).sync()
    assert not view.accepted and view.reason == "equity_jump" and view.equity == Decimal(100_000)
    [line] = tag_lines(caplog, "SYNC_GUARD")
    assert line["last_good_equity"] == "100000" and line["action"] == "keep_last_good"


def requests_post(url, body):
    import requests
    r = requests.post(url, json=body, timeout=5)
    assert r.status_code == 200, r.text


def test_positions_are_the_managed_symbols_but_equity_is_the_whole_account(broker, journal, metrics, clock, logger):
    sync = AccountSync(broker, journal, RiskParams, metrics, clock, "USDT", logger=logger,
                       managed_symbols=lambda: ["BTCUSDT", "SOLUSDT"])
    view = sync.sync()
    assert dict(view.positions) == {"BTCUSDT": Decimal(1)}  # ETH is held but not managed; SOL is not held
    assert view.equity == Decimal(10_000) + view.prices["BTCUSDT"] + 5 * view.prices["ETHUSDT"]
    assert view.exposure == view.prices["BTCUSDT"] / view.equity


def test_a_ticker_read_a_million_times_too_high_is_held_back(broker, journal, metrics, clock, logger, admin):
    """One x1e6 ticker answer (the simulator's bad_price fault on the ticker endpoint): the read is rejected as
    price_jump, the last good view stays, no equity point is journaled; the next plain read is accepted."""
    params = RiskParams(sync_guard_confirm_reads=3)
    sync = make_sync(broker, journal, metrics, clock, logger, params, attempts=1)
    ticker = RiskTicker(journal, metrics, logger)
    good = sync.sync()
    ticker.tick(good, clock.now_ms(), params, "p0")
    admin.faults({"kind": "bad_price", "endpoint": "GET /api/v3/ticker/24hr", "count": 1})
    clock.advance(60)
    view = sync.sync()
    out = ticker.tick(view, clock.now_ms(), params, "p1")
    assert not view.accepted and view.equity == good.equity
    assert out.exit_intents == () and not out.kill_switch_active
    assert trips(metrics, "price_jump") + trips(metrics, "equity_jump") == 1
    clock.advance(60)
    assert sync.sync().accepted

"""The `aura trade` process end to end: modes (live refuses without confirmation or keys, paper trades on the
simulator's prices without touching its books), restart of a finished cycle does nothing, [BOOT] and
[ENTRY_RECOVER] lines, and determinism of plan → intents → client order ids across two separate processes."""

from __future__ import annotations

import json
import subprocess
import sys

from harness.journal import journal_rows_ro


def test_live_mode_without_confirmation_refuses_to_start(trader_env):
    r = trader_env.trade(AURA_EXECUTION__LIVE_CONFIRM="false")
    assert r.returncode == 2
    assert "live_confirm" in r.stderr and "Traceback" not in r.stderr
    assert trader_env.sim.orders() == []


def test_live_mode_without_keys_refuses_to_start(trader_env):
    r = trader_env.trade(AURA_API_KEY="", AURA_API_SECRET="")
    assert r.returncode == 2 and "AURA_API_KEY" in r.stderr
    assert trader_env.sim.orders() == []


def test_a_finished_cycle_is_not_done_twice_and_positions_come_back(trader_env):
    first = trader_env.trade()
    assert first.returncode == 0, first.stderr
    orders = trader_env.sim.orders()
    assert orders and all(o["status"] == "FILLED" for o in orders)
    assert "[BOOT]" in first.stdout and "reconcile=ok" in first.stdout
    second = trader_env.trade()
    assert second.returncode == 0, second.stderr
    assert trader_env.sim.orders() == orders  # same cycle key, already DONE: nothing sent again
    recovered = [line for line in second.stdout.splitlines() if "[ENTRY_RECOVER]" in line]
    assert len(recovered) == len({o["symbol"] for o in orders})
    assert all("source=snapshot" in line or "source=fills" in line for line in recovered)
    (status,) = journal_rows_ro(trader_env.journal, "SELECT status FROM cycles WHERE cycle_key NOT LIKE 'risk-%'")
    assert status == ("DONE",)


def test_paper_mode_fills_against_the_venue_prices_without_trading_there(trader_env):
    r = trader_env.trade(AURA_EXECUTION__MODE="paper", AURA_API_KEY="", AURA_API_SECRET="")
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr
    assert "mode=paper" in r.stdout
    assert trader_env.sim.orders() == []  # the simulator only served prices and markets
    rows = journal_rows_ro(trader_env.journal, "SELECT status FROM orders")
    assert rows and {s for (s,) in rows} == {"FILLED"}
    assert (trader_env.journal.parent / "paper-broker.sqlite").exists()


_DETERMINISM = r"""
import json, sys
from decimal import Decimal
from aura_common.adapters.parquet_store import load_panel
from aura_common.config.loader import load_strategy
from aura_common.core.regime import RegimeState
from aura_common.domain import MarketSpec, Symbol
from aura_trader.rebalance import decision_row, plan_intents
data, strategy, end = sys.argv[1], sys.argv[2], int(sys.argv[3])
panel = load_panel(data, "1d", None, start_ms=end - 300 * 86_400_000, end_ms=end)
row = decision_row(panel)
prices = {Symbol(s): Decimal(repr(float(panel.close[row, j]))).quantize(Decimal("1e-6"))
          for j, s in enumerate(panel.symbols)}
specs = {s: MarketSpec(s, s[:-4], "USDT", Decimal("1e-6"), Decimal("0.001"), Decimal("0.001"), Decimal(5))
         for s in prices}
holdings = {Symbol(panel.symbols[1]): Decimal("3.5"), Symbol(panel.symbols[2]): Decimal("120")}
p = plan_intents(panel=panel, row=row, params=load_strategy(strategy), regime=RegimeState(), prev_exposure=0.0,
                 cycle_key="2021-09-28T00:15Z", holdings=holdings, free_quote=Decimal(5000), prices=prices,
                 specs=specs, fee_bps=10, slippage_bps=5)
print(json.dumps({"plan": p.plan.hash, "intents": [[i.client_order_id, i.symbol, i.side.value, str(i.quantity)]
                  for i in p.batch.intents]}))
"""


def test_same_inputs_give_the_same_intents_and_ids_in_two_processes(trader_env, cache):
    from harness.caches import DAY, FIRST_TRADE_DAY, START
    data_dir, _ = cache
    args = [sys.executable, "-c", _DETERMINISM, str(data_dir), str(trader_env.tmp / "strategy.yaml"),
            str(START + FIRST_TRADE_DAY * DAY)]
    outs = [subprocess.run(args, capture_output=True, text=True, timeout=120,
                           env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"}) for seed in ("1", "2")]
    for o in outs:
        assert o.returncode == 0, o.stderr
    a, b = (json.loads(o.stdout) for o in outs)
    assert a == b
    assert len(a["intents"]) >= 2 and all(c.startswith("aura-") and len(c) <= 36 for c, *_ in a["intents"])


def test_the_loop_follows_an_accelerated_simulator_through_simulated_days(tmp_path, cache):
    import signal
    import time

    import requests
    import yaml
    from harness.caches import DAY, FIRST_TRADE_DAY, START
    from harness.processes import aura, free_port
    from harness.simulator import start_sim
    from harness.trader import TraderEnv, write_trader_config

    data_dir, symbols = cache
    sim = start_sim(tmp_path, data_dir, START + FIRST_TRADE_DAY * DAY + 20 * 60_000, speed="43200", log_level=None)
    try:
        cfg = write_trader_config(tmp_path, data_dir, sim.url, symbols)
        raw = yaml.safe_load(cfg.read_text())
        raw["schedules"]["tick_seconds"] = 3600  # one simulated hour: 1/12 s of wall time at this speed
        raw["metrics"]["trader_port"] = metrics_port = free_port()
        cfg.write_text(yaml.safe_dump(raw))
        env = TraderEnv(tmp_path, cfg, tmp_path / "journal" / "aura.sqlite", tmp_path / "snapshots", sim)
        trader = subprocess.Popen(aura("trade"), env=env.env(), cwd=tmp_path, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True)
        wall_start = time.time()
        time.sleep(12)
        scraped = requests.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text  # the reader thread
        wall_end = time.time()
        trader.send_signal(signal.SIGTERM)
        out, _ = trader.communicate(timeout=60)
        assert trader.returncode == 0, out[-3000:]
        done = [k for k, s in journal_rows_ro(env.journal, "SELECT cycle_key, status FROM cycles WHERE cycle_key "
                                                           "NOT LIKE 'risk-%' ORDER BY cycle_key") if s == "DONE"]
        assert len(done) >= 2, out[-3000:]
        # each cycle is a simulated day's (a day whose whole window passed during one slow tick is skipped: only
        # the latest due rebalance is ever run), none ahead of the simulator's clock
        sim_day = time.strftime("%Y-%m-%d", time.gmtime(sim.get("/admin/clock")["now_ms"] / 1000))
        assert all(k.endswith("T00:15Z") and k[:10] <= sim_day for k in done)
        assert len({o["clientOrderId"] for o in sim.orders()}) == len(sim.orders())
        metrics = {line.split(" ")[0]: float(line.split(" ")[1]) for line in scraped.splitlines()
                   if line.startswith("aura_") and " " in line}
        assert metrics['aura_orders_total{outcome="filled"}'] >= 1
        # metric timestamps are wall time, not the simulator's (replaying another year): AuraCycleOverdue compares
        # them with Prometheus' time()
        assert wall_start <= metrics["aura_last_rebalance_timestamp_seconds"] <= wall_end
        assert wall_start <= metrics["aura_last_cycle_success_timestamp_seconds"] <= wall_end
    finally:
        sim.stop()


def test_a_failed_reconciliation_refuses_to_trade_and_says_why(trader_env):
    from harness.caches import DAY
    assert trader_env.trade().returncode == 0
    held = {o["symbol"][:-4] for o in trader_env.sim.orders()}
    asset = sorted(held)[0]
    trader_env.sim.post("/admin/balances", {asset: "0"})  # someone emptied a position the journal holds
    trader_env.sim.step(DAY)
    before = trader_env.sim.orders()
    r = trader_env.trade()
    assert r.returncode == 1
    assert "reconcile=failed" in r.stdout and f"{asset}: journal holds" in r.stderr
    assert "Traceback" not in r.stderr
    assert trader_env.sim.orders() == before  # nothing was sent


def test_stop_loss_and_take_profit_exits_are_executed_once_in_the_day_s_risk_cycle(trader_env):
    import yaml
    from harness.trader import STRATEGY

    from aura_common.config.loader import parse_strategy, strategy_to_dict
    assert trader_env.trade().returncode == 0
    bought = {o["symbol"] for o in trader_env.sim.orders() if o["side"] == "BUY"}
    assert bought
    tight = {**STRATEGY, "risk": {**STRATEGY["risk"], "stop_loss_pct": 0.001, "take_profit_pct": 0.001}}
    (trader_env.tmp / "strategy.yaml").write_text(yaml.safe_dump(strategy_to_dict(parse_strategy(tight, "test"))))
    trader_env.sim.step(3_600_000)  # an hour later: prices moved, the day's rebalance is already done
    r = trader_env.trade()
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr
    sells = [o for o in trader_env.sim.orders() if o["side"] == "SELL"]
    assert {o["symbol"] for o in sells} == bought and all(o["status"] == "FILLED" for o in sells)
    rows = journal_rows_ro(trader_env.journal, "SELECT i.cycle_key, o.status FROM intents i JOIN orders o "
                                               "USING (client_order_id) WHERE i.side = 'SELL'")
    assert {k for k, _ in rows} == {"risk-2021-09-28"} and {s for _, s in rows} == {"FILLED"}
    assert "decision=stop_loss" in r.stdout or "decision=take_profit" in r.stdout
    again = trader_env.trade()  # flat now: nothing more to exit, nothing resent
    assert again.returncode == 0
    assert [o for o in trader_env.sim.orders() if o["side"] == "SELL"] == sells


def test_a_cycle_left_unfinished_is_superseded_next_day_without_sending_its_leftovers(trader_env):
    import signal
    from harness.caches import DAY
    killed = trader_env.trade(AURA_CRASH_AT="order_sent:2")  # 1st order done, 2nd at the venue, the rest PENDING
    assert killed.returncode == -signal.SIGKILL
    trader_env.sim.step(DAY)  # the trader stays down until the next day's rebalance is due
    r = trader_env.trade()
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr
    rows = journal_rows_ro(trader_env.journal, "SELECT cycle_key, status, detail FROM cycles "
                                               "WHERE cycle_key NOT LIKE 'risk-%' ORDER BY cycle_key")
    (old, old_status, detail), (new, new_status, _) = rows
    assert (old_status, new_status) == ("FAILED", "DONE") and "superseded" in detail
    old_orders = dict(journal_rows_ro(trader_env.journal, "SELECT o.client_order_id, o.status FROM orders o JOIN "
                                                          "intents i USING (client_order_id) WHERE i.cycle_key = ?",
                                      (old,)))
    venue = {o["clientOrderId"]: o["status"] for o in trader_env.sim.orders()}
    assert sorted(s for s in old_orders.values() if s != "SKIPPED") == ["FILLED", "FILLED"]
    for cid, status in old_orders.items():
        assert venue.get(cid) == ("FILLED" if status == "FILLED" else None)  # leftovers never reached the venue
    assert len(venue) == len(trader_env.sim.orders())


def test_a_snapshot_disk_that_cannot_be_written_never_stops_trading(trader_env):
    """The snapshots directory cannot be created (its parent is a file: the shape of a full or read-only disk for
    the copy): the process trades, journals JOURNAL_SNAPSHOT_FAILED and exits 0 - never a restart loop."""
    import yaml
    blocker = trader_env.tmp / "not-a-dir"
    blocker.write_text("a file where the snapshot directory's parent should be")
    cfg = yaml.safe_load(trader_env.config.read_text())
    cfg["paths"]["snapshots_dir"] = str(blocker / "snapshots")
    trader_env.config.write_text(yaml.safe_dump(cfg))
    r = trader_env.trade()
    assert r.returncode == 0, r.stderr[-2000:]
    orders = trader_env.sim.orders()
    assert orders and all(o["status"] == "FILLED" for o in orders)
    assert "[JOURNAL_SNAPSHOT_FAILED]" in r.stdout + r.stderr
    (n,) = journal_rows_ro(trader_env.journal, "SELECT COUNT(*) FROM events WHERE tag = 'JOURNAL_SNAPSHOT_FAILED'")[0]
    assert n >= 1

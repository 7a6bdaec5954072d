"""The risk side of a RUNNING trader (`aura trade` in testnet mode, real ccxt to a real `aura exchange-sim` process):
hot reload while it runs, the sync guard against the simulator's empty-balance fault, a real account drop that
trips the kill switch only after K consistent syncs, and `aura risk reset` applied by the trader at its next tick."""

from __future__ import annotations

import json
import subprocess
from types import SimpleNamespace

import pytest

from aura_common.adapters.journal import JournalReader, SnapshotError
from aura_common.config import load_config
from aura_common.config.loader import config_hash, load_strategy

from harness.caches import write_market_cache
from harness.processes import AURA, REPO, free_port, http_get, wait_until
from harness.simulator import start_sim
from harness.trader import SIM_KEY, SIM_SECRET, edit_strategy, metric, scrape, start_trader, write_running_config

pytestmark = pytest.mark.slow


@pytest.fixture
def system(tmp_path):
    market = write_market_cache(tmp_path / "data")
    sim = start_sim(tmp_path, market.data_dir, market.start_ms, speed="1", log_level=None)
    port = free_port()
    cfg = write_running_config(tmp_path, sim.url, market, port, strategy_changes={"risk.sync_guard_confirm_reads": 3})
    trader = start_trader(cfg, tmp_path / "trader.log")
    try:
        wait_until("the trader's first risk tick", lambda: trader.lines("RISK_TICK") or
                   (not trader.alive() and trader.text()), timeout=90)
        assert trader.alive(), trader.text()[-3000:]
        yield SimpleNamespace(tmp=tmp_path, market=market, sim=sim, cfg=cfg, port=port, trader=trader,
                              strategy=tmp_path / "strategy.yaml", snapshots=tmp_path / "snapshots")
    finally:
        trader.stop()
        sim.stop()


def snapshot(system, fn):
    """Read the trader's latest snapshot copy (never the live journal); None while there is none/it is replaced."""
    try:
        with JournalReader.latest(system.snapshots) as reader:
            return fn(reader)
    except SnapshotError:
        return None


def test_hot_reload_while_the_trader_runs(system):
    s = system
    config = load_config(s.cfg)
    v0 = config_hash(config, load_strategy(s.strategy))
    wait_until("v0 in the metrics", lambda: metric(scrape(s.port), "aura_config_info", version=v0) == 1)
    cv0 = wait_until("v0 journaled", lambda: snapshot(s, lambda r: (c := r.current_config_version()) and
                                                      c.version == v0 and c))
    # the first applied version records which secrets are set (testnet: the keys), never their values
    assert (cv0.content["secrets"]["api_key"], cv0.content["secrets"]["api_secret"]) == ("<set>", "<set>")
    assert SIM_KEY not in json.dumps(cv0.content) and SIM_SECRET not in json.dumps(cv0.content)

    edit_strategy(s.strategy, {"scoring.w_momentum": 2.0, "risk.kill_switch_max_drawdown_pct": 17.0})
    v1 = config_hash(config, load_strategy(s.strategy))
    assert v1 != v0
    wait_until("v1 in the metrics", lambda: metric(scrape(s.port), "aura_config_info", version=v1) == 1)
    assert metric(scrape(s.port), "aura_config_info", version=v0) is None
    wait_until("a risk tick on the new threshold", lambda: any(
        line["threshold_pct"] == "17" for line in s.trader.lines("RISK_TICK")))
    cv = wait_until("v1 journaled", lambda: snapshot(s, lambda r: (c := r.current_config_version()) and
                                                     c.version == v1 and c))
    assert cv.content["strategy"]["scoring"]["w_momentum"] == 2.0
    [applied] = [x for x in s.trader.lines("CONFIG_RELOAD") if x.get("version") == v1]
    assert applied["previous"] == v0 and applied["changed"] == "risk.kill_switch_max_drawdown_pct,scoring.w_momentum"

    # an invalid file: the last good version keeps running
    s.strategy.write_text(s.strategy.read_text().replace("stop_loss_pct:", "stop_los_pct:"))
    wait_until("the failure gauge", lambda: metric(scrape(s.port), "aura_config_reload_failing") == 1)
    m = scrape(s.port)
    assert metric(m, "aura_config_reload_errors_total") == 1
    assert metric(m, "aura_config_info", version=v1) == 1
    [rejected] = [x for x in s.trader.lines("CONFIG_RELOAD") if x["status"] == "rejected"]
    assert rejected["file"] == str(s.strategy) and rejected["key"] == "risk.stop_los_pct"
    assert rejected["problem"] == "unknown key" and rejected["kept_version"] == v1
    seen = len(s.trader.lines("RISK_TICK"))
    wait_until("more ticks on v1", lambda: len(ticks := s.trader.lines("RISK_TICK")) >= seen + 2 and all(
        t["threshold_pct"] == "17" for t in ticks[seen:]))
    assert s.trader.alive()
    assert wait_until("v1 still current in the journal", lambda: snapshot(
        s, lambda r: r.current_config_version().version == v1 and r.events(tag="CONFIG_RELOAD")))

    # fixed: applied again, the gauge drops
    s.strategy.write_text(s.strategy.read_text().replace("stop_los_pct:", "stop_loss_pct:").replace(
        "kill_switch_max_drawdown_pct: 17.0", "kill_switch_max_drawdown_pct: 19.0"))
    v2 = config_hash(config, load_strategy(s.strategy))
    wait_until("v2 applied", lambda: metric(m := scrape(s.port), "aura_config_info", version=v2) == 1 and
               metric(m, "aura_config_reload_failing") == 0)


def test_a_cut_short_emptied_or_absurd_strategy_file_never_replaces_the_tuned_one(system):
    """Issue 14: an editor crash, `> strategy.yaml` or a NaN weight is rejected by the RUNNING trader (the tuned
    95 % kill-switch threshold stays, the failing gauge is up, the ticks go on) and a restart on such a file exits 2
    with one line naming the file and the key."""
    s = system
    config = load_config(s.cfg)
    edit_strategy(s.strategy, {"risk.kill_switch_max_drawdown_pct": 95.0})
    tuned = config_hash(config, load_strategy(s.strategy))
    wait_until("the tuned version", lambda: metric(scrape(s.port), "aura_config_info", version=tuned) == 1)
    wait_until("a tick on 95 %", lambda: any(t["threshold_pct"] == "95" for t in s.trader.lines("RISK_TICK")))
    text = s.strategy.read_text()

    def rejected(n: int, key: str, problem: str) -> None:
        wait_until(f"rejection {n}", lambda: metric(scrape(s.port), "aura_config_reload_errors_total") == n)
        m = scrape(s.port)
        assert metric(m, "aura_config_reload_failing") == 1 and metric(m, "aura_config_info", version=tuned) == 1
        line = [x for x in s.trader.lines("CONFIG_RELOAD") if x["status"] == "rejected"][-1]
        assert line["file"] == str(s.strategy) and line["key"] == key and problem in line["problem"]
        assert line["kept_version"] == tuned
        seen = len(s.trader.lines("RISK_TICK"))
        wait_until("two more ticks on 95 %", lambda: len(ticks := s.trader.lines("RISK_TICK")) >= seen + 2 and all(
            t["threshold_pct"] == "95" for t in ticks[seen:]))
        assert s.trader.alive()

    with s.strategy.open("r+") as fh:  # an editor crash: the file cut in place after the voting section
        fh.truncate(len(text[:text.index("regime:")].encode()))
    rejected(1, "regime", "missing; a strategy file states every key of every section")
    with s.strategy.open("w"):  # `> strategy.yaml`
        pass
    rejected(2, "-", "the file is empty")
    s.strategy.write_text(text.replace("w_momentum: 1.0", "w_momentum: .nan"))
    rejected(3, "scoring.w_momentum", "finite number")
    assert wait_until("rejections journaled", lambda: snapshot(s, lambda r: len(r.events(tag="CONFIG_RELOAD")) >= 3))

    # a restart on the NaN file refuses to start: exit 2, one line naming file and key (no crash loop later)
    s.trader.stop()
    again = start_trader(s.cfg, s.tmp / "trader2.log")
    try:
        wait_until("the restart to exit", lambda: not again.alive(), timeout=60)
        assert again.popen.returncode == 2
        out = again.text().strip()
        assert out.splitlines() == [f"aura: configuration error: {s.strategy}: scoring.w_momentum: "
                                    "Input should be a finite number"], out[-3000:]
    finally:
        again.stop()


def test_sync_guard_drawdown_and_reset_while_the_trader_runs(system):
    s = system
    wait_until("two accepted ticks", lambda: sum(t["sync"] == "accepted" for t in s.trader.lines("RISK_TICK")) >= 2)

    # 1. the simulator answers four account reads with no balances: transient, never a trip
    s.sim.post("/admin/faults", {"faults": [{"kind": "empty_balances", "endpoint": "/api/v3/account", "count": 4}]})
    wait_until("the fault to be used up", lambda: json.loads(http_get(s.sim.url + "/admin/faults")[1])[
        "faults"][0]["fired"] == 4, timeout=60)
    n = len(s.trader.lines("RISK_TICK"))
    wait_until("an accepted tick after the fault", lambda: any(
        t["sync"] == "accepted" for t in s.trader.lines("RISK_TICK")[n:]))
    guard = s.trader.lines("SYNC_GUARD")
    assert len(guard) == 4 and {g["seen_equity"] for g in guard} == {"0"}
    assert {g["action"] for g in guard} <= {"retry", "keep_last_good"}
    reason = guard[0]["reason"]
    assert reason in ("empty_balances", "equity_jump")
    m = scrape(s.port)
    assert metric(m, "aura_sync_guard_trips_total", reason=reason) == 4
    assert metric(m, "aura_kill_switch_active") == 0 and metric(m, "aura_drawdown_ratio") < 0.05
    assert all(t["kill_switch"] == "armed" for t in s.trader.lines("RISK_TICK"))
    assert snapshot(s, lambda r: r.kill_switch_history()) == []

    # 2. a real loss: half of every balance disappears. K=3 consistent syncs, spread over at least
    # sync_guard_confirm_min_seconds of host time, accept it; the switch trips.
    balances = json.loads(http_get(s.sim.url + "/admin/balances")[1])["balances"]
    s.sim.post("/admin/balances", {a: str(float(b["free"]) / 2) for a, b in balances.items()})
    wait_until("the kill switch", lambda: metric(scrape(s.port), "aura_kill_switch_active") == 1, timeout=60)
    accepts = [g for g in s.trader.lines("SYNC_GUARD") if g["action"] == "accept"]
    assert len(accepts) == 1 and accepts[0]["reason"] == "equity_jump" and int(accepts[0]["consecutive"]) >= 3
    assert s.trader.lines("KILL_SWITCH")[0]["action"] == "trip"
    hist = wait_until("the trip journaled", lambda: snapshot(s, lambda r: r.kill_switch_history()))
    assert [c.action for c in hist] == ["trip"]

    # 3. `aura risk reset` while the trader holds the journal: a request, applied at the next tick
    proc = subprocess.run([AURA, "--config", str(s.cfg), "risk", "reset", "--reason", "loss understood",
                           "--wait", "60"], cwd=REPO, capture_output=True, text=True, timeout=90)
    assert proc.returncode == 0, proc.stderr
    assert "requested" in proc.stdout and "the trader applied the request: reset" in proc.stdout
    wait_until("re-armed", lambda: metric(scrape(s.port), "aura_kill_switch_active") == 0)
    hist = wait_until("the reset journaled", lambda: (h := snapshot(s, lambda r: r.kill_switch_history()))
                      and len(h) == 2 and h)
    assert [c.action for c in hist] == ["trip", "reset"] and hist[1].reason == "loss understood"
    assert hist[1].actor.startswith("aura risk reset (")
    assert s.trader.lines("RISK_RESET")[0]["result"] == "reset"
    assert list((s.tmp / "journal" / "control" / "done").glob("risk-reset-*.json"))


def test_a_replayed_price_crash_trips_the_switch_in_a_running_trader(tmp_path):
    """Every symbol gaps down 50 % at day 390's open. The trader holds a coin outside its universe (so no rebalance
    touches it); the simulator's clock jumps past the crash. The sync guard defers the change for two syncs
    (rebalances deferred), accepts it on the third, the kill switch trips and the day's rebalance is blocked."""
    market = write_market_cache(tmp_path / "data", crash_day=390)
    held = market.symbols[-1]
    price = float(market.panel.close[380, -1])
    qty = round(9_000 / price, 4)
    sim = start_sim(tmp_path, market.data_dir, market.start_ms, speed="1", log_level=None,
                    balances=f"USDT=1000,{held[:-4]}={qty}")
    port = free_port()
    cfg = write_running_config(tmp_path, sim.url, market, port, universe=list(market.symbols[:-1]),
                              strategy_changes={"risk.sync_guard_confirm_reads": 3,
                                                # exactly K syncs here (the spread is shown in the test above)
                                                "risk.sync_guard_confirm_min_seconds": 0.0,
                                                "risk.kill_switch_max_drawdown_pct": 20.0})
    trader = start_trader(cfg, tmp_path / "trader.log")
    try:
        wait_until("two accepted ticks", lambda: sum(t["sync"] == "accepted" for t in trader.lines("RISK_TICK")) >= 2
                   or (not trader.alive() and trader.text()), timeout=90)
        assert trader.alive(), trader.text()[-3000:]
        before = float(trader.lines("RISK_TICK")[-1]["equity"])
        assert metric(scrape(port), "aura_kill_switch_active") == 0

        sim.post("/admin/clock", {"set_ms": market.start_ms + 10 * 86_400_000 + 3_600_000})  # day 390, 01:20
        wait_until("the kill switch", lambda: metric(scrape(port), "aura_kill_switch_active") == 1, timeout=90)
        guard = trader.lines("SYNC_GUARD")
        assert {g["reason"] for g in guard} == {"equity_jump"}
        assert [g["consecutive"] for g in guard if g["action"] == "keep_last_good"] == ["1", "2"]
        [accept] = [g for g in guard if g["action"] == "accept"]
        assert accept["consecutive"] == "3" and float(accept["seen_equity"]) < 0.7 * before
        ticks = trader.lines("RISK_TICK")
        tripped = [t for t in ticks if t["kill_switch"] == "tripped"]
        assert float(tripped[0]["drawdown_pct"]) >= 30
        # before the third sync, no tick saw the crash: zero phantom moves of equity or drawdown
        first = ticks.index(tripped[0])
        assert all(float(t["drawdown_pct"]) < 5 for t in ticks[:first])
        assert trader.lines("REBALANCE_DEFERRED")
        # tripped: the day's rebalance runs sells only (core/rebalance.py) - it finishes, and buys nothing
        [blocked] = wait_until("the sells-only rebalance", lambda: trader.lines("REBALANCE_BLOCKED"), timeout=60)
        key = blocked["cycle"]
        wait_until("the cycle done", lambda: (c := snapshot(SimpleNamespace(snapshots=tmp_path / "snapshots"),
                                                             lambda r: r.cycle(key))) and c.status.is_finished,
                   timeout=90)
        orders = snapshot(SimpleNamespace(snapshots=tmp_path / "snapshots"), lambda r: r.orders_of_cycle(key))
        assert orders is not None and all(o.side.value == "SELL" for o in orders), orders
        hist = wait_until("the trip journaled", lambda: snapshot(
            SimpleNamespace(snapshots=tmp_path / "snapshots"), lambda r: r.kill_switch_history()))
        assert [c.action for c in hist] == ["trip"] and "threshold" in hist[0].reason
    finally:
        trader.stop()
        sim.stop()

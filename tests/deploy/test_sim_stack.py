"""End to end: the compose stack trades against the exchange simulator on an accelerated clock, survives a crash
of the trader, and is torn down with its state. One stack start for every assertion:

- simulator, ingestor, trader (sim overlay) and Prometheus (the pinned image, or scripts/docker-setup's Debian
  stand-in) healthy; the ingestor's first pass done; the trader booted (`[BOOT] reconcile=ok` in `docker logs`);
- at least two rebalance cycles finished with filled orders, seen in the trader's metrics
  (`aura_orders_total{outcome="filled"}`, `aura_last_rebalance_timestamp_seconds`), `aura status --json` inside
  the trader, and the journal's cycles; Prometheus scrapes the trader;
- `docker compose run --rm optimizer` with a tiny search writes its report;
- a crash of the trader (SIGKILL of the container's init, which the engine counts as a failure; `docker kill`
  would be a manual stop on this engine and `unless-stopped` would leave it down) is undone by its restart
  policy; it boots and reconciles again, trades on, and no client order id has more than one exchange order
  (the simulator's admin API against the journal);
- `down -v` and the bind-mounted volumes/ folders removed.
Grafana is not started: its image cannot be pulled or built here (its configuration is checked in test_compose).

The market: the simulator REPLAYS a seeded synthetic Parquet cache that the test writes to volumes/data, so the
market is deterministic and every symbol is listed from the first day. The cache runs to today's close, so the ingestor's pass (real, on the wall clock) finds it fresh. The
trader's strategy file is a test copy that stays invested in every regime (exposure 1.0) with a permissive
cost-benefit gate, so orders do not depend on the synthetic market's trend; nothing in config/ changes. Clock: 2880x (a simulated day in 30 s).
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml

from .conftest import (
    wait_until,
    REPO_ROOT,
    BuiltImage,
    ComposeProject,
    compose_project,
    container_ip,
    docker_run,
    get_json,
    prometheus_image,
    run,
    unavailable,
    wipe_state,
)

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.xdist_group("docker")]

DAY_MS = 86_400_000
SPEED = 2880                    # simulated seconds per wall second: one day in 30 s
REPLAY_DAYS_BEFORE_END = 30     # the simulator starts this far before the cache's last candle
UP_TIMEOUT_S = 240
ADMIN_TOKEN = "deploytest-admin-token"  # AURA_SIM_ADMIN_TOKEN of the stack: the admin API off loopback needs it
BOOT_OK = re.compile(r"\[BOOT\] .*reconcile=ok")
INGEST_OK = re.compile(r"\[INGEST\] status=ok")
CYCLE_WITH_FILLS = re.compile(r"\[CYCLE_DONE\] cycle=(\S+) orders=\S*FILLED:\d+")


@pytest.fixture(scope="module")
def stack_image(aura_image: BuiltImage) -> BuiltImage:
    for command in ("exchange-sim", "ingest", "trade", "optimize"):
        proc = docker_run(aura_image.tag, command, "--help")
        if proc.returncode != 0:
            pytest.skip(f"`aura {command}` is not built in this checkout: {proc.stderr.strip()}")
    return aura_image


def seed_cache(data_dir: Path, n_symbols: int = 20, n_days: int = 500) -> int:
    """A seeded synthetic 1d cache ending with the candle that closed at today's 00:00 UTC; returns that candle's
    open time. Every symbol listed from the first day, quote volumes included."""
    from aura_common.adapters import parquet_store
    from aura_common.core.synthetic import synthetic_panel

    today = int(time.time() * 1000) // DAY_MS * DAY_MS
    panel = synthetic_panel(n_symbols, n_days, seed=7, start_ms=today - n_days * DAY_MS,
                            late_listing_fraction=0.0)
    parquet_store.write_panel(data_dir, "1d", panel, "synthetic")
    return int(panel.times[-1])


def test_strategy(path: Path) -> Path:
    """config/strategy.yaml, always invested and with a cost-benefit gate that lets any positive expected benefit
    through: the plumbing under test must not depend on the synthetic market's trend or on a handful of picks
    clearing the production margin (the gate itself is tested in tests/trader*)."""
    strategy = yaml.safe_load((REPO_ROOT / "config" / "strategy.yaml").read_text())
    strategy["regime"].update(exposure_bear=1.0, exposure_sideways=1.0)
    strategy["risk"].update(cost_benefit_margin_bps=0.0, cost_benefit_bps_per_score=10000.0)
    path.write_text(yaml.safe_dump(strategy, sort_keys=False))
    return path


test_strategy.__test__ = False  # a helper, not a test


def logs(container: str) -> str:
    proc = run(["docker", "logs", container], check=False)
    return proc.stdout + proc.stderr


def inspect(container: str, fmt: str) -> str:
    return run(["docker", "inspect", "-f", fmt, container]).stdout.strip()


def metrics(trader: str) -> dict[str, float]:
    import urllib.request
    with urllib.request.urlopen(f"http://{container_ip(trader)}:9101/metrics", timeout=5) as resp:  # noqa: S310
        text = resp.read().decode()
    return {m.group(1): float(m.group(2)) for m in re.finditer(r"^(aura_\S+) (\S+)$", text, re.M)}


def journal_query(trader: str, sql: str) -> list[list]:
    """A read-only query of the trader's journal, inside its container (the journal is mounted there only)."""
    code = ("import json,sqlite3,sys; c=sqlite3.connect('file:volumes/journal/aura.sqlite?mode=ro', uri=True); "
            "print(json.dumps([list(r) for r in c.execute(sys.argv[1])]))")
    return json.loads(run(["docker", "exec", trader, "python3", "-c", code, sql]).stdout)


def test_sim_stack_trades_recovers_from_a_crash_and_tears_down(stack_image: BuiltImage, compose_cli: str,
                                                               tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("simulating a crash needs SIGKILL on the container's process (root)")
    prometheus = prometheus_image()
    if prometheus is None:
        unavailable("no Prometheus image (prom/prometheus:v2.53.2 or aura-prometheus:standin); "
                    "run ./scripts/docker-setup")
    t0 = time.monotonic()
    timings: dict[str, float] = {}
    wipe_state(stack_image)
    last_open = seed_cache(stack_image.context / "volumes" / "data")
    start_ms = last_open - REPLAY_DAYS_BEFORE_END * DAY_MS
    project: ComposeProject = compose_project(stack_image, tmp_path, extra_env={
        "AURA_SIM_SPEED": str(SPEED), "AURA_PROMETHEUS_IMAGE": str(prometheus),
        # replay the seeded cache, with the simulator's default weight limits: the trader's polling is bounded in
        # wall time (a tick and a clock read at most once a second), whatever the clock's speed
        "AURA_SIM_ARGS": f"--data-dir /app/volumes/data --start {start_ms}",
        "AURA_SIM_ADMIN_TOKEN": ADMIN_TOKEN})  # the simulator's admin API beyond loopback needs it
    trader = f"{project.name}-trader"  # not the fixed `trader`: a stack running on this machine keeps its name
    strategy = test_strategy(tmp_path / "strategy.e2e.yaml")
    overlay = tmp_path / "compose.test.yaml"
    overlay.write_text(yaml.safe_dump({"services": {
        "ingestor": {"environment": {"AURA_DATA__INTERVALS": "[1d]"}},   # the replay serves 1d candles
        "trader": {
            "container_name": trader,
            "environment": {
                "AURA_PATHS__STRATEGY_FILE": "/app/e2e/strategy.yaml",
                "AURA_SCHEDULES__TICK_SECONDS": str(SPEED),                  # a tick per wall second
                "AURA_SCHEDULES__SNAPSHOT_INTERVAL_SECONDS": "5",                # wall seconds
            },
            "volumes": [f"{strategy}:/app/e2e/strategy.yaml:ro"],
        }}}))
    project = ComposeProject(project.name, project.workdir, ("compose.yaml", "compose.sim.yaml", str(overlay)),
                             project.env_file, project.env)
    try:
        t = time.monotonic()
        project("up", "-d", "--no-build", "--pull", "never", "--wait", "--wait-timeout", str(UP_TIMEOUT_S),
                "exchange-sim", "ingestor", "trader", "prometheus", timeout=UP_TIMEOUT_S + 60)
        timings["stack up (healthy)"] = time.monotonic() - t
        ingestor = project("ps", "-q", "ingestor").stdout.strip()
        sim_api = f"http://{container_ip(project('ps', '-q', 'exchange-sim').stdout.strip())}:8700"
        wait_until("the ingestor's first pass", lambda: INGEST_OK.search(logs(ingestor)), 120,
                   lambda: logs(ingestor))
        wait_until("[BOOT] reconcile=ok", lambda: BOOT_OK.search(logs(trader)), 60, lambda: logs(trader))
        # `docker logs trader | grep BOOT` as operators type it: the pipe sees the container's stdout only.
        assert BOOT_OK.search(run(["docker", "logs", trader]).stdout)
        assert "mode=testnet" in logs(trader)  # the overlay's broker, not paper and never live

        # --- two rebalance cycles with filled orders (a simulated day per 30 s) ---------------------------------
        wait_until("two rebalance cycles with filled orders",
                   lambda: len(set(CYCLE_WITH_FILLS.findall(logs(trader)))) >= 2, 180, lambda: logs(trader))
        timings["up to two cycles with fills"] = time.monotonic() - t
        m = metrics(trader)
        assert m['aura_orders_total{outcome="filled"}'] > 0, m
        assert m["aura_last_rebalance_timestamp_seconds"] > 0 and m["aura_cycle_duration_seconds_count"] >= 2, m
        assert m['aura_orders_total{outcome="rejected"}'] == 0 and m['aura_orders_total{outcome="unknown"}'] == 0
        done = journal_query(trader, "SELECT cycle_key FROM cycles WHERE status = 'DONE' ORDER BY cycle_key")
        assert len(done) >= 2, done
        status = json.loads(run(["docker", "exec", trader, "aura", "status", "--json"]).stdout)
        assert status["mode"] == "testnet" and status["kill_switch"]["state"] == "armed"
        assert status["last_cycle"]["status"] == "DONE" and status["positions"]["items"], status

        prom = f"http://{container_ip(project('ps', '-q', 'prometheus').stdout.strip())}:9090/api/v1"

        def trader_scraped() -> bool:
            result = get_json(f"{prom}/query?query=up%7Bjob%3D%22trader%22%7D")["data"]["result"]
            return bool(result) and result[0]["value"][1] == "1"
        wait_until("Prometheus scraping the trader", trader_scraped, 90)

        # --- the optimizer, on demand, on the same cache -----------------------------------------------------
        t = time.monotonic()
        project("run", "--rm", "optimizer", "--trials", "2", "--folds", "1", "--workers", "1", "--train-days", "120",
                "--test-days", "30", "--step-days", "30", timeout=420)   # the cache holds 500 days
        timings["optimizer run"] = time.monotonic() - t
        reports = list((project.workdir / "volumes" / "optimizer").glob("*/report.html"))
        assert len(reports) == 1, reports

        # --- a crash, the restart policy, boot reconciliation, no duplicates ----------------------------------
        cycles_before = set(CYCLE_WITH_FILLS.findall(logs(trader)))
        os.kill(int(inspect(trader, "{{.State.Pid}}")), signal.SIGKILL)
        t = time.monotonic()
        wait_until("restart after a crash",
                   lambda: int(inspect(trader, "{{.RestartCount}}")) >= 1
                   and len(BOOT_OK.findall(logs(trader))) >= 2
                   and inspect(trader, "{{.State.Health.Status}}") == "healthy",
                   120, lambda: logs(trader))
        timings["crash to healthy"] = time.monotonic() - t
        wait_until("a cycle with fills after the restart",
                   lambda: set(CYCLE_WITH_FILLS.findall(logs(trader))) - cycles_before, 120, lambda: logs(trader))

        # each client order id at most one exchange order, and the venue knows nothing the journal does not
        admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        ledger = get_json(f"{sim_api}/admin/ledger", headers=admin)["entries"]
        venue_orders = get_json(f"{sim_api}/admin/orders", headers=admin)["orders"]
        per_client_id = Counter(o["clientOrderId"] for o in venue_orders)
        assert venue_orders and max(per_client_id.values()) == 1, per_client_id.most_common(3)
        placed = Counter(e["client_order_id"] for e in ledger if e["kind"] == "order")
        assert max(placed.values()) == 1, placed.most_common(3)
        journal = {c: (e, st) for c, e, st in journal_query(
            trader, "SELECT client_order_id, exchange_order_id, status FROM orders")}
        assert set(per_client_id) <= set(journal), set(per_client_id) - set(journal)
        for o in venue_orders:
            eid = journal[o["clientOrderId"]][0]
            assert eid is None or str(eid) == str(o["orderId"]), (o["clientOrderId"], eid, o["orderId"])
        # and the fills of every finished order are journaled exactly once
        done = {c for c, (_, st) in journal.items() if st == "FILLED"}
        venue_fills = Counter(e["client_order_id"] for e in ledger if e["kind"] == "fill")
        journal_fills = Counter(c for (c,) in journal_query(trader, "SELECT client_order_id FROM fills"))
        assert done and {c: journal_fills[c] for c in done} == {c: venue_fills[c] for c in done}
    finally:
        t = time.monotonic()
        project.down()
        wipe_state(stack_image)
        timings["teardown"] = time.monotonic() - t
        timings["total"] = time.monotonic() - t0
        print("\nsim stack timings (s):", {k: round(v, 1) for k, v in timings.items()},
              "load average:", os.getloadavg())

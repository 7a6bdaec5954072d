"""End to end: a real kill-switch trip in the simulator stack reaches a person's webhook through Prometheus and
Alertmanager, and the Telegram bot token configured beside it shows in no environment and no log.

One stack start (compose.yaml + compose.sim.yaml + a test overlay): simulator replaying a seeded synthetic cache,
ingestor, trader, Prometheus, alertmanager-init and Alertmanager (the pinned images, or scripts/docker-setup's Debian
stand-ins). The trader runs a test copy of the strategy that stays invested with a kill switch at 0.01 % drawdown, so
the first fills' fees and the market's first dip trip it for real (`aura_kill_switch_active` 1). Alertmanager is
configured the way a user does it, from the environment and a secret file: a webhook to a tiny HTTP server in this
test (reached from the containers as host.docker.internal) and Telegram with a canary bot token (no internet here:
those sends fail, and their errors must not print the token). For the test only, Prometheus scrapes and evaluates
every second (a copy of prometheus.yml mounted over the shipped one) and Alertmanager's group_wait is 1 s
(AURA_ALERT_GROUP_WAIT); the shipped defaults stay 15 s and 30 s. Measured: Prometheus's firing time (the alert's
startsAt) to the webhook's arrival.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import threading
import time
import urllib.request
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from .conftest import (
    wait_until,
    REPO_ROOT,
    BuiltImage,
    ComposeProject,
    _image_exists,
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
SPEED = 2880                  # a simulated day per 30 wall seconds
UP_TIMEOUT_S = 300
ALERT_TIMEOUT_S = 300         # stack healthy -> kill switch tripped -> webhook (bounded; typically ~1-2 min)
ALERTMANAGER_IMAGES = ("prom/alertmanager:v0.27.0", "aura-alertmanager:standin")


def alertmanager_image() -> str | None:
    for ref in (os.environ.get("AURA_ALERTMANAGER_IMAGE"), *ALERTMANAGER_IMAGES):
        if ref and _image_exists(ref):
            return ref
    return None


class Webhook:
    """A local HTTP receiver: every POST body (JSON) with the wall time it arrived."""

    def __init__(self) -> None:
        self.received: list[tuple[float, dict]] = []
        self.lock = threading.Lock()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                at = time.time()
                with hook.lock:
                    hook.received.append((at, json.loads(body)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("0.0.0.0", 0), Handler)  # noqa: S104 - the containers must reach it
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def firing(self, alertname: str) -> list[tuple[float, dict]]:
        """(arrival, alert) for every firing ``alertname`` received so far."""
        with self.lock:
            return [(at, a) for at, body in self.received for a in body.get("alerts", [])
                    if a["labels"].get("alertname") == alertname and a["status"] == "firing"]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def rfc3339(value: str) -> float:
    """Alertmanager's RFC 3339 time (nanoseconds, Z) as a unix time."""
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)", value)
    assert m, value
    frac = (m.group(2) or ".0")[:7]
    return datetime.fromisoformat(m.group(1) + frac + ("+00:00" if m.group(3) == "Z" else m.group(3))).timestamp()


def seed_cache(data_dir: Path, n_symbols: int = 20, n_days: int = 500) -> int:
    """A seeded synthetic 1d cache ending with the candle that closed at today's 00:00 UTC; its last open time."""
    from aura_common.adapters import parquet_store
    from aura_common.core.synthetic import synthetic_panel

    today = int(time.time() * 1000) // DAY_MS * DAY_MS
    panel = synthetic_panel(n_symbols, n_days, seed=7, start_ms=today - n_days * DAY_MS, late_listing_fraction=0.0)
    parquet_store.write_panel(data_dir, "1d", panel, "synthetic")
    return int(panel.times[-1])


def logs(container: str) -> str:
    proc = run(["docker", "logs", container], check=False)
    return proc.stdout + proc.stderr


def test_a_kill_switch_trip_reaches_the_webhook(aura_image: BuiltImage, compose_cli: str, tmp_path: Path) -> None:
    prometheus, alertmanager = prometheus_image(), alertmanager_image()
    if prometheus is None or alertmanager is None:
        unavailable("no Prometheus or Alertmanager image (pinned or aura-*:standin); run ./scripts/docker-setup")
    if docker_run(aura_image.tag, "exchange-sim", "--help").returncode != 0:
        pytest.skip("`aura exchange-sim` is not built in this checkout")
    timings: dict[str, float] = {}
    t0 = time.monotonic()
    wipe_state(aura_image)
    start_ms = seed_cache(aura_image.context / "volumes" / "data") - 30 * DAY_MS

    strategy = yaml.safe_load((REPO_ROOT / "config" / "strategy.yaml").read_text())
    strategy["regime"].update(exposure_bull=1.0, exposure_bear=1.0, exposure_sideways=1.0)
    strategy["risk"].update(cost_benefit_margin_bps=0.0, cost_benefit_bps_per_score=10000.0,
                            kill_switch_max_drawdown_pct=0.01)
    strategy_file = tmp_path / "strategy.alert.yaml"
    strategy_file.write_text(yaml.safe_dump(strategy, sort_keys=False))
    prom_cfg = yaml.safe_load((REPO_ROOT / "prometheus" / "prometheus.yml").read_text())
    assert prom_cfg["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["alertmanager:9093"]
    prom_cfg["global"].update(scrape_interval="1s", scrape_timeout="1s", evaluation_interval="1s")  # test only
    prom_file = tmp_path / "prometheus.test.yml"
    prom_file.write_text(yaml.safe_dump(prom_cfg))
    token = f"{secrets.randbelow(10**9)}:AAcanary{secrets.token_hex(12)}"
    token_file = tmp_path / "telegram_bot_token"
    token_file.write_text(token + "\n")
    token_file.chmod(0o400)

    hook = Webhook()
    project = compose_project(aura_image, tmp_path, extra_env={
        "AURA_SIM_SPEED": str(SPEED), "AURA_PROMETHEUS_IMAGE": prometheus, "AURA_ALERTMANAGER_IMAGE": alertmanager,
        "AURA_SIM_ARGS": f"--data-dir /app/volumes/data --start {start_ms} --weight-limit 0",
        "AURA_ALERT_WEBHOOK_URL": f"http://host.docker.internal:{hook.port}/aura",
        "AURA_ALERT_TELEGRAM_CHAT_ID": "-1001234567890",
        "AURA_ALERT_TELEGRAM_BOT_TOKEN_FILE": str(token_file),
        "AURA_ALERT_GROUP_WAIT": "1s"})
    trader = f"{project.name}-trader"
    overlay = tmp_path / "compose.alert-test.yaml"
    overlay.write_text(yaml.safe_dump({"services": {
        "ingestor": {"environment": {"AURA_DATA__INTERVALS": "[1d]"}},
        "trader": {"container_name": trader,
                   "environment": {"AURA_PATHS__STRATEGY_FILE": "/app/e2e/strategy.yaml",
                                   "AURA_SCHEDULES__TICK_SECONDS": str(SPEED)},
                   "volumes": [f"{strategy_file}:/app/e2e/strategy.yaml:ro"]},
        "prometheus": {"volumes": [f"{prom_file}:/etc/prometheus/prometheus.yml:ro"]},
        "alertmanager": {"extra_hosts": ["host.docker.internal:host-gateway"]},
    }}))
    project = ComposeProject(project.name, project.workdir, ("compose.yaml", "compose.sim.yaml", str(overlay)),
                             project.env_file, project.env)
    try:
        t = time.monotonic()
        project("up", "-d", "--no-build", "--pull", "never", "--wait", "--wait-timeout", str(UP_TIMEOUT_S),
                "exchange-sim", "ingestor", "trader", "prometheus", "alertmanager", timeout=UP_TIMEOUT_S + 60)
        timings["stack up (healthy)"] = time.monotonic() - t
        am_id = project("ps", "-q", "alertmanager").stdout.strip()
        prom_id = project("ps", "-q", "prometheus").stdout.strip()
        am = f"http://{container_ip(am_id)}:9093/api/v2"
        prom = f"http://{container_ip(prom_id)}:9090/api/v1"

        # Alertmanager runs the rendered configuration: both receivers, the kill-switch inhibition, secrets masked
        shown = get_json(f"{am}/status")["config"]["original"]
        assert "webhook_configs" in shown and "telegram_configs" in shown and "AuraKillSwitchActive" in shown
        assert token not in shown
        # Prometheus knows its Alertmanager
        wait_until("Prometheus discovering Alertmanager",
                 lambda: get_json(f"{prom}/alertmanagers")["data"]["activeAlertmanagers"], 60)

        # --- the trip, and its way to the webhook -------------------------------------------------------------
        t = time.monotonic()
        wait_until("AuraKillSwitchActive at the webhook", lambda: hook.firing("AuraKillSwitchActive"),
                 ALERT_TIMEOUT_S, lambda: logs(trader)[-3000:] + logs(am_id)[-3000:])
        timings["healthy -> webhook"] = time.monotonic() - t
        arrived, alert = hook.firing("AuraKillSwitchActive")[0]
        fired = rfc3339(alert["startsAt"])
        assert alert["labels"]["severity"] == "critical" and alert["labels"]["system"] == "aura"
        assert alert["labels"]["job"] == "trader"
        timings["alert fired -> received"] = arrived - fired
        assert 0 <= arrived - fired < 60, (alert["startsAt"], arrived)
        # the trip is real: the trader says so itself (aura status reads the journal's snapshot copy, which follows
        # the journal within snapshot_interval_seconds of wall time: wait for it, bounded)
        def tripped_in_status() -> bool:
            status = json.loads(run(["docker", "exec", trader, "aura", "status", "--json"]).stdout)
            return status["kill_switch"]["state"] != "armed"
        wait_until("aura status showing the trip", tripped_in_status, 120, lambda: logs(trader)[-3000:])
        with urllib.request.urlopen(f"http://{container_ip(trader)}:9101/metrics", timeout=5) as resp:  # noqa: S310
            assert re.search(r"^aura_kill_switch_active 1(\.0)?$", resp.read().decode(), re.M)

        # while it fires, no warning of the same system reaches anybody: a warning posted to Alertmanager's API now
        # (as Prometheus would send AuraDataStale) is inhibited, and the webhook never hears of it
        probe = {"labels": {"alertname": "AuraProbeWarning", "severity": "warning", "system": "aura"},
                 "annotations": {"summary": "inhibition probe"}}
        request = urllib.request.Request(f"{am}/alerts", data=json.dumps([probe]).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=5) as resp:  # noqa: S310 - the container's address
            assert resp.status == 200

        def probe_state() -> dict:
            return next((a["status"] for a in get_json(f"{am}/alerts")
                         if a["labels"].get("alertname") == "AuraProbeWarning"), {})
        wait_until("the probe warning inhibited", lambda: probe_state().get("state") == "suppressed", 30)
        assert probe_state()["inhibitedBy"], probe_state()
        time.sleep(5)   # group_wait is 1 s: an uninhibited warning would have been delivered by now
        for a in get_json(f"{am}/alerts"):
            if a["labels"].get("severity") == "warning":
                assert a["status"]["state"] == "suppressed" and a["status"]["inhibitedBy"], a
        delivered_warnings = [a for _, body in hook.received for a in body["alerts"]
                              if a["labels"].get("severity") == "warning"]
        assert not delivered_warnings, delivered_warnings

        # the bot token: not in any container's environment or command, not in any log - also not in Alertmanager's,
        # which reports the failed Telegram sends (no internet here) quoting the API URL
        wait_until("a failed Telegram send in Alertmanager's log", lambda: "integration=telegram" in logs(am_id), 90,
                 lambda: logs(am_id))
        assert "/bot<secret>/" in logs(am_id)
        ids = project("ps", "-aq").stdout.split()
        inspected = run(["docker", "inspect", *ids]).stdout
        assert token not in inspected
        for cid in ids:
            assert token not in logs(cid), f"bot token in the logs of {cid}"
    finally:
        t = time.monotonic()
        hook.close()
        project.down()
        wipe_state(aura_image)
        timings["teardown"] = time.monotonic() - t
        timings["total"] = time.monotonic() - t0
        print("\nalert e2e timings (s):", {k: round(v, 2) for k, v in timings.items()},
              "load average:", os.getloadavg())


def test_alertmanager_logs_never_show_a_secret_it_fails_to_send_with(aura_image: BuiltImage, compose_cli: str,
                                                                     tmp_path: Path) -> None:
    """Alertmanager 0.25 quotes the URL it failed to reach in its log: the Telegram API URL holds the bot token and a
    webhook URL from a file may hold one. The alertmanager service's log filter blanks both (no internet here: both
    sends fail, which is the case under test)."""
    alertmanager = alertmanager_image()
    if alertmanager is None:
        unavailable("no Alertmanager image (pinned or aura-alertmanager:standin); run ./scripts/docker-setup")
    token = f"{secrets.randbelow(10**9)}:AAcanary{secrets.token_hex(12)}"
    hook_url = f"http://alert-receiver.invalid:9/hooks/canary-{secrets.token_hex(8)}"
    files = {"telegram_bot_token": token, "webhook_url": hook_url}
    for name, text in files.items():
        (tmp_path / name).write_text(text + "\n")
    project = compose_project(aura_image, tmp_path, extra_env={
        "AURA_ALERTMANAGER_IMAGE": alertmanager, "AURA_ALERT_GROUP_WAIT": "1s",
        "AURA_ALERT_TELEGRAM_CHAT_ID": "42", "AURA_ALERT_TELEGRAM_BOT_TOKEN_FILE": str(tmp_path / "telegram_bot_token"),
        "AURA_ALERT_WEBHOOK_URL_FILE": str(tmp_path / "webhook_url")})
    try:
        project("up", "-d", "--no-build", "--pull", "never", "--wait", "--wait-timeout", "90", "alertmanager",
                timeout=150)
        am_id = project("ps", "-q", "alertmanager").stdout.strip()
        probe = [{"labels": {"alertname": "AuraLogProbe", "severity": "critical", "system": "aura"}}]
        request = urllib.request.Request(f"http://{container_ip(am_id)}:9093/api/v2/alerts",
                                         data=json.dumps(probe).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=5) as resp:  # noqa: S310 - the container's address
            assert resp.status == 200
        failed = re.compile(r"integration=(webhook|telegram)\[0\].*(Notify attempt failed|Notify for alerts failed)")
        wait_until("both sends failing in the log", lambda: {m.group(1) for m in failed.finditer(logs(am_id))}
                 == {"webhook", "telegram"}, 90, lambda: logs(am_id))
        text = logs(am_id)
        assert token not in text and hook_url not in text and "canary" not in text, text[-3000:]
        assert "<secret>" in text   # the filter did blank them (the lines are still there)
        ids = project("ps", "-aq").stdout.split()
        assert token not in run(["docker", "inspect", *ids]).stdout
    finally:
        project.down()
        wipe_state(aura_image)

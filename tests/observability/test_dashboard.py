"""Grafana provisioning and the AURA dashboard: structure, the fixed datasource uid, and metric names that exist."""

from __future__ import annotations

import json

import yaml

from .contract import (
    DASHBOARD, DATASOURCE_UID, GRAFANA_DIR, INGESTOR, PROMETHEUS_DIR, TRADER, exposed_names,
    ingestor_sample_names, metric_names_in, trader_sample_names,
)


def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def targets():
    return [(p["title"], t) for p in dashboard()["panels"] for t in p.get("targets", [])]


def alert_exprs():
    for f in sorted(PROMETHEUS_DIR.glob("rules/*.yml")):
        for group in yaml.safe_load(f.read_text())["groups"]:
            for rule in group["rules"]:
                yield rule.get("alert") or rule.get("record"), rule["expr"]


def test_datasource_has_the_fixed_uid():
    ds = yaml.safe_load((GRAFANA_DIR / "provisioning" / "datasources" / "prometheus.yml").read_text())
    (prom,) = ds["datasources"]
    assert (prom["uid"], prom["type"], prom["url"]) == (DATASOURCE_UID, "prometheus", "http://prometheus:9090")


def test_provisioning_is_kept_apart_from_dashboard_json():
    provider = yaml.safe_load((GRAFANA_DIR / "provisioning" / "dashboards" / "aura.yml").read_text())
    (p,) = provider["providers"]
    assert p["type"] == "file" and p["options"]["path"] == "/var/lib/grafana/dashboards"
    assert not list((GRAFANA_DIR / "provisioning").rglob("*.json"))
    assert sorted(x.name for x in (GRAFANA_DIR / "dashboards").iterdir()) == ["aura.json"]


def test_dashboard_structure():
    d = dashboard()
    assert d["uid"] == "aura-overview" and d["title"] == "AURA"
    ids = [p["id"] for p in d["panels"]]
    assert len(ids) == len(set(ids))
    for p in d["panels"]:
        assert p["datasource"] == {"type": "prometheus", "uid": DATASOURCE_UID}, p["title"]
        assert p["targets"], f"panel {p['title']!r} has no targets"
        refs = [t["refId"] for t in p["targets"]]
        assert len(refs) == len(set(refs)), p["title"]
        for t in p["targets"]:
            assert t["datasource"]["uid"] == DATASOURCE_UID, p["title"]
            assert t["expr"].strip() and "$" not in t["expr"], p["title"]


def test_panels_do_not_overlap():
    cells = {}
    for p in dashboard()["panels"]:
        g = p["gridPos"]
        assert g["x"] + g["w"] <= 24, p["title"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"{p['title']!r} overlaps {cells[(x, y)]!r}"
                cells[(x, y)] = p["title"]


def test_required_panels_are_there():
    titles = " | ".join(p["title"].lower() for p in dashboard()["panels"])
    for needed in ("drawdown", "kill switch", "equity", "regime", "positions", "cycle latency", "order errors",
                   "data freshness"):
        assert needed in titles, needed
    exprs = " ".join(t["expr"] for _, t in targets())
    for metric in ("aura_drawdown_ratio", "aura_kill_switch_active", "aura_equity_quote", "aura_regime",
                   "aura_positions", "aura_cycle_duration_seconds_bucket", "aura_exchange_errors_total",
                   "aura_data_freshness_age_seconds"):
        assert metric in exprs, metric


def test_every_metric_used_exists():
    known = trader_sample_names() | ingestor_sample_names()
    used = {}
    for title, t in targets():
        for name in metric_names_in(t["expr"]):
            used.setdefault(name, f"panel {title!r}")
    for alert, expr in alert_exprs():
        for name in metric_names_in(expr):
            used.setdefault(name, f"rule {alert}")
    assert used, "no aura_* metric found: the regex is broken"
    unknown = {name: where for name, where in used.items() if name not in known}
    assert not unknown, f"metrics not served by TraderMetrics or the ingestor: {unknown}"


def test_services_serve_the_contract():
    assert exposed_names(TRADER) <= trader_sample_names()
    assert exposed_names(INGESTOR) <= ingestor_sample_names()


def test_the_name_regex_sees_through_promql():
    expr = 'histogram_quantile(0.9, sum by (le) (rate(aura_cycle_duration_seconds_bucket{job="trader"}[5m])))'
    assert metric_names_in(expr) == {"aura_cycle_duration_seconds_bucket"}
    assert metric_names_in("aura_a_total > 0.8 * aura_b_ratio unless up == 0") == {"aura_a_total", "aura_b_ratio"}

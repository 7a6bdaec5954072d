"""docs/metrics-and-alerts.md states the same contract as the code: its metrics table is `contract.py`'s metrics
(name, type, labels) and its alerts table is the alerts of `prometheus/rules/`."""

from __future__ import annotations

import re

import yaml

from .contract import INGESTOR, PROMETHEUS_DIR, REPO, TRADER

DOC = REPO / "docs" / "metrics-and-alerts.md"


def _table(first_header: str) -> list[dict[str, str]]:
    """The rows of the document's table whose first column is ``first_header``."""
    rows: list[dict[str, str]] = []
    header: list[str] | None = None
    for line in DOC.read_text().splitlines():
        if not line.startswith("|"):
            header = None
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]
        if header is None:
            header = [c.lower() for c in cells]
            continue
        if set(line) <= set("|-: ") or header[0] != first_header:
            continue
        rows.append(dict(zip(header, cells)))
    return rows


def test_the_documented_metrics_are_the_contract():
    documented = {}
    for row in _table("metric"):
        name = re.fullmatch(r"`(aura_[a-z0-9_]+)`", row["metric"])
        assert name, row
        kind = re.match(r"(gauge|counter|histogram)\b", row["type / labels"])
        assert kind, row
        labels = " ".join(re.findall(r"`([^`]*)`", row["type / labels"])).split()
        documented[name.group(1)] = (kind.group(1), tuple(labels))
    assert documented == {**TRADER, **INGESTOR}


def test_the_documented_alerts_are_the_rules():
    rules = {rule["alert"] for f in sorted((PROMETHEUS_DIR / "rules").glob("*.yml"))
             for group in yaml.safe_load(f.read_text())["groups"] for rule in group["rules"] if "alert" in rule}
    documented = {re.fullmatch(r"`(\w+)`", row["alert"]).group(1) for row in _table("alert")}
    assert documented == rules

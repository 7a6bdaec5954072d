"""Fault injection: rules targeted by endpoint, symbol and n-th call, with a count and/or a duration.

A rule matches a request when its ``endpoint`` matches (``"POST /api/v3/order"``, ``"/api/v3/order"`` for any
method, or ``"*"``) and, if given, its ``symbol`` equals the request's ``symbol`` parameter. Every matching request
advances the rule's call counter; the rule FIRES on matching calls number ``nth``, ``nth+1``, ... until it has fired
``count`` times (``count: 0`` = no limit) or ``duration_ms`` has passed since the rule was installed. With
``probability`` < 1 each eligible call fires with that probability, drawn from a per-rule RNG seeded by
``seed + rule index``: the same requests in the same order give the same faults.

Kinds (parameters):
  latency              delay_ms                  sleep before handling, then answer normally
  arrival_delay        delay_ms                  the request reaches the matching engine delay_ms after it was
                                                 received (signature and timestamp checked on receipt): it is
                                                 processed then even if the client has given up or died, after
                                                 the timestamp is checked again, as Binance does: past
                                                 timestamp + recvWindow → -1021, nothing booked
  http_error           status (500|502|503|504, or 200 with body "html": a proxy's or portal's page
                                                 served as success), body ("html" | "json" = -1001 | "timeout" = -1007 "execution
                                                 status unknown"), when ("before"|"after"): "after" = the request
                                                 IS processed (an order is booked), then the error
  rate_limit           retry_after_s             429 -1003 + Retry-After; a request before then gets 418 (ban)
  reset                when ("before"|"after")   TCP reset without a response
  drop_after_accept    hold_ms, mode ("hold"|"close")
                                                 process the request (the order is booked and in the ledger), then
                                                 never answer: hold the connection hold_ms (past the client's
                                                 timeout) and close it, or close at once
  timestamp            -                         -1021 "outside of the recvWindow"
  empty_balances       -                         GET /api/v3/account answers with "balances": []
  status_lag           lag_ms                    GET /api/v3/order answers -2013 for orders younger than lag_ms
                                                 (host time); only such answers count as firings
  partial_fill         ratio                     a new order fills only ``ratio`` of its quantity now (MARKET: the
                                                 rest EXPIREs; GTC LIMIT: the rest rests, then fills normally)
  insufficient_balance -                         POST /api/v3/order -> -2010 insufficient balance
  bad_price            factor                    the ANSWER (never the books) carries prices x factor: the fills
                                                 of a POST /api/v3/order, the trades of GET /api/v3/myTrades, the
                                                 last prices of GET /api/v3/ticker/24hr and /ticker/price
"""

from __future__ import annotations

import builtins  # the class below has a method named list

import random
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

KINDS = ("latency", "arrival_delay", "http_error", "rate_limit", "reset", "drop_after_accept", "timestamp",
         "empty_balances", "status_lag", "partial_fill", "insufficient_balance", "bad_price")
PRE = ("latency", "http_error", "rate_limit", "reset", "timestamp")
_PARAMS = {"delay_ms", "status", "body", "when", "retry_after_s", "hold_ms", "mode", "lag_ms", "ratio", "factor"}
_FIELDS = {"kind", "endpoint", "symbol", "nth", "count", "duration_ms", "probability"} | _PARAMS


class FaultSpecError(ValueError):
    pass


@dataclass
class FaultRule:
    kind: str
    endpoint: str = "*"
    symbol: str | None = None
    nth: int = 1
    count: int = 1
    duration_ms: int | None = None
    probability: float = 1.0
    delay_ms: int = 0
    status: int = 503
    body: str = "html"
    when: str = "before"
    retry_after_s: int = 10
    hold_ms: int = 15_000
    mode: str = "hold"
    lag_ms: int = 1000
    ratio: float = 0.5
    factor: float = 1_000_000.0
    # runtime state
    id: int = 0
    calls: int = 0
    fired: int = 0
    installed_wall_ms: int = 0
    _rng: random.Random = field(default=None, repr=False, compare=False)  # type: ignore[assignment]

    def public(self) -> dict:
        d = asdict(self)
        d.pop("_rng", None)
        return d

    def matches(self, method: str, path: str, symbol: str | None) -> bool:
        ep = self.endpoint
        if ep not in ("*", ""):
            if " " in ep:
                m, p = ep.split(" ", 1)
                if m.upper() != method or p != path:
                    return False
            elif ep != path:
                return False
        return self.symbol is None or self.symbol == symbol

    @property
    def stage(self) -> str:
        """pre: before handling; arrival: between receipt (checks done) and processing; handler: inside a route;
        post: after the request was processed."""
        if self.kind == "arrival_delay":
            return "arrival"
        if self.kind == "drop_after_accept" or (self.kind in ("http_error", "reset") and self.when == "after"):
            return "post"
        return "pre" if self.kind in PRE else "handler"

    def live(self, wall: int) -> bool:
        if self.count and self.fired >= self.count:
            return False
        return self.duration_ms is None or wall - self.installed_wall_ms < self.duration_ms


def parse_rule(raw: dict, where: str) -> FaultRule:
    if not isinstance(raw, dict):
        raise FaultSpecError(f"{where}: a fault must be a mapping, got {type(raw).__name__}")
    unknown = set(raw) - _FIELDS
    if unknown:
        raise FaultSpecError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    kind = raw.get("kind")
    if kind == "timeout_after_accept":
        kind = "drop_after_accept"
    if kind not in KINDS:
        raise FaultSpecError(f"{where}.kind: {kind!r} is not one of {', '.join(KINDS)}")
    try:
        rule = FaultRule(**{**raw, "kind": kind})
        for name in ("nth", "count", "delay_ms", "status", "retry_after_s", "hold_ms", "lag_ms"):
            setattr(rule, name, int(getattr(rule, name)))
        rule.probability, rule.ratio, rule.factor = float(rule.probability), float(rule.ratio), float(rule.factor)
        if rule.duration_ms is not None:
            rule.duration_ms = int(rule.duration_ms)
    except (TypeError, ValueError) as exc:
        raise FaultSpecError(f"{where}: {exc}") from None
    if rule.nth < 1 or rule.count < 0 or not 0 < rule.probability <= 1:
        raise FaultSpecError(f"{where}: need nth >= 1, count >= 0 and 0 < probability <= 1")
    if kind == "http_error" and rule.status not in (500, 502, 503, 504) and not (
            rule.status == 200 and rule.body == "html"):
        raise FaultSpecError(f"{where}.status: {rule.status} is not one of 500, 502, 503, 504 (or 200 with body html)")
    if rule.when not in ("before", "after") or rule.mode not in ("hold", "close") \
            or rule.body not in ("html", "json", "timeout"):
        raise FaultSpecError(f"{where}: when must be before|after, mode hold|close, body html|json|timeout")
    if kind == "bad_price" and not (rule.factor > 0 and rule.factor != 1 and rule.factor < 1e12):
        raise FaultSpecError(f"{where}.factor: must be > 0, not 1, below 1e12, got {rule.factor}")
    if kind == "partial_fill" and not 0 < rule.ratio < 1:
        raise FaultSpecError(f"{where}.ratio: must be strictly between 0 and 1, got {rule.ratio}")
    return rule


def load_faults_file(path: str | Path) -> tuple[int | None, list[dict]]:
    """``{seed: int?, faults: [rule, ...]}`` from YAML; errors name the file and the rule."""
    p = Path(path)
    try:
        doc = yaml.safe_load(p.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise FaultSpecError(f"{p}: cannot read faults file: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("faults", []), list):
        raise FaultSpecError(f"{p}: expected a mapping with a 'faults' list")
    extra = set(doc) - {"seed", "faults"}
    if extra:
        raise FaultSpecError(f"{p}: unknown key(s) {', '.join(sorted(extra))}")
    rules = doc.get("faults") or []
    for i, r in enumerate(rules):
        parse_rule(r, f"{p}: faults[{i}]")
    return doc.get("seed"), rules


class FaultBook:
    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self._rules: list[FaultRule] = []
        self._next_id = 1
        self._lock = threading.Lock()

    def add(self, raws: list[dict], wall: int, where: str = "faults") -> list[FaultRule]:
        parsed = [parse_rule(r, f"{where}[{i}]") for i, r in enumerate(raws)]
        with self._lock:
            for rule in parsed:
                rule.id, rule.installed_wall_ms = self._next_id, wall
                rule._rng = random.Random(self.seed * 1_000_003 + rule.id)
                self._next_id += 1
                self._rules.append(rule)
        return parsed

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def list(self) -> list[dict]:
        with self._lock:
            return [r.public() for r in self._rules]

    def take(self, stage: str, method: str, path: str, symbol: str | None, wall: int,
             kinds: tuple[str, ...] | None = None, consume: bool = True) -> builtins.list[FaultRule]:
        """Rules of this stage (and kinds) that fire for this request; counters advance for every matching rule."""
        if not self._rules:
            return []
        out = []
        with self._lock:
            for rule in self._rules:
                if rule.stage != stage or (kinds is not None and rule.kind not in kinds):
                    continue
                if not rule.matches(method, path, symbol) or not rule.live(wall):
                    continue
                rule.calls += 1
                if rule.calls < rule.nth:
                    continue
                if rule.probability < 1 and rule._rng.random() >= rule.probability:
                    continue
                if consume:
                    rule.fired += 1
                out.append(rule)
        return out

    def consume(self, rule: FaultRule) -> None:
        with self._lock:
            rule.fired += 1

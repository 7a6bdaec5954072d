"""The admin API (JSON). Documented in docs/exchange-simulator.md.

Access (``authorize``): with an admin token (``--admin-token`` / ``$AURA_SIM_ADMIN_TOKEN``) every ``/admin/*``
request must carry ``Authorization: Bearer <token>`` (else 401); without one the admin API answers only when the
simulator listens on loopback (bound elsewhere it answers 403). ``/health`` is always open.

  GET  /health                          {"status": "ok", ...}
  GET  /admin/clock                     {"now_ms", "speed", "mode", "wall_ms"}
  POST /admin/clock                     {"step_ms": N} | {"set_ms": T} | {"speed": X}  (any combination, in that
                                        order: speed, set, step); resting orders are matched up to the new time
  GET  /admin/faults                    installed rules with their counters
  POST /admin/faults                    {"faults": [rule, ...]} (or a bare list) -> adds rules
  DELETE /admin/faults                  removes every rule (also POST /admin/faults/clear)
  GET  /admin/ledger?since=S&limit=L    {"entries": [...], "next": seq} (entries with seq > S; optional filters
                                        kind=, client_order_id=, order_id=, symbol= apply after since/limit)
  GET  /admin/balances                  {"balances": {"USDT": {"free", "locked"}}}
  POST /admin/balances                  {"USDT": "1000", ...} sets FREE balances (ledger reason "admin")
  GET  /admin/orders?symbol=&status=    every order (query shape + "fills")
  POST /admin/reset                     {"balances": {...}?} wipes orders, trades, ledger, faults and rate-limit
                                        state; balances back to the given or the initial ones
"""

from __future__ import annotations

import hmac
import json
import logging
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from aura_common.adapters.logs import event
from aura_exchange_sim.faults import FaultSpecError

if TYPE_CHECKING:  # pragma: no cover
    from aura_exchange_sim.app import Simulator


log = logging.getLogger("aura_exchange_sim.admin")


class AdminError(ValueError):
    pass


def authorize(sim: "Simulator", authorization: str | None) -> tuple[int, dict] | None:
    """None when an ``/admin/*`` request may proceed, else the (status, body) to answer instead."""
    token = getattr(sim, "admin_token", None)
    if token:
        given = (authorization or "").removeprefix("Bearer ").strip()
        if hmac.compare_digest(given.encode(), token.encode()):
            return None
        return 401, {"error": "admin API: missing or wrong token (send Authorization: Bearer <token>)"}
    if getattr(sim, "admin_local", True):
        return None
    return 403, {"error": "admin API disabled: the simulator listens beyond loopback without an admin token "
                          "(--admin-token or $AURA_SIM_ADMIN_TOKEN)"}


def _decimals(obj, where: str) -> dict[str, Decimal]:
    if not isinstance(obj, dict):
        raise AdminError(f"{where}: expected a mapping of asset -> amount")
    out = {}
    for k, v in obj.items():
        try:
            out[str(k)] = Decimal(str(v))
        except InvalidOperation:
            raise AdminError(f"{where}.{k}: not a number: {v!r}") from None
        if not out[str(k)].is_finite() or out[str(k)] < 0:
            raise AdminError(f"{where}.{k}: must be a finite number >= 0, got {v!r}")
    return out


def handle(sim: Simulator, method: str, path: str, query: str, body: str) -> tuple[int, object]:
    try:
        data = json.loads(body) if body.strip() else {}
    except ValueError as exc:
        return 400, {"error": f"{path}: body is not JSON: {exc}"}
    q = dict(parse_qsl(query))
    try:
        out = _route(sim, method, path, q, data)
        sim.persist()  # admin reads sync resting orders too; save any fills before answering
        return 200, out
    except (AdminError, FaultSpecError, ValueError) as exc:
        return 400, {"error": f"{method} {path}: {exc}"}
    except KeyError:
        return 404, {"error": f"no admin endpoint {method} {path}"}


def _route(sim: Simulator, method: str, path: str, q: dict, data) -> object:
    wall = sim.clock.wall_ms()
    if path == "/health":
        return {"status": "ok", "now_ms": sim.clock.now_ms(), "mode": sim.clock.mode,
                "symbols": len(sim.market.specs), "orders": len(sim.engine.orders)}
    if path == "/admin/clock":
        if method == "POST":
            if not isinstance(data, dict) or not set(data) <= {"step_ms", "set_ms", "speed"} or not data:
                raise AdminError("expected {step_ms | set_ms | speed}")
            if "speed" in data:
                sim.clock.set_speed(float(data["speed"]))
            if "set_ms" in data:
                sim.clock.set(int(data["set_ms"]))
            if "step_ms" in data:
                sim.clock.step(int(data["step_ms"]))
            sim.engine.sync(sim.clock.now_ms())
            sim.persist(force=True)
            event(log, "SIM_CLOCK", **sim.clock.snapshot())
        elif method != "GET":
            raise KeyError(path)
        return sim.clock.snapshot()
    if path == "/admin/faults":
        if method == "GET":
            return {"faults": sim.faults.list()}
        if method == "DELETE":
            sim.faults.clear()
            event(log, "SIM_FAULTS", action="clear")
            return {"faults": []}
        if method == "POST":
            rules = data.get("faults") if isinstance(data, dict) else data
            if not isinstance(rules, list):
                raise AdminError("expected {\"faults\": [rule, ...]}")
            added = sim.faults.add(rules, wall, "POST /admin/faults: faults")
            event(log, "SIM_FAULTS", action="add", kinds=[r.kind for r in added], ids=[r.id for r in added])
            return {"faults": sim.faults.list()}
    if path == "/admin/faults/clear" and method == "POST":
        sim.faults.clear()
        event(log, "SIM_FAULTS", action="clear")
        return {"faults": []}
    if path == "/admin/ledger" and method == "GET":
        since = int(q.get("since", 0))
        limit = int(q["limit"]) if "limit" in q else None
        with sim.engine.lock:
            sim.engine.sync(sim.clock.now_ms())
            entries = sim.engine.book.since(since, limit)
            nxt = entries[-1]["seq"] if entries else since
            filters = {k: q[k] for k in ("kind", "client_order_id", "symbol") if q.get(k)}
            if "order_id" in q:
                filters["order_id"] = int(q["order_id"])
            if filters:
                entries = [e for e in entries if all(e.get(k) == v for k, v in filters.items())]
            return {"entries": entries, "next": nxt}
    if path == "/admin/balances":
        if method == "POST":
            amounts = _decimals(data, "balances")
            sim.engine.set_balances(amounts, sim.clock.now_ms())
            event(log, "SIM_BALANCES", **{a: v for a, v in sorted(amounts.items())})
        elif method != "GET":
            raise KeyError(path)
        return {"balances": {a: {"free": format(f, "f"), "locked": format(lk, "f")}
                             for a, f, lk in sim.engine.balances()}}
    if path == "/admin/orders" and method == "GET":
        with sim.engine.lock:
            sim.engine.sync(sim.clock.now_ms())
            rows = [o for o in sim.engine.orders.values()
                    if (not q.get("symbol") or o.symbol == q["symbol"])
                    and (not q.get("status") or o.status == q["status"]
                         or (q["status"] == "open" and o.is_open))]
            return {"orders": [{**o.query_json(), "fills": [t.fill_json() for t in o.trades]} for o in rows]}
    if path == "/admin/reset" and method == "POST":
        balances = _decimals(data["balances"], "balances") if isinstance(data, dict) and "balances" in data \
            else None
        sim.reset(balances)
        return {"status": "reset", "now_ms": sim.clock.now_ms()}
    raise KeyError(path)

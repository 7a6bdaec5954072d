"""The simulator object: market + clock + engine + faults + rate limiter + keys (+ optional SQLite state),
and ``serve``/``start_in_thread`` to put it on a socket.
"""

from __future__ import annotations

import logging
import threading
from decimal import Decimal
from pathlib import Path

from aura_common.adapters.logs import event
from aura_exchange_sim import errors
from aura_exchange_sim.clock import SimClock
from aura_exchange_sim.engine import Engine, EngineConfig
from aura_exchange_sim.faults import FaultBook
from aura_exchange_sim.market import MarketData
from aura_exchange_sim.ordercount import OrderCounter, default_limits
from aura_exchange_sim.orders import Order
from aura_exchange_sim.ratelimit import RateLimiter

log = logging.getLogger("aura_exchange_sim")
DEFAULT_API_KEY = "aura-sim-key"
DEFAULT_API_SECRET = "aura-sim-secret"


class Simulator:
    def __init__(self, market: MarketData, clock: SimClock, balances: dict[str, Decimal],
                 config: EngineConfig | None = None, keys: dict[str, str] | None = None, seed: int = 0,
                 weight_limit: int = 6000, ban_seconds: int = 120, state_path: str | Path | None = None,
                 order_limit_10s: int = 100, order_limit_1d: int = 200_000) -> None:
        self.market, self.clock = market, clock
        # the admin API's access (admin.authorize): a token required when set; open without one only on loopback
        self.admin_token: str | None = None
        self.admin_local = True
        self.config = config or EngineConfig()
        self.keys = dict(keys or {DEFAULT_API_KEY: DEFAULT_API_SECRET})
        self.seed = seed
        self.initial_balances = dict(balances)
        self.engine = Engine(market, self.config, balances, clock.now_ms())
        self.faults = FaultBook(seed)
        self.limiter = RateLimiter(weight_limit, ban_seconds)
        self.order_count = OrderCounter(default_limits(order_limit_10s, order_limit_1d))
        self.store = None
        if state_path is not None:
            from aura_exchange_sim.persistence import StateStore
            self.store = StateStore(state_path)
            restored = self.store.load(self)
            event(log, "SIM_STATE", path=str(state_path), restored=restored, orders=len(self.engine.orders),
                  ledger=len(self.engine.book.entries))
        self._credited_fills = self.engine.first_fills

    def depth_qty(self, symbol: str, now: int) -> Decimal:
        """Quantity shown at the best bid/ask (one depth level; 1,000,000 quote worth with unlimited depth)."""
        price = self.market.price(symbol, now)
        if not price:
            return Decimal(0)
        notional = self.config.depth_notional if self.config.depth_notional > 0 else Decimal(1_000_000)
        return self.market.specs[symbol].floor_qty(notional / Decimal(repr(price)))

    def _credit_fills(self, wall: int) -> None:
        """Take the orders that got their first fill since the last call off the unfilled-order count."""
        self.order_count.filled(wall, self.engine.first_fills - self._credited_fills)
        self._credited_fills = self.engine.first_fills

    def place_order(self, params: dict[str, str], now: int, wall: int, partial_ratio: Decimal | None = None
                    ) -> tuple[Order, dict[str, str]]:
        """A new order under the unfilled-order count (``ordercount``): -1015 when full; returns the order and
        the ``X-MBX-ORDER-COUNT-*`` headers."""
        with self.engine.lock:
            self.engine.sync(now)  # resting orders that filled meanwhile count first
            self._credit_fills(wall)
            try:
                self.order_count.check(wall)
            except errors.ApiError as exc:
                self.engine.book.append("reject", now, symbol=params.get("symbol"),
                                        client_order_id=params.get("newClientOrderId"), side=params.get("side"),
                                        type=params.get("type"), code=exc.code, msg=exc.msg)
                raise
            order = self.engine.place(params, now, wall, partial_ratio)
            self.order_count.add(wall)
            self._credit_fills(wall)
            return order, self.order_count.headers(wall)

    def persist(self, force: bool = False) -> None:
        """Save what changed (new ledger entries; ``force`` also saves the clock alone). No-op without --state."""
        if self.store is not None:
            with self.engine.lock:
                if force or self.store.saved_seq < len(self.engine.book.entries):
                    self.store.save(self)

    def reset(self, balances: dict[str, Decimal] | None = None) -> None:
        with self.engine.lock:
            self.engine.reset(dict(balances if balances is not None else self.initial_balances), self.clock.now_ms())
            self.faults.clear()
            self.limiter.reset()
            self.order_count.reset()
            self._credited_fills = self.engine.first_fills
            if self.store is not None:
                self.store.wipe()
                self.store.save(self)
        event(log, "SIM_RESET", balances=",".join(f"{a}={v}" for a, v in sorted(
            (balances or self.initial_balances).items())))


class RunningServer:
    """A simulator served on a background thread (tests, benchmarks, ``aura exchange-sim``)."""

    def __init__(self, sim: Simulator, host: str = "127.0.0.1", port: int = 0) -> None:
        from aura_exchange_sim.server import SimHTTPServer
        self.sim = sim
        self.httpd = SimHTTPServer((host, port), sim)
        # an AF_INET server: its address is (str host, int port)
        self.host, self.port = str(self.httpd.server_address[0]), int(self.httpd.server_address[1])
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="exchange-sim", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> "RunningServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> "RunningServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

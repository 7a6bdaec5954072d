"""``aura exchange-sim``: serve the Binance-Spot-compatible simulator.

Exit codes: 0 after a clean stop (SIGINT/SIGTERM), 1 runtime failure (e.g. port in use), 2 bad options or files.
The API secret comes from --api-secret, $AURA_SIM_API_SECRET or the offline default and is never printed; neither
are the API keys nor the admin token (``--admin-token``: required by the admin API when set; without one the
admin API answers only on a loopback bind).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation

from aura_common.adapters.logs import configure_logging, event

DAY_MS = 86_400_000
SYNTHETIC_FIRST_MS = 1_704_067_200_000  # 2024-01-01: the synthetic market's first candle without --start
SYNTHETIC_END_MS = 1_924_992_000_000  # 2031-01-01
log = logging.getLogger("aura_exchange_sim")


class UsageError(ValueError):
    pass


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="bind address (0.0.0.0 in a container)")
    parser.add_argument("--port", type=int, default=8700)
    parser.add_argument("--data-dir", help="Parquet candle cache (ingestor format); default: seeded synthetic data")
    parser.add_argument("--interval", default="1d", help="candle interval of the replayed panel (default 1d)")
    parser.add_argument("--symbols", help="comma-separated symbols to load from --data-dir (default: all cached)")
    parser.add_argument("--synthetic-symbols", type=int, default=20, help="symbols of the synthetic market")
    parser.add_argument("--synthetic-days", type=int, default=730,
                        help="synthetic history before --start (without --start: 2024-01-01 to 2031-01-01)")
    parser.add_argument("--speed", default="1",
                        help="clock speed: 1 real time, N accelerated, 0 or 'step' = stepped via POST /admin/clock")
    parser.add_argument("--start", help="replay start: ISO date/time (UTC) or epoch ms (default: now for synthetic "
                                        "data, one year into the data for --data-dir)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic market and of the faults")
    parser.add_argument("--balances", default="USDT=10000", help="initial balances, e.g. USDT=10000,BTC=0.5")
    parser.add_argument("--faults", help="YAML faults file ({seed?, faults: [...]})")
    parser.add_argument("--state", help="SQLite file: keep orders, ledger and clock across restarts")
    parser.add_argument("--fee-bps", type=Decimal, default=Decimal(10), help="taker and maker fee (bps)")
    parser.add_argument("--maker-fee-bps", type=Decimal, help="maker fee (bps), default --fee-bps")
    parser.add_argument("--symbol-fees", default="",
                        help="per-symbol rates in bps, TAKER[/MAKER] each, e.g. BTCUSDT=7.5/2,ETHUSDT=9")
    parser.add_argument("--bnb-discount", action="store_true",
                        help="pay commissions in BNB at a discount while the BNB balance lasts (Binance's option)")
    parser.add_argument("--bnb-discount-pct", type=Decimal, default=Decimal(25),
                        help="the BNB discount in percent of the rate (default 25)")
    parser.add_argument("--slippage-bps", type=Decimal, default=Decimal(5),
                        help="half spread for taker fills: a BUY fills that much above the price, a SELL below")
    parser.add_argument("--price-model", default="path", choices=("path", "close"),
                        help="replay price: 'path' runs open/low/high/close inside each candle (default); 'close' "
                             "is the close of the last candle closed at or before the simulated time (the "
                             "backtester's fill model, for `aura parity`)")
    parser.add_argument("--depth-notional", type=Decimal, default=Decimal(0),
                        help="quote value per synthetic book level (0 = unlimited depth)")
    parser.add_argument("--depth-level-bps", type=Decimal, default=Decimal(5), help="price step between levels")
    parser.add_argument("--partial-fill-ratio", type=Decimal, default=Decimal(1),
                        help="share of a resting order filled per price crossing (1 = all at once)")
    parser.add_argument("--weight-limit", type=int, default=6000, help="request weight per minute (0 = no limit)")
    parser.add_argument("--order-limit-10s", type=int, default=100,
                        help="unfilled new orders per 10 s window (-1015 beyond; 0 = no limit)")
    parser.add_argument("--order-limit-1d", type=int, default=200_000,
                        help="unfilled new orders per UTC day (-1015 beyond; 0 = no limit)")
    parser.add_argument("--api-key", default=os.environ.get("AURA_SIM_API_KEY"),
                        help="accepted API key(s), comma-separated (default $AURA_SIM_API_KEY or aura-sim-key)")
    parser.add_argument("--api-secret", default=os.environ.get("AURA_SIM_API_SECRET"),
                        help="their secret(s), same order (default $AURA_SIM_API_SECRET or the offline default)")
    parser.add_argument("--admin-token", default=os.environ.get("AURA_SIM_ADMIN_TOKEN"),
                        help="token the admin API requires (Authorization: Bearer TOKEN; default "
                             "$AURA_SIM_ADMIN_TOKEN). Without one the admin API answers on loopback only")
    parser.add_argument("--log-level", default="INFO")


def parse_symbol_fees(text: str) -> dict[str, tuple[Decimal, Decimal]]:
    """``BTCUSDT=7.5/2,ETHUSDT=9`` -> {symbol: (taker bps, maker bps)}; a lone rate is both."""
    out: dict[str, tuple[Decimal, Decimal]] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        symbol, sep, rates = part.partition("=")
        taker, _, maker = rates.partition("/")
        try:
            t, m = Decimal(taker), Decimal(maker or taker)
        except InvalidOperation:
            t = m = Decimal("NaN")
        if not sep or not symbol.isalnum() or not symbol.isupper() or not all(
                x.is_finite() and 0 <= x <= 1000 for x in (t, m)):
            raise UsageError(f"--symbol-fees: {part!r} is not SYMBOL=TAKER[/MAKER] with rates in bps from 0 to 1000")
        out[symbol] = (t, m)
    return out


def parse_balances(text: str) -> dict[str, Decimal]:
    out: dict[str, Decimal] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        asset, sep, amount = part.partition("=")
        try:
            value = Decimal(amount)
        except InvalidOperation:
            value = Decimal("NaN")
        if not sep or not asset.isalnum() or not value.is_finite() or value < 0:
            raise UsageError(f"--balances: {part!r} is not ASSET=AMOUNT with AMOUNT >= 0")
        out[asset.upper()] = value
    return out


def parse_keys(keys: str, secrets: str) -> dict[str, str]:
    k = [x.strip() for x in keys.split(",")]
    s = [x.strip() for x in secrets.split(",")]
    if len(k) != len(s) or not all(k) or not all(s):
        raise UsageError(f"--api-key/--api-secret: {len(k)} key(s) but {len(s)} secret(s); give one secret per key")
    return dict(zip(k, s))


def parse_time(text: str | None) -> int | None:
    if text is None:
        return None
    if text.isdigit():
        return int(text)
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"--start: {text!r} is neither epoch ms nor an ISO date/time") from None
    return int((dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)).timestamp() * 1000)


def parse_speed(text: str) -> float:
    if text.lower() in ("step", "stepped"):
        return 0.0
    try:
        speed = float(text)
    except ValueError:
        raise UsageError(f"--speed: {text!r} is not a number or 'step'") from None
    if speed < 0:
        raise UsageError(f"--speed: must be >= 0, got {text}")
    return speed


def build(args: argparse.Namespace, wall_now_ms: int):
    """Everything but the socket: returns the Simulator. Raises UsageError for bad options or files."""
    from aura_exchange_sim.app import DEFAULT_API_KEY, DEFAULT_API_SECRET, Simulator
    from aura_exchange_sim.clock import SimClock
    from aura_exchange_sim.engine import EngineConfig
    from aura_exchange_sim.faults import FaultSpecError, load_faults_file
    from aura_exchange_sim.market import INTERVALS_MS, MarketData

    speed, start = parse_speed(args.speed), parse_time(args.start)
    balances = parse_balances(args.balances)
    if args.interval not in INTERVALS_MS:
        raise UsageError(f"--interval: {args.interval!r} is not one of {', '.join(INTERVALS_MS)}")
    if args.data_dir:
        from aura_common.adapters import parquet_store
        from aura_common.domain import parse_symbols
        try:
            symbols = parse_symbols(args.symbols) if args.symbols else None
        except ValueError as exc:
            raise UsageError(f"--symbols: {exc}") from None
        if symbols:
            unknown = [s for s in symbols if s not in parquet_store.cached_symbols(args.data_dir, args.interval)]
            if unknown:
                event(log, "SIM_WARNING", logging.WARNING,
                      problem=f"no {args.interval} candles in {args.data_dir} for {', '.join(unknown)} (left out)")
                symbols = tuple(s for s in symbols if s not in unknown)
        try:
            panel = parquet_store.load_panel(args.data_dir, args.interval, symbols=symbols)
        except (OSError, ValueError, RuntimeError) as exc:
            raise UsageError(f"--data-dir {args.data_dir}: {exc}") from None
        if len(panel.times) == 0 or not panel.symbols:
            raise UsageError(f"--data-dir {args.data_dir}: no {args.interval} candles found")
        if start is None:
            start = int(min(panel.times[0] + 365 * DAY_MS, panel.times[-1]))
    else:
        from aura_common.core.synthetic import synthetic_panel
        if args.synthetic_symbols < 1 or args.synthetic_days < 2:
            raise UsageError("--synthetic-symbols must be >= 1 and --synthetic-days >= 2")
        iv = INTERVALS_MS[args.interval]
        if start is None:  # a fixed span, so a restart (--state) replays the very same market
            first = SYNTHETIC_FIRST_MS
            n = max(2, (max(SYNTHETIC_END_MS, wall_now_ms + 365 * DAY_MS) - first) // iv)
        else:
            first = start - start % iv - args.synthetic_days * iv
            n = args.synthetic_days + max(2, 365 * DAY_MS // iv)
        panel = synthetic_panel(args.synthetic_symbols, n, args.seed, start_ms=first, interval_ms=iv)
    market = MarketData(panel, price_model=args.price_model)
    fee = args.fee_bps
    config = EngineConfig(taker_bps=fee, maker_bps=args.maker_fee_bps if args.maker_fee_bps is not None else fee,
                          symbol_fees=parse_symbol_fees(args.symbol_fees), bnb_discount=args.bnb_discount,
                          bnb_discount_pct=args.bnb_discount_pct,
                          slippage_bps=args.slippage_bps, depth_notional=args.depth_notional,
                          depth_level_bps=args.depth_level_bps, partial_fill_ratio=args.partial_fill_ratio)
    if not (config.bnb_discount_pct.is_finite() and 0 <= config.bnb_discount_pct <= 100):
        raise UsageError(f"--bnb-discount-pct must be between 0 and 100, got {config.bnb_discount_pct}")
    if not 0 < config.partial_fill_ratio <= 1:
        raise UsageError("--partial-fill-ratio must be in (0, 1]")
    for name in ("taker_bps", "maker_bps", "slippage_bps", "depth_notional", "depth_level_bps"):
        value = getattr(config, name)
        if not value.is_finite() or value < 0:
            flag = {"taker_bps": "--fee-bps", "maker_bps": "--maker-fee-bps"}.get(name, "--" + name.replace("_", "-"))
            raise UsageError(f"{flag} must be a number >= 0, got {value}")
    if args.order_limit_10s < 0 or args.order_limit_1d < 0:
        raise UsageError("--order-limit-10s and --order-limit-1d must be >= 0 (0 = no limit)")
    keys = parse_keys(args.api_key or DEFAULT_API_KEY, args.api_secret or DEFAULT_API_SECRET)
    seed = args.seed
    rules: list[dict] = []
    if args.faults:
        try:
            file_seed, rules = load_faults_file(args.faults)
        except FaultSpecError as exc:
            raise UsageError(str(exc)) from None
        seed = file_seed if file_seed is not None else seed
    sim = Simulator(market, SimClock(start, speed), balances, config, keys, seed=seed,
                    weight_limit=args.weight_limit, state_path=args.state, order_limit_10s=args.order_limit_10s,
                    order_limit_1d=args.order_limit_1d)
    if rules:
        sim.faults.add(rules, sim.clock.wall_ms(), args.faults)
    return sim


def is_loopback(host: str) -> bool:
    """True for a loopback bind address (127.0.0.0/8, ::1, localhost)."""
    import ipaddress
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run(args: argparse.Namespace) -> int:
    from aura_exchange_sim.app import RunningServer
    from aura_exchange_sim.clock import wall_ms

    secrets = [x for x in f"{args.api_key or ''},{args.api_secret or ''},{args.admin_token or ''}".split(",") if x]
    configure_logging(args.log_level, secrets=secrets)
    try:
        sim = build(args, wall_ms())
    except UsageError as exc:
        print(f"aura exchange-sim: {exc}", file=sys.stderr)
        return 2
    sim.admin_token, sim.admin_local = args.admin_token or None, is_loopback(args.host)
    try:
        server = RunningServer(sim, args.host, args.port)
    except OSError as exc:
        print(f"aura exchange-sim: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    stop = {"signal": None}

    def _stop(signum, _frame):
        stop["signal"] = signum
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    clock = sim.clock.snapshot()
    event(log, "SIM_START", url=server.url, mode=clock["mode"], speed=clock["speed"], now_ms=clock["now_ms"],
          symbols=len(sim.market.specs), interval=args.interval, price_model=sim.market.price_model,
          data=args.data_dir or "synthetic", seed=args.seed,
          faults=len(sim.faults.list()), state=args.state, api_keys=len(sim.keys),
          admin="token" if sim.admin_token else ("loopback" if sim.admin_local else "disabled"))
    try:
        server.httpd.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.httpd.server_close()
        sim.persist(force=True)
    event(log, "SIM_STOP", orders=len(sim.engine.orders), ledger=len(sim.engine.book.entries))
    return 0

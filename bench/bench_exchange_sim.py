"""Exchange-simulator throughput on loopback (run on demand; prints figures, asserts nothing).

    .venv/bin/python bench/bench_exchange_sim.py [--orders 2000] [--cheap 3000] [--in-thread | --state]

The simulator runs as a real ``aura exchange-sim`` subprocess (its own interpreter and GIL, like in production;
``--in-thread`` serves it from this process instead). The ccxt client is built by make_binance with
enableRateLimit=False: ccxt's own throttle would otherwise cap it at ~20 orders/s (cost 0.2 x 50 ms per order).
The simulator's weight limit is disabled (--weight-limit 0): Binance would 429 after 6000 weight per minute.

Figures: signed MARKET order round trips per second through ccxt (each returns FULL with fills), and requests per
second on the cheapest endpoint (GET /api/v3/time) via a plain requests.Session, via ccxt fetch_time() and via a
raw keep-alive socket (the server's ceiling). CPU per call is measured for the client (this process) and, in
subprocess mode, the server (/proc/<pid>/stat): with other jobs on the machine, CPU per call is the stable figure.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from aura_common.adapters.exchange import make_binance

KEY, SECRET = "aura-sim-key", "aura-sim-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_subprocess(state: str | None) -> tuple[subprocess.Popen, str]:
    port = free_port()
    aura = str(Path(sys.executable).with_name("aura"))
    extra = ["--state", state] if state else []
    proc = subprocess.Popen([aura, "exchange-sim", "--port", str(port), "--speed", "step", "--weight-limit", "0",
                             "--balances", "USDT=100000000,BTC=100000", "--log-level", "WARNING", *extra],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if requests.get(url + "/health", timeout=1).ok:
                return proc, url
        except requests.ConnectionError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"simulator did not start: {proc.stderr.read() if proc.stderr else ''}")


def start_thread():
    from decimal import Decimal

    from aura_common.core.synthetic import synthetic_panel
    from aura_exchange_sim.app import RunningServer, Simulator
    from aura_exchange_sim.clock import SimClock
    from aura_exchange_sim.market import MarketData
    now = int(time.time() * 1000)
    day = 86_400_000
    panel = synthetic_panel(20, 1095, 0, start_ms=now - now % day - 730 * day)
    sim = Simulator(MarketData(panel), SimClock(None, 0.0), {"USDT": Decimal(10**8), "BTC": Decimal(10**5)},
                    weight_limit=0)
    return RunningServer(sim).start()


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (Linux /proc), 0 when unavailable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def rate(n: int, fn, server_pid: int | None = None) -> tuple[float, float, float]:
    """(per second wall, client CPU ms per call, server CPU ms per call)."""
    s0 = cpu_seconds(server_pid) if server_pid else 0.0
    c0, t0 = time.process_time(), time.perf_counter()
    for i in range(n):
        fn(i)
    wall, client = time.perf_counter() - t0, time.process_time() - c0
    server = (cpu_seconds(server_pid) - s0) if server_pid else 0.0
    return n / wall, client / n * 1000, server / n * 1000


def raw_client(url: str):
    """A minimal keep-alive HTTP/1.1 client on a raw socket: the server's own ceiling, without requests/ccxt."""
    host, port = url.split("//", 1)[1].split(":")
    sock = socket.create_connection((host, int(port)))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    req = (b"GET /api/v3/time HTTP/1.1\r\nHost: " + host.encode() + b"\r\nAccept: */*\r\n"
           b"Connection: keep-alive\r\n\r\n")

    def call(_i: int) -> None:
        sock.sendall(req)
        buf = b""
        while b"\r\n\r\n" not in buf:
            buf += sock.recv(65536)
        head, body = buf.split(b"\r\n\r\n", 1)
        length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length"))
        while len(body) < length:
            body += sock.recv(65536)

    return call, sock


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--orders", type=int, default=2000)
    ap.add_argument("--cheap", type=int, default=3000)
    ap.add_argument("--in-thread", action="store_true")
    ap.add_argument("--state", action="store_true", help="run the simulator with --state (SQLite) in a temp dir")
    args = ap.parse_args()
    print("load before:", os.popen("uptime").read().strip())
    proc = srv = None
    if args.in_thread:
        srv = start_thread()
        url = srv.url
    else:
        import tempfile
        tmp = tempfile.mkdtemp(prefix="bench-sim-") if args.state else None
        proc, url = start_subprocess(f"{tmp}/state.sqlite" if tmp else None)
    try:
        ex = make_binance(url, KEY, SECRET, timeout_seconds=10, enable_rate_limit=False)
        ex.load_markets()
        qty = float(ex.amount_to_precision("BTC/USDT", 20 / ex.fetch_ticker("BTC/USDT")["last"]))  # ~20 USDT
        ex.create_order("BTC/USDT", "market", "buy", qty)  # warm-up

        def order(i: int) -> None:
            o = ex.create_order("BTC/USDT", "market", "buy" if i % 2 else "sell", qty, None,
                                {"newClientOrderId": f"bench-{i}"})
            assert o["status"] == "closed" and o["trades"], o

        pid = proc.pid if proc is not None else None
        orders = rate(args.orders, order, pid)
        session = requests.Session()
        plain = rate(args.cheap, lambda i: session.get(url + "/api/v3/time", timeout=5).raise_for_status(), pid)
        ccxt_time = rate(args.cheap, lambda i: ex.fetch_time(), pid)
        raw_call, raw_sock = raw_client(url)
        raw = rate(args.cheap, raw_call, pid)
        raw_sock.close()
        ledger = requests.get(url + "/admin/ledger", params={"since": 0}, timeout=30).json()["entries"]
        fills = sum(1 for e in ledger if e["kind"] == "fill")
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=20)
        if srv is not None:
            srv.stop()
    pid = proc.pid if proc is not None else None
    mode = ("in-thread" if args.in_thread else "subprocess") + (" with --state (SQLite)" if args.state else "")
    print(f"simulator: {mode}; client: ccxt {__import__('ccxt').__version__} via make_binance, "
          "enableRateLimit=False")
    for name, (per_s, c_ms, s_ms), n in (
            ("signed MARKET order round trips via ccxt (FULL + fills)", orders, args.orders),
            ("GET /api/v3/time via requests.Session", plain, args.cheap),
            ("GET /api/v3/time via ccxt fetch_time()", ccxt_time, args.cheap),
            ("GET /api/v3/time via a raw keep-alive socket", raw, args.cheap)):
        cpu = f"client CPU {c_ms:5.2f} ms, server CPU {s_ms:5.2f} ms per call" if pid else f"CPU {c_ms:5.2f} ms/call"
        print(f"{name:56s} {per_s:7.0f} /s  ({n} calls; {cpu})")
    print(f"fills in the ledger: {fills}")
    print("load after: ", os.popen("uptime").read().strip())
    return 0


if __name__ == "__main__":
    sys.exit(main())

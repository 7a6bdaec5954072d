"""Local HTTP fakes for the market-data providers (127.0.0.1, ephemeral ports, ThreadingHTTPServer).

- ``ArchiveFake``: data.binance.vision layout, zips + ``.CHECKSUM`` files built from candle rows.
- ``KlinesFake``: the two Binance endpoints ccxt needs for candles (``/api/v3/exchangeInfo``, ``/api/v3/klines``).
- ``CoinGeckoFake``: ``/coins/{id}/market_chart`` daily prices.

Every fake counts the requests it served (``requests``: list of paths) and can be told to misbehave per path
prefix (``faults``): ``"slow"`` (50 ms late, then normal), ``"html"`` (an HTML error page with status 200), ``"malformed"`` (truncated JSON),
``"hang"`` (answer nothing until the client gives up, bounded), ``"429"`` (always rate limited, Retry-After),
``"500"``.

Fixture builder (``kline_csv`` / ``ArchiveFake.add_rows``): rows ``[open_time_ms, o, h, l, c, v]`` become the
archive's 12 columns. Quote volume is **derived** as volume × typical price ((h+l+c)/3) because the source rows do
not carry it; number of trades and taker-buy volumes are unknown and written as 0. Open/close times are written in
milliseconds before 2025-01-01 and in **microseconds** from then on, like the real archive.
"""

from __future__ import annotations

import hashlib
import io
import json
import threading
import zipfile
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import numpy as np

MS_2025 = 1_735_689_600_000
INTERVAL_MS = {"1h": 3_600_000, "4h": 14_400_000, "1d": 86_400_000}
DAY = 86_400_000
H4 = 14_400_000


def synth_rows(start_ms: int, n: int, step: int = DAY, seed: int = 0, price: float = 100.0) -> np.ndarray:
    """Seeded valid rows [t, o, h, l, c, v] on the grid."""
    rng = np.random.default_rng(seed)
    c = price * np.exp(np.cumsum(rng.normal(0, 0.02, n)))
    o = np.concatenate(([price], c[:-1]))
    h = np.maximum(o, c) * (1 + rng.random(n) * 0.01)
    lo = np.minimum(o, c) * (1 - rng.random(n) * 0.01)
    v = 1 + rng.random(n) * 100
    t = start_ms + step * np.arange(n)
    return np.column_stack([t, o, h, lo, c, v])


class FakeServer:
    def __init__(self) -> None:
        self.requests: list[str] = []
        self.faults: dict[str, str] = {}
        self.retry_after = "1"
        self._lock = threading.Lock()
        self._stop = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                fake._handle(self)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self) -> None:
        self._stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def count(self, prefix: str = "") -> int:
        with self._lock:
            return sum(1 for p in self.requests if p.startswith(prefix))

    def _fault(self, path: str) -> str | None:
        for prefix, kind in self.faults.items():
            if path.startswith(prefix):
                return kind
        return None

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        with self._lock:
            self.requests.append(parts.path)
        fault = self._fault(parts.path)
        if fault == "slow":
            self._stop.wait(0.05)
            fault = None
        if fault == "hang":
            self._stop.wait(5.0)  # bounded: the client's timeout is far shorter
            return self._send(h, 503, b"late", "text/plain")
        if fault == "429":
            return self._send(h, 429, b'{"code":-1003,"msg":"Too much request weight used"}', "application/json",
                              {"Retry-After": self.retry_after})
        if fault == "500":
            return self._send(h, 500, b"<html><body>Internal error</body></html>", "text/html")
        if fault == "html":
            return self._send(h, 200, b"<!DOCTYPE html><html><head><title>Just a moment...</title></head>"
                                      b"<body>Checking your browser</body></html>", "text/html")
        status, body, ctype = self.route(parts.path, {k: v[-1] for k, v in parse_qs(parts.query).items()})
        if fault == "malformed" and status == 200:
            body = body[: max(1, len(body) // 2)]
        self._send(h, status, body, ctype)

    @staticmethod
    def _send(h, status, body, ctype, headers=None):
        try:
            h.send_response(status)
            h.send_header("Content-Type", ctype)
            h.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                h.send_header(k, v)
            h.end_headers()
            h.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def route(self, path: str, query: dict) -> tuple[int, bytes, str]:
        raise NotImplementedError


# ------------------------------------------------------------------------------------------------------ archive

def kline_csv(rows: np.ndarray, interval: str, header: bool = False) -> str:
    """12-column archive CSV from rows [t_ms, o, h, l, c, v] (see module docstring for derived columns)."""
    step = INTERVAL_MS[interval]
    out = ["open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,"
           "taker_buy_quote_volume,ignore"] if header else []
    for r in rows:
        t = int(r[0])
        o, h, lo, c, v = (float(x) for x in r[1:6])
        qv = v * (h + lo + c) / 3.0
        ot, ct = (t * 1000, (t + step) * 1000 - 1) if t >= MS_2025 else (t, t + step - 1)
        out.append(f"{ot},{o:.8f},{h:.8f},{lo:.8f},{c:.8f},{v:.8f},{ct},{qv:.8f},0,0,0,0")
    return "\n".join(out) + "\n"


def make_zip(csv_name: str, text: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(csv_name, text)
    return buf.getvalue()


def checksum_line(data: bytes, name: str) -> bytes:
    return f"{hashlib.sha256(data).hexdigest()}  {name}\n".encode()


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


class ArchiveFake(FakeServer):
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        super().__init__()

    def route(self, path, query):
        data = self.files.get(path)
        if data is None:
            return 404, b"<Error><Code>NoSuchKey</Code></Error>", "application/xml"
        return 200, data, "application/octet-stream"

    def put_zip(self, path: str, zip_bytes: bytes, checksum: bytes | None = None) -> None:
        name = path.rsplit("/", 1)[-1]
        self.files[path] = zip_bytes
        self.files[path + ".CHECKSUM"] = checksum if checksum is not None else checksum_line(zip_bytes, name)

    @staticmethod
    def monthly_path(symbol: str, interval: str, year: int, month: int) -> str:
        return f"/data/spot/monthly/klines/{symbol}/{interval}/{symbol}-{interval}-{year:04d}-{month:02d}.zip"

    @staticmethod
    def daily_path(symbol: str, interval: str, year: int, month: int, day: int) -> str:
        return (f"/data/spot/daily/klines/{symbol}/{interval}/"
                f"{symbol}-{interval}-{year:04d}-{month:02d}-{day:02d}.zip")

    def add_rows(self, symbol: str, interval: str, rows: np.ndarray, daily_from_ms: int | None = None,
                 header: bool = False) -> None:
        """Publish rows as monthly zips, and as daily zips for rows at or after ``daily_from_ms``."""
        rows = np.asarray(rows, dtype=np.float64)
        groups: dict[str, list] = {}
        for r in rows:
            d = _utc(int(r[0]))
            if daily_from_ms is not None and int(r[0]) >= daily_from_ms:
                key = self.daily_path(symbol, interval, d.year, d.month, d.day)
            else:
                key = self.monthly_path(symbol, interval, d.year, d.month)
            groups.setdefault(key, []).append(r)
        for path, rs in groups.items():
            name = path.rsplit("/", 1)[-1]
            self.put_zip(path, make_zip(name[:-4] + ".csv", kline_csv(np.asarray(rs), interval, header)))


# ------------------------------------------------------------------------------------------------------ klines

class KlinesFake(FakeServer):
    """Binance spot klines for ccxt: rows per (symbol, interval) as [t_ms, o, h, l, c, v]; served as Binance's
    12-column rows with the quote volume derived as volume × typical price."""

    def __init__(self) -> None:
        self.data: dict[tuple[str, str], np.ndarray] = {}
        self.forming: dict[tuple[str, str], list] = {}  # an extra still-forming row served after the data
        super().__init__()

    def route(self, path, query):
        if path == "/api/v3/exchangeInfo":
            symbols = sorted({s for s, _ in self.data} | {s for s, _ in self.forming})
            info = {"timezone": "UTC", "serverTime": 0, "rateLimits": [], "exchangeFilters": [],
                    "symbols": [_symbol_info(s) for s in symbols]}
            return 200, json.dumps(info).encode(), "application/json"
        if path == "/api/v3/klines":
            key = (query.get("symbol", ""), query.get("interval", ""))
            rows = self.data.get(key)
            if rows is None and key not in self.forming:
                return 400, b'{"code":-1121,"msg":"Invalid symbol."}', "application/json"
            start = int(query.get("startTime", 0))
            limit = min(int(query.get("limit", 500)), 1000)
            step = INTERVAL_MS[key[1]]
            allrows = [list(r) for r in (rows if rows is not None else [])] + self.forming.get(key, [])
            sel = [r for r in allrows if int(r[0]) >= start][:limit]
            out = [[int(r[0]), f"{r[1]:.8f}", f"{r[2]:.8f}", f"{r[3]:.8f}", f"{r[4]:.8f}", f"{r[5]:.8f}",
                    int(r[0]) + step - 1, f"{r[5] * (r[2] + r[3] + r[4]) / 3:.8f}", 0, "0", "0", "0"] for r in sel]
            return 200, json.dumps(out).encode(), "application/json"
        return 404, b'{"code":-1,"msg":"not found"}', "application/json"


def _symbol_info(symbol: str) -> dict:
    base, quote = symbol[:-4], symbol[-4:]
    return {"symbol": symbol, "status": "TRADING", "baseAsset": base, "baseAssetPrecision": 8, "quoteAsset": quote,
            "quotePrecision": 8, "quoteAssetPrecision": 8, "orderTypes": ["LIMIT", "MARKET"],
            "icebergAllowed": True, "ocoAllowed": True, "isSpotTradingAllowed": True,
            "isMarginTradingAllowed": False, "permissions": ["SPOT"], "permissionSets": [["SPOT"]],
            "filters": [{"filterType": "PRICE_FILTER", "minPrice": "0.00000001", "maxPrice": "1000000",
                         "tickSize": "0.00000001"},
                        {"filterType": "LOT_SIZE", "minQty": "0.00000001", "maxQty": "9000000",
                         "stepSize": "0.00000001"}]}


# ------------------------------------------------------------------------------------------------------ coingecko

class CoinGeckoFake(FakeServer):
    """market_chart with daily 00:00 prices (the daily close series) plus a trailing mid-day "now" point."""

    def __init__(self, now_ms: int) -> None:
        self.prices: dict[str, dict[int, float]] = {}  # id -> {day_ms: price at 00:00}
        self.now_ms = now_ms
        super().__init__()

    def route(self, path, query):
        parts = path.strip("/").split("/")
        if len(parts) == 3 and parts[0] == "coins" and parts[2] == "market_chart":
            series = self.prices.get(parts[1])
            if series is None:
                return 404, b'{"error":"coin not found"}', "application/json"
            days = int(query.get("days", "1"))
            if days > 365:
                return 401, b'{"error":{"status":{"error_code":10012}}}', "application/json"
            lo = self.now_ms - self.now_ms % 86_400_000 - days * 86_400_000
            pts = [[t, p] for t, p in sorted(series.items()) if lo <= t <= self.now_ms]
            if pts:
                pts.append([self.now_ms, pts[-1][1]])
            body = {"prices": pts, "market_caps": [[t, 0] for t, _ in pts],
                    "total_volumes": [[t, 1.0] for t, _ in pts]}
            return 200, json.dumps(body).encode(), "application/json"
        return 404, b'{"error":"not found"}', "application/json"


# ------------------------------------------------------------------------------------------------------ okx

OKX_BARS = {"1Dutc": "1d", "4H": "4h", "1H": "1h"}


class OkxFake(FakeServer):
    """The two OKX v5 endpoints ccxt's okx uses for candles: instruments (SPOT) and (history-)candles.

    Candles answer rows with ``before < ts < after``, newest first, as strings, with ``confirm`` "1" (closed)."""

    def __init__(self) -> None:
        self.data: dict[tuple[str, str], np.ndarray] = {}  # (BTCUSDT, "1d") -> rows [t, o, h, l, c, v]
        super().__init__()

    def route(self, path, query):
        if path == "/api/v5/public/instruments":
            insts = [{"instType": "SPOT", "instId": f"{s[:-4]}-{s[-4:]}", "baseCcy": s[:-4], "quoteCcy": s[-4:],
                      "settleCcy": "", "ctVal": "", "ctMult": "", "ctValCcy": "", "optType": "", "stk": "",
                      "listTime": "1606468572000", "expTime": "", "lever": "", "tickSz": "0.00000001",
                      "lotSz": "0.00000001", "minSz": "0.00001", "ctType": "", "alias": "", "state": "live",
                      "maxLmtSz": "9999999999", "maxMktSz": "1000000", "instFamily": "", "uly": "", "category": "1"}
                     for s in sorted({s for s, _ in self.data})]
            return 200, json.dumps({"code": "0", "msg": "", "data": insts}).encode(), "application/json"
        if path in ("/api/v5/market/candles", "/api/v5/market/history-candles"):
            symbol = query.get("instId", "").replace("-", "")
            rows = self.data.get((symbol, OKX_BARS.get(query.get("bar", ""), "?")))
            if rows is None:
                return 200, b'{"code":"51001","msg":"Instrument ID does not exist","data":[]}', "application/json"
            before = int(query.get("before", -1))
            after = int(query.get("after", 2**62))
            limit = min(int(query.get("limit", 100)), 100)
            sel = [r for r in rows if before < int(r[0]) < after][::-1][:limit]
            out = [[str(int(r[0])), *(f"{x:.8f}" for x in r[1:6]), "0", "0", "1"] for r in sel]
            return 200, json.dumps({"code": "0", "msg": "", "data": out}).encode(), "application/json"
        return 404, b'{"code":"1","msg":"not found","data":[]}', "application/json"

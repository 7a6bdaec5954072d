"""The Binance public data archive (data.binance.vision): monthly zips for closed months, daily zips after that.

URL layout (spec §6.1): ``<base>/data/spot/monthly/klines/<SYM>/<IV>/<SYM>-<IV>-<YYYY>-<MM>.zip`` and
``<base>/data/spot/daily/klines/<SYM>/<IV>/<SYM>-<IV>-<YYYY>-<MM>-<DD>.zip``, each with a sibling ``.CHECKSUM``
(``sha256sum`` format). A missing file is a 404: no data, not an error. A zip is used only when its CHECKSUM file
exists and matches. The CSV inside is headerless (a header row is detected and skipped defensively), 12 columns;
open times are milliseconds until 2024-12-31 and **microseconds from 2025-01-01** (spec §6.2): a value above 10^14
is taken as microseconds, whatever the date. Rows are stamped by open time. Quote volume is column 7.

Monthly files appear on the first Monday of the next month: when the previous month's monthly file is still a
404, its days are fetched as daily files instead.
"""

from __future__ import annotations

import csv
import hashlib
import io
import zipfile
from datetime import datetime, timezone

import numpy as np

from aura_common.adapters.clock import Clock
from aura_common.adapters.providers.base import Batch, FetchResult, ProviderError, RequestObserver, no_observer
from aura_common.adapters.providers.httpget import HttpGetter
from aura_common.core.candles import Candles
from aura_common.domain import Interval

DAY_MS = 86_400_000
US_THRESHOLD = 10**14  # open times above this are microseconds (2025+ spot files)
N_COLUMNS = 12


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


def _ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


def month_start(ms: int) -> int:
    d = _utc(ms)
    return _ms(datetime(d.year, d.month, 1, tzinfo=timezone.utc))


def next_month(ms: int) -> int:
    d = _utc(ms)
    y, m = (d.year + 1, 1) if d.month == 12 else (d.year, d.month + 1)
    return _ms(datetime(y, m, 1, tzinfo=timezone.utc))


def parse_kline_csv(text: str) -> tuple[Candles, dict[str, int]]:
    """Parse a spot kline CSV into candles (source ``archive``); rows that cannot be parsed are counted by reason."""
    rejects: dict[str, int] = {}
    rows: list[list[float]] = []
    for i, rec in enumerate(csv.reader(io.StringIO(text))):
        if not rec or all(not f.strip() for f in rec):
            continue
        if i == 0 and rec[0].strip() and not rec[0].strip().lstrip("-").isdigit():
            continue  # a header row (first field not a number)
        if len(rec) != N_COLUMNS:
            rejects["bad_columns"] = rejects.get("bad_columns", 0) + 1
            continue
        try:
            t = int(rec[0])
            vals = [float(rec[k]) for k in (1, 2, 3, 4, 5, 7)]
        except ValueError:
            rejects["unparseable"] = rejects.get("unparseable", 0) + 1
            continue
        if t > US_THRESHOLD:
            t //= 1000
        rows.append([t, *vals])
    if not rows:
        return Candles.empty(), rejects
    a = np.asarray(rows, dtype=np.float64)
    times = np.asarray([r[0] for r in rows], dtype=np.int64)
    return Candles.build(times, a[:, 1], a[:, 2], a[:, 3], a[:, 4], a[:, 5], a[:, 6], "archive"), rejects


class ArchiveProvider:
    name = "archive"

    def __init__(self, base_url: str, clock: Clock, timeout_seconds: float = 30.0,
                 observer: RequestObserver = no_observer, max_retries: int = 3) -> None:
        self.base = base_url.rstrip("/")
        self.http = HttpGetter(self.name, clock, timeout_seconds, observer=observer, max_retries=max_retries)

    def supports(self, symbol: str, interval: Interval) -> bool:
        return True

    def monthly_url(self, symbol: str, interval: Interval, ms: int) -> str:
        d = _utc(ms)
        iv = Interval(interval).value
        return (f"{self.base}/data/spot/monthly/klines/{symbol}/{iv}/"
                f"{symbol}-{iv}-{d.year:04d}-{d.month:02d}.zip")

    def daily_url(self, symbol: str, interval: Interval, ms: int) -> str:
        d = _utc(ms)
        iv = Interval(interval).value
        return (f"{self.base}/data/spot/daily/klines/{symbol}/{iv}/"
                f"{symbol}-{iv}-{d.year:04d}-{d.month:02d}-{d.day:02d}.zip")

    def plan_files(self, symbol: str, interval: Interval, start_ms: int, end_ms: int,
                   now_ms: int) -> list[tuple[str, int, int, bool]]:
        """(url, covered start, covered end, is_monthly) for every file that may hold part of the range."""
        out = []
        this_month = month_start(now_ms)
        m = month_start(start_ms)
        while m < end_ms:
            nm = next_month(m)
            lo, hi = max(m, start_ms), min(nm, end_ms)
            if nm <= this_month:  # a closed month: one monthly file
                out.append((self.monthly_url(symbol, interval, m), lo, hi, True))
            else:  # the current month: daily files for the days that have ended
                out.extend(self._days(symbol, interval, lo, hi, now_ms))
            m = nm
        return out

    def _days(self, symbol, interval, lo, hi, now_ms):
        out = []
        d = lo - lo % DAY_MS
        while d < hi and d + DAY_MS <= now_ms:
            out.append((self.daily_url(symbol, interval, d), max(d, lo), min(d + DAY_MS, hi), False))
            d += DAY_MS
        return out

    def fetch(self, symbol: str, interval: Interval, start_ms: int, end_ms: int, now_ms: int) -> FetchResult:
        result = FetchResult()
        before = self.http.requests
        prev_month = month_start(month_start(now_ms) - 1)
        for url, lo, hi, monthly in self.plan_files(symbol, interval, start_ms, end_ms, now_ms):
            if self.http.breaker.open_kind is not None and result.errors:
                break  # the provider is down for this pass: one error per range is enough
            try:
                batch = self.fetch_file(url)
                if batch is None and monthly and month_start(lo) == prev_month:
                    for durl, _, _, _ in self._days(symbol, interval, lo, hi, now_ms):
                        try:
                            b = self.fetch_file(durl)
                        except ProviderError as exc:
                            result.errors.append(exc)
                            continue
                        if b is not None:
                            result.batches.append(b)
                    continue
            except ProviderError as exc:
                result.errors.append(exc)
                continue
            if batch is not None:
                result.batches.append(batch)
        result.requests = self.http.requests - before
        return result

    def fetch_file(self, url: str) -> Batch | None:
        """One verified zip as a Batch; None when the archive has no such file (404)."""
        resp = self.http.get(url, allow_404=True)
        if resp is None:
            return None
        body = resp.content
        name = url.rsplit("/", 1)[-1]
        check = self.http.get(url + ".CHECKSUM", allow_404=True)
        if check is None:
            raise ProviderError("checksum", f"{url}: no CHECKSUM file, refusing an unverifiable zip")
        expected = check.text.strip().split()[0].lower() if check.text.strip() else ""
        actual = hashlib.sha256(body).hexdigest()
        if expected != actual:
            raise ProviderError("checksum", f"{url}: sha256 {actual[:16]}… does not match CHECKSUM "
                                            f"{expected[:16] or '-'}…")
        try:
            with zipfile.ZipFile(io.BytesIO(body)) as zf:
                names = [n for n in zf.namelist() if n.lower().endswith(".csv")]
                if len(names) != 1:
                    raise ProviderError("bad_archive", f"{url}: expected one CSV, found {len(names)}")
                text = zf.read(names[0]).decode("utf-8", errors="replace")
        except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
            raise ProviderError("bad_archive", f"{url}: not a readable zip ({exc})") from exc
        candles, rejects = parse_kline_csv(text)
        return Batch(origin=name, candles=candles, parse_rejects=rejects)



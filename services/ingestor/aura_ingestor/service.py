"""One ingest pass over the universe and every configured interval, and the wiring from config to providers.

A pass never crashes on one symbol: an unexpected error, an unwritable file or a corrupt cache file is logged
(``[INGEST_FAIL]`` / ``[CACHE_QUARANTINE]``) and the pass goes on. It ends with one summary line ``[INGEST]``.
"""

from __future__ import annotations

import fcntl
import logging
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from aura_common.adapters.clock import Clock
from aura_common.adapters.logs import event
from aura_common.adapters.manifest import Manifest, ManifestError, load_manifest, manifest_path, save_manifest
from aura_common.adapters.parquet_store import CacheError, quarantine
from aura_common.adapters.providers.archive import ArchiveProvider
from aura_common.adapters.providers.base import Provider
from aura_common.adapters.providers.ccxt_tail import CcxtTailProvider, make_exchange
from aura_common.adapters.providers.coingecko import CoinGeckoProvider
from aura_common.config.models import AuraConfig
from aura_common.domain import Interval
from aura_ingestor.chain import ChainContext, NullRecorder, Recorder, SymbolOutcome, update_symbol

log = logging.getLogger("aura.ingestor")
DAY_MS = 86_400_000


def build_providers(config: AuraConfig, clock: Clock, observer=None) -> list[Provider]:
    """Providers in ``data.provider_order``; every base URL from config."""
    d = config.data
    obs = observer or (lambda *a: None)
    by_kind: dict[str, list[Provider]] = {"archive": [], "exchange": [], "coingecko": []}
    if d.archive.enabled:
        by_kind["archive"].append(ArchiveProvider(d.archive.base_url, clock, d.archive.timeout_seconds, obs))
    for feed in d.exchanges:
        def factory(feed=feed):
            return make_exchange(feed.name, feed.base_url, feed.timeout_seconds)
        by_kind["exchange"].append(CcxtTailProvider(factory, feed.name, clock, obs))
    if d.coingecko.enabled:
        by_kind["coingecko"].append(CoinGeckoProvider(d.coingecko.base_url, dict(d.coingecko.ids), clock,
                                                      d.coingecko.timeout_seconds, obs))
    return [p for kind in d.provider_order for p in by_kind[kind]]


@dataclass
class PassSummary:
    checked: int = 0
    fresh: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    rows: int = 0
    rejected: int = 0
    requests: int = 0
    gap_candles: int = 0
    seconds: float = 0.0
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """False when something needed updating and nothing could be updated (the ``--once`` exit code)."""
        needed = self.checked - self.fresh
        return not (needed > 0 and self.updated == 0) and not (self.checked == 0)

    @property
    def all_sources_failed(self) -> bool:
        """Every source failed: the pass could not start (universe, lock), or every pair that needed data failed
        (every provider asked erred) while none was updated or answered without error. The ingestor is unhealthy."""
        if self.checked == 0:
            return bool(self.failures)
        return self.failed > 0 and self.updated == 0 and self.unchanged == 0

    def line(self) -> dict:
        """The ``[INGEST]`` fields. ``status=failed`` always comes with its ``reason``: ``every_source_failed``
        (the ``failed`` count says how many pairs), ``nothing_updated`` (pairs needed data, the sources answered
        but had none: ``unchanged``) or ``no_symbols``."""
        fields: dict = {"status": "ok" if self.ok else "failed", "checked": self.checked, "fresh": self.fresh,
                        "updated": self.updated, "unchanged": self.unchanged, "failed": self.failed,
                        "rows": self.rows, "rejected": self.rejected, "requests": self.requests,
                        "gap_candles": self.gap_candles, "seconds": round(self.seconds, 3)}
        if not self.ok:
            fields["reason"] = ("every_source_failed" if self.all_sources_failed
                                else "no_symbols" if self.checked == 0 else "nothing_updated")
        return fields


class IngestService:
    def __init__(self, data_dir: str | Path, providers_factory: Callable[[], list[Provider]],
                 universe: Callable[[], Sequence[str]], intervals: Sequence[Interval], start_ms: int,
                 padding_ms: int, clock: Clock, recorder: Recorder | None = None,
                 on_pass_success: Callable[[int], None] | None = None, progress: bool | None = None,
                 workers: int = 1) -> None:
        self.data_dir = Path(data_dir)
        self.providers_factory = providers_factory
        self.universe = universe
        self.intervals = [Interval(i) for i in intervals]
        self.start_ms = start_ms
        self.padding_ms = padding_ms
        self.clock = clock
        self.recorder = recorder or NullRecorder()
        self.on_pass_success = on_pass_success
        self.progress = sys.stderr.isatty() if progress is None else progress
        self.workers = max(1, int(workers))
        self.last: PassSummary | None = None  # the last finished pass (the health check reads it)
        self.last_finished_mono: float | None = None

    def _manifest(self, now_ms: int) -> Manifest:
        try:
            return load_manifest(self.data_dir)
        except ManifestError as exc:
            path = manifest_path(self.data_dir)
            dest = quarantine(self.data_dir, path, str(now_ms))
            event(log, "CACHE_QUARANTINE", logging.WARNING, file=path, moved_to=dest, reason=str(exc)[:200])
            return Manifest()

    def run_pass(self) -> PassSummary:
        """One pass under an exclusive advisory lock on the cache (a second ingestor — e.g. ``aura ingest --once``
        by hand while the service runs — fails its pass with one line instead of racing on the manifest)."""
        t0 = time.perf_counter()
        try:
            lock = _CacheLock(self.data_dir)
        except (OSError, BlockingIOError) as exc:
            summary = PassSummary(failures=[f"lock: {exc}"], seconds=time.perf_counter() - t0)
            event(log, "INGEST_FAIL", logging.ERROR, error=f"lock: {exc}"[:300])
            event(log, "INGEST", **summary.line())
            return self._finished(summary)
        with lock:
            return self._finished(self._run_pass(t0))

    def _finished(self, summary: PassSummary) -> PassSummary:
        self.last, self.last_finished_mono = summary, time.monotonic()
        return summary

    def health(self, max_age_s: float) -> tuple[bool, str]:
        """``GET /health``: unhealthy when the last pass failed for every source, or none finished for
        ``max_age_s``; healthy while the first pass runs (a first download may take long)."""
        last, at = self.last, self.last_finished_mono
        if last is None or at is None:
            return True, "first pass running"
        age = time.monotonic() - at
        if last.all_sources_failed:
            first = last.failures[0] if last.failures else "no detail"
            return False, f"last pass failed for every source ({last.failed} pairs): {first[:200]}"
        if age > max_age_s:
            return False, f"no pass finished for {age:.0f} s (limit {max_age_s:.0f} s)"
        return True, f"last pass {age:.0f} s ago: {last.line()['status']}"

    def _run_pass(self, t0: float) -> PassSummary:
        now_ms = self.clock.now_ms()
        summary = PassSummary()
        _remove_stale_temp_files(self.data_dir)
        manifest = self._manifest(now_ms)
        try:
            symbols = list(self.universe())
        except Exception as exc:  # noqa: BLE001 - exchange info unreachable: this pass cannot start
            msg = f"universe: {type(exc).__name__}: {exc}"
            summary.failures.append(msg)
            event(log, "INGEST_FAIL", logging.ERROR, error=msg[:300])
            summary.seconds = time.perf_counter() - t0
            event(log, "INGEST", **summary.line())
            return summary
        ctx = ChainContext(self.data_dir, self.providers_factory(), manifest, self.start_ms, self.padding_ms,
                           self.recorder)
        work = [(iv, s) for iv in self.intervals for s in symbols]
        bar = _progress(len(work), self.progress)
        if self.workers == 1:
            for k, (iv, symbol) in enumerate(work):
                out = self._one(ctx, symbol, iv, now_ms)
                self._count(summary, out)
                bar.step(k + 1, symbol, iv.value, summary)
        else:  # pairs are independent files; providers are thread-safe (ccxt calls serialised, sessions per thread)
            with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="ingest") as pool:
                futures = [pool.submit(self._one, ctx, symbol, iv, now_ms) for iv, symbol in work]
                for k, fut in enumerate(as_completed(futures)):
                    out = fut.result()
                    self._count(summary, out)
                    bar.step(k + 1, out.symbol, out.interval, summary)
        bar.close()
        try:
            if manifest.dirty or not manifest_path(self.data_dir).exists():
                save_manifest(self.data_dir, manifest)
        except CacheError as exc:
            summary.failures.append(f"manifest: {exc}")
            event(log, "INGEST_FAIL", logging.ERROR, file=manifest_path(self.data_dir), error=str(exc)[:240])
        summary.seconds = time.perf_counter() - t0
        if summary.ok and self.on_pass_success is not None:
            self.on_pass_success(self.clock.now_ms())
        event(log, "INGEST", **summary.line())
        return summary

    def _one(self, ctx: ChainContext, symbol: str, iv: Interval, now_ms: int) -> SymbolOutcome:
        try:
            out = update_symbol(ctx, symbol, iv, now_ms)
        except Exception as exc:  # noqa: BLE001 - one symbol must never stop the pass
            msg = f"{type(exc).__name__}: {exc}"
            event(log, "INGEST_FAIL", logging.ERROR, symbol=symbol, interval=iv.value, error=msg[:300])
            return SymbolOutcome(symbol, iv.value, "failed", error=msg)
        if out.status != "fresh":
            event(log, "INGEST_SYMBOL", symbol=symbol, interval=iv.value, status=out.status,
                  rows=out.rows_written, rejected=out.rejected, requests=out.requests, gap_candles=out.gap_candles)
        return out

    @staticmethod
    def _count(s: PassSummary, out: SymbolOutcome) -> None:
        s.checked += 1
        setattr(s, out.status, getattr(s, out.status) + 1)
        s.rows += out.rows_written
        s.rejected += out.rejected
        s.requests += out.requests
        s.gap_candles += out.gap_candles
        if out.error:
            s.failures.append(f"{out.symbol} {out.interval}: {out.error}")


def _remove_stale_temp_files(data_dir: Path, min_age_s: float = 600.0) -> None:
    """Temp files a killed writer left behind (``.<name>.*.tmp`` beside the cache files). Runs under the pass lock;
    only files older than ``min_age_s`` go, so a writer outside the ingestor is never disturbed."""
    root = Path(data_dir) / "parquet"
    cutoff = time.time() - min_age_s
    for tmp in [*root.glob(".*.tmp"), *root.glob("*/.*.tmp")]:
        try:
            if tmp.stat().st_mtime < cutoff:
                tmp.unlink()
                event(log, "CACHE_CLEANUP", file=tmp)
        except OSError:
            pass


class _CacheLock:
    """``flock`` on ``<data_dir>/parquet/.ingest.lock``, taken without waiting; released on exit (and by the kernel
    if the process dies)."""

    def __init__(self, data_dir: Path) -> None:
        path = Path(data_dir) / "parquet" / ".ingest.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        self.fh = open(path, "a+")
        try:
            fcntl.flock(self.fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.fh.close()
            raise BlockingIOError(f"another ingest pass holds {path}") from None

    def __enter__(self) -> "_CacheLock":
        return self

    def __exit__(self, *exc) -> None:
        fcntl.flock(self.fh.fileno(), fcntl.LOCK_UN)
        self.fh.close()


class _progress:
    """tqdm on a terminal; otherwise a plain ``[INGEST_PROGRESS]`` line every 50 items (and none for short runs)."""

    def __init__(self, total: int, tty: bool) -> None:
        self.total = total
        self.bar = None
        if tty and total > 1:
            from tqdm import tqdm
            self.bar = tqdm(total=total, unit="pair", desc="ingest", leave=False)

    def step(self, done: int, symbol: str, interval: str, s: PassSummary) -> None:
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix_str(f"{symbol} {interval} rows={s.rows}", refresh=False)
        elif done % 50 == 0 and self.total > 50:
            event(log, "INGEST_PROGRESS", done=done, total=self.total, rows=s.rows)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def start_ms_of(config: AuraConfig) -> int:
    d = config.data.start_date
    return int(datetime(d.year, d.month, d.day, tzinfo=timezone.utc).timestamp() * 1000)

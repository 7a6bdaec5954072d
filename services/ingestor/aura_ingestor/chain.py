"""The provider chain for one symbol and one interval: plan what is missing, ask providers in order, validate,
merge with precedence, write the Parquet file atomically, record coverage in the manifest.

Steps (``update_symbol``):
1. Freshness short-circuit: when the manifest entry still describes the file on disk and already holds the last
   closed candle, return at once — no file read, no network request.
2. Read the cached file; an unreadable one is quarantined (``[CACHE_QUARANTINE]``) and rebuilt from scratch.
3. ``core.coverage.plan_missing`` gives the ranges to fetch (request start minus the lookback padding, up to the
   last closed candle, minus what is cached or settled).
4. Providers are asked in order, each only for what is still missing; a provider that fails or returns nothing
   passes the range on. Each batch is clipped to the asked range, stripped of the still-forming candle and
   validated; rejects are counted per provider and reason with a ``[INGEST_REJECT]`` line naming the file or
   response.
5. What nobody had stays a gap. A range is *settled* (not asked again) only when every provider answered without
   error and the range ended more than ``settle_after_ms`` ago (young holes are retried on the next pass).
6. Merge (archive > exchange > coingecko), atomic write, manifest entry updated.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, cast

import numpy as np

from aura_common.adapters.logs import event
from aura_common.adapters.manifest import Entry, Manifest
from aura_common.adapters.parquet_store import (CacheReadError, candle_path, load_candles, quarantine,
                                                write_candles)
from aura_common.adapters.providers.base import Provider
from aura_common.core import coverage as cov
from aura_common.core.candles import Candles, closed_only, merge, source_counts, source_rank, validate, within
from aura_common.domain import Interval

log = logging.getLogger("aura.ingestor")


class Recorder(Protocol):
    def rows_written(self, interval: str, n: int) -> None: ...
    def rejected(self, provider: str, reason: str, n: int) -> None: ...
    def provider_error(self, provider: str, kind: str) -> None: ...
    def symbol_state(self, symbol: str, interval: str, freshness_age_s: float | None, gap_candles: int) -> None: ...


class NullRecorder:
    def rows_written(self, interval: str, n: int) -> None: ...
    def rejected(self, provider: str, reason: str, n: int) -> None: ...
    def provider_error(self, provider: str, kind: str) -> None: ...
    def symbol_state(self, symbol: str, interval: str, freshness_age_s: float | None, gap_candles: int) -> None: ...


@dataclass
class ChainContext:
    data_dir: Path
    providers: list[Provider]
    manifest: Manifest
    start_ms: int  # the configured history start (data.start_date)
    padding_ms: int  # data.lookback_padding_days as ms
    recorder: Recorder = field(default_factory=NullRecorder)
    settle_after_ms: int = 7 * 86_400_000


@dataclass
class SymbolOutcome:
    symbol: str
    interval: str
    status: str  # fresh | updated | unchanged | failed
    rows_written: int = 0
    rejected: int = 0
    requests: int = 0
    gap_candles: int = 0
    error: str | None = None


def _age_s(entry: Entry | None, now_ms: int, step: int) -> float | None:
    if entry is None or entry.last_open_ms is None:
        return None
    return max(0.0, (now_ms - (entry.last_open_ms + step)) / 1000.0)


def update_symbol(ctx: ChainContext, symbol: str, interval: Interval, now_ms: int) -> SymbolOutcome:
    iv = Interval(interval)
    step = iv.ms
    path = candle_path(ctx.data_dir, iv, symbol)
    entry = ctx.manifest.get(iv.value, symbol)
    if entry is not None and cov.is_fresh(entry.last_open_ms, now_ms, step) and entry.matches_file(path):
        ctx.recorder.symbol_state(symbol, iv.value, _age_s(entry, now_ms, step), entry.gap_candles)
        return SymbolOutcome(symbol, iv.value, "fresh", gap_candles=entry.gap_candles)

    try:
        existing = load_candles(ctx.data_dir, iv, symbol)
    except CacheReadError as exc:
        dest = quarantine(ctx.data_dir, path, str(now_ms))
        event(log, "CACHE_QUARANTINE", logging.WARNING, symbol=symbol, interval=iv.value, file=path,
              moved_to=dest, reason=str(exc)[:500])  # file, row and reason
        existing, entry = None, None
        ctx.manifest.drop(iv.value, symbol)
    existing = existing if existing is not None else Candles.empty()
    # the manifest stores each settled range as a [lo, hi] pair
    settled = cast(list[tuple[int, int]], [tuple(r) for r in (entry.settled if entry else [])])
    if len(existing) and cov.is_fresh(int(existing.open_time[-1]), now_ms, step):
        # the file holds the last closed candle (the manifest was lost or stale): no request, just re-describe it
        fresh_entry = summarize(existing, step, now_ms, cov.normalize(settled))
        fresh_entry.describe_file(path)
        ctx.manifest.put(iv.value, symbol, fresh_entry)
        ctx.recorder.symbol_state(symbol, iv.value, _age_s(fresh_entry, now_ms, step), fresh_entry.gap_candles)
        return SymbolOutcome(symbol, iv.value, "fresh", gap_candles=fresh_entry.gap_candles)

    covered = cov.runs(existing.open_time, step)
    missing = cov.plan_missing(covered, ctx.start_ms, cov.closed_end(now_ms, step), step, now_ms,
                               ctx.padding_ms, settled)
    # recent CoinGecko line candles are provisional: better sources are asked for them again (precedence upgrade)
    weak_rows = (existing.source == "coingecko") & (existing.open_time >= now_ms - ctx.settle_after_ms)
    weak = cov.runs(existing.open_time[weak_rows], step) if weak_rows.any() else ()
    outcome = SymbolOutcome(symbol, iv.value, "unchanged")
    fetched, remaining, errored = _ask_providers(ctx, symbol, iv, missing, weak, now_ms, outcome)
    if errored and not fetched and missing:
        # every provider asked failed and nothing came: a failure, not "unchanged" (the pass summary counts it so)
        outcome.status, outcome.error = "failed", outcome.error or "every provider failed"
    else:
        outcome.error = None  # a provider's error that another provider made up for is not the symbol's failure

    new_settled = cov.normalize([*settled, *(() if errored else
                                            ((lo, hi) for lo, hi in remaining if hi <= now_ms - ctx.settle_after_ms))])
    merged = merge(existing, *fetched) if fetched else existing
    added = len(merged) - len(existing)
    upgraded = 0
    if fetched and weak_rows.any():
        idx = np.searchsorted(merged.open_time, existing.open_time[weak_rows])
        upgraded = int(np.count_nonzero(merged.source[idx] != "coingecko"))
    if fetched and (added > 0 or upgraded > 0):
        write_candles(ctx.data_dir, iv, symbol, merged)  # CacheError propagates: the pass records a failure
        ctx.recorder.rows_written(iv.value, added + upgraded)
        outcome.rows_written = added + upgraded
        outcome.status = "updated"
    elif not len(merged):
        if not path.exists():
            gaps_entry = Entry(settled=[list(r) for r in new_settled], updated_ms=now_ms)
            ctx.manifest.put(iv.value, symbol, gaps_entry)
            ctx.recorder.symbol_state(symbol, iv.value, None, 0)
            return outcome

    new_entry = summarize(merged, step, now_ms, new_settled)
    if path.exists():
        new_entry.describe_file(path)
    ctx.manifest.put(iv.value, symbol, new_entry)
    outcome.gap_candles = new_entry.gap_candles
    ctx.recorder.symbol_state(symbol, iv.value, _age_s(new_entry, now_ms, step), new_entry.gap_candles)
    if new_entry.gap_candles:
        event(log, "INGEST_GAPS", symbol=symbol, interval=iv.value, gap_candles=new_entry.gap_candles,
              first_gap=new_entry.gaps[0][0] if new_entry.gaps else None)
    return outcome


def _ask_providers(ctx: ChainContext, symbol: str, iv: Interval, missing, weak, now_ms: int,
                   outcome: SymbolOutcome) -> tuple[list[Candles], tuple, bool]:
    """Ask providers in order, each only for what is still missing (plus the ``weak`` ranges for providers that
    outrank CoinGecko). Returns the validated batches, the ranges nobody filled, and whether any provider erred."""
    fetched: list[Candles] = []
    errored = False
    remaining, weak_left = cov.normalize(missing), cov.normalize(weak)
    for provider in ctx.providers:
        if not remaining and not weak_left:
            break
        if not provider.supports(symbol, iv):
            continue
        better = source_rank(provider.name) < source_rank("coingecko")
        asked = cov.normalize([*remaining, *(weak_left if better else ())])
        filled: list = []
        for lo, hi in asked:
            got, n_req, had_error = _ask(ctx, provider, symbol, iv, lo, hi, now_ms, outcome)
            outcome.requests += n_req
            errored |= had_error
            if len(got):
                fetched.append(got)
                filled.extend(cov.runs(got.open_time, iv.ms))
        remaining = cov.subtract(remaining, filled)
        if better:
            weak_left = cov.subtract(weak_left, filled)
    return fetched, remaining, errored


def _ask(ctx: ChainContext, provider: Provider, symbol: str, iv: Interval, lo: int, hi: int, now_ms: int,
         outcome: SymbolOutcome) -> tuple[Candles, int, bool]:
    """One provider, one range: validated, closed candles inside the range (possibly empty)."""
    result = provider.fetch(symbol, iv, lo, hi, now_ms)
    for err in result.errors:
        outcome.error = outcome.error or f"{provider.name}: {err.kind}: {str(err)[:160]}"
        ctx.recorder.provider_error(provider.name, err.kind)
        event(log, "PROVIDER_ERROR", logging.WARNING, provider=provider.name, symbol=symbol, interval=iv.value,
              kind=err.kind, detail=str(err)[:240])
    accepted = []
    for batch in result.batches:
        for reason, n in batch.parse_rejects.items():
            _reject(ctx, provider.name, symbol, iv, batch.origin, reason, n, None, outcome)
        c = closed_only(within(batch.candles, lo, hi), iv.ms, now_ms)
        checked = validate(c, iv.ms)
        for reason, n in checked.rejected.items():
            _reject(ctx, provider.name, symbol, iv, batch.origin, reason, n,
                    checked.first_reject_open_time.get(reason), outcome)
        if len(checked.accepted):
            accepted.append(checked.accepted)
    got = merge(*accepted) if accepted else Candles.empty()
    return got, result.requests, bool(result.errors)


def _reject(ctx, provider, symbol, iv, origin, reason, n, first_open, outcome) -> None:
    ctx.recorder.rejected(provider, reason, n)
    outcome.rejected += n
    event(log, "INGEST_REJECT", logging.WARNING, provider=provider, symbol=symbol, interval=iv.value,
          source=origin, reason=reason, rows=n, first_open_ms=first_open)


def summarize(c: Candles, step: int, now_ms: int, settled) -> Entry:
    covered = cov.runs(c.open_time, step)
    gaps = cov.inner_gaps(covered, now_ms, step)
    return Entry(
        first_open_ms=int(c.open_time[0]) if len(c) else None,
        last_open_ms=int(c.open_time[-1]) if len(c) else None,
        rows=len(c), sources=source_counts(c), gaps=[list(g) for g in gaps],
        gap_candles=cov.candle_count(gaps, step), settled=[list(r) for r in settled], updated_ms=now_ms)

